import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** The compiled bench folder (`out/bench`), where the child entry points live. */
export const benchDir = __dirname;
/** The repository root, above `out/bench`. */
export const repoRoot = path.resolve(__dirname, '../..');

/**
 * Runs `out/bench/<script>.js` in its own Node process and resolves with the JSON object it prints
 * last on stdout. Each measured client gets a process of its own, so its memory and its CPU are
 * its own, not shared with the orchestrator or the simulator.
 */
export function runNode<T>(script: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...(options.nodeArgs ?? []), path.join(benchDir, `${script}.js`), ...args],
      { env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${script} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
          return;
        }
        const last = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`${script} printed no JSON result:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/** Runs a command and resolves with its stdout; rejects with its stderr on a non-zero exit. */
export function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A long-lived child that printed one JSON line when ready. */
export interface Service<T> {
  readonly info: T;
  stop(): Promise<void>;
}

/** Starts `out/bench/<script>.js`, waits for the first JSON line it prints, and returns it with a way to stop the child. */
export async function startService<T>(script: string, args: readonly string[] = []): Promise<Service<T>> {
  const child: ChildProcess = spawn(process.execPath, [path.join(benchDir, `${script}.js`), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise<T>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited (code ${code}) before it was ready`)));
    readline.createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as T));
  });
  child.removeAllListeners('exit');
  return {
    info,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** POSTs JSON to a simulator admin route and returns the parsed answer. */
export async function admin(base: string, route: string, body: unknown = {}): Promise<unknown> {
  const res = await fetch(`${base}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${route} answered ${res.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json());
}
