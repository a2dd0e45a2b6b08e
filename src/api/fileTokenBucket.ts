import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { runcomfyCacheDir } from '../base/cacheDir';
import { abortReason, sleep, systemClock, type Clock } from '../base/clock';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { lockfile } from './lazy';
import { defaultTokenBucketOptions, sharedTokenBucket, type RateLimiter, type TokenBucketOptions } from './tokenBucket';

/** How a `FileTokenBucket` paces, and what it does when its file cannot be used. */
export interface FileTokenBucketOptions {
  /** Default one request per second with a burst of 2 (`defaultTokenBucketOptions`). */
  readonly rate?: TokenBucketOptions;
  readonly clock?: Clock;
  /** Told once per process and folder when the file cannot be used; the fallback then paces requests. */
  readonly onWarning?: (message: string) => void;
  /** Paces requests when the file cannot be used; default the process-wide `sharedTokenBucket()`. */
  readonly fallback?: RateLimiter;
  /** A lock older than this was left by a killed process and is taken over; default 10 s (at least 2 s). */
  readonly staleLockMs?: number;
  /** How long to wait for the lock before giving up on the file; default 30 s. */
  readonly lockWaitMs?: number;
}

/**
 * The state every process shares, in virtual-scheduling form (GCRA): `tat` is the time at which the
 * bucket would be full again had nobody asked, so a request asked for at `now` goes at
 * `max(now, tat - tolerance)` and moves `tat` on by one interval. A reservation is one locked
 * read-modify-write, and the waiting happens outside the lock, first come first served.
 * `pausedUntil` is the end of the last 429 pause.
 */
interface BucketState {
  readonly tat: number;
  readonly pausedUntil: number;
}

const stateVersion = 1;
const freshState: BucketState = { tat: 0, pausedUntil: 0 };
/** A `tat` or pause further ahead than this comes from a clock that jumped back, or from a bad file: start fresh. */
const maxAheadMs = 15 * 60_000;
const warnedDirs = new Set<string>();

/**
 * A token bucket whose state is a small file, locked with `proper-lockfile` and replaced atomically
 * (temp file + rename), so every process of one user on this computer (CLI runs, editor windows)
 * shares one allowance without a daemon. The file holds two times and nothing about the account:
 * its name is a hash (see `accountTokenBucket`). A missing or unreadable file starts fresh; a lock
 * left by a killed process is taken over once stale. When the folder cannot be used at all, the
 * bucket warns once and falls back to the in-process bucket for the rest of its life.
 */
export class FileTokenBucket implements RateLimiter {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly fallback: RateLimiter;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  /** Serialises this process's reservations, so they queue here rather than on the lock. */
  private tail: Promise<void> = Promise.resolve();
  private dirReady: Promise<unknown> | undefined;
  private unusable = false;

  constructor(
    readonly file: string,
    private readonly options: FileTokenBucketOptions = {},
  ) {
    const rate = options.rate ?? defaultTokenBucketOptions;
    if (!(rate.ratePerSecond > 0) || !Number.isFinite(rate.ratePerSecond)) {
      throw new RangeError(`FileTokenBucket ratePerSecond must be a positive number, got ${rate.ratePerSecond}.`);
    }
    if (!(rate.burst >= 1) || !Number.isFinite(rate.burst)) {
      throw new RangeError(`FileTokenBucket burst must be at least 1, got ${rate.burst}.`);
    }
    this.clock = options.clock ?? systemClock;
    this.intervalMs = 1000 / rate.ratePerSecond;
    this.toleranceMs = (rate.burst - 1) * this.intervalMs;
    this.fallback = options.fallback ?? sharedTokenBucket();
    this.staleLockMs = Math.max(2000, options.staleLockMs ?? 10_000);
    this.lockWaitMs = options.lockWaitMs ?? 30_000;
  }

  /** Whether the bucket gave up on its file and paces this process only. */
  get usingFallback(): boolean {
    return this.unusable;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const slot = await this.update(signal, (s, now) => {
        const tat = Math.max(s.tat, now);
        return { state: { tat: tat + this.intervalMs, pausedUntil: s.pausedUntil }, result: Math.max(now, tat - this.toleranceMs) };
      });
      if (slot === undefined) return this.fallback.acquire(signal);
      const wait = slot - this.clock.now();
      if (wait <= 0) return;
      await sleep(wait, signal, this.clock);
      // Another process may have been refused (429) while this one slept: its pause holds here too.
      if (!(await this.pausedNow())) return;
    }
  }

  async pause(ms: number): Promise<void> {
    const done = await this.update(undefined, (s, now) => {
      const until = now + Math.max(0, ms);
      // After the pause one request may go, then one per interval: no burst.
      return { state: { tat: Math.max(s.tat, until + this.toleranceMs), pausedUntil: Math.max(s.pausedUntil, until) }, result: true };
    });
    if (done === undefined) await this.fallback.pause(ms);
  }

  /** One locked read-modify-write; undefined when the file cannot be used (the caller falls back). */
  private async update<T>(signal: AbortSignal | undefined, change: (s: BucketState, now: number) => { state: BucketState; result: T }): Promise<T | undefined> {
    if (this.unusable) return undefined;
    const run = this.tail.then(() => this.locked(signal, change));
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await run;
    } catch (e) {
      if (signal?.aborted) throw e;
      this.giveUp(e);
      return undefined;
    }
  }

  private async locked<T>(signal: AbortSignal | undefined, change: (s: BucketState, now: number) => { state: BucketState; result: T }): Promise<T> {
    if (signal?.aborted) throw abortReason(signal);
    if (this.unusable) throw new Error('the rate-limit file is not usable');
    this.dirReady ??= fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await this.dirReady;
    const release = await this.lock(signal);
    try {
      const now = this.clock.now();
      const { state, result } = change(await this.read(now), now);
      await this.write(state);
      return result;
    } finally {
      await release().catch(() => undefined);
    }
  }

  private async lock(signal: AbortSignal | undefined): Promise<() => Promise<void>> {
    const deadline = this.clock.now() + this.lockWaitMs;
    for (;;) {
      try {
        return await lockfile().lock(this.file, {
          realpath: false,
          lockfilePath: `${this.file}.lock`,
          stale: this.staleLockMs,
          retries: 0,
          // Another process took the lock over after this one stalled longer than staleLockMs: at worst one
          // request goes early and meets a 429, which is retried. The default would throw from a timer.
          onCompromised: () => undefined,
        });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ELOCKED' || this.clock.now() >= deadline) throw e;
        await sleep(5 + Math.random() * 20, signal, this.clock);
      }
    }
  }

  private async read(now: number): Promise<BucketState> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return freshState;
      throw e;
    }
    return parseState(text, now) ?? freshState;
  }

  private async write(state: BucketState): Promise<void> {
    const tmp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    const text = JSON.stringify({ v: stateVersion, tat: Math.ceil(state.tat), pausedUntil: Math.ceil(state.pausedUntil) });
    try {
      await fs.writeFile(tmp, text, { mode: 0o600 });
      await renameOver(tmp, this.file);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  /** Read without the lock: the file is only ever replaced whole, so a read sees one state or another. */
  private async pausedNow(): Promise<boolean> {
    if (this.unusable) return false;
    try {
      const now = this.clock.now();
      return (parseState(await fs.readFile(this.file, 'utf8'), now)?.pausedUntil ?? 0) > now;
    } catch {
      return false;
    }
  }

  private giveUp(e: unknown): void {
    this.unusable = true;
    const dir = path.dirname(this.file);
    if (warnedDirs.has(dir)) return;
    warnedDirs.add(dir);
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    this.options.onWarning?.(
      `Cannot keep the RunComfy rate-limit state in ${dir} (${why}): requests are paced per process only, so several CLI runs or ` +
        'editor windows at once may be rate limited. Make that folder writable, or set RUNCOMFY_CACHE_DIR to one that is.',
    );
  }
}

/** The file of one account's bucket: a hash of the API origin and the user id (never the token). */
export function accountBucketFile(cacheDir: string, apiOrigin: string, userId: string): string {
  const hash = createHash('sha256').update(`${apiOrigin}\n${userId}`).digest('hex').slice(0, 32);
  return path.join(cacheDir, `ratelimit-${hash}.json`);
}

/**
 * The bucket shared by every process of `userId` at `apiOrigin` on this computer, in the OS cache
 * folder (`runcomfyCacheDir`, or `RUNCOMFY_CACHE_DIR` from `env`).
 */
export function accountTokenBucket(
  account: { readonly apiOrigin: string; readonly userId: string },
  options: FileTokenBucketOptions & { readonly env?: NodeJS.ProcessEnv } = {},
): FileTokenBucket {
  return new FileTokenBucket(accountBucketFile(runcomfyCacheDir(options.env), account.apiOrigin, account.userId), options);
}

function parseState(text: string, now: number): BucketState | undefined {
  const json = parseJsonOrUndefined(text);
  if (!isObject(json) || json.v !== stateVersion) return undefined;
  const { tat, pausedUntil } = json;
  if (typeof tat !== 'number' || typeof pausedUntil !== 'number' || !Number.isFinite(tat) || !Number.isFinite(pausedUntil)) return undefined;
  if (tat > now + maxAheadMs || pausedUntil > now + maxAheadMs) return undefined;
  return { tat, pausedUntil };
}

/** Windows refuses a rename over a file another process is reading for a moment: try a few times. */
async function renameOver(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fs.rename(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (attempt >= 5 || (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY')) throw e;
      await sleep(10 * attempt);
    }
  }
}
