import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { SavedWorkflowExistsError, savedWorkflowPathProblem } from '../api/comfyClient';
import { CancelledError } from '../api/errors';
import { maskUrl } from '../api/redact';
import { parseJsonOrUndefined } from '../base/json';
import { targetKey, targetLabel, type RunTarget } from '../core/runRegistry';
import { type RunResult } from '../core/runEvents';
import { safeSegment } from '../core/safePath';
import { savedWorkflowUri, type SavedWorkflowSource } from '../views/savedWorkflowDocuments';
import { isNode } from '../views/treeNodes';
import { CommandIds } from './commandIds';
import { comfyUrlOf, localTarget, runWorkflow, targetPickItems } from './queueWorkflow';
import { type Services } from './services';
import { UserError } from './userError';
import { requireTrustedWorkspace } from './workspaceTrust';

/** The run target a saved-workflow document names: a machine by id, a local server by its name in the settings. */
export function savedWorkflowTarget(services: Services, source: SavedWorkflowSource): RunTarget {
  if (source.kind === 'machine') return { kind: 'machine', serverId: source.serverId, label: source.label };
  const server = services.config.value.localServers.find((s) => s.name === source.name);
  if (!server) throw new UserError(`The local server "${source.name}" is no longer in your list (runcomfy.localServers).`, [{ title: 'Add Local Server', command: CommandIds.addLocalServer }]);
  return localTarget(server.name, server.url);
}

/** The catalog key of a saved-workflow document's server, or undefined when that local server was removed. */
export function savedWorkflowKey(services: Services, source: SavedWorkflowSource): string | undefined {
  if (source.kind === 'machine') return targetKey(savedWorkflowTarget(services, source));
  const server = services.config.value.localServers.find((s) => s.name === source.name);
  return server ? targetKey(localTarget(server.name, server.url)) : undefined;
}

/** The text of a saved workflow, read from its server (the `runcomfy-saved:` documents). */
export async function readSavedWorkflow(services: Services, source: SavedWorkflowSource, rel: string): Promise<string> {
  const url = await comfyUrlOf(services, savedWorkflowTarget(services, source));
  return services.servers.client(url).readSavedWorkflow(rel);
}

function savedNode(arg: unknown): { target: RunTarget; path: string } {
  if (isNode(arg, 'savedWorkflow')) return arg;
  throw new UserError('Run this on a workflow under "Saved in ComfyUI" in the Machines view.');
}

/** Refresh (and Retry) on "Saved in ComfyUI": the list is fetched again when shown. */
export function refreshSavedWorkflows(services: Services, arg?: unknown): void {
  if (isNode(arg, 'savedFolder')) services.saved.refresh(targetKey(arg.target));
}

/** Open: the saved workflow, read-only, in a JSON editor titled with its server's name. */
export async function openSavedWorkflow(arg?: unknown): Promise<string> {
  const node = savedNode(arg);
  const uri = savedWorkflowUri(node.target, node.path);
  let doc = await vscode.workspace.openTextDocument(uri);
  if (doc.languageId !== 'json') doc = await vscode.languages.setTextDocumentLanguage(doc, 'json');
  await vscode.window.showTextDocument(doc, { preview: true });
  return uri.toString();
}

/**
 * Save to Workspace: the saved workflow's text, exactly as the server holds it, into a file the user
 * chooses (the dialog starts in the workspace folder, under the saved name made safe for a file name,
 * and asks before replacing a file). Returns the file's path.
 */
export async function saveSavedWorkflowToWorkspace(services: Services, arg?: unknown): Promise<string> {
  const node = savedNode(arg);
  const url = await comfyUrlOf(services, node.target);
  const text = await services.servers.client(url).readSavedWorkflow(node.path);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir();
  const name = safeSegment(node.path.slice(node.path.lastIndexOf('/') + 1)).name;
  const chosen = await services.prompter.saveAs({
    title: `Save "${node.path}" from ${targetLabel(node.target)} as`,
    defaultPath: path.join(folder, name),
    filters: { 'Workflow (JSON)': ['json'] },
  });
  await vscode.workspace.fs.writeFile(vscode.Uri.file(chosen), Buffer.from(text, 'utf8'));
  services.log.info(`Saved "${node.path}" from ${targetLabel(node.target)} (${maskUrl(url)}) to ${chosen}.`);
  await vscode.window.showTextDocument(vscode.Uri.file(chosen), { preview: true });
  return chosen;
}

/**
 * Queue: the saved workflow on the server it is saved on, through the usual run (a UI-format one gets
 * the usual message). The run reads the server's current version: a document of its own (the read
 * time in its URI), not a view opened earlier, which VS Code keeps as it was while it stays open.
 */
export async function queueSavedWorkflow(services: Services, arg?: unknown): Promise<RunResult> {
  requireTrustedWorkspace();
  const node = savedNode(arg);
  const uri = savedWorkflowUri(node.target, node.path);
  return runWorkflow(services, uri.with({ query: `${uri.query}&read=${services.clock.now()}` }), node.target);
}

/**
 * Save to ComfyUI…: a workflow file of the workspace into a server's saved workflows, so it opens in
 * its web UI. Asks where (when there is a choice) and under which name (the file's, by default);
 * never replaces a saved workflow without a modal confirmation (`overwrite=false` first). Uploads a
 * workspace file, so Restricted Mode refuses it like queueing. Returns the saved name.
 */
export async function saveToComfyUI(services: Services, uriArg?: unknown, targetArg?: RunTarget): Promise<string> {
  requireTrustedWorkspace();
  const uri = uriArg instanceof vscode.Uri ? uriArg : vscode.window.activeTextEditor?.document.uri;
  if (uri?.scheme !== 'file') throw new UserError('Open a workflow file (.json) of the workspace, or run this on one in the Explorer.');
  const text = (await vscode.workspace.openTextDocument(uri)).getText();
  if (parseJsonOrUndefined(text) === undefined) throw new UserError(`${vscode.workspace.asRelativePath(uri, false)} is not valid JSON, so ComfyUI's web UI could not open it. Fix it first.`);
  const target = targetArg ?? (await pickTarget(services, path.basename(uri.fsPath)));
  const where = targetLabel(target);
  const typed = await services.prompter.input({
    title: `Save to ComfyUI on ${where}`,
    prompt: "Name in the web UI's workflow list (a / makes folders)",
    value: path.basename(uri.fsPath),
    validate: (v) => {
      const problem = savedWorkflowPathProblem(withJson(v.trim()));
      return problem ? `Not a name ComfyUI can save under: ${problem}.` : undefined;
    },
  });
  const name = withJson(typed.trim());
  const client = services.servers.client(await comfyUrlOf(services, target));
  let saved: string;
  try {
    saved = await client.saveWorkflow(name, text, { overwrite: false });
  } catch (e) {
    if (!(e instanceof SavedWorkflowExistsError)) throw e;
    const replace = await services.prompter.confirm(
      `Replace "${name}" on ${where}?`,
      `ComfyUI on ${where} already has a saved workflow named "${name}". Replacing it cannot be undone.`,
      'Replace',
    );
    if (!replace) throw new CancelledError();
    saved = await client.saveWorkflow(name, text, { overwrite: true });
  }
  services.saved.refresh(targetKey(target));
  void services.prompter.notify('info', `Saved ${path.basename(uri.fsPath)} to ComfyUI on ${where} as "${saved}": it is in the web UI's Workflows list.`);
  return saved;
}

function withJson(name: string): string {
  return /\.json$/i.test(name) ? name : `${name}.json`;
}

/** Where to save: the one server there is, else a pick among the Ready machines and the local servers. */
async function pickTarget(services: Services, fileName: string): Promise<RunTarget> {
  const items = await targetPickItems(services);
  if (items.length === 0) {
    throw new UserError('There is no ComfyUI to save to: no machine is Ready and you have no local server.', [
      { title: 'Launch Machine', command: CommandIds.launchMachine },
      { title: 'Add Local Server', command: CommandIds.addLocalServer },
    ]);
  }
  if (items.length === 1) return items[0].value;
  return services.prompter.pick(items, { title: `Save ${fileName} to ComfyUI on…` });
}
