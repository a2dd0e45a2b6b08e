import { type Machine } from '../api/runcomfyTypes';
import { formatLocalTime } from '../base/timeFormat';
import { costOf, formatCostEstimate, formatDuration, machineFigures } from './machineMath';
import { machineShortId } from './machineLabels';
import { hourlyRate, type RateTable } from './pricing';

/**
 * The words of every question asked before money is spent or a machine is stopped: the palette's
 * modal confirmations and the agent tools' confirmations (`src/tools/`) say the same, so a person
 * sees one rate, one "at most" and one warning whoever asks.
 */

/** A modal question: the message, the detail under it and the label of the button that goes ahead. */
export interface MoneyConfirmation {
  readonly message: string;
  readonly detail: string;
  readonly confirmLabel: string;
}

/** `90` → `1 h 30 min`, `60` → `1 h`, `45` → `45 min`. */
export function describeMinutes(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = Math.round(minutes % 60);
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** `~$1.75/h`, or what to do when the rate is unknown. */
export function rateText(rate: number | undefined): string {
  return rate === undefined ? 'an unknown rate (set runcomfy.pricing)' : `~$${rate.toFixed(2)}/h`;
}

/** What a launch asks: the type, the running time, the workflow, the rate and the most it can cost. */
export function launchConfirmation(o: { readonly serverType: string; readonly minutes: number; readonly workflow: string; readonly rate: number | undefined }): MoneyConfirmation {
  const most = o.rate === undefined ? 'an unknown amount' : formatCostEstimate(costOf(Math.round(o.minutes * 60), o.rate));
  return {
    message: `Launch a ${o.serverType} machine for ${describeMinutes(o.minutes)}?`,
    detail: [
      `Workflow: ${o.workflow}`,
      `Rate: ${rateText(o.rate)}, an estimate (pay-as-you-go prices unless runcomfy.pricing says otherwise).`,
      `Billing runs per second from Ready until the machine stops: at most ${most} if it runs the full ${describeMinutes(o.minutes)}.`,
      'It stops by itself at the end unless you extend it; stop it earlier from the Machines view.',
    ].join('\n'),
    confirmLabel: 'Launch',
  };
}

/** What a stop asks: the machine, how long it billed, the cost so far, and the runs it ends. */
export function stopConfirmation(machine: Machine, nowMs: number, rates: RateTable, activeRuns: number): MoneyConfirmation {
  const f = machineFigures(machine, nowMs, rates);
  return {
    message: `Stop RunComfy machine ${machineShortId(machine)}?`,
    detail: [
      `${machine.serverType ?? 'unknown type'} · ${machine.status}${f.billedMs === undefined ? '' : ` for ${formatDuration(f.billedMs)}`}`,
      `Cost so far: ${formatCostEstimate(f.costSoFar)} (estimate). Billing stops when the stop is confirmed.`,
      activeRuns > 0 ? `${activeRuns} run${activeRuns === 1 ? '' : 's'} in progress on it will be lost.` : 'Nothing of yours is running on it.',
    ].join('\n'),
    confirmLabel: 'Stop Machine',
  };
}

/** What an extension asks: the new stop time, the rate and the most the added time can cost (the Extend pick's words). */
export function extendConfirmation(machine: Machine, minutes: number, nowMs: number, rates: RateTable): MoneyConfirmation {
  const rate = hourlyRate(machine.serverType, rates);
  const stopsAt = machine.estimatedStoppingAtMs ?? nowMs;
  return {
    message: `Extend machine ${machineShortId(machine)} by ${describeMinutes(minutes)}?`,
    detail: [
      `It now stops at ${formatLocalTime(stopsAt, { nowMs })}; extended, at ${formatLocalTime(stopsAt + minutes * 60_000, { nowMs })}.`,
      `Rate: ${rateText(rate)}, an estimate: ${rate === undefined ? 'an unknown amount' : formatCostEstimate(costOf(minutes * 60, rate))} more at most.`,
    ].join('\n'),
    confirmLabel: 'Extend',
  };
}

/**
 * What queueing on a machine asks: the machine bills by the second whether or not it runs anything,
 * so the question names its rate and the most it can still cost until it stops by itself.
 */
export function queueOnMachineConfirmation(machine: Machine, workflow: string, nowMs: number, rates: RateTable): MoneyConfirmation {
  const f = machineFigures(machine, nowMs, rates);
  const left = f.timeLeftMs === undefined || f.hourlyRate === undefined ? undefined : costOf(f.timeLeftMs / 1000, f.hourlyRate);
  return {
    message: `Queue ${workflow} on RunComfy machine ${machineShortId(machine)}?`,
    detail: [
      `${machine.serverType ?? 'unknown type'} · ${machine.status} at ${rateText(f.hourlyRate)} (estimate), billed per second until it stops.`,
      `Cost so far: ${formatCostEstimate(f.costSoFar)}; at most ${formatCostEstimate(left)} more if it runs until it stops by itself${f.timeLeftMs === undefined ? '' : ` in ${formatDuration(f.timeLeftMs)}`}.`,
      'Local input files the workflow names are uploaded to it; outputs are saved in the workspace.',
    ].join('\n'),
    confirmLabel: 'Queue',
  };
}
