import * as vscode from 'vscode';
import { type CredentialStore } from './auth/credentialStore';
import { TestCommandIds } from './commands/commandIds';
import { type ContextKeyService } from './util/contextKeys';

/** True when the host test runner started VS Code (it sets this variable for the extension host). */
export function testHooksEnabled(): boolean {
  return process.env.RUNCOMFY_TEST_HOOKS === '1';
}

interface TestHookDeps {
  readonly context: vscode.ExtensionContext;
  readonly credentials: CredentialStore;
  readonly contextKeys: ContextKeyService;
}

/**
 * A hidden command that returns the extension's state to the host tests, which drive the extension
 * only through commands and never import `src/`. Registered only under the test runner.
 */
export function registerTestHooks(deps: TestHookDeps): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(TestCommandIds.state, async () => ({
      credentials: (await deps.credentials.get()) ?? null,
      contextKeys: deps.contextKeys.snapshot(),
      logDirectory: deps.context.logUri.fsPath,
    })),
    // Writes a secret behind the CredentialStore's back, as another VS Code window would.
    vscode.commands.registerCommand(TestCommandIds.storeSecret, (key: string, value: string | undefined) =>
      value === undefined ? deps.context.secrets.delete(key) : deps.context.secrets.store(key, value),
    ),
  );
}
