import type * as vscode from 'vscode';
import { type CredentialStore, type Credentials } from '../auth/credentialStore';
import { type Prompter } from '../ui/prompter';

/** Arguments for automation: `executeCommand('runcomfy.signIn', { userId, token })`. */
export interface SignInArgs {
  userId?: string;
  token?: string;
}

/**
 * Asks for the user id (shown on the RunComfy dashboard) and the API token (password input),
 * or takes them as arguments, and keeps them in SecretStorage. Returns true when signed in.
 */
export async function signIn(store: CredentialStore, prompter: Prompter, log: vscode.LogOutputChannel, args?: SignInArgs): Promise<boolean> {
  const previous = await store.get();
  const userId =
    args?.userId?.trim() ||
    (
      await prompter.input({
        title: 'Sign in to RunComfy (1/2): user id',
        prompt: 'Your RunComfy user id: the id in your dashboard URL after you sign in at runcomfy.com.',
        placeholder: '00000000-0000-4000-8000-000000000001',
        value: previous?.userId,
        validate: (v) => (/^[\w-]+$/.test(v.trim()) ? undefined : 'A user id is letters, digits and dashes, like 0cb54d51-….'),
      })
    ).trim();
  const token =
    args?.token?.trim() ||
    (
      await prompter.input({
        title: 'Sign in to RunComfy (2/2): API token',
        prompt: 'Your RunComfy API token (Profile → API tokens). It is kept in VS Code secret storage only.',
        password: true,
        validate: (v) => (v.trim().length >= 8 ? undefined : 'The token is the long string from your RunComfy profile page.'),
      })
    ).trim();
  const credentials: Credentials = { userId, token };
  await store.set(credentials);
  log.info(`Signed in as user ${userId}.`);
  return true;
}
