import type * as vscode from 'vscode';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';

/** What identifies the user to the RunComfy API. */
export interface Credentials {
  readonly userId: string;
  readonly token: string;
}

/** Secret key holding `{userId, token}` as JSON. Both live in one secret so other windows see one atomic change. */
const SECRET_KEY = 'runcomfy.credentials';

/**
 * Keeps the credentials in SecretStorage (the OS keychain on desktop) and nowhere else, and follows
 * changes made by other VS Code windows through `SecretStorage.onDidChange`.
 */
export class CredentialStore extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<Credentials | undefined>());
  /** Fires after sign-in or sign-out, in this window or in another. */
  readonly onDidChange: Event<Credentials | undefined> = this._onDidChange.event;
  private cached: Promise<Credentials | undefined> | undefined;
  /** What listeners last heard, so a change seen both locally and through `onDidChange` fires once. */
  private lastFired: string | undefined = '';

  constructor(private readonly secrets: vscode.SecretStorage) {
    super();
    this._register(
      secrets.onDidChange((e) => {
        if (e.key !== SECRET_KEY) return;
        this.cached = undefined;
        void this.get().then((c) => this.fire(c));
      }),
    );
  }

  /** The stored credentials, or undefined when signed out (or when the stored value is unreadable). */
  get(): Promise<Credentials | undefined> {
    this.cached ??= this.read();
    return this.cached;
  }

  async set(credentials: Credentials): Promise<void> {
    this.cached = Promise.resolve(credentials);
    await this.secrets.store(SECRET_KEY, JSON.stringify(credentials));
    this.fire(credentials);
  }

  async clear(): Promise<void> {
    this.cached = Promise.resolve(undefined);
    await this.secrets.delete(SECRET_KEY);
    this.fire(undefined);
  }

  private fire(c: Credentials | undefined): void {
    const key = c && JSON.stringify(c);
    if (key === this.lastFired) return;
    this.lastFired = key;
    this._onDidChange.fire(c);
  }

  private async read(): Promise<Credentials | undefined> {
    const raw = await this.secrets.get(SECRET_KEY);
    if (!raw) return undefined;
    try {
      const v = JSON.parse(raw) as Partial<Credentials>;
      return typeof v.userId === 'string' && typeof v.token === 'string' && v.userId && v.token
        ? { userId: v.userId, token: v.token }
        : undefined;
    } catch {
      return undefined;
    }
  }
}
