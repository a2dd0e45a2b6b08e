import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'runcomfy-tools.runcomfy';

export interface TreeItemState {
  label?: string;
  description?: string | boolean;
  contextValue?: string;
  icon?: string;
  /** The tooltip's Markdown source (or plain text). */
  tooltip?: string;
  children?: TreeItemState[];
  /** A sweep row's element: the argument its menu commands get. */
  node?: unknown;
}

export interface SeenPrompt {
  kind: 'pick' | 'input' | 'confirm' | 'notify' | 'save';
  text: string;
  detail?: string;
  items?: string[];
  /** An input asked again after its check refused the answer: what the box showed. */
  validationMessage?: string;
}

/** One machine as the extension holds it: the wire object plus the description the tree shows. */
export interface MachineState {
  server_id: string;
  current_status: string;
  estimated_duration: number;
  estimated_stopping_at: string | null;
  description: string;
}

/** What the hidden `runcomfy.test.state` command returns: facts only, never the token. */
export interface TestState {
  contextKeys: Record<string, unknown>;
  logDirectory: string;
  account: { userId: string; apiUrl: string } | null;
  accountState: string;
  machines: MachineState[];
  machinesTree: TreeItemState[];
  workflowsTree: TreeItemState[];
  runsTree: TreeItemState[];
  statusBar: { text: string; visible: boolean; warning: boolean; tooltip?: string };
  prompts: SeenPrompt[];
  runs: { id: string; workflowName: string; phase: string; promptId: string | null; outputs: number; live: boolean }[];
}

/** Queues answers for the extension's next questions (quick picks, inputs, confirmations). */
export function script(answers: ({ pick: string } | { input: string } | { confirm: boolean } | { action: string } | { save: string } | { dismiss: true })[]): Thenable<void> {
  return vscode.commands.executeCommand('runcomfy.test.script', answers);
}

/**
 * Signs in as a user would: runs the real `runcomfy.signIn` command and types the user id and the
 * token into its two questions (scripted answers); the command checks the token with the configured
 * RunComfy API before it keeps it, so the token must be one that API accepts. The test hooks never
 * see or store the token.
 */
export async function signIn(userId: string, token: string): Promise<void> {
  await script([{ input: userId }, { input: token }]);
  const ok = await vscode.commands.executeCommand<boolean>('runcomfy.signIn');
  assert.strictEqual(ok, true, 'runcomfy.signIn did not sign in');
}

/** Every file of the extension's log directory, concatenated. */
export function readLog(logDirectory: string): string {
  if (!fs.existsSync(logDirectory)) return '';
  return fs
    .readdirSync(logDirectory, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => fs.readFileSync(path.join(d.parentPath, d.name), 'utf8'))
    .join('\n');
}

/** Activates the extension (asserting it was found: a too-new engines.vscode makes VS Code skip it silently). */
export async function activateExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} not found (check engines.vscode against VS Code ${vscode.version})`);
  await ext.activate();
  return ext;
}

export function state(): Thenable<TestState> {
  return vscode.commands.executeCommand<TestState>('runcomfy.test.state');
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; for state that settles asynchronously. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
}

/** A path inside the (first) workspace folder the host tests open. */
export function workspaceFile(...parts: string[]): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder');
  return vscode.Uri.joinPath(folder.uri, ...parts);
}

/** The folder of the open workspace named `name` (a multi-root workspace names its folders). */
export function workspaceFolderUri(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.name === name);
  assert.ok(folder, `no workspace folder ${name}`);
  return folder.uri;
}

/** Opens `uri` in an editor and returns the CodeLenses VS Code resolves for it. */
export async function lensesOf(uri: vscode.Uri): Promise<vscode.CodeLens[]> {
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  return vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100);
}

/** POSTs a JSON body to one of the ComfyUI simulator's test routes (`/__sim/stall`, `/__sim/stall/clear`, …). */
export async function simPost(url: string, route: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}/__sim/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST /__sim/${route}: ${res.status}`);
}
