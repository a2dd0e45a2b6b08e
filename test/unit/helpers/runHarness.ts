import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComfySocket } from '../../../src/api/comfySocket';
import { type ApiPrompt } from '../../../src/api/comfyTypes';
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
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** True when `p` is `dir` or below it. */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
