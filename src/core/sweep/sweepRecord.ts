import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../../base/atomicFile';
import { type SweepRunState } from './sweepDispatcher';
import { type SweepEstimate } from './sweepEstimate';
import { type LedgerMachine } from './sweepLedger';
import { type Axis } from './sweepPlan';
import { type SweepStatus } from './sweepRunner';

/** The sweep's file at the top of its folder. */
export const SWEEP_RECORD_NAME = 'sweep.json';

/** Said wherever the cost is shown: what it covers and what it does not. */
export const costScope = 'The cost estimate covers only the machines this sweep launched (their rate from service_ready_at until their stop returned 200); machines it used but did not launch are not charged to it.';

/** What a sweep knows at a moment: everything `sweep.json` and `--json` say. */
export interface SweepFacts {
  /** `running` until the sweep ends, `planned` for a dry run. */
  readonly status: SweepStatus | 'running' | 'planned';
  readonly workflowFile: string;
  readonly axes: readonly Axis[];
  readonly mode: 'product' | 'zip';
  readonly runs: readonly SweepRunState[];
  readonly machinesLaunched: readonly string[];
  readonly machinesStopped: readonly string[];
  readonly machines: readonly LedgerMachine[];
  readonly costUsd: number;
  readonly maxCostUsd: number | undefined;
  readonly estimate: SweepEstimate;
  /** The pool's servers as shown (machine ids, masked URLs). */
  readonly targets: readonly string[];
  readonly warnings: readonly string[];
  readonly startedAtMs: number;
  readonly finishedAtMs?: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** One run in the contract's shape: `{index, params, prompt_id, status, target, outputs, error}`. */
function runJson(r: SweepRunState): Record<string, unknown> {
  return {
    index: r.index,
    params: r.params,
    prompt_id: r.promptId,
    status: r.status,
    target: r.target,
    outputs: r.outputs.map((o) => ({ node: o.node, filename: o.filename, subfolder: o.subfolder, type: o.type, path: o.path })),
    error: r.error && { type: r.error.type, message: r.error.message, details: r.error.details, node_errors: r.error.nodeErrors },
  };
}

/** The `--json` object (the CLI contract): exactly these keys. */
export function sweepJson(f: SweepFacts): Record<string, unknown> {
  return {
    status: f.status,
    runs: f.runs.map(runJson),
    machines_launched: [...f.machinesLaunched],
    machines_stopped: [...f.machinesStopped],
    cost_estimate_usd: roundUsd(f.costUsd),
    warnings: [...f.warnings],
  };
}

/** `sweep.json`: the `--json` object plus the axes, each run's folder, attempts and timings, the machines and the estimate. */
export function sweepRecord(f: SweepFacts): Record<string, unknown> {
  return {
    version: 1,
    ...sweepJson(f),
    workflow: f.workflowFile,
    axes: f.axes.map((a) => ({ key: a.key, spec: a.spec, values: a.values })),
    mode: f.mode,
    started_at: iso(f.startedAtMs),
    finished_at: iso(f.finishedAtMs),
    targets: [...f.targets],
    runs: f.runs.map((r) => ({
      ...runJson(r),
      folder: r.folder,
      run_dir: r.runDir ?? null,
      attempts: r.attempts,
      requeued: r.requeued,
      timings: { queued: iso(r.queuedAtMs), started: iso(r.startedAtMs), ended: iso(r.endedAtMs) },
      warnings: r.warnings,
    })),
    machines: f.machines.map((m) => ({ server_id: m.serverId, rate_per_hour: m.ratePerHour, ready_at: iso(m.readyAtMs), stopped_at: iso(m.stoppedAtMs) })),
    cost: { estimate_usd: roundUsd(f.costUsd), max_cost_usd: f.maxCostUsd ?? null, scope: costScope },
    estimate: {
      runs: f.estimate.runs,
      seconds_per_run: f.estimate.secondsPerRun ?? null,
      seconds_per_run_from: f.estimate.source,
      wall_seconds: f.estimate.wallSeconds ?? null,
      max_cost_usd: f.estimate.maxCostUsd === undefined ? null : roundUsd(f.estimate.maxCostUsd),
      pool_size: f.estimate.poolSize,
    },
  };
}

/** Dollars to the hundredth of a cent: an estimate, not an invoice. */
function roundUsd(usd: number): number {
  return Math.round(usd * 10_000) / 10_000;
}

/**
 * Writes `sweep.json` at the top of the sweep folder atomically (a temp file renamed over the old
 * one), so a reader never sees half a file. Writes are serialised: the last one called wins.
 */
export class SweepRecordWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, SWEEP_RECORD_NAME);
  }

  write(facts: SweepFacts): Promise<void> {
    const text = `${JSON.stringify(sweepRecord(facts), null, 2)}\n`;
    this.chain = this.chain.catch(() => undefined).then(async () => {
      await fs.mkdir(this.dir, { recursive: true });
      await writeFileAtomic(this.file, text);
    });
    return this.chain;
  }
}
