import { ConfigError, type ApiError } from '../../api/errors';
import { maskUrl } from '../../api/redact';
import { type LaunchRequest, type Machine } from '../../api/runcomfyTypes';
import { type Clock } from '../../base/clock';
import { type MoneyOperations } from '../moneyOperations';
import { type SweepDispatcher } from './sweepDispatcher';
import { type SweepLedger } from './sweepLedger';

/** `--autoscale max=N,type=T,version=V[,duration=S][,idle=S]`. */
export interface AutoscaleSpec {
  readonly max: number;
  readonly type: string;
  readonly version: string;
  /** Each machine's planned run time (seconds from Ready); RunComfy stops it then at the latest. Default 3600. */
  readonly durationS: number;
  /** A machine of the sweep with nothing to do for this long is stopped. Default 60. */
  readonly idleS: number;
}

/**
 * Parses the `--autoscale` value. `types` lists the machine types RunComfy knows.
 * @throws ConfigError naming the field that is wrong.
 */
export function parseAutoscaleSpec(text: string, types: readonly string[]): AutoscaleSpec {
  const form = 'max=N,type=T,version=V[,duration=S][,idle=S] (for example max=4,type=large,version=<version_id>)';
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part.trim() : part.slice(0, eq).trim();
    if (eq === -1 || !['max', 'type', 'version', 'duration', 'idle'].includes(key)) {
      throw new ConfigError(`--autoscale ${JSON.stringify(text)}: "${part}" is not one of max=, type=, version=, duration=, idle=. Give ${form}.`);
    }
    fields.set(key, part.slice(eq + 1).trim());
  }
  const whole = (key: string, fallback: number | undefined, min: number): number => {
    const raw = fields.get(key);
    if (raw === undefined) {
      if (fallback === undefined) throw new ConfigError(`--autoscale needs ${key}=. Give ${form}.`);
      return fallback;
    }
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new ConfigError(`--autoscale ${key}= must be a whole number of at least ${min}, got "${raw}".`);
    return n;
  };
  const type = fields.get('type');
  if (!type) throw new ConfigError(`--autoscale needs type=, one of ${types.join(', ')}.`);
  if (!types.includes(type)) throw new ConfigError(`--autoscale type=${type}: not a machine type; use one of ${types.join(', ')}.`);
  const version = fields.get('version');
  if (!version) throw new ConfigError('--autoscale needs version=<version_id> (the workflow version the machines start with; "runcomfy workflows" lists them).');
  return { max: whole('max', undefined, 1), type, version, durationS: whole('duration', 3600, 60), idleS: whole('idle', 60, 0) };
}

/** The RunComfy calls autoscale makes: one list per poll for every machine, a launch, a stop. */
export interface AutoscaleApi {
  listMachines(signal?: AbortSignal): Promise<Machine[]>;
  launch(request: LaunchRequest, signal?: AbortSignal): Promise<Machine>;
  stop(serverId: string, signal?: AbortSignal, onFailure?: (e: ApiError) => void): Promise<Machine | undefined>;
}

/** What the autoscaler needs. */
export interface SweepAutoscalerOptions {
  readonly api: AutoscaleApi;
  /** Launches and stops run here, on a lifetime of their own. */
  readonly money: MoneyOperations;
  readonly ledger: SweepLedger;
  readonly dispatcher: SweepDispatcher;
  readonly spec: AutoscaleSpec;
  readonly ratePerHour: number;
  readonly clock: Clock;
  /** Least time between two machine lists (RunComfy allows one request per second per account). Default 3 s. */
  readonly listEveryMs?: number;
  /** How long a new machine should be able to work for a launch to be worth it (a few runs). */
  readonly usefulMs: () => number;
  /** A line for the progress log (launches, Ready, stops). */
  readonly say: (line: string) => void;
}

interface OwnMachine {
  readonly serverId: string;
  state: 'booting' | 'ready' | 'stopping' | 'stopped';
}

/**
 * Grows the pool while the backlog per machine is above two runs and the budget allows, one
 * launch at a time (a launch is never retried: a failed one ends autoscaling, with the reason);
 * adds each machine when Ready; stops the machines it launched once idle for `idleS`, and all of
 * them at the end. Stops are retried until they land and are never given a signal, so Ctrl-C
 * cannot leave a machine of the sweep billing.
 */
export class SweepAutoscaler {
  private readonly own = new Map<string, OwnMachine>();
  private readonly stops = new Map<string, Promise<void>>();
  private lastListMs = Number.NEGATIVE_INFINITY;
  private launching = false;
  private ended = false;
  private launchFailed = false;
  private ticking: Promise<void> | undefined;
  private refusedByBudget = false;
  private readonly listEveryMs: number;
  readonly warnings: string[] = [];

  constructor(private readonly o: SweepAutoscalerOptions) {
    this.listEveryMs = o.listEveryMs ?? 3000;
  }

  /** Server ids of the machines it launched, in order. */
  get launched(): string[] {
    return [...this.own.keys()];
  }

  /** Server ids of its machines whose DELETE landed. */
  get stopped(): string[] {
    return [...this.own.values()].filter((m) => m.state === 'stopped').map((m) => m.serverId);
  }

  /** True when runs wait for a machine that the budget cannot pay for (the last launch the backlog asked for was refused). */
  get budgetRefusedLaunch(): boolean {
    return this.refusedByBudget;
  }

  /** True while a machine may still join the pool (one boots, or more may be launched). */
  mayGrow(): boolean {
    if (this.ended) return false;
    if ([...this.own.values()].some((m) => m.state === 'booting')) return true;
    return !this.launchFailed && this.own.size < this.o.spec.max && this.o.ledger.canLaunch(this.o.ratePerHour, this.o.usefulMs());
  }

  /** One step: follow booting machines, stop idle ones, launch when the backlog needs it. */
  tick(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.ticking ??= (async () => {
      await this.follow();
      this.stopIdle();
      await this.maybeLaunch();
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** Stops every machine it launched (no more launches) and resolves once every stop landed or failed for good. */
  async stopAll(): Promise<void> {
    this.ended = true;
    // The stops start at once (a window closing gives only seconds); a launch in flight may still answer with a machine: it is stopped too.
    const stopEvery = () => {
      for (const m of this.own.values()) if (m.state === 'booting' || m.state === 'ready') this.stop(m, 'the sweep is over');
    };
    stopEvery();
    await this.ticking;
    stopEvery();
    await Promise.all(this.stops.values());
  }

  private async follow(): Promise<void> {
    const watching = [...this.own.values()].filter((m) => m.state === 'booting' || m.state === 'ready');
    const now = this.o.clock.now();
    if (watching.length === 0 || now - this.lastListMs < this.listEveryMs) return;
    this.lastListMs = now;
    let list: Machine[];
    try {
      list = await this.o.api.listMachines();
    } catch (e) {
      this.o.say(`Could not list machines (${(e as Error).message}); trying again in ${Math.round(this.listEveryMs / 1000)} s.`);
      return;
    }
    for (const m of watching) {
      const seen = list.find((x) => x.serverId === m.serverId);
      if (m.state === 'booting' && seen?.isReady && seen.mainServiceUrl) {
        m.state = 'ready';
        this.o.ledger.ready(m.serverId, seen.serviceReadyAtMs);
        this.o.say(`Machine ${m.serverId} is Ready (${maskUrl(seen.mainServiceUrl)}); it joins the pool.`);
        this.o.dispatcher.addTarget({ id: m.serverId, url: seen.mainServiceUrl, label: `machine ${m.serverId}`, launched: true, machineType: seen.serverType ?? this.o.spec.type });
      } else if (m.state === 'ready' && (!seen || !(seen.isReady || seen.status === 'Starting'))) {
        // Gone without our stop: its planned duration ran out, or someone stopped it.
        m.state = 'stopped';
        this.o.ledger.stopped(m.serverId);
        this.warnings.push(`Machine ${m.serverId} stopped on its own (${seen ? seen.status : 'no longer listed'}); its runs were sent elsewhere.`);
        this.o.dispatcher.removeTarget(m.serverId, `machine ${m.serverId} stopped`);
      }
    }
  }

  private stopIdle(): void {
    const now = this.o.clock.now();
    for (const m of this.own.values()) {
      if (m.state !== 'ready' || this.o.dispatcher.backlog > 0) continue;
      const since = this.o.dispatcher.idleSinceMs(m.serverId);
      if (since !== undefined && now - since >= this.o.spec.idleS * 1000) this.stop(m, `idle for ${this.o.spec.idleS} s`);
    }
  }

  private async maybeLaunch(): Promise<void> {
    const { spec, dispatcher, ledger } = this.o;
    if (this.launching || this.launchFailed) return;
    const active = [...this.own.values()].filter((m) => m.state === 'booting' || m.state === 'ready').length;
    if (active >= spec.max) return;
    const machines = dispatcher.poolSize + [...this.own.values()].filter((m) => m.state === 'booting').length;
    if (dispatcher.backlog <= 2 * machines) return;
    this.refusedByBudget = !ledger.canLaunch(this.o.ratePerHour, this.o.usefulMs());
    if (this.refusedByBudget) return;
    this.launching = true;
    try {
      const m = await this.o.money.run('launch', undefined, () =>
        this.o.api.launch({ workflow_version_id: spec.version, server_type: spec.type, estimated_duration: spec.durationS }),
      );
      this.own.set(m.serverId, { serverId: m.serverId, state: 'booting' });
      ledger.launched(m.serverId, this.o.ratePerHour);
      this.o.say(`Launched machine ${m.serverId} (${spec.type}, at most ${spec.durationS} s from Ready); ${dispatcher.backlog} runs wait.`);
      // Stopped meanwhile (Ctrl-C, the budget): this machine must not be left running.
      if (this.ended) this.stop(this.own.get(m.serverId)!, 'the sweep ended while it launched');
    } catch (e) {
      this.launchFailed = true;
      this.warnings.push(`A launch failed and is not retried (${(e as Error).message}); the sweep goes on with the machines it has.`);
      this.o.say(`Launch failed: ${(e as Error).message} No more machines are launched.`);
    } finally {
      this.launching = false;
    }
  }

  private stop(m: OwnMachine, why: string): void {
    if (m.state === 'stopping' || m.state === 'stopped') return;
    m.state = 'stopping';
    this.o.dispatcher.removeTarget(m.serverId, `machine ${m.serverId} is being stopped (${why})`);
    this.o.say(`Stopping machine ${m.serverId} (${why}).`);
    const done = this.o.money
      .run('stop', m.serverId, (failed) => this.o.api.stop(m.serverId, undefined, failed))
      .then(
        () => {
          m.state = 'stopped';
          this.o.ledger.stopped(m.serverId);
          this.o.say(`Stopped machine ${m.serverId}: billing has ended.`);
        },
        (e: unknown) => {
          m.state = 'ready';
          this.warnings.push(`Machine ${m.serverId} could not be stopped (${(e as Error).message}); it may still bill. Stop it with "runcomfy stop ${m.serverId}".`);
        },
      );
    this.stops.set(m.serverId, done);
  }
}
