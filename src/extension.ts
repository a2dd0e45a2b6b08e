import * as vscode from 'vscode';
import { CredentialStore } from './auth/credentialStore';
import { CommandIds, ContextKeys } from './commands/commandIds';
import { registerCommand } from './commands/commandRunner';
import { signIn, type SignInArgs } from './commands/signIn';
import { signOut } from './commands/signOut';
import { registerTestHooks, testHooksEnabled } from './testHooks';
import { ContextKeyService } from './util/contextKeys';

/** Composition root: builds the objects, wires them together and hands every disposable to VS Code. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('RunComfy', { log: true });
  const credentials = new CredentialStore(context.secrets);
  const contextKeys = new ContextKeyService();
  context.subscriptions.push(log, credentials);

  const syncSignedIn = async () => contextKeys.set(ContextKeys.signedIn, (await credentials.get()) !== undefined);
  context.subscriptions.push(credentials.onDidChange(() => syncSignedIn()));
  void syncSignedIn();

  context.subscriptions.push(
    registerCommand(CommandIds.signIn, (args?: SignInArgs) => signIn(credentials, log, args), log),
    registerCommand(CommandIds.signOut, () => signOut(credentials, log), log),
    registerCommand(CommandIds.showLog, () => log.show(), log),
  );

  if (testHooksEnabled()) context.subscriptions.push(registerTestHooks({ context, credentials, contextKeys }));
}

export function deactivate(): void {}
