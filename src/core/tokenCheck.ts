import { accountTokenBucket } from '../api/fileTokenBucket';
import { ApiError, AuthError, isCancellation } from '../api/errors';
import { RunComfyClient, type RunComfyClientOptions } from '../api/runcomfyClient';
import { parseApiBaseUrl } from '../api/tokenPolicy';

/** What one request with a candidate token said about it. */
export type TokenCheck =
  | { readonly kind: 'accepted' }
  /** RunComfy answered 401 or 403: the token (or the user id) is wrong. */
  | { readonly kind: 'refused'; readonly error: AuthError }
  /** No verdict: RunComfy could not be reached, timed out, or failed otherwise (`error` says how). */
  | { readonly kind: 'unchecked'; readonly error: ApiError };

export interface TokenCheckOptions {
  readonly apiUrl: string;
  /** Names where `apiUrl` came from, for errors ("the runcomfy.apiUrl setting"). */
  readonly apiUrlSource: string;
  readonly userId: string;
  readonly token: string;
  /** The next step named in an auth error (`RunComfyClientOptions.authAdvice`). */
  readonly authAdvice?: string;
  /** Pacing and time limit; default the account's shared bucket and 15 s. */
  readonly client?: Pick<RunComfyClientOptions, 'bucket' | 'timeoutMs'>;
  readonly signal?: AbortSignal;
}

/**
 * Asks RunComfy once whether `token` works for `userId` (one machine list: cheap, read-only) before
 * it is kept. The request goes only to `apiUrl` under the token policy (https, or http to loopback);
 * a URL that may not carry the token throws `UnsafeUrlError` before anything is sent. Not retried,
 * apart from waiting out a rate limit for a few seconds: a sign-in should answer quickly, and a
 * network failure is the user's to judge. Cancellation propagates as `CancelledError`.
 */
export async function checkToken(options: TokenCheckOptions): Promise<TokenCheck> {
  const apiOrigin = parseApiBaseUrl(options.apiUrl, options.apiUrlSource).origin;
  const client = new RunComfyClient({
    baseUrl: options.apiUrl,
    baseUrlSource: options.apiUrlSource,
    userId: options.userId,
    getToken: () => Promise.resolve(options.token),
    bucket: options.client?.bucket ?? accountTokenBucket({ apiOrigin, userId: options.userId }),
    timeoutMs: options.client?.timeoutMs ?? 15_000,
    retry: { maxRetries: 0, rateLimitBudgetMs: 10_000 },
    authAdvice: options.authAdvice,
  });
  try {
    await client.listMachines(options.signal);
    return { kind: 'accepted' };
  } catch (e) {
    if (isCancellation(e) || !(e instanceof ApiError) || e.kind === 'unsafeUrl' || e.kind === 'config') throw e;
    if (e instanceof AuthError) return { kind: 'refused', error: e };
    return { kind: 'unchecked', error: e };
  }
}
