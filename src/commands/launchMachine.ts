import * as vscode from 'vscode';
import { CancelledError } from '../api/errors';
import { type Machine, type ServerType, type Workflow } from '../api/runcomfyTypes';
import { costOf, formatCostEstimate } from '../core/machineMath';
import { describeMinutes, launchConfirmation, rateText } from '../core/moneyConfirmations';
import { machineShortId } from '../core/machineLabels';
import { hourlyRate, serverTypes } from '../core/pricing';
import { versionLabel } from '../core/workflowCatalog';
import { rateTable } from './machinePicker';
import { type PickItem } from '../ui/prompter';
import { isNode } from '../views/treeNodes';
import { type Services } from './services';
import { UserError } from './userError';
import { CommandIds } from './commandIds';

/** Automation arguments: any answer given here is not asked. */
export interface LaunchArgs {
  readonly versionId?: string;
  readonly serverType?: string;
  readonly durationMinutes?: number;
  /** Wait until the machine is Ready, with a Stop Waiting notification (default true). */
  readonly wait?: boolean;
}

const durationChoices = [30, 60, 120, 240, 480];

/**
 * Launch Machine…: workflow version → machine type (with its hourly rate) → running time, then a
 * modal confirmation naming the rate and the most the machine can cost. The launch itself is never
 * retried blindly (a duplicate machine costs money); then it waits until Ready, or until the user
 * chooses Stop Waiting. Returns the launched machine's id, or undefined when the user backed out.
 */
export async function launchMachine(services: Services, arg?: unknown, argsIn?: LaunchArgs): Promise<string | undefined> {
  const args: LaunchArgs = isNode(arg, 'version') ? { ...argsIn, versionId: arg.versionId } : ((arg as LaunchArgs | undefined) ?? argsIn ?? {});
  const machine = await launchFlow(services, args);
  if (!machine) return undefined;
  if (args.wait === false) return machine.serverId;
  try {
    await waitUntilReady(services, machine);
  } catch (e) {
    // Stop Waiting: the machine was launched all the same, and the command says which.
    if (!(e instanceof CancelledError)) throw e;
  }
  return machine.serverId;
}

/** The flow without the wait, for "launch and queue" which waits itself. */
export async function launchFlow(services: Services, args: LaunchArgs): Promise<Machine | undefined> {
  const asked = services.accounts.requireAccount();
  const { workflow, versionLabel, versionId } = await pickVersion(services, args.versionId, 'Launch Machine (1/3): workflow version');
  const rates = rateTable(services);
  const serverType = args.serverType ?? (await pickServerType(services, `Launch ${workflow.name} (2/3): machine type`));
  const rate = hourlyRate(serverType, rates);
  const minutes = args.durationMinutes ?? (await pickDuration(services, workflow.name, rate));
  if (!Number.isFinite(minutes) || minutes <= 0) throw new UserError(`The running time must be a positive number of minutes, got ${minutes}.`);
  const seconds = Math.round(minutes * 60);
  const question = launchConfirmation({ serverType, minutes, workflow: `${workflow.name} (${versionLabel})`, rate });
  const confirmed = await services.prompter.confirm(question.message, question.detail, question.confirmLabel);
  if (!confirmed) return undefined;
  // The account as it is now (a settings change while the questions were open rebuilt it), if it is
  // still the same user at the same API URL: the answers were given for that account.
  const account = services.accounts.requireAccount();
  if (account.userId !== asked.userId || account.options.apiUrl !== asked.options.apiUrl) {
    throw new UserError('You signed in as someone else, or changed runcomfy.apiUrl, while launching; nothing was launched. Launch again.', [
      { title: 'Launch Machine', command: CommandIds.launchMachine },
    ]);
  }
  const machine = await vscode.window.withProgress(
    // In the status bar: the Starting notification that follows is the only one (two at once confused users).
    { location: vscode.ProgressLocation.Window, title: `Launching a ${serverType} machine…` },
    // Once sent, nothing cancels the launch (see MachineStore.launch).
    () => account.machines.launch({ workflow_version_id: versionId, server_type: serverType, estimated_duration: seconds }),
  );
  services.log.info(`Launched ${serverType} machine ${machine.serverId} for ${workflow.name} (${versionLabel}), ${describeMinutes(minutes)} at ${rateText(rate)}.`);
  return machine;
}

/**
 * Waits for Ready. The one notification says the machine is starting and offers "Stop Waiting"
 * (VS Code's cancellable progress can only say "Cancel", which reads as if it cancelled the machine);
 * the progress itself shows in the status bar. Stop Waiting stops the wait (rejects with
 * CancelledError), never the machine: the user is told it keeps starting and bills once Ready, and
 * offered Stop Machine, which goes through the usual confirmed stop.
 */
export async function waitUntilReady(services: Services, machine: Machine): Promise<Machine> {
  const store = services.accounts.requireAccount().machines;
  const short = machineShortId(machine);
  const abort = new AbortController();
  let waiting = true;
  // Not awaited: the notification cannot be closed from here, so an answer after Ready changes nothing.
  void services.prompter.notify('info', `RunComfy machine ${short} is starting; billing begins once it is Ready.`, stopWaiting).then((a) => {
    if (a !== stopWaiting || !waiting) return;
    abort.abort();
    services.log.info(`Stopped waiting for machine ${short}; it keeps starting and bills once Ready.`);
    void services.prompter
      .notify('warning', `Stopped waiting for RunComfy machine ${short}. The machine keeps starting and bills once Ready.`, stopMachineAction)
      .then((b) => {
        if (b === stopMachineAction) void vscode.commands.executeCommand(CommandIds.stopMachine, { kind: 'machine', serverId: machine.serverId });
      });
  });
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Machine ${short}` }, async (progress) => {
      const ready = await store.waitUntilReady(machine.serverId, {
        signal: abort.signal,
        onProgress: (p) => progress.report({ message: `${p.status}, ${Math.round(p.elapsedMs / 1000)} s` }),
      });
      services.log.info(`Machine ${short} is Ready.`);
      void services.prompter.notify('info', `RunComfy machine ${short} is Ready. Billing has started.`, 'Open ComfyUI').then((a) => {
        if (a) void vscode.commands.executeCommand(CommandIds.openComfyUI, { kind: 'machine', serverId: ready.serverId });
      });
      return ready;
    });
  } finally {
    waiting = false;
  }
}

const stopWaiting = 'Stop Waiting';
const stopMachineAction = 'Stop Machine';

/** The machine type, each with its GPU and hourly rate (`runcomfy.pricing` over the documented prices); the default type first in focus. */
export function pickServerType(services: Services, title: string): Promise<ServerType> {
  const rates = rateTable(services);
  return services.prompter.pick(
    serverTypes.map((t) => ({
      label: t.label,
      description: `${t.id} · ${t.gpu} · ${t.vramGb} GB VRAM`,
      detail: `~$${(hourlyRate(t.id, rates) ?? t.payAsYouGoPerHour).toFixed(2)} per hour, billed per second from Ready`,
      value: t.id,
    })),
    { title, activeLabel: serverTypes.find((t) => t.id === services.config.value.defaultMachineType)?.label },
  );
}

/** A workflow version of the account (the one given when it is there), the version a machine boots with. */
export async function pickVersion(services: Services, versionId: string | undefined, title: string): Promise<{ workflow: Workflow; versionId: string; versionLabel: string }> {
  const catalog = services.accounts.requireAccount().workflows;
  const workflows = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Listing RunComfy workflows…' }, () => catalog.ensureLoaded());
  if (versionId) {
    const found = catalog.findVersion(versionId) ?? (await catalog.load(), catalog.findVersion(versionId));
    if (!found) throw new UserError(`Workflow version ${versionId} is not in your account.`, [{ title: 'Refresh', command: CommandIds.refresh }]);
    return { workflow: found.workflow, versionId, versionLabel: versionName(found.workflow, found.versionIndex) };
  }
  if (workflows.length === 0) throw new UserError('Your RunComfy account has no saved workflows. Save one in the RunComfy web app, then try again.', [{ title: 'Refresh', command: CommandIds.refresh }]);
  const items: PickItem<{ workflow: Workflow; versionId: string; versionLabel: string }>[] = [];
  for (const workflow of workflows) {
    workflow.versions.forEach((v, i) => {
      const name = versionName(workflow, i);
      items.push({ label: workflow.name, description: name, detail: `version ${v.versionId}`, value: { workflow, versionId: v.versionId, versionLabel: name } });
    });
  }
  return services.prompter.pick(items, { title, placeholder: 'The machine boots with this workflow' });
}

function versionName(workflow: Workflow, index: number): string {
  const name = versionLabel(workflow.versions[index]);
  return index === 0 ? `${name}, latest` : name;
}

async function pickDuration(services: Services, workflowName: string, rate: number | undefined): Promise<number> {
  const preferred = services.config.value.defaultDurationMinutes;
  const choices = [...new Set([...durationChoices, preferred])].sort((a, b) => a - b);
  const custom = -1;
  const picked = await services.prompter.pick(
    [
      ...choices.map((m) => ({
        label: describeMinutes(m),
        description: rate === undefined ? undefined : `at most ${formatCostEstimate(costOf(m * 60, rate))}`,
        value: m,
      })),
      { label: 'Custom…', description: 'Any number of minutes', value: custom },
    ],
    { title: `Launch ${workflowName} (3/3): running time`, activeLabel: describeMinutes(preferred), placeholder: 'The machine stops by itself after this; you can extend it' },
  );
  if (picked !== custom) return picked;
  const text = await services.prompter.input({
    title: 'Running time in minutes',
    prompt: 'Counted from the moment the machine is Ready (5 to 1440).',
    value: String(preferred),
    validate: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 5 && Number(v) <= 1440 ? undefined : 'Enter a whole number of minutes between 5 and 1440.'),
  });
  return Number(text);
}
