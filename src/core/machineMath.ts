import { type Machine } from '../api/runcomfyTypes';
import { defaultRateTable, hourlyRate, type RateTable } from './pricing';

/**
 * Time and money of a machine, derived from its wire timestamps and a clock, never stored.
 * Billing runs from `service_ready_at` at the type's hourly rate, per second, until the machine
 * stops (at the latest `estimated_stopping_at`). Every amount is an estimate: the account's plan
 * and RunComfy's exact rounding are not visible through the API.
 */

/** Milliseconds until `estimated_stopping_at` (0 once past), or undefined before the machine is Ready. */
export function timeLeftMs(machine: Machine, nowMs: number): number | undefined {
  if (machine.estimatedStoppingAtMs === undefined) return undefined;
  return Math.max(0, machine.estimatedStoppingAtMs - nowMs);
}

/** Milliseconds billed so far: from `service_ready_at` to now, capped at `estimated_stopping_at`. */
export function billedMs(machine: Machine, nowMs: number): number | undefined {
  if (machine.serviceReadyAtMs === undefined) return undefined;
  const end = machine.estimatedStoppingAtMs === undefined ? nowMs : Math.min(nowMs, machine.estimatedStoppingAtMs);
  return Math.max(0, end - machine.serviceReadyAtMs);
}

/** Estimated dollars spent so far (hourly rate × seconds since Ready); undefined before Ready or for an unknown type. */
export function costSoFar(machine: Machine, nowMs: number, rates: RateTable = defaultRateTable): number | undefined {
  const rate = hourlyRate(machine.serverType, rates);
  const ms = billedMs(machine, nowMs);
  if (rate === undefined || ms === undefined) return undefined;
  return (rate * ms) / 3_600_000;
}

/** Estimated dollars if the machine runs its whole `estimated_duration` (the worst case when nobody stops it). */
export function maxCost(machine: Machine, rates: RateTable = defaultRateTable): number | undefined {
  const rate = hourlyRate(machine.serverType, rates);
  if (rate === undefined || machine.estimatedDurationS === undefined) return undefined;
  return costOf(machine.estimatedDurationS, rate);
}

/** Dollars for `seconds` at `ratePerHour`. */
export function costOf(seconds: number, ratePerHour: number): number {
  return (ratePerHour * seconds) / 3600;
}

/**
 * The total to send when extending by `bySeconds`: the API's duration is a total counted from
 * Ready, not an increment, so extending adds to the current `estimated_duration`.
 * Throws a RangeError when the extension is not a positive whole number or the total is unknown.
 */
export function extendedTotalSeconds(machine: Machine, bySeconds: number): number {
  if (!Number.isInteger(bySeconds) || bySeconds <= 0) {
    throw new RangeError(`Extend by a positive whole number of seconds, got ${bySeconds}.`);
  }
  if (machine.estimatedDurationS === undefined) {
    throw new RangeError(`Machine ${machine.serverId} does not report its estimated_duration, so it cannot be extended by an amount; set a total instead.`);
  }
  return machine.estimatedDurationS + bySeconds;
}

/** Everything a view shows about a machine's time and money at `nowMs`. */
export interface MachineFigures {
  readonly timeLeftMs: number | undefined;
  readonly billedMs: number | undefined;
  readonly costSoFar: number | undefined;
  readonly maxCost: number | undefined;
  readonly hourlyRate: number | undefined;
}

/** All derived figures of `machine` at `nowMs`. */
export function machineFigures(machine: Machine, nowMs: number, rates: RateTable = defaultRateTable): MachineFigures {
  return {
    timeLeftMs: timeLeftMs(machine, nowMs),
    billedMs: billedMs(machine, nowMs),
    costSoFar: costSoFar(machine, nowMs, rates),
    maxCost: maxCost(machine, rates),
    hourlyRate: hourlyRate(machine.serverType, rates),
  };
}

/** `3725000` → `1 h 02 min`, `754000` → `12 min 34 s`, `9000` → `9 s`. Rounds down to whole seconds. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}

/** An amount shown as an estimate: `~$0.42`; below a cent `<$0.01`; undefined → `n/a`. */
export function formatCostEstimate(dollars: number | undefined): string {
  if (dollars === undefined) return 'n/a';
  if (dollars > 0 && dollars < 0.005) return '<$0.01';
  return `~$${dollars.toFixed(2)}`;
}
