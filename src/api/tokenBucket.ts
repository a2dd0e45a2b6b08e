import { abortReason, systemClock, type Clock } from '../base/clock';
import { type Disposable } from '../base/lifecycle';

/** How fast a `TokenBucket` lets requests through. */
export interface TokenBucketOptions {
  /** Average requests per second. */
  readonly ratePerSecond: number;
  /** Requests that may go at once after a quiet period (the bucket's capacity). */
  readonly burst: number;
}

/** RunComfy documents one request per second per account; a burst of 2 leaves the server's own allowance a margin. */
export const defaultTokenBucketOptions: TokenBucketOptions = { ratePerSecond: 1, burst: 2 };

/**
 * What paces the requests of one account: `acquire` before each request, `pause` when the server
 * answered 429 (so every caller waits, not only the refused one). `TokenBucket` paces one process;
 * `FileTokenBucket` (src/api/fileTokenBucket.ts) paces every process of the user on this computer.
 */
export interface RateLimiter {
  /** Resolves when one request may be sent; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<void>;
  /** Lets nobody through for `ms`, then one request at a time (no burst). */
  pause(ms: number): Promise<void> | void;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * A client-side rate limiter shared by every caller of one API account, so the extension never
 * causes a 429 by itself. Callers are served first come, first served. When the server answers
 * 429 anyway, `pause` drains the bucket so every caller waits, not only the one that was refused.
 */
export class TokenBucket implements RateLimiter {
  private tokens: number;
  private lastRefillMs: number;
  private pausedUntilMs = 0;
  private readonly queue: Waiter[] = [];
  private timer: Disposable | undefined;
  private readonly intervalMs: number;

  constructor(
    readonly options: TokenBucketOptions = defaultTokenBucketOptions,
    private readonly clock: Clock = systemClock,
  ) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`TokenBucket ratePerSecond must be a positive number, got ${options.ratePerSecond}.`);
    }
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`TokenBucket burst must be at least 1, got ${options.burst}.`);
    }
    this.intervalMs = 1000 / options.ratePerSecond;
    this.tokens = options.burst;
    this.lastRefillMs = clock.now();
  }

  /** Callers currently waiting for a turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves when the caller may send one request. Rejects with the signal's reason if it aborts
   * first (the caller then gives up its place in the queue).
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortReason(signal!));
          this.pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /**
   * Empties the bucket and lets nobody through for `ms` (a server's Retry-After or a backoff).
   * A shorter pause never cuts a longer one short.
   */
  pause(ms: number): void {
    const now = this.clock.now();
    this.refill(now);
    this.tokens = 0;
    this.pausedUntilMs = Math.max(this.pausedUntilMs, now + Math.max(0, ms));
    // Refilling restarts so that exactly one request may go when the pause ends, not a burst.
    this.lastRefillMs = this.pausedUntilMs - this.intervalMs;
    this.reschedule();
  }

  private refill(now: number): void {
    if (now <= this.lastRefillMs) return;
    this.tokens = Math.min(this.options.burst, this.tokens + (now - this.lastRefillMs) / this.intervalMs);
    this.lastRefillMs = now;
  }

  private pump(): void {
    const now = this.clock.now();
    this.refill(now);
    while (this.queue.length > 0 && now >= this.pausedUntilMs && this.tokens >= 1) {
      this.tokens -= 1;
      const w = this.queue.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    this.reschedule();
  }

  private reschedule(): void {
    this.timer?.dispose();
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const now = this.clock.now();
    const untilToken = this.tokens >= 1 ? 0 : (1 - this.tokens) * this.intervalMs;
    const wait = Math.max(this.pausedUntilMs - now, untilToken, 1);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.ceil(wait));
  }
}

let shared: TokenBucket | undefined;

/**
 * The process-wide bucket every `RunComfyClient` uses unless one is injected: one budget per
 * process, however many clients, views and commands call the API.
 */
export function sharedTokenBucket(): TokenBucket {
  shared ??= new TokenBucket();
  return shared;
}
