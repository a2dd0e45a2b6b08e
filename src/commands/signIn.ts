import * as vscode from 'vscode';
import { type CredentialStore, type Credentials } from '../auth/credentialStore';

/** Arguments for automation: `executeCommand('runcomfy.signIn', { userId, token })`. */
export interface SignInArgs {
  userId?: string;
  token?: string;
}

/**
 * Asks for the user id (shown on the RunComfy dashboard) and the API token (password input),
 * or takes them as arguments, and keeps them in SecretStorage. Returns true when signed in.
 */
export async function signIn(store: CredentialStore, log: vscode.LogOutputChannel, args?: SignInArgs): Promise<boolean> {
  const previous = await store.get();
  const userId = args?.userId?.trim() || (await askUserId(previous?.userId));
  if (!userId) return false;
  const token = args?.token?.trim() || (await askToken());
  if (!token) return false;
  const credentials: Credentials = { userId, token };
  await store.set(credentials);
  log.info(`Signed in as user ${userId}.`);
  return true;
}

function askUserId(value: string | undefined): Thenable<string | undefined> {
  return vscode.window
    .showInputBox({
      title: 'Sign in to RunComfy (1/2)',
      prompt: 'Your RunComfy user id: the id in your dashboard URL after you sign in at runcomfy.com.',
      placeHolder: '00000000-0000-4000-8000-000000000001',
      value,
      ignoreFocusOut: true,
      validateInput: (v) => (/^[\w-]+$/.test(v.trim()) ? undefined : 'A user id is letters, digits and dashes, like 0cb54d51-….'),
    })
    .then((v) => v?.trim());
}

function askToken(): Thenable<string | undefined> {
  return vscode.window
    .showInputBox({
      title: 'Sign in to RunComfy (2/2)',
      prompt: 'Your RunComfy API token (Profile → API tokens). It is kept in VS Code secret storage only.',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim().length >= 8 ? undefined : 'The token is the long string from your RunComfy profile page.'),
    })
    .then((v) => v?.trim());
}
