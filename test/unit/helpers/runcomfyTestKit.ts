import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunComfyClient, type RunComfyClientOptions } from '../../../src/api/runcomfyClient';
import { TokenBucket } from '../../../src/api/tokenBucket';
import { type Clock } from '../../../src/base/clock';
import { type Disposable } from '../../../src/base/lifecycle';
import { demoTokens, demoUserId } from '../../../src/simulator/runcomfy/demoSeed';
import { type RunComfySimulatorOptions } from '../../../src/simulator/runcomfy/simulatorTypes';
import { startRunComfySimulator, type RunComfySimulator } from '../../../src/simulator/runcomfySimulator';

/** The demo account's Token1, what most tests authenticate with. */
export const token1 = demoTokens[0];
export { demoUserId };

/** A launchable version of the demo account ("Flux portrait" v3). */
export const fluxV3 = 'a1b2c3d4-0003-4000-8000-000000000003';

/** A simulator with short timings (boot 150 ms, delete 100 ms) and no rate limit unless asked. */
export function startTestSimulator(options: RunComfySimulatorOptions = {}): Promise<RunComfySimulator> {
  return startRunComfySimulator({ bootMs: 150, deleteMs: 100, rateLimit: null, ...options });
}

/** A bucket that never makes a test wait: for tests about something other than pacing. */
export function unlimitedBucket(): TokenBucket {
  return new TokenBucket({ ratePerSecond: 10_000, burst: 10_000 });
}

/** A client of `sim` as the demo user, with its own bucket and millisecond backoffs (overrides merge into them). */
export function testClient(sim: RunComfySimulator, overrides: Partial<RunComfyClientOptions> = {}): RunComfyClient {
  return new RunComfyClient({
    baseUrl: sim.url,
    userId: demoUserId,
    getToken: () => Promise.resolve(token1),
    bucket: unlimitedBucket(),
    timeoutMs: 2000,
    ...overrides,
    retry: { baseDelayMs: 10, maxDelayMs: 40, ...overrides.retry },
    launchReconcile: { attempts: 3, intervalMs: 50, ...overrides.launchReconcile },
  });
}

/**
 * Resolves when `predicate` holds, checking every 10 ms; rejects after `timeoutMs` with `what`. The
 * deadline only bounds a hang: keep it far above what the state takes on a slow, loaded machine.
 */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting until ${what}.`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Real time in milliseconds. Only for proving that something does NOT happen: the assertion after it
 * must hold however slow the machine is (the delay merely gives a bug the chance to show).
 */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A clock that moves only when told to; timers fire in order as it advances. */
export class ManualClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(private current = 1_000_000) {}

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): Disposable {
    const id = this.nextId++;
    this.timers.push({ at: this.current + Math.max(0, ms), fn, id });
    return { dispose: () => (this.timers = this.timers.filter((t) => t.id !== id)) };
  }

  /** Moves time forward by `ms`, firing due timers (and the microtasks they start) in order. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flushMicrotasks();
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = target;
    await flushMicrotasks();
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Where `npm run build` puts the CLI. */
export const cliPath = path.resolve(__dirname, '../../../../dist/cli.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node dist/cli.js …` with only PATH and `env` in its environment (nothing inherited from
 * the developer's shell, such as a real RUNCOMFY_TOKEN).
 */
export function runCliProcess(args: readonly string[], env: Record<string, string | undefined>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const clean: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
    const child = spawn(process.execPath, [cliPath, ...args], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let cacheRoot: string | undefined;

/**
 * A new, empty folder for a CLI run's rate-limit state (RUNCOMFY_CACHE_DIR), so runs share an
 * allowance only when a test gives them the same folder, and nothing lands in the user's cache.
 * All of them are removed when the test process exits.
 */
export function freshCacheDir(): string {
  if (cacheRoot === undefined) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-cache-'));
    process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
    cacheRoot = root;
  }
  return fs.mkdtempSync(path.join(cacheRoot, 'run-'));
}

/** The environment of a CLI run against `sim` as the demo user, with fast polling and a rate-limit state of its own. */
export function cliEnv(sim: RunComfySimulator, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { RUNCOMFY_TOKEN: token1, RUNCOMFY_USER_ID: demoUserId, RUNCOMFY_API_URL: sim.url, RUNCOMFY_POLL_INTERVAL: '0.1', RUNCOMFY_CACHE_DIR: freshCacheDir(), ...extra };
}
