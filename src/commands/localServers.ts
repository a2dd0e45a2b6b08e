import * as vscode from 'vscode';
import { parseComfyUrl } from '../api/comfyClient';
import { maskUrl } from '../api/redact';
import { isNode } from '../views/treeNodes';
import { type Services } from './services';
import { UserError } from './userError';

/** Automation arguments for Add Local ComfyUI Server…. */
export interface AddLocalServerArgs {
  readonly name?: string;
  readonly url?: string;
}

/**
 * Add Local ComfyUI Server…: a name and a URL, checked with `/system_stats` before it is saved
 * (an unreachable server can still be added, after a confirmation). Saved in the user settings.
 */
export async function addLocalServer(services: Services, args: AddLocalServerArgs = {}): Promise<boolean> {
  const url = (
    args.url ??
    (await services.prompter.input({
      title: 'Add Local ComfyUI Server (1/2): URL',
      prompt: 'The address you open ComfyUI at, such as http://127.0.0.1:8188. No RunComfy token is ever sent to it.',
      value: 'http://127.0.0.1:8188',
      validate: (v) => {
        try {
          parseComfyUrl(v.trim());
          return undefined;
        } catch (e) {
          return (e as Error).message;
        }
      },
    }))
  )
    .trim()
    .replace(/\/+$/, '');
  parseComfyUrl(url);
  const existing = services.config.value.localServers;
  if (existing.some((s) => s.url === url)) throw new UserError(`${maskUrl(url)} is already in your local servers.`);
  const name =
    args.name ??
    (await services.prompter.input({
      title: 'Add Local ComfyUI Server (2/2): name',
      prompt: 'How the Machines view shows it.',
      value: new URL(url).host,
      validate: (v) => (v.trim() ? undefined : 'Give it a name.'),
    }));
  try {
    const stats = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Checking ${maskUrl(url)}…` }, () =>
      services.servers.client(url, 'the local server URL').getSystemStats(),
    );
    services.log.info(`Local ComfyUI ${name} at ${maskUrl(url)} answers: ComfyUI ${stats.system.comfyui_version ?? 'unknown version'}.`);
  } catch (e) {
    const add = await services.prompter.confirm(
      `${maskUrl(url)} does not answer like ComfyUI.`,
      `${(e as Error).message}\nAdd it anyway (for a server you will start later)?`,
      'Add Anyway',
    );
    if (!add) return false;
  }
  await services.config.setLocalServers([...existing, { name: name.trim(), url }]);
  return true;
}

/** Remove Local ComfyUI Server (from its tree node). */
export async function removeLocalServer(services: Services, arg?: unknown): Promise<boolean> {
  const servers = services.config.value.localServers;
  const target = isNode(arg, 'localServer')
    ? arg.server
    : await services.prompter.pick(servers.map((s) => ({ label: s.name, description: maskUrl(s.url), value: s })), { title: 'Remove which local server?' });
  await services.config.setLocalServers(servers.filter((s) => s.url !== target.url));
  services.log.info(`Removed local ComfyUI server ${target.name} (${maskUrl(target.url)}).`);
  return true;
}
