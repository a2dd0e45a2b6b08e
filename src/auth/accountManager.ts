import { ApiError, ConfigError } from '../api/errors';
import { RunComfyAccount, type AccountClientOptions } from '../core/account';
import { MoneyOperations } from '../core/moneyOperations';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { type ConfigService } from '../util/config';
import { type CredentialStore, type Credentials } from './credentialStore';

/** What the editor's errors about a missing or refused token tell the user to do (never the CLI's variables). */
export const editorAuthAdvice = 'Sign in again.';

/** Why there is no account: signed out, or a setting that cannot work (the error says which). */
export type AccountState = { readonly kind: 'signedOut' } | { readonly kind: 'ready'; readonly account: RunComfyAccount } | { readonly kind: 'invalid'; readonly error: ApiError };

/**
 * Keeps one RunComfyAccount for the current credentials and `runcomfy.apiUrl`, and replaces it
 * when either changes (in this window or another).
 */
export class AccountManager extends DisposableObject {
  private readonly _onDidChangeAccount = this._register(new Emitter<AccountState>());
  readonly onDidChangeAccount: Event<AccountState> = this._onDidChangeAccount.event;
  private current: AccountState = { kind: 'signedOut' };
  private key = '';
  /**
   * Launches and stops in flight, whichever account started them. Not disposed with this manager:
   * nothing may cancel a money operation; the extension's `deactivate` waits on it instead.
   */
  readonly money = new MoneyOperations();

  constructor(
    private readonly credentials: CredentialStore,
    private readonly config: ConfigService,
    private readonly warn: (message: string) => void,
    private readonly clientOptions?: AccountClientOptions,
  ) {
    super();
    this._register(credentials.onDidChange((c) => this.rebuild(c)));
    this._register(config.onDidChange(() => void credentials.get().then((c) => this.rebuild(c))));
    this._register({ dispose: () => this.accountOrUndefined?.dispose() });
  }

  /** Reads the stored credentials once at start-up. */
  async initialize(): Promise<void> {
    this.rebuild(await this.credentials.get());
  }

  get state(): AccountState {
    return this.current;
  }

  get accountOrUndefined(): RunComfyAccount | undefined {
    return this.current.kind === 'ready' ? this.current.account : undefined;
  }

  /** The account, or a typed error that tells the user what to do (sign in, fix the setting). */
  requireAccount(): RunComfyAccount {
    switch (this.current.kind) {
      case 'ready':
        return this.current.account;
      case 'invalid':
        throw this.current.error;
      case 'signedOut':
        throw new SignedOutError();
    }
  }

  /**
   * The token for a launch or stop of the account built for `built` at `apiUrl`. Such an operation
   * outlives its account, and always goes to the origin it started on, where the machine lives.
   * While the user and `runcomfy.apiUrl` are unchanged it takes the current token (it may have
   * been replaced because the old one was revoked). After a sign-out, a sign-in as someone else or
   * a change of `runcomfy.apiUrl` it keeps the token it started with: that token was configured for
   * this very origin and already sent there, whereas the current one belongs to another user or
   * origin and must never go here. Held only by the account object until its last stop ends.
   */
  private async moneyToken(built: Credentials, apiUrl: string): Promise<string> {
    const now = await this.credentials.get();
    return now?.userId === built.userId && this.config.value.apiUrl === apiUrl ? now.token : built.token;
  }

  private rebuild(c: Credentials | undefined): void {
    const apiUrl = this.config.value.apiUrl;
    const slowPollMs = this.config.value.pollIntervalSeconds * 1000;
    const key = JSON.stringify([c?.userId, c?.token, apiUrl, slowPollMs]);
    if (key === this.key || this.isDisposed) return;
    this.key = key;
    this.accountOrUndefined?.dispose();
    if (!c) {
      this.current = { kind: 'signedOut' };
    } else {
      try {
        const account = new RunComfyAccount({
          apiUrl,
          apiUrlSource: 'the runcomfy.apiUrl setting',
          userId: c.userId,
          getToken: async () => (await this.credentials.get())?.token,
          getMoneyToken: () => this.moneyToken(c, apiUrl),
          money: this.money,
          client: this.clientOptions,
          slowPollMs,
          onRetry: (n) => this.warn(`${n.operation}: ${n.reason.message} Retrying in ${Math.ceil(n.delayMs / 1000)} s (attempt ${n.attempt}).`),
          onWarning: (message) => this.warn(message),
          authAdvice: editorAuthAdvice,
        });
        this.current = { kind: 'ready', account };
      } catch (e) {
        this.current = { kind: 'invalid', error: e instanceof ApiError ? e : new ConfigError(String(e)) };
      }
    }
    this._onDidChangeAccount.fire(this.current);
  }
}

/** Raised by commands that need an account while signed out; the command runner offers "Sign In". */
export class SignedOutError extends ApiError {
  constructor() {
    super('auth', 'You are not signed in to RunComfy.');
  }
}
