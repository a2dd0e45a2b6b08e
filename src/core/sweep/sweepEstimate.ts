import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isObject, parseJsonOrUndefined } from '../../base/json';
import { RUN_RECORD_NAME } from '../outputSaver';

/** Where the expected time of one run came from. */
export type RunTimeSource = 'history' | 'flag' | 'probe';

/** What the estimate is computed from. All pure inputs: the caller gathers them. */
export interface EstimateInputs {
  readonly runs: number;
  /** Targets given at the start (Ready machines and ComfyUI URLs). */
  readonly targets: number;
  /** Seconds per run from earlier runs or `--expect-seconds`; undefined when only a probe run can tell. */
  readonly secondsPerRun: number | undefined;
  readonly source: RunTimeSource;
  /** `--autoscale`: machines the sweep may launch, their hourly rate, their planned duration and boot time. */
  readonly autoscale?: { readonly max: number; readonly ratePerHour: number | undefined; readonly durationS: number; readonly idleS: number; readonly bootS: number };
  /** `--max-cost`: the cap on what the machines the sweep launches may cost. */
  readonly maxCostUsd?: number;
}

/** The estimate shown before anything runs. */
export interface SweepEstimate {
  readonly runs: number;
  readonly secondsPerRun: number | undefined;
  readonly source: RunTimeSource;
  /** Wall time with the pool at its largest; undefined while the time per run is unknown. */
  readonly wallSeconds: number | undefined;
  /** The most the machines this sweep launches can cost (0 without --autoscale); undefined when a rate is unknown and no cap is given. */
  readonly maxCostUsd: number | undefined;
  /** The largest pool the estimate assumed. */
  readonly poolSize: number;
}

/**
 * The estimate: runs spread evenly over the pool (the given targets plus every machine autoscale
 * may launch, which join after their boot), and the most the launched machines can cost: each one
 * billed at most until its planned duration ends (RunComfy stops it then), or for the sweep's wall
 * time plus the idle wait when that is shorter, never above `--max-cost`.
 */
export function estimateSweep(i: EstimateInputs): SweepEstimate {
  const launched = i.autoscale?.max ?? 0;
  const poolSize = Math.max(1, i.targets + launched);
  let wallSeconds: number | undefined;
  if (i.secondsPerRun !== undefined) {
    const rounds = Math.ceil(i.runs / poolSize);
    // Machines that must be launched first add their boot before their first run.
    const boot = i.targets === 0 && i.autoscale ? i.autoscale.bootS : 0;
    wallSeconds = boot + rounds * i.secondsPerRun;
  }
  let maxCostUsd: number | undefined = 0;
  if (i.autoscale) {
    const rate = i.autoscale.ratePerHour;
    const billedS = wallSeconds === undefined ? i.autoscale.durationS : Math.min(i.autoscale.durationS, wallSeconds + i.autoscale.idleS);
    maxCostUsd = rate === undefined ? undefined : (launched * rate * billedS) / 3600;
    if (i.maxCostUsd !== undefined) maxCostUsd = maxCostUsd === undefined ? i.maxCostUsd : Math.min(maxCostUsd, i.maxCostUsd);
  }
  return { runs: i.runs, secondsPerRun: i.secondsPerRun, source: i.source, wallSeconds, maxCostUsd, poolSize };
}

/**
 * The median execution time (seconds) of this workflow's earlier runs: the `run.json` files
 * below `folder` (a sweep's folder, or the queue command's `<output>/<workflow name>`), at most
 * three levels down (a sweep keeps them at `<sweep>/<run>/<time>-<id>/`), that ran the same workflow file and succeeded. Undefined when there are none.
 * Only the server's own time counts (`phases.execute`), not uploads or waiting in line.
 *
 * With a `machineType` (the sweep's machines are of that type), runs recorded on that type are
 * preferred; when there are none, runs with no type count (records written before run.json kept
 * it, and runs on ComfyUI servers of your own: hardware unknown, as before). Runs recorded on
 * another RunComfy type never count then: another GPU takes another time, and a probe run or
 * `--expect-seconds` says better. Without a `machineType`, every run counts.
 */
export async function earlierRunSeconds(folders: readonly string[], workflowFile: string | undefined, machineType?: string, limit = 200): Promise<number | undefined> {
  const same: number[] = [];
  const untyped: number[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    if (same.length + untyped.length >= limit) return;
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (same.length + untyped.length >= limit) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth > 0) await visit(p, depth - 1);
      else if (e.isFile() && e.name === RUN_RECORD_NAME) {
        const record = parseJsonOrUndefined(await fs.readFile(p, 'utf8').catch(() => ''));
        if (!isObject(record) || record.status !== 'success' || !isObject(record.timings) || !isObject(record.timings.phases)) continue;
        if (workflowFile !== undefined && record.workflowFile !== workflowFile) continue;
        const ms = record.timings.phases.execute;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) continue;
        const type = typeof record.machineType === 'string' ? record.machineType : undefined;
        if (machineType === undefined || type === machineType) same.push(ms / 1000);
        else if (type === undefined) untyped.push(ms / 1000);
      }
    }
  };
  for (const f of folders) await visit(f, 3);
  const times = same.length > 0 ? same : untyped;
  if (times.length === 0) return undefined;
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
