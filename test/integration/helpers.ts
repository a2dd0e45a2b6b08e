import * as assert from 'assert';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'runcomfy-tools.runcomfy';

/** What the hidden `runcomfy.test.state` command returns. */
export interface TestState {
  credentials: { userId: string; token: string } | null;
  contextKeys: Record<string, unknown>;
  logDirectory: string;
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
