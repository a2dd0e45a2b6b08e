import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComfySocket } from '../../../src/api/comfySocket';
import { type ApiPrompt } from '../../../src/api/comfyTypes';
import { InputHashCache } from '../../../src/core/inputHashCache';
import { RunEngine, type RunEngineOptions } from '../../../src/core/runEngine';
import { type RunEvent, type RunResult } from '../../../src/core/runEvents';
import { readRecording } from './runRecordings';

/** A finished run: its result and every event it reported, in order. */
export interface FinishedRun {
  readonly result: RunResult;
  readonly events: RunEvent[];
}

/** A recorded workflow (`workflow_a_api.json`, …) as a prompt. */
export function recordedWorkflow(name: string): ApiPrompt {
  return readRecording<ApiPrompt>(name);
}

/** A fresh temp folder; the caller removes it. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Socket settings that make reconnects quick enough for tests. */
export function fastSocket(url: string, clientId: string, reconnectMs = 20): ComfySocket {
  return new ComfySocket({ baseUrl: url, clientId, reconnect: { baseDelayMs: reconnectMs, maxDelayMs: reconnectMs * 4 }, pingIntervalMs: 0 });
}

/**
 * Runs a prompt through a real RunEngine against `comfyUrl` and collects its events. `during`
 * sees the engine and the events so far as each event arrives (to interrupt at a chosen moment).
 */
export async function runEngine(
  options: Partial<RunEngineOptions> & Pick<RunEngineOptions, 'prompt' | 'comfyUrl' | 'outputRoot'>,
  during?: (engine: RunEngine, event: RunEvent, events: readonly RunEvent[]) => void,
): Promise<FinishedRun> {
  const engine = new RunEngine({
    workflowName: 'workflow',
    createSocket: (url, clientId) => fastSocket(url, clientId),
    historyRetryDelayMs: 20,
    downloadRetryDelayMs: 20,
    // Hashes stay in this run unless a test passes a cache: tests never touch the user's cache folder.
    hashCache: new InputHashCache(undefined),
    ...options,
  });
  const events: RunEvent[] = [];
  engine.onEvent((e) => {
    events.push(e);
    during?.(engine, e, events);
  });
  try {
    return { result: await engine.run(), events };
  } finally {
    engine.dispose();
  }
}

/** Event types with consecutive repeats of `progress`/`preview` kept (the order matters), for sequence checks. */
export function eventTypes(events: readonly RunEvent[]): string[] {
  return events.map((e) => (e.type === 'executing' ? `executing ${e.node.id}` : e.type));
}

/** Every file under `dir`, relative, sorted. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** True when `p` is `dir` or below it. */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A `node dist/cli.js` process: the child (to signal it) and its outcome. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves once stderr contains `text`. */
  stderrIncludes(text: string): Promise<void>;
}

/** Spawns the built CLI in `cwd` with only PATH and `env` in its environment. */
export function spawnCli(cliPath: string, args: readonly string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}): CliProcess {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [cliPath, ...args], { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    for (const w of waiters.filter((x) => stderr.includes(x.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    done,
    stderrIncludes: (text) =>
      stderr.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ text, resolve });
            void done.then(() => reject(new Error(`the CLI exited before printing ${JSON.stringify(text)}; stderr:\n${stderr}`)));
          }),
  };
}
