import { type Clock } from '../../base/clock';

/** One machine the sweep launched, as the ledger bills it. */
export interface LedgerMachine {
  readonly serverId: string;
  readonly ratePerHour: number;
  /** `service_ready_at` (billing starts); undefined while it boots (not billed yet). */
  readyAtMs: number | undefined;
  /** When its DELETE returned 200 (billing ends); undefined while it runs. */
  stoppedAtMs: number | undefined;
}

/** How the budget is kept. */
export interface LedgerOptions {
  /** `--max-cost` in US dollars; undefined: no cap (the ledger still adds up the cost). */
  readonly maxCostUsd: number | undefined;
  /** How long a stop may take to land (DELETEs retried through 429s and 5xx): kept in reserve for every billing machine. Default 15 s. */
  readonly stopMarginMs?: number;
}

/**
 * The sweep's budget: the estimated cost of the machines it launched, each one's hourly rate
 * times its time from `service_ready_at` until its DELETE returned 200. Machines it did not launch
 * are not in it. The cap is kept by acting early: {@link mustWindDown} turns true while there is
 * still time to stop every billing machine within the cap (each gets `stopMarginMs`), and
 * {@link canLaunch} refuses a machine the remaining money could not keep running for a useful
 * stretch. Time comes from the injected clock.
 */
export class SweepLedger {
  private readonly machines = new Map<string, LedgerMachine>();
  private readonly stopMarginMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly options: LedgerOptions,
  ) {
    this.stopMarginMs = options.stopMarginMs ?? 15_000;
  }

  get maxCostUsd(): number | undefined {
    return this.options.maxCostUsd;
  }

  /** A machine the sweep launched (booting: not billed until {@link ready}). */
  launched(serverId: string, ratePerHour: number): void {
    this.machines.set(serverId, { serverId, ratePerHour, readyAtMs: undefined, stoppedAtMs: undefined });
  }

  /** Billing started (`service_ready_at`, or now when RunComfy did not say). */
  ready(serverId: string, readyAtMs: number | undefined): void {
    const m = this.machines.get(serverId);
    if (m && m.readyAtMs === undefined) m.readyAtMs = Math.min(readyAtMs ?? this.clock.now(), this.clock.now());
  }

  /** Its DELETE returned 200: billing ended now. */
  stopped(serverId: string): void {
    const m = this.machines.get(serverId);
    if (m && m.stoppedAtMs === undefined) m.stoppedAtMs = this.clock.now();
  }

  /** The estimated cost so far, in US dollars. */
  costUsd(now = this.clock.now()): number {
    let total = 0;
    for (const m of this.machines.values()) {
      if (m.readyAtMs === undefined) continue;
      const end = m.stoppedAtMs ?? now;
      total += (m.ratePerHour * Math.max(0, end - m.readyAtMs)) / 3_600_000;
    }
    return total;
  }

  /** What the billing machines will have cost once their stops land, if stopped now. */
  private committedUsd(now: number): number {
    let total = this.costUsd(now);
    for (const m of this.machines.values()) {
      // A booting machine may turn Ready any moment: its stop margin is reserved too.
      if (m.stoppedAtMs === undefined) total += (m.ratePerHour * this.stopMarginMs) / 3_600_000;
    }
    return total;
  }

  /** True when the machines must be stopped now for billing to end within the cap. */
  mustWindDown(): boolean {
    const cap = this.options.maxCostUsd;
    if (cap === undefined) return false;
    return this.committedUsd(this.clock.now()) >= cap;
  }

  /** True when one more machine at `ratePerHour` could run `usefulMs` and still be stopped within the cap. */
  canLaunch(ratePerHour: number, usefulMs: number): boolean {
    const cap = this.options.maxCostUsd;
    if (cap === undefined) return true;
    const extra = (ratePerHour * (usefulMs + this.stopMarginMs)) / 3_600_000;
    return this.committedUsd(this.clock.now()) + extra <= cap;
  }

  /** The machines, for sweep.json. */
  snapshot(): LedgerMachine[] {
    return [...this.machines.values()].map((m) => ({ ...m }));
  }
}
