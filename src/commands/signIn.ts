import type * as vscode from 'vscode';
import { type ApiError, AuthError } from '../api/errors';
import { editorAuthAdvice } from '../auth/accountManager';
import { type CredentialStore, type Credentials } from '../auth/credentialStore';
import { checkToken, type TokenCheck } from '../core/tokenCheck';
import { type Prompter } from '../ui/prompter';

/** Arguments for automation: `executeCommand('runcomfy.signIn', { userId, token })`. */
export interface SignInArgs {
  userId?: string;
  token?: string;
}

/** What sign-in needs: where the credentials go, who to ask, and where the token is checked. */
export interface SignInDeps {
  readonly store: CredentialStore;
  readonly prompter: Prompter;
  readonly log: vscode.LogOutputChannel;
  /** The configured `runcomfy.apiUrl`, read when the token is checked. */
  readonly apiUrl: () => string;
}

/**
 * Asks for the user id (shown on the RunComfy dashboard) and the API token (password input), or
 * takes them as arguments, checks the token with one request to the configured API, and keeps
 * them in SecretStorage. A refused token is never stored: the token box says so and stays open
 * (with arguments: an AuthError). When RunComfy cannot be reached the user decides whether to keep
 * the token unchecked. Returns true when signed in, false when the user chose not to keep it.
 */
export async function signIn(deps: SignInDeps, args?: SignInArgs): Promise<boolean> {
  const { store, prompter, log } = deps;
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
  const check = (token: string, signal?: AbortSignal) =>
    checkToken({ apiUrl: deps.apiUrl(), apiUrlSource: 'the runcomfy.apiUrl setting', userId, token, authAdvice: editorAuthAdvice, signal });
  let verdict: TokenCheck | undefined;
  let token = args?.token?.trim();
  if (token) {
    verdict = await check(token);
    if (verdict.kind === 'refused') throw new AuthError(refusal(userId, verdict.error), { status: verdict.error.status, cause: verdict.error });
  } else {
    token = (
      await prompter.input({
        title: 'Sign in to RunComfy (2/2): API token',
        prompt: 'Your RunComfy API token (Profile → API tokens). It is kept in VS Code secret storage only.',
        password: true,
        validate: (v) => (v.trim().length >= 8 ? undefined : 'The token is the long string from your RunComfy profile page.'),
        checkingPrompt: 'Checking the token with RunComfy…',
        check: async (v, signal) => {
          verdict = await check(v.trim(), signal);
          if (verdict.kind !== 'refused') return undefined;
          log.warn(`${refusal(userId, verdict.error)} Nothing was stored.`);
          return refusal(userId, verdict.error);
        },
      })
    ).trim();
  }
  let note = `Signed in as user ${userId}.`;
  if (verdict?.kind === 'unchecked') {
    const reason = unreachableReason(verdict.error);
    const keep = await prompter.confirm(
      `RunComfy could not be reached (${reason}). Keep this token anyway?`,
      'The token was not checked. If it is wrong, the Machines and Workflows views will say so and offer to sign in again.',
      'Keep Token',
    );
    if (!keep) {
      log.info(`Sign-in as user ${userId} cancelled: RunComfy could not be reached (${reason}); nothing was stored.`);
      return false;
    }
    note = `Signed in as user ${userId} without checking the token: RunComfy could not be reached (${reason}).`;
  }
  const credentials: Credentials = { userId, token };
  await store.set(credentials);
  if (verdict?.kind === 'unchecked') log.warn(note);
  else log.info(note);
  return true;
}

/** The refusal as the token box shows it. */
function refusal(userId: string, error: AuthError): string {
  return `RunComfy refused this token for user ${userId}${error.status !== undefined && error.status >= 400 ? ` (HTTP ${error.status})` : ''}. Check the token, or press Escape and check the user id.`;
}

/** "connection closed", "no answer within 15 s", "HTTP 502": the client's message without the operation. */
function unreachableReason(error: ApiError): string {
  return error.message.replace(/^.*? failed: /, '').replace(/\.\s.*$|\.$/s, '');
}
