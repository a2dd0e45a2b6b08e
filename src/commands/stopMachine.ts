import * as vscode from 'vscode';
import { ApiError } from '../api/errors';
import { formatCostEstimate, machineFigures } from '../core/machineMath';
import { stopConfirmation } from '../core/moneyConfirmations';
import { machineShortId } from '../core/machineLabels';
import { rateTable, resolveMachine } from './machinePicker';
import { type Services } from './services';
import { UserError, type ErrorAction } from './userError';
import { CommandIds } from './commandIds';
import { type MoneyOperationEnd } from '../core/moneyOperations';

/** Automation argument: skip the confirmation (the host tests and scripts that already asked). */
export interface StopArgs {
  readonly confirmed?: boolean;
}

/**
 * Stop Machine: a modal confirmation with the cost so far, then DELETE, retried until it lands
 * (billing runs until it does). Once confirmed nothing cancels it: not a settings change, not a
 * sign-out (see `MachineStore.stop`). When it cannot land (the token is refused, RunComfy keeps
 * refusing it) the error says why and offers Retry. Returns the stopped machine's id.
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
    const question = stopConfirmation(machine, services.clock.now(), rateTable(services), active);
    const ok = await services.prompter.confirm(question.message, question.detail, question.confirmLabel);
    if (!ok) return undefined;
  }
  const store = services.accounts.requireAccount().machines;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Stopping machine ${short}…` }, async (progress) => {
    const sub = store.money.onDidChange(() => {
      const op = store.money.stopping(machine.serverId);
      if (op?.lastError) progress.report({ message: `attempt ${op.failures} failed (${op.lastError.status ? `HTTP ${op.lastError.status}` : op.lastError.kind}); retrying until it lands` });
    });
    try {
      await store.stop(machine.serverId);
    } catch (e) {
      throw stopFailure(machine.serverId, e);
    } finally {
      sub.dispose();
    }
  });
  services.log.info(`Stopped machine ${machine.serverId} (cost so far ${formatCostEstimate(f.costSoFar)}, estimate).`);
  return machine.serverId;
}

function stopFailure(serverId: string, e: unknown): unknown {
  // An unknown machine (404) is not a stop that failed: it is gone already.
  if (!(e instanceof ApiError) || e.kind === 'notFound' || e.kind === 'cancelled') return e;
  return new UserError(e.message, stopFailureActions(serverId, e));
}

/**
 * The next steps after a stop that did not land: Retry (the same machine, already confirmed), and
 * Sign In when the token was refused.
 */
function stopFailureActions(serverId: string, e: unknown): ErrorAction[] {
  const retry: ErrorAction = { title: 'Retry', command: CommandIds.stopMachine, args: [{ kind: 'machine', serverId }, { confirmed: true }] };
  const signIn: ErrorAction = { title: 'Sign In', command: CommandIds.signIn };
  const showLog: ErrorAction = { title: 'Show Log', command: CommandIds.showLog };
  return e instanceof ApiError && e.kind === 'auth' ? [retry, signIn, showLog] : [retry, showLog];
}

/**
 * Reports the idle auto-stops (MoneyGuard's, which nobody awaits) that could not land, with Retry.
 * Subscribed once per window, so a stop whose account was rebuilt meanwhile is still reported.
 */
export function reportUnattendedStopFailures(services: Services): vscode.Disposable {
  return services.accounts.money.onDidEnd(({ operation, error }: MoneyOperationEnd) => {
    if (!operation.unattended || error === undefined || operation.serverId === undefined) return;
    const why = error instanceof Error ? error.message : 'unknown error';
    services.log.error(`Auto-stop of idle machine ${operation.serverId} failed: ${why}`);
    const actions = stopFailureActions(operation.serverId, error);
    void services.prompter.notify('error', `Could not stop idle RunComfy machine ${operation.serverId}: ${why}`, ...actions.map((a) => a.title)).then((picked) => {
      const a = actions.find((x) => x.title === picked);
      if (a) void vscode.commands.executeCommand(a.command, ...(a.args ?? []));
    });
  });
}
