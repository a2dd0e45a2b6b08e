import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type ComfyClient } from '../../api/comfyClient';
import { type ApiPrompt } from '../../api/comfyTypes';
import { type Clock } from '../../base/clock';
import { isObject, parseJsonOrUndefined } from '../../base/json';
import { formatCostEstimate } from '../machineMath';
import { type MoneyOperations } from '../moneyOperations';
import { RUN_RECORD_NAME } from '../outputSaver';
import { type PreparedWorkflow } from '../workflowPreparation';
import { SweepAutoscaler, type AutoscaleApi, type AutoscaleSpec } from './sweepAutoscaler';
import { SweepDispatcher, type SweepDispatcherOptions, type SweepRunState, type SweepTarget } from './sweepDispatcher';
import { type SweepEstimate } from './sweepEstimate';
import { SweepLedger } from './sweepLedger';
import { type SweepPlan } from './sweepPlan';
import { SweepRecordWriter, type SweepFacts } from './sweepRecord';
import { runSweep, type SweepStatus } from './sweepRunner';

/** Autoscale as a session runs it: the spec, the rate it is billed at, and the RunComfy calls (launches and stops through `money`). */
export interface SessionAutoscale {
  readonly spec: AutoscaleSpec;
  readonly ratePerHour: number;
  readonly api: AutoscaleApi;
  /** Launches (never retried) and stops (retried until they land, never given a signal) run here; the editor passes the account's, which `deactivate` waits for. */
  readonly money: MoneyOperations;
  /** Least time between two machine lists (default the autoscaler's 3 s). */
  readonly listEveryMs?: number;
}

/** Everything a sweep needs once the plan, the targets and the estimate are decided. */
export interface SweepSessionOptions {
  /** The prepared workflow (see `prepareWorkflow`): its prompt, local inputs and warnings. */
  readonly workflow: Partial<Pick<PreparedWorkflow, 'localInputs' | 'inputPolicy' | 'dynamicPrompts' | 'convertedFrom'>> & Pick<PreparedWorkflow, 'warnings'> & { readonly prompt: ApiPrompt };
  readonly plan: SweepPlan;
  /** The workflow file as shown (sweep.json, run.json). */
  readonly workflowFile: string;
  /** The sweep's folder: sweep.json at its top, a folder per run below. */
  readonly dir: string;
  /** The servers given at the start (Ready machines, ComfyUI URLs). */
  readonly targets: readonly SweepTarget[];
  readonly autoscale?: SessionAutoscale;
  readonly maxCostUsd: number | undefined;
  /** The estimate shown before the start. With no time per run (source `probe`) and a target, the first run goes alone first. */
  readonly estimate: SweepEstimate;
  /** The estimate again once the probe run measured the time per run. */
  readonly reestimate: (secondsPerRun: number) => SweepEstimate;
  /** Asked after the probe run with the estimate it made possible; false ends the sweep there, the probe run kept. */
  readonly confirmAfterProbe: (estimate: SweepEstimate) => Promise<boolean>;
  readonly clock: Clock;
  /** Cancel / Ctrl-C / window close: our prompts are interrupted, the machines the sweep launched stopped. */
  readonly signal?: AbortSignal;
  /** Progress lines: the probe, launches, Ready, stops, the budget. */
  readonly say: (line: string) => void;
  /** sweep.json could not be written. */
  readonly warn: (line: string) => void;
  readonly startedAtMs: number;
  readonly createClient?: (url: string) => ComfyClient;
  /** Test knobs: the dispatcher's `/queue` poll, the budget tick. */
  readonly pollMs?: number;
  readonly tickMs?: number;
  readonly engine?: SweepDispatcherOptions['engine'];
}

/**
 * One sweep from start to end, the same for the CLI and the editor: the dispatcher over the given
 * targets, the autoscaler and the ledger (budget) when asked, sweep.json written as runs end. When
 * the time per run is unknown (no earlier runs, no `--expect-seconds`) and a target is given, the
 * first parameter set runs alone first (a real run of the sweep, never sent again), its execute
 * time makes the estimate, and the caller is asked before the rest is sent and any machine is
 * launched. Every machine the sweep launched is stopped (stops retried until they land) before
 * {@link run} resolves.
 */
export class SweepSession {
  readonly dispatcher: SweepDispatcher;
  readonly ledger: SweepLedger;
  readonly autoscaler: SweepAutoscaler | undefined;
  private readonly writer: SweepRecordWriter;
  private currentEstimate: SweepEstimate;
  private readonly warnings: string[] = [];

  constructor(private readonly o: SweepSessionOptions) {
    this.currentEstimate = o.estimate;
    this.ledger = new SweepLedger(o.clock, { maxCostUsd: o.maxCostUsd });
    const w = o.workflow;
    this.dispatcher = new SweepDispatcher({
      prompt: w.prompt,
      plan: o.plan,
      localInputs: w.localInputs,
      inputPolicy: w.inputPolicy,
      dynamicPrompts: w.dynamicPrompts,
      convertedFrom: w.convertedFrom,
      sweepDir: o.dir,
      workflowFile: o.workflowFile,
      clock: o.clock,
      createClient: o.createClient,
      pollMs: o.pollMs,
      engine: o.engine,
      moreTargetsMayJoin: () => (this.autoscaler ? this.autoscaler.mayGrow() || this.autoscaler.budgetRefusedLaunch : false),
    });
    const a = o.autoscale;
    this.autoscaler = a && new SweepAutoscaler({
      api: a.api,
      money: a.money,
      ledger: this.ledger,
      dispatcher: this.dispatcher,
      spec: a.spec,
      ratePerHour: a.ratePerHour,
      clock: o.clock,
      listEveryMs: a.listEveryMs,
      // A machine is worth launching when it can do a few runs (or a couple of minutes while the time per run is unknown).
      usefulMs: () => Math.max(60_000, 3 * (this.measuredSeconds() ?? 60) * 1000),
      say: o.say,
    });
    for (const t of o.targets) this.dispatcher.addTarget(t);
    this.writer = new SweepRecordWriter(o.dir);
    this.dispatcher.onDidChangeRun((r) => {
      if (r.status !== 'queued' && r.status !== 'running') void this.save('running');
    });
  }

  /** The runs in plan order, live (the same array throughout). */
  get runs(): readonly SweepRunState[] {
    return this.dispatcher.runs;
  }

  /** The estimate: the one given, or the one the probe run made. */
  get estimate(): SweepEstimate {
    return this.currentEstimate;
  }

  /** sweep.json's path. */
  get recordFile(): string {
    return this.writer.file;
  }

  /** Everything sweep.json and `--json` say now. */
  facts(status: SweepFacts['status'], finishedAtMs?: number): SweepFacts {
    const launched = this.autoscaler?.launched ?? [];
    return {
      status,
      workflowFile: this.o.workflowFile,
      axes: this.o.plan.axes,
      mode: this.o.plan.mode,
      runs: this.dispatcher.runs,
      machinesLaunched: launched,
      machinesStopped: this.autoscaler?.stopped ?? [],
      machines: this.ledger.snapshot(),
      costUsd: this.ledger.costUsd(),
      maxCostUsd: this.o.maxCostUsd,
      estimate: this.currentEstimate,
      targets: [...this.o.targets.map((t) => t.id), ...launched],
      warnings: [...this.o.workflow.warnings, ...this.warnings, ...this.dispatcher.dispatchWarnings, ...(this.autoscaler?.warnings ?? []), ...runWarnings(this.dispatcher.runs)],
      startedAtMs: this.o.startedAtMs,
      finishedAtMs,
    };
  }

  /** Runs the sweep to its end and writes the final sweep.json; disposes the dispatcher. */
  async run(): Promise<SweepStatus> {
    let status: SweepStatus;
    try {
      await this.save('running');
      status = (await this.probe()) ?? (await this.runRest());
    } finally {
      this.dispatcher.dispose();
    }
    await this.save(status, this.o.clock.now());
    return status;
  }

  /** The probe run when the time per run is unknown; a status when the sweep ends with it, undefined to go on. */
  private async probe(): Promise<SweepStatus | undefined> {
    if (this.currentEstimate.secondsPerRun !== undefined || this.o.targets.length === 0 || this.o.plan.runs.length === 0) return undefined;
    const { signal } = this.o;
    this.o.say('The time per run is unknown (no earlier runs of this workflow, no expected seconds given): the first run goes alone to measure it.');
    const onAbort = () => this.dispatcher.stop('interrupted');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    let first: SweepRunState;
    try {
      first = await this.dispatcher.probe();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) return 'interrupted';
    if (first.status !== 'success') {
      this.warnings.push(`The probe run (the first one) ended ${first.status}, so the other runs were not sent.`);
      this.o.say(`The probe run ended ${first.status}${first.error ? `: ${first.error.message}` : ''}; the other runs are not sent.`);
      this.dispatcher.stop('interrupted');
      return 'failed';
    }
    const seconds = (await executeSeconds(first.runDir)) ?? ((first.endedAtMs ?? 0) - (first.startedAtMs ?? first.queuedAtMs ?? 0)) / 1000;
    this.currentEstimate = this.o.reestimate(Math.max(seconds, 0.001));
    await this.save('running');
    if (!(await this.o.confirmAfterProbe(this.currentEstimate)) || signal?.aborted) {
      this.warnings.push('Stopped after the probe run: the other runs were not sent.');
      this.dispatcher.stop('interrupted');
      return 'interrupted';
    }
    return undefined;
  }

  private runRest(): Promise<SweepStatus> {
    return runSweep({
      dispatcher: this.dispatcher,
      ledger: this.ledger,
      autoscaler: this.autoscaler,
      signal: this.o.signal,
      clock: this.o.clock,
      tickMs: this.o.tickMs,
      onBudget: (why) =>
        this.o.say(
          why === 'cap'
            ? `The budget of ${formatCostEstimate(this.o.maxCostUsd)} is nearly spent (${formatCostEstimate(this.ledger.costUsd())} so far): interrupting the sweep's prompts and stopping its machines.`
            : `The budget of ${formatCostEstimate(this.o.maxCostUsd)} (${formatCostEstimate(this.ledger.costUsd())} spent) cannot keep another ${this.o.autoscale?.spec.type} machine running long enough to be useful, and no server is left: the sweep ends here.`,
        ),
    });
  }

  /** The mean time of the runs that succeeded so far (seconds), else the estimate's. */
  private measuredSeconds(): number | undefined {
    const done = this.dispatcher.runs.filter((r) => r.status === 'success' && r.startedAtMs !== undefined && r.endedAtMs !== undefined);
    return done.length === 0 ? this.currentEstimate.secondsPerRun : done.reduce((s, r) => s + (r.endedAtMs! - r.startedAtMs!), 0) / done.length / 1000;
  }

  private save(status: SweepFacts['status'], finishedAtMs?: number): Promise<void> {
    return this.writer.write(this.facts(status, finishedAtMs)).catch((e: unknown) => this.o.warn(`could not write ${this.writer.file}: ${(e as Error).message}`));
  }
}

/** The server's own time of a run (`phases.execute` in its run.json), in seconds. */
async function executeSeconds(runDir: string | undefined): Promise<number | undefined> {
  if (runDir === undefined) return undefined;
  const record = parseJsonOrUndefined(await fs.readFile(path.join(runDir, RUN_RECORD_NAME), 'utf8').catch(() => ''));
  const ms = isObject(record) && isObject(record.timings) && isObject(record.timings.phases) ? record.timings.phases.execute : undefined;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}

/** Each run's warnings once, naming the run. */
function runWarnings(runs: readonly SweepRunState[]): string[] {
  return runs.flatMap((r) => [...new Set(r.warnings)].map((w) => `run ${r.index + 1}: ${w}`));
}
