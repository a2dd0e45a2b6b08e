import { type ApiError } from '../api/errors';
import { type Clock, systemClock } from '../base/clock';
import { Emitter, type Event } from '../base/event';

/**
 * A call that spends or saves money, in flight: a launch (its POST and, when the answer is lost,
 * the check of the machine list) or a stop (its DELETE, retried until it lands).
 */
export interface MoneyOperation {
  readonly kind: 'launch' | 'stop';
  /** The machine being stopped; undefined for a launch. */
  readonly serverId: string | undefined;
  readonly startedAtMs: number;
  /** Nobody waits for it (an idle auto-stop): whoever shows money must report how it ended. */
  readonly unattended: boolean;
  /** Attempts that failed so far (a stop retried through 5xx answers). */
  readonly failures: number;
  /** Why the last attempt failed. */
  readonly lastError: ApiError | undefined;
}

/** How a money operation ended: `error` is undefined when it succeeded. */
export interface MoneyOperationEnd {
  readonly operation: MoneyOperation;
  readonly error: unknown;
}

/** What an operation's body is given: a way to say that one attempt failed (the UI shows it). */
export type AttemptFailed = (e: ApiError) => void;

interface Entry {
  operation: MoneyOperation;
  readonly done: Promise<unknown>;
}

/**
 * The money operations of a window (or a CLI process), on a lifetime of their own: nothing here
 * aborts them. The account that started one may be rebuilt (a setting or the token changed) or
 * disposed; the operation goes on until it lands or fails, and only then leaves this record. The
 * views read it so a machine whose stop is still being retried shows as such, and the extension's
 * `deactivate` waits on it.
 */
export class MoneyOperations {
  private readonly _onDidChange = new Emitter<readonly MoneyOperation[]>();
  /** Fires when an operation starts, fails an attempt, or ends. */
  readonly onDidChange: Event<readonly MoneyOperation[]> = this._onDidChange.event;
  private readonly _onDidEnd = new Emitter<MoneyOperationEnd>();
  /** Fires once per operation when it ends, with its error if it failed. */
  readonly onDidEnd: Event<MoneyOperationEnd> = this._onDidEnd.event;
  private readonly entries = new Set<Entry>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** The operations in flight, oldest first. */
  get inFlight(): readonly MoneyOperation[] {
    return [...this.entries].map((e) => e.operation);
  }

  /** The stop of `serverId` in flight, if any. */
  stopping(serverId: string): MoneyOperation | undefined {
    return this.stopEntry(serverId)?.operation;
  }

  /**
   * Runs `body` as a recorded money operation. A stop of a machine that is already being stopped
   * joins that stop instead of starting a second round of DELETEs.
   */
  run<T>(kind: MoneyOperation['kind'], serverId: string | undefined, body: (attemptFailed: AttemptFailed) => Promise<T>, unattended = false): Promise<T> {
    const joined = kind === 'stop' && serverId !== undefined ? this.stopEntry(serverId) : undefined;
    if (joined) return joined.done as Promise<T>;
    const entry: Entry = {
      operation: { kind, serverId, startedAtMs: this.clock.now(), unattended, failures: 0, lastError: undefined },
      done: Promise.resolve()
        .then(() =>
          body((e) => {
            entry.operation = { ...entry.operation, failures: entry.operation.failures + 1, lastError: e };
            this._onDidChange.fire(this.inFlight);
          }),
        )
        .then(
          (value) => {
            this.end(entry, undefined);
            return value;
          },
          (error: unknown) => {
            this.end(entry, error);
            throw error;
          },
        ),
    };
    this.entries.add(entry);
    this._onDidChange.fire(this.inFlight);
    return entry.done as Promise<T>;
  }

  /** Resolves true once nothing is in flight, or false after `timeoutMs` with something still in flight. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.entries.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        sub.dispose();
        resolve(this.entries.size === 0);
      }, timeoutMs);
      const sub = this._onDidEnd.event(() => {
        if (this.entries.size > 0) return;
        timer.dispose();
        sub.dispose();
        resolve(true);
      });
    });
  }

  private stopEntry(serverId: string): Entry | undefined {
    return [...this.entries].find((e) => e.operation.kind === 'stop' && e.operation.serverId === serverId);
  }

  private end(entry: Entry, error: unknown): void {
    this.entries.delete(entry);
    this._onDidEnd.fire({ operation: entry.operation, error });
    this._onDidChange.fire(this.inFlight);
  }
}
