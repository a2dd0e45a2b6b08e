import * as vscode from 'vscode';
import { formatCostEstimate, formatDuration, machineFigures } from '../core/machineMath';
import { machineShortId } from '../core/machineLabels';
import { rateTable, resolveMachine } from './machinePicker';
import { type Services } from './services';

/** Automation argument: skip the confirmation (the host tests and scripts that already asked). */
export interface StopArgs {
  readonly confirmed?: boolean;
}

/**
 * Stop Machine: a modal confirmation with the cost so far, then DELETE, retried until it lands
 * (billing runs until it does). Returns the stopped machine's id.
 */
export async function stopMachine(services: Services, arg?: unknown, args: StopArgs = {}): Promise<string | undefined> {
  const machine = await resolveMachine(services, arg, {
    title: 'Stop which machine?',
    accepts: (m) => m.status !== 'Deleting',
    noneMessage: 'No machine is running.',
  });
  const short = machineShortId(machine);
  const f = machineFigures(machine, services.clock.now(), rateTable(services));
  const active = services.runs.forTarget(`machine:${machine.serverId}`).filter((r) => r.finishedAtMs === undefined).length;
  if (!args.confirmed) {
    const ok = await services.prompter.confirm(
      `Stop RunComfy machine ${short}?`,
      [
        `${machine.serverType ?? 'unknown type'} · ${machine.status}${f.billedMs === undefined ? '' : ` for ${formatDuration(f.billedMs)}`}`,
        `Cost so far: ${formatCostEstimate(f.costSoFar)} (estimate). Billing stops when the stop is confirmed.`,
        active > 0 ? `${active} run${active === 1 ? '' : 's'} in progress on it will be lost.` : 'Nothing of yours is running on it.',
      ].join('\n'),
      'Stop Machine',
    );
    if (!ok) return undefined;
  }
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Stopping machine ${short}…` }, () =>
    services.accounts.requireAccount().machines.stop(machine.serverId),
  );
  services.log.info(`Stopped machine ${machine.serverId} (cost so far ${formatCostEstimate(f.costSoFar)}, estimate).`);
  return machine.serverId;
}
