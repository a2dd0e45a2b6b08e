import { ComfyClient } from '../../api/comfyClient';
import { type ApiPrompt } from '../../api/comfyTypes';
import { systemClock, type Clock } from '../../base/clock';
import { Emitter, type Event } from '../../base/event';
import { DisposableObject } from '../../base/lifecycle';
import { type DynamicPromptText } from '../convert/convertUiWorkflow';
import { type InputPolicy } from '../inputPolicy';
import { RunEngine, type RunEngineOptions, type RunLocalInput } from '../runEngine';
import { type RunFailure, type RunResult } from '../runEvents';
import { promptForRun, type SweepPlan, type SweepRunPlan } from './sweepPlan';

/** A server of the pool: a RunComfy machine (by id) or any ComfyUI (by URL). */
export interface SweepTarget {
  /** The machine's server id, or the ComfyUI URL as shown (masked). What `target` says in sweep.json. */
  readonly id: string;
  /** The ComfyUI base URL (a machine's `main_service_url`: a capability, never printed in full). */
  readonly url: string;
  /** "machine 761a…", "ComfyUI http://127.0.0.1:8188": for progress lines. */
  readonly label: string;
  /** A machine this sweep launched (autoscale), which it stops and pays for. */
  readonly launched: boolean;
  /** A RunComfy machine's type (`server_type`), recorded in each run's run.json; undefined for other servers or when RunComfy did not say. */
  readonly machineType?: string;
}

/** Where a run of the sweep is. */
export type SweepRunStatus = 'pending' | 'queued' | 'running' | 'success' | 'error' | 'interrupted' | 'skipped';

/** One run as the sweep tracks it; the last attempt's facts. */
export interface SweepRunState extends SweepRunPlan {
  status: SweepRunStatus;
  promptId: string | null;
  /** The target's id of the (last) attempt; null before it was sent anywhere. */
  target: string | null;
  attempts: number;
  outputs: RunResult['outputs'];
  error: RunFailure | null;
  warnings: string[];
  /** The folder of the attempt whose outputs count (below the run folder). */
  runDir: string | undefined;
  queuedAtMs: number | undefined;
  startedAtMs: number | undefined;
  endedAtMs: number | undefined;
  /** Why it was sent again, once per earlier attempt. */
  requeued: string[];
  /** Targets that failed it: another one is preferred for the next attempt. */
  readonly failedOn: Set<string>;
}

/** A planned run's state before it was sent anywhere (also what a dry run reports). */
export function pendingRun(run: SweepRunPlan): SweepRunState {
  return {
    ...run,
    status: 'pending',
    promptId: null,
    target: null,
    attempts: 0,
    outputs: [],
    error: null,
    warnings: [],
    runDir: undefined,
    queuedAtMs: undefined,
    startedAtMs: undefined,
    endedAtMs: undefined,
    requeued: [],
    failedOn: new Set<string>(),
  };
}

/** What the dispatcher needs. */
export interface SweepDispatcherOptions {
  /** The sweep's prompt, after analysis (and conversion for a UI-format file); each run sets its params on a copy. */
  readonly prompt: ApiPrompt;
  readonly plan: SweepPlan;
  readonly localInputs?: readonly RunLocalInput[];
  readonly inputPolicy?: InputPolicy;
  readonly dynamicPrompts?: readonly DynamicPromptText[];
  readonly convertedFrom?: 'ui';
  /** The sweep's folder; each run's outputs go below `<sweepDir>/<run folder>/`. */
  readonly sweepDir: string;
  readonly workflowFile?: string;
  /** How often each target's `/queue` is read (load and liveness). Default 1 s. */
  readonly pollMs?: number;
  /** Our prompts queued at most on one target at a time (one running, one waiting). Default 2. */
  readonly perTarget?: number;
  /** Attempts per run when its target fails it (a stopped machine, a lost server). Default 3. */
  readonly maxAttempts?: number;
  /** Consecutive failed `/queue` reads after which a target counts as gone. Default 3. */
  readonly downAfterFailures?: number;
  /** True while more targets may still join (autoscale): runs wait instead of failing when the pool is empty. */
  readonly moreTargetsMayJoin?: () => boolean;
  readonly clock?: Clock;
  readonly createClient?: (url: string) => ComfyClient;
  /** Passed to every run's engine (tests shorten its timers). */
  readonly engine?: Partial<Pick<RunEngineOptions, 'idleTimeoutMs' | 'maxReconcileFailures' | 'readyTimeoutMs' | 'historyTimeoutMs' | 'downloadAttempts' | 'downloadRetryDelayMs'>>;
}

interface TargetState {
  readonly target: SweepTarget;
  readonly client: ComfyClient;
  /** Prompts on the server that are not ours, at the last read of `/queue`. */
  others: number;
  failures: number;
  /** When it last had none of our prompts (for the idle stop); undefined while it has some. */
  idleSinceMs: number | undefined;
  readonly engines: Set<Attempt>;
}

interface Attempt {
  readonly run: SweepRunState;
  readonly engine: RunEngine;
  readonly target: TargetState;
  /** The target went away: the attempt ends locally and the run is sent elsewhere. */
  lost: boolean;
}

/** Failure kinds that say the server failed, not the workflow: such a run is sent to another target. */
const targetFailureKinds = new Set<RunFailure['kind']>(['network', 'server', 'timeout', 'cancelled']);

/**
 * Feeds the runs of a sweep to a pool of ComfyUI servers: the least loaded first (by `/queue`,
 * counting other people's prompts), at most `perTarget` of ours queued on each, so a server that
 * joins later still gets work. Each run goes through a `RunEngine` (uploads, progress, outputs,
 * run.json). A run whose server goes away (its `/queue` stops answering, or the run fails with a
 * network or server error before saving anything) is sent to another server, up to `maxAttempts`;
 * a run that saved an output is never sent again, so nothing is saved twice. {@link stop}
 * interrupts our prompts only and leaves the rest unsent.
 */
export class SweepDispatcher extends DisposableObject {
  private readonly _onDidChangeRun = this._register(new Emitter<SweepRunState>());
  /** A run changed status (or target, when sent again). */
  readonly onDidChangeRun: Event<SweepRunState> = this._onDidChangeRun.event;

  readonly runs: SweepRunState[];
  private readonly targets = new Map<string, TargetState>();
  private readonly queue: SweepRunState[];
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly perTarget: number;
  private readonly maxAttempts: number;
  private readonly downAfter: number;
  private stopping: 'interrupted' | 'budget' | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly warnings: string[] = [];
  /** Runs kept back while the probe run goes alone (see {@link probe}). */
  private held: SweepRunState[] = [];

  constructor(private readonly options: SweepDispatcherOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.pollMs = options.pollMs ?? 1000;
    this.perTarget = options.perTarget ?? 2;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.downAfter = options.downAfterFailures ?? 3;
    this.runs = options.plan.runs.map(pendingRun);
    this.queue = [...this.runs];
  }

  /** Runs not sent anywhere yet (including ones waiting to be sent again). */
  get backlog(): number {
    return this.queue.length;
  }

  /** Servers in the pool now. */
  get poolSize(): number {
    return this.targets.size;
  }

  /** Our prompts on a target now. */
  inFlight(targetId: string): number {
    return this.targets.get(targetId)?.engines.size ?? 0;
  }

  /** Since when a target has had none of our prompts; undefined while it has some (or is not in the pool). */
  idleSinceMs(targetId: string): number | undefined {
    return this.targets.get(targetId)?.idleSinceMs;
  }

  /** Sweep-level warnings (a server that went away, runs sent again). */
  get dispatchWarnings(): readonly string[] {
    return this.warnings;
  }

  /** Adds a server to the pool; it gets work at once. */
  addTarget(target: SweepTarget): void {
    if (this.targets.has(target.id)) return;
    const client = this.options.createClient?.(target.url) ?? new ComfyClient({ baseUrl: target.url });
    this.targets.set(target.id, { target, client, others: 0, failures: 0, idleSinceMs: this.clock.now(), engines: new Set() });
    this.wake();
  }

  /**
   * Takes a server out of the pool (a machine being stopped, one that stopped answering). Our
   * prompts on it end here and their runs are sent elsewhere (`why` is recorded on each).
   */
  removeTarget(targetId: string, why: string): void {
    const t = this.targets.get(targetId);
    if (!t) return;
    this.targets.delete(targetId);
    for (const a of t.engines) {
      a.lost = true;
      a.run.failedOn.add(targetId);
      a.run.requeued.push(why);
      a.engine.dispose();
    }
    this.wake();
  }

  /**
   * Ends the sweep early: runs not sent yet are `skipped`, our prompts are interrupted (a waiting
   * one is removed from its queue, a running one interrupted by its id); nobody else's is touched.
   */
  stop(reason: 'interrupted' | 'budget'): void {
    if (this.stopping) return;
    this.stopping = reason;
    for (const r of [...this.queue.splice(0), ...this.held.splice(0)]) this.settle(r, 'skipped');
    for (const t of this.targets.values()) for (const a of t.engines) void a.engine.interrupt();
    this.wake();
  }

  /**
   * The probe run: sends the first run of the plan alone and resolves with it once it has ended
   * (sent elsewhere if its server fails it, like any run). It is a run of the sweep: {@link run}
   * later sends only the others. The rest stay unsent meanwhile ({@link stop} skips them).
   */
  async probe(): Promise<SweepRunState> {
    const first = this.runs[0];
    this.held = this.queue.splice(1);
    try {
      await this.loop(() => isFinal(first.status));
    } finally {
      this.queue.push(...this.held.splice(0));
    }
    return first;
  }

  /** Sends every run and resolves when each has ended (or was skipped by {@link stop}). */
  run(): Promise<void> {
    return this.loop(() => this.runs.every((r) => isFinal(r.status)));
  }

  private async loop(done: () => boolean): Promise<void> {
    while (!done()) {
      await this.pollQueues();
      this.failWhenPoolEmpty();
      this.fill();
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimeout(() => {
          this.wakeUp = undefined;
          resolve();
        }, this.pollMs);
        this.wakeUp = () => {
          timer.dispose();
          this.wakeUp = undefined;
          resolve();
        };
      });
    }
  }

  private wake(): void {
    this.wakeUp?.();
  }

  /** Reads every target's `/queue`: its load, and whether it still answers. */
  private async pollQueues(): Promise<void> {
    await Promise.all(
      [...this.targets.values()].map(async (t) => {
        const limitMs = Math.max(2000, this.pollMs * 3);
        const limit = AbortSignal.timeout(limitMs);
        try {
          const q = await t.client.getQueue(limit);
          const ours = new Set([...t.engines].map((a) => a.engine.currentPromptId));
          t.others = [...q.running, ...q.pending].filter((i) => !ours.has(i.promptId)).length;
          t.failures = 0;
        } catch (e) {
          // Nothing but the read's own time limit cancels it: a server that hangs counts like one that refuses.
          t.failures++;
          if (t.failures >= this.downAfter && this.targets.get(t.target.id) === t) {
            const why = `${t.target.label} stopped answering (${limit.aborted ? `no answer to GET /queue within ${limitMs / 1000} s` : (e as Error).message})`;
            this.warnings.push(`${why}; it left the pool and its runs were sent elsewhere.`);
            this.removeTarget(t.target.id, why);
          }
        }
      }),
    );
  }

  /** With no server left and none coming, the runs still waiting cannot run. */
  private failWhenPoolEmpty(): void {
    if (this.targets.size > 0 || this.stopping || this.queue.length === 0) return;
    if (this.options.moreTargetsMayJoin?.()) return;
    for (const r of this.queue.splice(0)) {
      r.error = {
        kind: 'network',
        type: 'no_target',
        message: `No server is left to run it${r.requeued.length > 0 ? ` (${r.requeued[r.requeued.length - 1]})` : ''}.`,
        details: '',
        nodeErrors: null,
      };
      this.settle(r, 'error');
    }
  }

  /** Gives waiting runs to the least loaded targets that have room. */
  private fill(): void {
    while (!this.stopping && this.queue.length > 0) {
      const open = [...this.targets.values()].filter((t) => t.engines.size < this.perTarget);
      if (open.length === 0) return;
      open.sort((a, b) => a.others + a.engines.size - (b.others + b.engines.size) || a.engines.size - b.engines.size);
      const run = this.queue.shift()!;
      this.start(run, open.find((t) => !run.failedOn.has(t.target.id)) ?? open[0]);
    }
  }

  private start(run: SweepRunState, t: TargetState): void {
    run.attempts++;
    run.target = t.target.id;
    run.promptId = null;
    run.status = 'pending';
    t.idleSinceMs = undefined;
    const o = this.options;
    const engine = new RunEngine({
      prompt: promptForRun(o.prompt, run),
      localInputs: o.localInputs,
      inputPolicy: o.inputPolicy,
      dynamicPrompts: o.dynamicPrompts,
      convertedFrom: o.convertedFrom,
      comfyUrl: t.target.url,
      outputRoot: o.sweepDir,
      workflowName: run.folder,
      workflowFile: o.workflowFile,
      machineType: t.target.machineType,
      createClient: () => t.client,
      ...o.engine,
    });
    const attempt: Attempt = { run, engine, target: t, lost: false };
    t.engines.add(attempt);
    engine.onEvent((e) => {
      if (attempt.lost) return;
      if (e.type === 'queued' && run.status === 'pending') {
        run.promptId = e.promptId;
        run.queuedAtMs = this.clock.now();
        this.change(run, e.position === 0 ? 'running' : 'queued');
        if (e.position === 0) run.startedAtMs ??= this.clock.now();
      } else if (e.type === 'started' && run.status !== 'running') {
        run.startedAtMs = this.clock.now();
        this.change(run, 'running');
      }
    });
    void engine.run().then((result) => this.ended(attempt, result));
  }

  private ended(a: Attempt, result: RunResult): void {
    const { run, target: t } = a;
    t.engines.delete(a);
    if (t.engines.size === 0) t.idleSinceMs = this.clock.now();
    a.engine.dispose();
    run.warnings.push(...result.warnings);
    const failedByTarget = result.status !== 'success' && result.error !== null && targetFailureKinds.has(result.error.kind) && !(result.error.kind === 'cancelled' && !a.lost);
    if ((a.lost || failedByTarget) && result.outputs.length === 0 && !this.stopping && run.attempts < this.maxAttempts) {
      if (!a.lost) {
        run.requeued.push(`${t.target.label}: ${result.error?.message ?? result.status}`);
        run.failedOn.add(t.target.id);
        t.failures++;
      }
      run.status = 'pending';
      run.promptId = null;
      run.startedAtMs = undefined;
      this.queue.unshift(run);
      this._onDidChangeRun.fire(run);
      this.wake();
      return;
    }
    run.promptId = result.promptId ?? run.promptId;
    run.outputs = result.outputs;
    run.error = result.error;
    run.runDir = result.runDir;
    this.settle(run, this.stopping && result.status !== 'success' ? 'interrupted' : result.status);
    this.wake();
  }

  private settle(run: SweepRunState, status: SweepRunStatus): void {
    run.endedAtMs = this.clock.now();
    this.change(run, status);
  }

  private change(run: SweepRunState, status: SweepRunStatus): void {
    run.status = status;
    this._onDidChangeRun.fire(run);
  }

  override dispose(): void {
    for (const t of this.targets.values()) for (const a of t.engines) a.engine.dispose();
    super.dispose();
  }
}

function isFinal(s: SweepRunStatus): boolean {
  return s === 'success' || s === 'error' || s === 'interrupted' || s === 'skipped';
}
