import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RateLimitedError } from '../../src/api/errors';
import { FileTokenBucket, accountBucketFile, accountTokenBucket } from '../../src/api/fileTokenBucket';
import { TokenBucket } from '../../src/api/tokenBucket';
import { runcomfyCacheDir } from '../../src/base/cacheDir';
import { RunComfyAccount } from '../../src/core/account';
import { tempDir } from './helpers/runHarness';
import { delay, demoUserId, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

/** One request a minute: whoever has to wait for a turn waits far longer than any check below. */
const perMinute = { ratePerSecond: 1 / 60, burst: 2 };

/** True when `p` has not settled after other work had ample time to settle it (its turn is a minute away). */
async function stillWaiting(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(
    () => false,
    () => false,
  ), delay(300).then(() => true)]);
}

describe('FileTokenBucket (the rate-limit state every process of a user shares)', () => {
  let dir: string;
  let file: string;
  /** A fallback that would let everything through: a test that reaches it shows it. */
  const open = () => new TokenBucket({ ratePerSecond: 10_000, burst: 10_000 });

  beforeEach(() => {
    dir = tempDir('runcomfy-bucket-');
    file = path.join(dir, 'cache', 'bucket.json');
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('two buckets on one file (two processes) share one allowance; another account has its own', async () => {
    const a = new FileTokenBucket(file, { rate: perMinute, fallback: open() });
    const b = new FileTokenBucket(file, { rate: perMinute, fallback: open() });
    await a.acquire();
    await b.acquire();
    const controller = new AbortController();
    const third = b.acquire(controller.signal);
    assert.ok(await stillWaiting(third), "b's first request was the burst's second: the next waits for its turn");
    controller.abort(new Error('user cancelled'));
    await assert.rejects(third, /user cancelled/);
    await new FileTokenBucket(path.join(dir, 'cache', 'other.json'), { rate: perMinute, fallback: open() }).acquire();
    assert.ok(!a.usingFallback && !b.usingFallback);
  });

  it("a 429 pause in one process holds every process's requests", async () => {
    const a = new FileTokenBucket(file, { rate: perMinute, fallback: open() });
    const b = new FileTokenBucket(file, { rate: perMinute, fallback: open() });
    await a.pause(60_000);
    const controller = new AbortController();
    const next = b.acquire(controller.signal);
    assert.ok(await stillWaiting(next), 'the burst is there, but the account is paused');
    controller.abort();
    await assert.rejects(next);
  });

  it('starts fresh from a missing, corrupt or impossible file, and leaves a valid one', async () => {
    const bucket = new FileTokenBucket(file, { rate: perMinute, fallback: open() });
    await bucket.acquire();
    fs.writeFileSync(file, 'not json {');
    await bucket.acquire();
    // A time an hour ahead (a clock set back, a bad write) would otherwise hold every request for an hour.
    fs.writeFileSync(file, JSON.stringify({ v: 1, tat: Date.now() + 3_600_000, pausedUntil: Date.now() + 3_600_000 }));
    await bucket.acquire();
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(state), ['v', 'tat', 'pausedUntil']);
    assert.ok(!bucket.usingFallback);
    assert.deepEqual(
      fs.readdirSync(path.dirname(file)).sort(),
      ['bucket.json'],
      'no temp file or lock left behind',
    );
  });

  it('takes over the lock of a process killed while holding it', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(require.resolve('proper-lockfile'))}).lock(${JSON.stringify(file)}, { realpath: false, lockfilePath: ${JSON.stringify(`${file}.lock`)} })` +
          `.then(() => { console.log('locked'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      child.on('exit', (code) => reject(new Error(`the locking process exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(fs.existsSync(`${file}.lock`), 'the killed process left its lock');
    const bucket = new FileTokenBucket(file, { rate: perMinute, fallback: open(), staleLockMs: 2000 });
    await bucket.acquire();
    assert.ok(!bucket.usingFallback, 'the stale lock was taken over, not given up on');
    assert.ok(!fs.existsSync(`${file}.lock`));
  });

  it('falls back to the in-process bucket, with one warning, when the folder cannot be used', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
    const warnings: string[] = [];
    const fallback = new TokenBucket({ ratePerSecond: 1 / 60, burst: 1 });
    const bucket = new FileTokenBucket(path.join(dir, 'not-a-folder', 'bucket.json'), { rate: perMinute, fallback, onWarning: (m) => warnings.push(m) });
    await bucket.acquire();
    assert.ok(bucket.usingFallback);
    const controller = new AbortController();
    const second = bucket.acquire(controller.signal);
    assert.ok(await stillWaiting(second), 'the fallback paces the requests');
    controller.abort();
    await assert.rejects(second);
    await bucket.pause(1000);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^Cannot keep the RunComfy rate-limit state in .*not-a-folder \(\w+\): requests are paced per process only.* set RUNCOMFY_CACHE_DIR to one that is\.$/);
  });

  it('names the file by a hash of API origin and user id, and never writes either, nor the token', async () => {
    const origin = 'https://api.runcomfy.net';
    const named = accountBucketFile(dir, origin, demoUserId);
    assert.match(path.basename(named), /^ratelimit-[0-9a-f]{32}\.json$/);
    assert.notEqual(named, accountBucketFile(dir, origin, 'someone-else'));
    assert.notEqual(named, accountBucketFile(dir, 'http://127.0.0.1:8080', demoUserId));
    const bucket = accountTokenBucket({ apiOrigin: origin, userId: demoUserId }, { env: { RUNCOMFY_CACHE_DIR: dir }, fallback: open() });
    assert.equal(bucket.file, named);
    await bucket.acquire();
    const text = fs.readFileSync(named, 'utf8');
    for (const secret of [demoUserId, origin, 'runcomfy.net', token1]) assert.ok(!text.includes(secret) && !named.includes(secret), secret);
  });

  it("the extension's account uses the same file as the CLI: a 429 in one window holds the others", async () => {
    const sim = await startTestSimulator();
    const saved = process.env.RUNCOMFY_CACHE_DIR;
    process.env.RUNCOMFY_CACHE_DIR = dir;
    const account = new RunComfyAccount({ apiUrl: sim.url, apiUrlSource: 'test', userId: demoUserId, getToken: () => Promise.resolve(token1), slowPollMs: 60_000 });
    try {
      sim.addFault({ action: 'rateLimit', retryAfter: '90', route: 'listMachines' });
      await assert.rejects(account.client.listMachines(), RateLimitedError, 'Retry-After 90 s is past the 60 s budget');
      const otherWindow = accountTokenBucket({ apiOrigin: new URL(sim.url).origin, userId: demoUserId }, { env: { RUNCOMFY_CACHE_DIR: dir }, fallback: open() });
      const controller = new AbortController();
      const next = otherWindow.acquire(controller.signal);
      assert.ok(await stillWaiting(next), 'the other window waits out the 90 s the server asked for');
      controller.abort();
      await assert.rejects(next);
    } finally {
      account.dispose();
      await sim.close();
      if (saved === undefined) delete process.env.RUNCOMFY_CACHE_DIR;
      else process.env.RUNCOMFY_CACHE_DIR = saved;
    }
  });

  it('lives in the OS cache folder, or RUNCOMFY_CACHE_DIR', () => {
    assert.equal(runcomfyCacheDir({}, 'linux', '/home/me'), '/home/me/.cache/runcomfy');
    assert.equal(runcomfyCacheDir({ XDG_CACHE_HOME: '/var/cache/me' }, 'linux', '/home/me'), '/var/cache/me/runcomfy');
    assert.equal(runcomfyCacheDir({ XDG_CACHE_HOME: 'relative/cache' }, 'linux', '/home/me'), '/home/me/.cache/runcomfy', 'a relative XDG_CACHE_HOME is ignored');
    assert.equal(runcomfyCacheDir({}, 'darwin', '/Users/me'), '/Users/me/Library/Caches/runcomfy');
    assert.equal(runcomfyCacheDir({ LOCALAPPDATA: 'C:\\Users\\me\\AppData\\Local' }, 'win32', 'C:\\Users\\me'), 'C:\\Users\\me\\AppData\\Local\\runcomfy');
    assert.equal(runcomfyCacheDir({}, 'win32', 'C:\\Users\\me'), 'C:\\Users\\me\\AppData\\Local\\runcomfy');
    assert.equal(runcomfyCacheDir({ RUNCOMFY_CACHE_DIR: '/tmp/rc', XDG_CACHE_HOME: '/var/cache/me' }, 'linux', '/home/me'), '/tmp/rc');
  });
});
