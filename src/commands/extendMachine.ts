import { formatLocalTime } from '../base/timeFormat';
import { costOf, formatCostEstimate, formatDuration } from '../core/machineMath';
import { machineShortId } from '../core/machineLabels';
import { hourlyRate } from '../core/pricing';
import { rateTable, resolveMachine } from './machinePicker';
import { type Services } from './services';
import { UserError } from './userError';

/** Automation argument: extend by this many minutes without asking. */
export interface ExtendArgs {
  readonly minutes?: number;
}

/**
 * Extend Machine…: +15 min, +30 min, +1 h or a custom amount. The API takes a new total counted
 * from Ready, so the store sends `estimated_duration + N`. Returns the new stop time (epoch ms).
 */
export async function extendMachine(services: Services, arg?: unknown, args: ExtendArgs = {}): Promise<number | undefined> {
  const machine = await resolveMachine(services, arg, {
    title: 'Extend which machine?',
    accepts: (m) => m.isReady,
    noneMessage: 'No machine is Ready, so there is nothing to extend.',
  });
  if (!machine.isReady) throw new UserError(`Machine ${machineShortId(machine)} is ${machine.status}; only a Ready machine can be extended.`);
  const rate = hourlyRate(machine.serverType, rateTable(services));
  const stopsAt = machine.estimatedStoppingAtMs ?? services.clock.now();
  const minutes =
    args.minutes ??
    (await services.prompter.pick(
      [...[15, 30, 60].map((m) => ({
        label: m < 60 ? `+${m} min` : `+${m / 60} h`,
        description: `stops at ${formatLocalTime(stopsAt + m * 60_000, { nowMs: services.clock.now() })}${rate === undefined ? '' : ` · ${formatCostEstimate(costOf(m * 60, rate))} more at most`}`,
        value: m,
      })), { label: 'Custom…', description: 'Any number of minutes', value: -1 }],
      { title: `Extend machine ${machineShortId(machine)} (now stops at ${formatLocalTime(stopsAt, { nowMs: services.clock.now() })})` },
    ));
  const by = minutes === -1 ? Number(await services.prompter.input({
    title: `Extend machine ${machineShortId(machine)} by how many minutes?`,
    prompt: 'Whole minutes, 1 to 1440.',
    validate: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 1440 ? undefined : 'Enter a whole number of minutes between 1 and 1440.'),
  })) : minutes;
  const updated = await services.accounts.requireAccount().machines.extendBy(machine.serverId, Math.round(by * 60));
  const newStop = updated.estimatedStoppingAtMs;
  services.log.info(`Extended machine ${updated.serverId} by ${by} min: total ${updated.estimatedDurationS ?? '?'} s from Ready, stops at ${newStop ? formatLocalTime(newStop, { nowMs: services.clock.now() }) : 'unknown'}.`);
  void services.prompter.notify('info', `Machine ${machineShortId(updated)} now stops at ${newStop ? formatLocalTime(newStop, { nowMs: services.clock.now() }) : 'an unknown time'}${newStop ? ` (in ${formatDuration(newStop - services.clock.now())})` : ''}.`);
  return newStop;
}
