import { type Machine } from '../api/runcomfyTypes';
import { type Clock, systemClock } from '../base/clock';
import { Emitter, type Event } from '../base/event';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { type QueueSize } from './comfyServerDirectory';
import { timeLeftMs } from './machineMath';
import { type MachineStore } from './machineStore';
import { targetKey, type RunRegistry } from './runRegistry';

export interface MoneyGuardOptions {
  /** Warn this long before `estimated_stopping_at`; 0 turns warnings off. */
  readonly warnBeforeMs: number;
  /** Stop a Ready machine idle this long (no run from this window, empty queue); 0 turns it off. */
  readonly autoStopIdleMs: number;
  /** How often the guard looks while a machine bills; default 15 s. */
  readonly tickMs?: number;
}

/** A machine about to reach its planned stop time. */
export interface StopWarning {
  readonly machine: Machine;
  readonly timeLeftMs: number;
}

/** A machine the guard stopped because it sat idle. */
export interface IdleStop {
  readonly machine: Machine;
  readonly idleMs: number;
}

/**
 * Keeps money in view: while any machine bills (or boots) it keeps the machine list fresh, warns
 * once per planned stop time when a machine gets close to it, and, when asked to, stops machines
 * that sat idle (nothing from this window running on them and an empty queue) for too long.
 * Idle time counts only from when this window first saw the machine Ready, so a machine used from
 * elsewhere is never stopped on a guess made before this window was watching.
 */
export class MoneyGuard extends DisposableObject {
  private readonly _onWarn = this._register(new Emitter<StopWarning>());
  readonly onWarn: Event<StopWarning> = this._onWarn.event;
  private readonly _onIdleStop = this._register(new Emitter<IdleStop>());
  readonly onIdleStop: Event<IdleStop> = this._onIdleStop.event;
  private readonly _onDidChange = this._register(new Emitter<void>());
  /** Fires after every look (the status bar redraws its figures). */
  readonly onDidChange: Event<void> = this._onDidChange.event;

  private readonly warned = new Map<string, number>();
  private readonly idleSince = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private watch: Disposable | undefined;
  private timer: Disposable | undefined;

  constructor(
    private readonly store: MachineStore,
    private readonly runs: RunRegistry,
    private readonly queueOf: (machine: Machine) => Promise<QueueSize | undefined>,
    private options: MoneyGuardOptions,
    private readonly clock: Clock = systemClock,
  ) {
    super();
    this._register(store.onDidChangeMachines(() => this.look()));
    this._register(runs.onDidChange((r) => {
      if (r.target.kind === 'machine') this.idleSince.set(r.target.serverId, this.clock.now());
    }));
    this._register({
      dispose: () => {
        this.watch?.dispose();
        this.timer?.dispose();
      },
    });
    this.look();
  }

  setOptions(options: MoneyGuardOptions): void {
    this.options = options;
    this.look();
  }

  /** Machines billing now (Ready). */
  get billing(): readonly Machine[] {
    return this.store.machines.filter((m) => m.isReady);
  }

  /** True when a billing machine is within the warning window of its stop time. */
  nearStop(machine: Machine): boolean {
    const left = timeLeftMs(machine, this.clock.now());
    return this.options.warnBeforeMs > 0 && left !== undefined && left <= this.options.warnBeforeMs;
  }

  private look(): void {
    if (this.isDisposed) return;
    const now = this.clock.now();
    const machines = this.store.machines;
    const inFlight = machines.some((m) => m.isReady || m.status === 'Starting');
    if (inFlight && !this.watch) this.watch = this.store.watch();
    if (!inFlight && this.watch) {
      this.watch.dispose();
      this.watch = undefined;
    }
    const present = new Set(machines.map((m) => m.serverId));
    for (const id of [...this.idleSince.keys()]) if (!present.has(id)) this.idleSince.delete(id);
    for (const id of [...this.warned.keys()]) if (!present.has(id)) this.warned.delete(id);
    for (const m of machines) {
      if (!m.isReady) continue;
      this.checkWarning(m);
      this.checkIdle(m, now).catch(() => this.idleSince.set(m.serverId, this.clock.now()));
    }
    this.timer?.dispose();
    this.timer = inFlight ? this.clock.setTimeout(() => this.look(), this.options.tickMs ?? 15_000) : undefined;
    this._onDidChange.fire();
  }

  private checkWarning(m: Machine): void {
    const left = timeLeftMs(m, this.clock.now());
    if (!this.nearStop(m) || left === undefined || m.estimatedStoppingAtMs === undefined) return;
    if (this.warned.get(m.serverId) === m.estimatedStoppingAtMs) return;
    this.warned.set(m.serverId, m.estimatedStoppingAtMs);
    this._onWarn.fire({ machine: m, timeLeftMs: left });
  }

  private async checkIdle(m: Machine, now: number): Promise<void> {
    const busy = this.runs.forTarget(targetKey({ kind: 'machine', serverId: m.serverId, label: '' })).some((r) => r.finishedAtMs === undefined);
    if (busy || !this.idleSince.has(m.serverId)) this.idleSince.set(m.serverId, now);
    const limit = this.options.autoStopIdleMs;
    const idleMs = now - this.idleSince.get(m.serverId)!;
    if (limit <= 0 || idleMs < limit || this.stopping.has(m.serverId)) return;
    this.stopping.add(m.serverId);
    try {
      // The queue may hold prompts from the web UI or another tool: then the machine is not idle.
      const q = await this.queueOf(m);
      if (!q || q.running > 0 || q.pending > 0) {
        this.idleSince.set(m.serverId, this.clock.now());
        return;
      }
      // Unattended: if it cannot land, the window's money display reports it (with Retry), even after this guard is gone.
      await this.store.stop(m.serverId, { unattended: true });
      this._onIdleStop.fire({ machine: m, idleMs });
    } finally {
      this.stopping.delete(m.serverId);
    }
  }
}
