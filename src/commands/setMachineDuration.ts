import { formatDuration } from '../core/machineMath';
import { machineShortId } from '../core/machineLabels';
import { resolveMachine } from './machinePicker';
import { formatLocalTime } from '../base/timeFormat';
import { type Services } from './services';
import { UserError } from './userError';

/**
 * Set Machine Duration…: the machine's total running time, counted from Ready (what the API
 * stores). A total already behind the machine would stop it at once, so that needs a confirmation.
 */
export async function setMachineDuration(services: Services, arg?: unknown, totalMinutesArg?: number): Promise<number | undefined> {
  const machine = await resolveMachine(services, arg, {
    title: 'Set the running time of which machine?',
    accepts: (m) => m.isReady,
    noneMessage: 'No machine is Ready, so there is no running time to set.',
  });
  if (!machine.isReady || machine.serviceReadyAtMs === undefined) {
    throw new UserError(`Machine ${machineShortId(machine)} is ${machine.status}; its running time can be set once it is Ready.`);
  }
  const elapsedMin = (services.clock.now() - machine.serviceReadyAtMs) / 60_000;
  const currentMin = Math.round((machine.estimatedDurationS ?? 0) / 60);
  const total =
    totalMinutesArg ??
    Number(
      await services.prompter.input({
        title: `Running time of machine ${machineShortId(machine)}, in minutes from Ready`,
        prompt: `Now ${currentMin} min; it has run ${Math.floor(elapsedMin)} min. The machine stops when the total is reached.`,
        value: String(currentMin),
        validate: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 10_080 ? undefined : 'Enter a whole number of minutes (1 to 10080).'),
      }),
    );
  if (total <= elapsedMin) {
    const ok = await services.prompter.confirm(
      `Stop machine ${machineShortId(machine)} now?`,
      `It has already run ${Math.floor(elapsedMin)} min, so a total of ${total} min ends it at once. Runs in progress on it are lost.`,
      'Set and Stop',
    );
    if (!ok) return undefined;
  }
  const updated = await services.accounts.requireAccount().machines.setDuration(machine.serverId, Math.round(total * 60));
  const stop = updated.estimatedStoppingAtMs;
  services.log.info(`Set machine ${updated.serverId} to ${total} min from Ready; stops at ${stop ? formatLocalTime(stop, { nowMs: services.clock.now() }) : 'unknown'}.`);
  void services.prompter.notify('info', `Machine ${machineShortId(updated)} now stops at ${stop ? `${formatLocalTime(stop, { nowMs: services.clock.now() })} (in ${formatDuration(Math.max(0, stop - services.clock.now()))})` : 'an unknown time'}.`);
  return stop;
}
