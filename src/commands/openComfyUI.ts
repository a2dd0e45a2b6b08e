import * as vscode from 'vscode';
import { maskUrl } from '../api/redact';
import { machineShortId } from '../core/machineLabels';
import { resolveMachine } from './machinePicker';
import { isNode } from '../views/treeNodes';
import { type Services } from './services';
import { UserError } from './userError';

/** The ComfyUI URL of a tree node (machine or local server), or of a picked Ready machine. */
async function comfyUrlOf(services: Services, arg: unknown): Promise<{ url: string; name: string }> {
  if (isNode(arg, 'localServer')) return { url: arg.server.url, name: arg.server.name };
  const machine = await resolveMachine(services, arg, {
    title: 'Which machine?',
    accepts: (m) => m.isReady && !!m.mainServiceUrl,
    noneMessage: 'No machine is Ready, so there is no ComfyUI to open.',
  });
  if (!machine.mainServiceUrl) throw new UserError(`Machine ${machineShortId(machine)} is ${machine.status}; its ComfyUI opens once it is Ready.`);
  return { url: machine.mainServiceUrl, name: `machine ${machineShortId(machine)}` };
}

/** Open ComfyUI in Browser. */
export async function openComfyUI(services: Services, arg?: unknown): Promise<void> {
  const { url, name } = await comfyUrlOf(services, arg);
  services.log.info(`Opening ComfyUI of ${name} (${maskUrl(url)}) in the browser.`);
  await vscode.env.openExternal(vscode.Uri.parse(url));
}

/** Copy ComfyUI URL: the full URL, which is a capability, so the message says to keep it private. */
export async function copyComfyUrl(services: Services, arg?: unknown): Promise<void> {
  const { url, name } = await comfyUrlOf(services, arg);
  await vscode.env.clipboard.writeText(url);
  void services.prompter.notify('info', `Copied the ComfyUI URL of ${name}. Keep it private: anyone with it can use the machine.`);
}
