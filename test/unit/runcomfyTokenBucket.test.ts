import * as assert from 'node:assert/strict';
import { TokenBucket, defaultTokenBucketOptions, sharedTokenBucket } from '../../src/api/tokenBucket';
import { ManualClock } from './helpers/runcomfyTestKit';

/** Starts `n` acquires and records, for each, the clock time at which it was let through. */
function acquireAll(bucket: TokenBucket, clock: ManualClock, n: number, signal?: AbortSignal): { times: (number | undefined)[]; done: Promise<unknown> } {
  const times: (number | undefined)[] = new Array<number | undefined>(n).fill(undefined);
  const done = Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      bucket.acquire(signal).then(() => {
        times[i] = clock.now();
      }),
    ),
  );
  return { times, done };
}

describe('TokenBucket', () => {
  it('defaults to 1 request/s with a burst of 2', () => {
    assert.deepEqual(defaultTokenBucketOptions, { ratePerSecond: 1, burst: 2 });
  });

  it('lets a burst through at once, then one per interval, first come first served', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, clock);
    const { times } = acquireAll(bucket, clock, 5);
    await clock.advance(0);
    assert.deepEqual(times, [t0, t0, undefined, undefined, undefined]);
    await clock.advance(10_000);
    assert.deepEqual(times, [t0, t0, t0 + 1000, t0 + 2000, t0 + 3000]);
  });

  it('refills up to the burst after a quiet period, never more', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 2, burst: 3 }, clock);
    await clock.advance(60_000);
    const start = clock.now();
    const { times } = acquireAll(bucket, clock, 4);
    await clock.advance(0);
    assert.deepEqual(times, [start, start, start, undefined]);
    await clock.advance(500);
    assert.equal(times[3], start + 500);
  });

  it('pause drains the bucket: nobody goes until it ends, then one at a time', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, clock);
    bucket.pause(5000);
    const { times } = acquireAll(bucket, clock, 3);
    await clock.advance(4999);
    assert.deepEqual(times, [undefined, undefined, undefined]);
    await clock.advance(10_000);
    assert.deepEqual(times, [t0 + 5000, t0 + 6000, t0 + 7000]);
  });

  it('a shorter pause does not cut a longer one short', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, clock);
    bucket.pause(3000);
    bucket.pause(1000);
    const { times } = acquireAll(bucket, clock, 1);
    await clock.advance(5000);
    assert.deepEqual(times, [t0 + 3000]);
  });

  it('an aborted acquire leaves the queue and rejects with the reason', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, clock);
    await bucket.acquire();
    const controller = new AbortController();
    const aborted = bucket.acquire(controller.signal);
    const { times } = acquireAll(bucket, clock, 1);
    assert.equal(bucket.waiting, 2);
    controller.abort(new Error('user cancelled'));
    await assert.rejects(aborted, /user cancelled/);
    assert.equal(bucket.waiting, 1);
    await clock.advance(1000);
    assert.deepEqual(times, [t0 + 1000], 'the next caller moved up into the freed slot');
  });

  it('refuses nonsense settings with a clear message', () => {
    assert.throws(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }), /ratePerSecond must be a positive number/);
    assert.throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }), /burst must be at least 1/);
  });

  it('sharedTokenBucket is one instance per process with the default pacing', () => {
    assert.equal(sharedTokenBucket(), sharedTokenBucket());
    assert.deepEqual(sharedTokenBucket().options, defaultTokenBucketOptions);
  });
});
