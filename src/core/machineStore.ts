import { ApiError, CancelledError, ConfigError, InvalidRequestError, NotFoundError, TimeoutError, isCancellation } from '../api/errors';
import { type RunComfyClient } from '../api/runcomfyClient';
import { type LaunchRequest, type Machine } from '../api/runcomfyTypes';
import { abortReason, systemClock, type Clock } from '../base/clock';
import { Emitter, type Event } from '../base/event';
import { DisposableObject, toDisposable, type Disposable } from '../base/lifecycle';
import { extendedTotalSeconds } from './machineMath';
import { MoneyOperations } from './moneyOperations';

/** The part of `RunComfyClient` the store uses. */
export type MachineApi = Pick<RunComfyClient, 'listMachines' | 'getMachine' | 'launch' | 'updateEstimatedDuration' | 'stop'>;

export interface MachineStoreOptions {
  /** Poll interval while a machine is Starting or Deleting, just changed, or awaited; default 3 s. */
  readonly fastIntervalMs?: number;
  /** Poll interval otherwise, while someone watches; default 30 s. */
  readonly slowIntervalMs?: number;
  /** How long polling stays fast after a launch, a duration change or a stop; default 15 s. */
  readonly changedWindowMs?: number;
  /** How long a just-launched machine may be missing (404) before it counts as gone; default 30 s. */
  readonly notVisibleGraceMs?: number;
  /** What launches and stops go through (see `RunComfyAccount`); default the store's own API. */
  readonly moneyApi?: Pick<MachineApi, 'launch' | 'stop'>;
  /** The record of money operations in flight, shared by every store of a window; default one of its own. */
  readonly money?: MoneyOperations;
}

/** How a stop is asked for. */
export interface StopOptions {
  /** The user's own interrupt (the CLI's Ctrl-C): ends the retries, saying whether a DELETE was sent. The editor passes none. */
  readonly signal?: AbortSignal;
  /** Nobody waits for it (an idle auto-stop); see `MoneyOperation.unattended`. */
  readonly unattended?: boolean;
}

/** What a waiter hears after each poll. */
export interface WaitProgress {
  readonly serverId: string;
  /** `current_status` verbatim; `notVisibleYet` while a just-launched machine is not listed; `goneStatus` once it is gone. */
  readonly status: string;
  /** Since the wait began. */
  readonly elapsedMs: number;
  readonly machine: Machine | undefined;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: WaitProgress) => void;
  /** Give up with a TimeoutError after this long; default: never. */
  readonly timeoutMs?: number;
}

/** The status a waiter reports while a just-launched machine is not listed yet. */
export const notVisibleYet = 'not visible yet';

/** The status a waiter reports once the machine is no longer listed and answers 404. */
export const goneStatus = 'gone';

interface Waiter {
  readonly serverId: string;
  readonly until: 'ready' | 'gone';
  readonly startedAtMs: number;
  readonly options: WaitOptions;
  lastStatus: string;
  settle(result: { machine?: Machine; error?: Error }): void;
}

/**
 * The user's machines, kept fresh by polling one list call for all of them. Polling runs only
 * while someone watches (`watch()`), awaits a machine, or just changed one; it is fast while a
 * machine is Starting or Deleting or just changed, slow otherwise. Concurrent refreshes share one
 * request. State is the machine list only: time left and cost are derived with `machineMath`.
 */
export class MachineStore extends DisposableObject {
  private readonly _onDidChangeMachines = this._register(new Emitter<readonly Machine[]>());
  /** Fires when the list (or any machine in it) changes. */
  readonly onDidChangeMachines: Event<readonly Machine[]> = this._onDidChangeMachines.event;
  private readonly _onDidChangeError = this._register(new Emitter<ApiError | undefined>());
  /** Fires when refreshing starts failing (the API is unreachable, the token was refused) or recovers. */
  readonly onDidChangeError: Event<ApiError | undefined> = this._onDidChangeError.event;

  private list: readonly Machine[] = [];
  private error: ApiError | undefined;
  private watchers = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly launchedAtMs = new Map<string, number>();
  private fastUntilMs = 0;
  private failures = 0;
  private lastRefreshMs: number | undefined;
  private lastSuccessMs: number | undefined;
  private inFlight: Promise<readonly Machine[]> | undefined;
  private timer: { readonly handle: Disposable; readonly dueMs: number } | undefined;
  private readonly lifetime = new AbortController();
  private readonly fastMs: number;
  private readonly slowMs: number;
  private readonly changedWindowMs: number;
  private readonly graceMs: number;
  private readonly moneyApi: Pick<MachineApi, 'launch' | 'stop'>;
  /** Launches and stops in flight. They run on their own lifetime, never on this store's. */
  readonly money: MoneyOperations;

  constructor(
    private readonly api: MachineApi,
    private readonly clock: Clock = systemClock,
    options: MachineStoreOptions = {},
  ) {
    super();
    this.fastMs = options.fastIntervalMs ?? 3000;
    this.slowMs = options.slowIntervalMs ?? 30_000;
    this.changedWindowMs = options.changedWindowMs ?? 15_000;
    this.graceMs = options.notVisibleGraceMs ?? 30_000;
    this.moneyApi = options.moneyApi ?? api;
    this.money = options.money ?? new MoneyOperations(clock);
    // A stop that lands (perhaps one started by an account this store replaced) changes the list.
    this._register(this.money.onDidEnd(() => this.changed()));
    this._register(
      toDisposable(() => {
        this.lifetime.abort(new CancelledError('The machine list was closed.'));
        this.cancelTimer();
        for (const w of [...this.waiters]) w.settle({ error: new CancelledError(`Waiting for machine ${w.serverId} was cancelled.`) });
      }),
    );
  }

  /** The machines as last listed (plus a just-launched one the list does not show yet). */
  get machines(): readonly Machine[] {
    return this.list;
  }

  /** Why the last refresh failed, or undefined when it succeeded. */
  get lastError(): ApiError | undefined {
    return this.error;
  }

  /** Clock time of the last successful list, undefined until the first one: "updated 5 s ago", "loaded". */
  get lastRefreshed(): number | undefined {
    return this.lastSuccessMs;
  }

  /** One machine from the last list. */
  machine(serverId: string): Machine | undefined {
    return this.list.find((m) => m.serverId === serverId);
  }

  /**
   * Lists the machines now. Calls made while a list request is in flight share it. `signal` only
   * stops this caller from waiting; the shared request goes on for the others.
   */
  refresh(signal?: AbortSignal): Promise<readonly Machine[]> {
    if (this.isDisposed) return Promise.reject(new CancelledError('The machine list was closed.'));
    this.cancelTimer();
    this.inFlight ??= this.poll().finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    return signal ? untilAborted(this.inFlight, signal, 'List machines') : this.inFlight;
  }

  /**
   * Says someone is looking (a view is visible). Polling runs while at least one watch is held;
   * dispose the result to stop watching. The first watch refreshes at once unless the list is fresh.
   */
  watch(): Disposable {
    this.watchers++;
    if (this.watchers === 1 && (this.lastRefreshMs === undefined || this.clock.now() - this.lastRefreshMs >= this.fastMs)) {
      this.refresh().catch(() => undefined);
    } else {
      this.schedule();
    }
    return toDisposable(() => {
      this.watchers--;
      this.schedule();
    });
  }

  /**
   * Launches a machine (see `RunComfyClient.launch`) and follows it closely until it settles. The
   * launch is a money operation: disposing this store (the account was rebuilt) does not abort it,
   * and `signal` aborting after the POST left still lets the machine list be checked. A disposed
   * store launches nothing.
   */
  async launch(request: LaunchRequest, signal?: AbortSignal): Promise<Machine> {
    if (this.isDisposed) {
      throw new ConfigError('The RunComfy account changed (sign-in or settings) before the launch was sent; nothing was launched. Launch again.');
    }
    const m = await this.money.run('launch', undefined, () => this.moneyApi.launch(request, signal));
    this.launchedAtMs.set(m.serverId, this.clock.now());
    this.upsert(m);
    this.changed();
    return m;
  }

  /**
   * Extends the machine by `seconds`. The API takes a new total counted from Ready, so this reads
   * the machine's current `estimated_duration` fresh (not from a possibly stale list) and sends
   * `estimated_duration + seconds`.
   */
  async extendBy(serverId: string, seconds: number, signal?: AbortSignal): Promise<Machine> {
    if (!Number.isInteger(seconds) || seconds <= 0) {
      throw new InvalidRequestError(`Extend by a positive whole number of seconds, got ${seconds}.`);
    }
    const current = await this.api.getMachine(serverId, this.linked(signal));
    let total: number;
    try {
      total = extendedTotalSeconds(current, seconds);
    } catch (e) {
      throw new InvalidRequestError((e as Error).message);
    }
    return this.setDuration(serverId, total, signal);
  }

  /** Sets the machine's total run time (seconds from Ready). */
  async setDuration(serverId: string, totalSeconds: number, signal?: AbortSignal): Promise<Machine> {
    const m = await this.api.updateEstimatedDuration(serverId, totalSeconds, this.linked(signal));
    this.upsert(m);
    this.changed();
    return m;
  }

  /**
   * Stops the machine (retried until it lands; see `RunComfyClient.stop`). Resolves with the
   * `Deleting` machine, or undefined when an earlier attempt had already landed. A money operation:
   * disposing this store does not abort it; a stop of a machine already being stopped joins it.
   */
  async stop(serverId: string, options: StopOptions = {}): Promise<Machine | undefined> {
    const m = await this.money.run('stop', serverId, (attemptFailed) => this.moneyApi.stop(serverId, options.signal, attemptFailed), options.unattended);
    // A stopped machine is no longer "just launched": once the list drops it, it is gone.
    this.launchedAtMs.delete(serverId);
    if (m) {
      this.upsert(m);
    } else {
      this.setList(this.list.filter((x) => x.serverId !== serverId));
    }
    this.changed();
    return m;
  }

  /**
   * Resolves with the machine once it is `Ready`, reporting progress after each poll. Uses the
   * store's polling (fast while anyone waits). A just-launched machine that is not listed yet is
   * "not visible yet" for a grace period; after that, or once it is `Deleting`, the wait fails
   * with NotFoundError. Rejects with TimeoutError after `timeoutMs`, CancelledError on abort.
   */
  waitUntilReady(serverId: string, options: WaitOptions = {}): Promise<Machine> {
    return this.wait(serverId, 'ready', options).then((m) => m!);
  }

  /** Resolves once the machine is gone (no longer listed and answering 404). */
  async waitUntilGone(serverId: string, options: WaitOptions = {}): Promise<void> {
    await this.wait(serverId, 'gone', options);
  }

  private wait(serverId: string, until: Waiter['until'], options: WaitOptions): Promise<Machine | undefined> {
    if (this.isDisposed) return Promise.reject(new CancelledError('The machine list was closed.'));
    if (options.signal?.aborted) return Promise.reject(new CancelledError(`Waiting for machine ${serverId} was cancelled.`));
    return new Promise<Machine | undefined>((resolve, reject) => {
      const onAbort = () => waiter.settle({ error: new CancelledError(`Waiting for machine ${serverId} was cancelled.`) });
      const timeout =
        options.timeoutMs === undefined
          ? undefined
          : this.clock.setTimeout(
              () =>
                waiter.settle({
                  error: new TimeoutError(
                    `Machine ${serverId} is still ${waiter.lastStatus} after ${Math.round(options.timeoutMs! / 1000)} s (gave up waiting).`,
                  ),
                }),
              options.timeoutMs,
            );
      const waiter: Waiter = {
        serverId,
        until,
        startedAtMs: this.clock.now(),
        options,
        lastStatus: this.machine(serverId)?.status ?? notVisibleYet,
        settle: ({ machine, error }) => {
          if (!this.waiters.delete(waiter)) return;
          timeout?.dispose();
          options.signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(machine);
          this.schedule();
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      if (this.lastRefreshMs === undefined) {
        // Say what is known at once (a just-launched machine is Starting); the first list may wait for the rate limit.
        const known = this.machine(serverId);
        if (known) options.onProgress?.({ serverId, status: known.status, elapsedMs: 0, machine: known });
        this.refresh().catch(() => undefined);
      } else {
        this.check(waiter, this.list);
        this.schedule();
      }
    });
  }

  private async poll(): Promise<readonly Machine[]> {
    const signal = this.lifetime.signal;
    try {
      const listed = await this.api.listMachines(signal);
      const merged = await this.withAwaitedMachines(listed, signal);
      const firstList = this.lastSuccessMs === undefined;
      this.lastRefreshMs = this.clock.now();
      this.lastSuccessMs = this.lastRefreshMs;
      this.failures = 0;
      this.setError(undefined);
      // The first list is news even when it is empty: views switch from "loading" to "no machines".
      this.setList(merged, firstList);
      for (const w of [...this.waiters]) this.check(w, merged);
      return merged;
    } catch (e) {
      this.lastRefreshMs = this.clock.now();
      if (this.isDisposed || isCancellation(e)) throw e;
      this.failures++;
      const error = e instanceof ApiError ? e : new ApiError('network', `List machines failed: ${String(e)}`, { cause: e });
      this.setError(error);
      if (error.kind === 'auth' || error.kind === 'config' || error.kind === 'unsafeUrl') {
        for (const w of [...this.waiters]) w.settle({ error });
      }
      throw error;
    }
  }

  /**
   * The list, plus machines someone awaits that it does not show: each is asked for directly (the
   * list may leave out some states), and a just-launched one is kept during its grace period.
   */
  private async withAwaitedMachines(listed: readonly Machine[], signal: AbortSignal): Promise<Machine[]> {
    const result = [...listed];
    const now = this.clock.now();
    const ids = new Set(listed.map((m) => m.serverId));
    const awaited = new Set([...this.waiters].filter((w) => !ids.has(w.serverId)).map((w) => w.serverId));
    for (const id of awaited) {
      try {
        result.push(await this.api.getMachine(id, signal));
        ids.add(id);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    for (const [id, at] of this.launchedAtMs) {
      if (now - at >= this.graceMs) {
        this.launchedAtMs.delete(id);
      } else if (!ids.has(id)) {
        const known = this.machine(id);
        if (known && !awaited.has(id)) result.push(known);
      }
    }
    return result;
  }

  private check(w: Waiter, machines: readonly Machine[]): void {
    const m = machines.find((x) => x.serverId === w.serverId);
    const now = this.clock.now();
    const inGrace = now - (this.launchedAtMs.get(w.serverId) ?? -Infinity) < this.graceMs;
    w.lastStatus = m?.status ?? (inGrace ? notVisibleYet : goneStatus);
    w.options.onProgress?.({ serverId: w.serverId, status: w.lastStatus, elapsedMs: now - w.startedAtMs, machine: m });
    if (w.until === 'gone') {
      if (!m && !inGrace) w.settle({});
      return;
    }
    if (m?.isReady) {
      w.settle({ machine: m });
    } else if (m?.status === 'Deleting') {
      w.settle({ error: new NotFoundError(`Machine ${w.serverId} is being deleted; it will not become Ready.`) });
    } else if (!m && !inGrace) {
      w.settle({ error: new NotFoundError(`Machine ${w.serverId} is gone: it stopped, failed to start, or the id is wrong.`) });
    }
  }

  private upsert(m: Machine): void {
    const i = this.list.findIndex((x) => x.serverId === m.serverId);
    this.setList(i < 0 ? [...this.list, m] : this.list.map((x, j) => (j === i ? m : x)));
  }

  private setList(next: readonly Machine[], announce = false): void {
    const same = next.length === this.list.length && next.every((m, i) => JSON.stringify(m.wire) === JSON.stringify(this.list[i]?.wire));
    this.list = next;
    if (!same || announce) this._onDidChangeMachines.fire(next);
  }

  private setError(e: ApiError | undefined): void {
    if (e?.message === this.error?.message) {
      this.error = e;
      return;
    }
    this.error = e;
    this._onDidChangeError.fire(e);
  }

  private changed(): void {
    this.fastUntilMs = this.clock.now() + this.changedWindowMs;
    this.schedule();
  }

  private get active(): boolean {
    return this.watchers > 0 || this.waiters.size > 0 || this.clock.now() < this.fastUntilMs;
  }

  private get busy(): boolean {
    return (
      this.waiters.size > 0 ||
      this.clock.now() < this.fastUntilMs ||
      this.launchedAtMs.size > 0 ||
      this.list.some((m) => m.status === 'Starting' || m.status === 'Deleting')
    );
  }

  /** Arms the next poll (counted from the last one), or stops polling when nobody needs it. */
  private schedule(): void {
    if (this.isDisposed || this.inFlight) return;
    if (!this.active) {
      this.cancelTimer();
      return;
    }
    const base = this.busy ? this.fastMs : this.slowMs;
    const interval = this.failures > 0 ? Math.min(this.slowMs, this.fastMs * 2 ** this.failures) : base;
    const now = this.clock.now();
    const dueMs = Math.max(now, (this.lastRefreshMs ?? now) + interval);
    if (this.timer && this.timer.dueMs <= dueMs) return;
    this.cancelTimer();
    const handle = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.refresh().catch(() => undefined);
    }, dueMs - now);
    this.timer = { handle, dueMs };
  }

  private cancelTimer(): void {
    this.timer?.handle.dispose();
    this.timer = undefined;
  }

  private linked(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.lifetime.signal]) : this.lifetime.signal;
  }
}

/** `promise`, or a CancelledError as soon as `signal` aborts (the work behind `promise` goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  const cancelled = () => new CancelledError(`${what}: cancelled.`, { cause: abortReason(signal) });
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
