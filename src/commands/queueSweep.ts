import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type ApiPrompt } from '../api/comfyTypes';
import { CancelledError, ConfigError } from '../api/errors';
import { maskUrl } from '../api/redact';
import { isObject } from '../base/json';
import { formatRunTime } from '../core/outputSaver';
import { targetLabel, type RunTarget } from '../core/runRegistry';
import { isStrictlyInside } from '../core/safePath';
import { formatCostEstimate, formatDuration } from '../core/machineMath';
import { MoneyOperations } from '../core/moneyOperations';
import { hourlyRate } from '../core/pricing';
import { type AutoscaleSpec } from '../core/sweep/sweepAutoscaler';
import { type SweepTarget } from '../core/sweep/sweepDispatcher';
import { earlierRunSeconds, estimateSweep, type RunTimeSource, type SweepEstimate } from '../core/sweep/sweepEstimate';
import { parseAxis, planSweep, type AxisSpec, type SweepPlan } from '../core/sweep/sweepPlan';
import { costScope } from '../core/sweep/sweepRecord';
import { type SweepStatus } from '../core/sweep/sweepRunner';
import { SweepSession } from '../core/sweep/sweepSession';
import { prepareWorkflow, workflowDisplayName, type PreparedWorkflow } from '../core/workflowPreparation';
import { estimateSummary, parseSweepFile, sweepFileTargets } from '../codelens/sweepCodeLensProvider';
import { inputPolicyFor } from '../codelens/workflowDocuments';
import { type PickItem } from '../ui/prompter';
import { type SweepGroups } from '../views/runsTreeDataProvider';
import { isNode } from '../views/treeNodes';
import { CommandIds } from './commandIds';
import { pickServerType, pickVersion } from './launchMachine';
import { rateTable } from './machinePicker';
import { outputFolder } from './outputFolder';
import { comfyUrlOf, targetPickItems, workflowUri } from './queueWorkflow';
import { type Services } from './services';
import { UserError } from './userError';
import { requireTrustedWorkspace } from './workspaceTrust';

/** What a sweep from the editor resolves with (the host tests read it). */
export interface EditorSweepResult {
  readonly status: SweepStatus;
  readonly dir: string;
  readonly runs: number;
  readonly succeeded: number;
  /** Server ids of the machines the sweep launched, and of those whose stop landed. */
  readonly machinesLaunched: readonly string[];
  readonly machinesStopped: readonly string[];
}

/** What the editor flow decided before the estimate: everything {@link runEditorSweep} needs. */
export interface EditorSweepRequest {
  readonly uri: vscode.Uri;
  readonly targets: readonly RunTarget[];
  readonly axes: readonly AxisSpec[];
  readonly mode: 'product' | 'zip';
  readonly maxCostUsd?: number;
  readonly expectSeconds?: number;
  /** Machines the sweep may launch (and stops); the targets may then be empty. */
  readonly autoscale?: AutoscaleSpec;
}

/**
 * Queue Sweep…: on a workflow file, pick the targets (one or several), the inputs to vary (from the
 * workflow with their current values) and their values (the CLI's `--vary` syntax), an optional
 * budget, then confirm the estimate; the sweep runs as a group in the Runs view.
 */
export async function queueSweep(services: Services, sweeps: SweepGroups, uriArg?: unknown): Promise<EditorSweepResult | undefined> {
  requireTrustedWorkspace();
  const uri = workflowUri(uriArg);
  const targets = await pickTargets(services, uri);
  const prompt = (await preparedWorkflow(services, uri, targets[0])).prompt!;
  const axes = await pickAxes(services, uri, prompt);
  const mode = axes.length > 1 ? await services.prompter.pick(
    [
      { label: 'Every combination', description: 'the product of the axes', value: 'product' as const },
      { label: 'Pairwise (zip)', description: 'the first values together, then the second…', value: 'zip' as const },
    ],
    { title: 'Combine the values how?' },
  ) : 'product';
  const autoscale = await pickAutoscale(services, workflowDisplayName(uri.fsPath));
  const budget = await services.prompter.input({
    title: autoscale ? 'Budget' : 'Budget (optional)',
    prompt: autoscale
      ? 'The most, in US dollars, the machines this sweep launches may cost: it caps the sweep while it runs. Empty for no cap (the confirmation then states the most it can cost).'
      : 'The most, in US dollars, the machines this sweep launches may cost; empty for none. It caps the sweep while it runs.',
    placeholder: 'e.g. 5 or 2.50',
    validate: (v) => (v.trim() === '' || (Number.isFinite(Number(v)) && Number(v) >= 0) ? undefined : 'A number of US dollars, such as 5 or 2.50, or nothing.'),
  });
  return runEditorSweep(services, sweeps, { uri, targets, axes, mode, maxCostUsd: budget.trim() === '' ? undefined : Number(budget), autoscale });
}

/**
 * "Also launch machines as needed (autoscale)…": offered when signed in to RunComfy; then the machine
 * type (with its rate), the workflow version the machines boot with, and the most machines. Each runs
 * at most an hour from Ready and is stopped after a minute idle (the CLI's defaults; a sweep file sets both).
 */
async function pickAutoscale(services: Services, workflow: string): Promise<AutoscaleSpec | undefined> {
  if (!services.accounts.accountOrUndefined) return undefined;
  const launch = await services.prompter.pick(
    [
      { label: 'Only the servers picked', description: 'nothing is launched', value: false },
      { label: 'Also launch machines as needed (autoscale)…', description: 'launched while runs wait, stopped when idle; they count against the budget', value: true },
    ],
    { title: `Sweep ${workflow}: launch RunComfy machines too?` },
  );
  if (!launch) return undefined;
  const type = await pickServerType(services, `Sweep ${workflow} (autoscale 1/3): machine type`);
  const { versionId } = await pickVersion(services, undefined, `Sweep ${workflow} (autoscale 2/3): workflow version the machines boot with`);
  const max = await services.prompter.input({
    title: `Sweep ${workflow} (autoscale 3/3): the most machines it launches`,
    prompt: 'A whole number; one is launched at a time, while more than two runs per machine wait.',
    value: '1',
    validate: (v) => (/^\s*\d+\s*$/.test(v) && Number(v) >= 1 && Number(v) <= 100 ? undefined : 'A whole number from 1 to 100.'),
  });
  return { max: Number(max), type, version: versionId, durationS: 3600, idleS: 60 };
}

/** Several targets, one pick at a time: the first is required, then "Start" or another one. */
async function pickTargets(services: Services, uri: vscode.Uri): Promise<RunTarget[]> {
  const all = await targetPickItems(services);
  if (all.length === 0) {
    throw new UserError('There is nowhere to run the sweep: start a RunComfy machine, or add your own ComfyUI server.', [
      { title: 'Launch Machine', command: CommandIds.launchMachine },
      { title: 'Add Local Server', command: CommandIds.addLocalServer },
    ]);
  }
  const name = workflowDisplayName(uri.fsPath);
  const picked: RunTarget[] = [await services.prompter.pick(all, { title: `Sweep ${name} on…` })];
  const start = { start: true } as const;
  for (;;) {
    const rest = all.filter((i) => !picked.includes(i.value));
    if (rest.length === 0) return picked;
    const items: PickItem<RunTarget | typeof start>[] = [
      { label: `$(play) Start with ${picked.length === 1 ? targetLabel(picked[0]) : `these ${picked.length}`}`, value: start },
      ...rest.map((i) => ({ ...i, label: `$(add) ${i.label}` })),
    ];
    const next = await services.prompter.pick(items, { title: `Sweep ${name}: add another server to the pool?` });
    if ('start' in next) return picked;
    picked.push(next);
  }
}

/** The workflow prepared for queueing (a UI-format file converted with the first target's node list); a UserError when it cannot be queued. */
async function preparedWorkflow(services: Services, uri: vscode.Uri, target: RunTarget | undefined): Promise<PreparedWorkflow> {
  const text = (await vscode.workspace.openTextDocument(uri)).getText();
  const relative = vscode.workspace.asRelativePath(uri, false);
  const policy = inputPolicyFor(uri);
  let prepared = prepareWorkflow(text, uri.fsPath, [], relative, policy);
  if (prepared.analysis.format === 'ui') {
    if (!target) throw new UserError(`${relative} is a UI-format workflow: it is converted with a server's node list, so the sweep needs a server in its pool (the machines autoscale launches come later).`);
    const url = await comfyUrlOf(services, target);
    const objectInfo = await services.servers.client(url).getObjectInfo();
    prepared = prepareWorkflow(text, uri.fsPath, [], relative, policy, { objectInfo, where: targetLabel(target) });
    if (prepared.conversionError) throw new UserError(`${relative} cannot be converted for ${targetLabel(target)}: ${prepared.conversionError.message}`);
  }
  if (!prepared.prompt) throw new UserError(`${relative} cannot be queued: ${prepared.problems[0] ?? 'it is not an API-format workflow'}`, [{ title: 'Show Problems', command: 'workbench.actions.view.problems' }]);
  return prepared;
}

/** The inputs to vary, one at a time from `NODE.INPUT = value` (links are not values), each with its values typed. */
async function pickAxes(services: Services, uri: vscode.Uri, prompt: ApiPrompt): Promise<AxisSpec[]> {
  const inputs: PickItem<{ key: string; value: unknown }>[] = [];
  for (const [nodeId, node] of Object.entries(prompt)) {
    if (!isObject(node) || !isObject(node.inputs)) continue;
    const title = isObject(node._meta) && typeof node._meta.title === 'string' ? node._meta.title : String(node.class_type);
    for (const [input, value] of Object.entries(node.inputs)) {
      if (Array.isArray(value)) continue;
      const shown = JSON.stringify(value);
      inputs.push({ label: `${nodeId}.${input} = ${shown.length > 60 ? `${shown.slice(0, 59)}…` : shown}`, description: title, value: { key: `${nodeId}.${input}`, value } });
    }
  }
  if (inputs.length === 0) throw new UserError('This workflow has no input with a value to vary (every input is a link to another node).');
  const axes: AxisSpec[] = [];
  const done = { done: true } as const;
  for (;;) {
    const rest = inputs.filter((i) => !axes.some((a) => a.key === i.value.key));
    const items: PickItem<{ key: string; value: unknown } | typeof done>[] = axes.length === 0 ? rest : [{ label: `$(check) Done (${axes.length} input${axes.length === 1 ? '' : 's'} varied)`, value: done }, ...rest];
    const picked = await services.prompter.pick(items, { title: axes.length === 0 ? 'Which input should the sweep vary?' : 'Vary another input?' });
    if ('done' in picked) return axes;
    const spec = await services.prompter.input({
      title: `Values of ${picked.key}`,
      prompt: 'A list (4,6,8), a range (1..16), a stepped range (0.3..0.9:0.2) or one value per line of a file (@prompts.txt, next to the workflow)',
      value: typeof picked.value === 'string' ? picked.value : JSON.stringify(picked.value),
      validate: (v) => axisProblem(`${picked.key}=${v}`, uri),
    });
    axes.push(parseAxis(`${picked.key}=${spec}`, (f) => readLines(uri, f)));
    if (rest.length === 1) return axes;
  }
}

function axisProblem(arg: string, uri: vscode.Uri): string | undefined {
  try {
    parseAxis(arg, (f) => readLines(uri, f));
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^--vary expects/, 'Expected');
  }
}

/** A values file, relative to the workflow's folder, read only when it stays inside the workspace. */
function readLines(uri: vscode.Uri, file: string): string[] {
  const abs = path.resolve(path.dirname(uri.fsPath), file);
  const folder = vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath;
  if (folder === undefined || !isStrictlyInside(folder, abs)) throw new ConfigError(`The values file ${file} is outside the workspace folder; put it next to the workflow.`);
  try {
    return fs.readFileSync(abs, 'utf8').split('\n');
  } catch (e) {
    throw new ConfigError(`Cannot read the values file ${file} (relative to ${path.dirname(uri.fsPath)}): ${(e as Error).message}`);
  }
}

/** The sweep's pool targets: each machine's ComfyUI URL (asked now: it must still be Ready), each local server's. */
async function sweepTargets(services: Services, targets: readonly RunTarget[]): Promise<SweepTarget[]> {
  const out: SweepTarget[] = [];
  for (const t of targets) {
    const url = await comfyUrlOf(services, t);
    const machineType = t.kind === 'machine' ? services.accounts.accountOrUndefined?.machines.machine(t.serverId)?.serverType : undefined;
    out.push({ id: t.kind === 'machine' ? t.serverId : maskUrl(url), url, label: targetLabel(t), launched: false, machineType });
  }
  return out;
}

/** The estimate's figures and the pool, for the modal confirmations (before the start, after a probe run). */
function confirmationDetail(plan: SweepPlan, r: EditorSweepRequest, e: SweepEstimate, dir: string, probe: 'after' | 'none' | 'impossible'): string {
  const a = r.autoscale;
  const per =
    e.secondsPerRun === undefined
      ? probe === 'impossible'
        ? 'The time per run is unknown (no earlier runs of this workflow on this machine type), and a probe run needs a server: add a server to the pool, or give "expectSeconds" in a sweep file.'
        : 'The time per run is unknown (no earlier runs of this workflow on this machine type).'
      : `~${formatDuration(e.secondsPerRun * 1000)} per run (${e.source === 'history' ? 'from earlier runs' : e.source === 'flag' ? 'expectSeconds' : 'measured by the probe run'}).`;
  const pool = r.targets.length === 0 ? 'On machines the sweep launches.' : `On ${r.targets.map(targetLabel).join(', ')}${a ? ', and machines the sweep launches' : ''}.`;
  const money = a
    ? `It may launch up to ${a.max} ${a.type} machine${a.max === 1 ? '' : 's'} (workflow version ${a.version}, each at most ${formatDuration(a.durationS * 1000)} from Ready, stopped after ${a.idleS} s idle and all at the end): at most ${formatCostEstimate(e.maxCostUsd)}${r.maxCostUsd === undefined ? ' (no budget set)' : `, capped by the budget of ${formatCostEstimate(r.maxCostUsd)}`}. ${costScope}`
    : 'No machine is launched, so nothing is charged to the sweep; the machines it uses bill as they always do.';
  return [
    plan.axes.map((x) => `${x.key}: ${x.values.length} value${x.values.length === 1 ? '' : 's'}`).join(plan.mode === 'zip' ? ' zipped with ' : ' × '),
    per,
    ...(probe === 'after' ? ['The probe run (the first one) is done and kept.'] : []),
    pool,
    money,
    `Outputs and sweep.json in ${dir}.`,
  ].join('\n');
}

/**
 * The common end of both editor flows: plan, estimate, a modal confirmation stating the most the
 * sweep can cost, then the sweep itself through the core's SweepSession (a cancellable
 * notification; the Runs view shows it as a group; sweep.json in its folder). With no time per
 * run known and a server in the pool, the first run goes alone first (the probe run) and the
 * confirmation comes after it with the measured figures, before any machine is launched.
 */
export async function runEditorSweep(services: Services, sweeps: SweepGroups, r: EditorSweepRequest): Promise<EditorSweepResult | undefined> {
  if (r.targets.length === 0 && !r.autoscale) throw new UserError('The sweep has nowhere to run: give it a server, or let it launch machines (autoscale).');
  const prepared = await preparedWorkflow(services, r.uri, r.targets[0]);
  const plan = planSweep(prepared.prompt!, r.axes, r.mode);
  const name = workflowDisplayName(r.uri.fsPath);
  const output = await outputFolder(services, r.uri);
  const startedAtMs = services.clock.now();
  const dir = path.join(output.root, name, `sweep-${formatRunTime(startedAtMs)}`);
  const relative = vscode.workspace.asRelativePath(r.uri, false);
  const a = r.autoscale;
  const ratePerHour = a ? hourlyRate(a.type, rateTable(services)) : undefined;
  if (a && ratePerHour === undefined) throw new UserError(`No hourly rate is known for ${a.type} machines: set it in runcomfy.pricing, e.g. {"${a.type}": 1.5}.`);
  const account = a ? services.accounts.requireAccount() : undefined;
  // The history counts runs on the sweep's machine type (its autoscale type, else its first machine's): see earlierRunSeconds.
  const firstMachine = r.targets.find((t) => t.kind === 'machine');
  const machineType = a?.type ?? (firstMachine?.kind === 'machine' ? services.accounts.accountOrUndefined?.machines.machine(firstMachine.serverId)?.serverType : undefined);
  const earlier = await earlierRunSeconds([path.join(output.root, name)], relative, machineType);
  const estimateWith = (secondsPerRun: number | undefined, source: RunTimeSource) =>
    estimateSweep({
      runs: plan.runs.length,
      targets: r.targets.length,
      secondsPerRun,
      source,
      maxCostUsd: r.maxCostUsd,
      autoscale: a && { max: a.max, ratePerHour, durationS: a.durationS, idleS: a.idleS, bootS: 60 },
    });
  const estimate = estimateWith(earlier ?? r.expectSeconds, earlier !== undefined ? 'history' : r.expectSeconds !== undefined ? 'flag' : 'probe');
  const probing = estimate.secondsPerRun === undefined && r.targets.length > 0;
  // With a probe run the only question comes after it, with the measured figures (nothing is launched before).
  if (!probing) {
    const probe = estimate.secondsPerRun !== undefined ? 'none' : 'impossible';
    if (!(await services.prompter.confirm(`Run the sweep? ${estimateSummary(estimate)}.`, confirmationDetail(plan, r, estimate, dir, probe), 'Run Sweep'))) throw new CancelledError();
  }

  const targets = await sweepTargets(services, r.targets);
  const abort = new AbortController();
  const session = new SweepSession({
    workflow: { ...prepared, prompt: prepared.prompt! },
    plan,
    workflowFile: relative,
    dir,
    targets,
    autoscale: a &&
      account && {
        spec: a,
        ratePerHour: ratePerHour!,
        // Through the machine store: its launches and stops run on the account's money operations
        // (the Machines view shows them, deactivate waits for them); the sweep's own record is kept beside.
        api: {
          listMachines: (signal) => account.client.listMachines(signal),
          launch: (request) => account.machines.launch(request),
          stop: (serverId) => account.machines.stop(serverId, { unattended: true }),
        },
        money: new MoneyOperations(services.clock),
      },
    maxCostUsd: r.maxCostUsd,
    estimate,
    reestimate: (seconds) => estimateWith(seconds, 'probe'),
    confirmAfterProbe: (e) => services.prompter.confirm(`The probe run took ~${formatDuration((e.secondsPerRun ?? 0) * 1000)}. Run the rest of the sweep? ${estimateSummary(e)}.`, confirmationDetail(plan, r, e, dir, 'after'), 'Run Sweep'),
    clock: services.clock,
    signal: abort.signal,
    say: (line) => {
      services.log.info(`Sweep ${name}: ${line}`);
      sweeps.changed();
    },
    warn: (line) => services.log.warn(`Sweep ${name}: ${line}`),
    startedAtMs,
    createClient: (url) => services.servers.client(url),
  });
  const group = {
    id: `${startedAtMs}-${sweeps.all.length}`,
    name,
    dir,
    runs: session.runs,
    status: 'running' as SweepStatus | 'running',
    cancel: () => abort.abort(),
    machines: a ? () => ({ launched: session.autoscaler?.launched.length ?? 0, stopped: session.autoscaler?.stopped.length ?? 0 }) : undefined,
  };
  sweeps.add(group);
  const sub = session.dispatcher.onDidChangeRun(() => sweeps.changed());
  let status: SweepStatus;
  try {
    status = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Sweep ${name}: ${plan.runs.length} runs`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => abort.abort());
        const p = session.dispatcher.onDidChangeRun(() => {
          const done = session.runs.filter((x) => x.status !== 'pending' && x.status !== 'queued' && x.status !== 'running').length;
          progress.report({ message: `${done} of ${plan.runs.length} ended` });
        });
        try {
          return await session.run();
        } finally {
          p.dispose();
        }
      },
    );
  } finally {
    sub.dispose();
  }
  group.status = status;
  sweeps.changed();
  const succeeded = session.runs.filter((x) => x.status === 'success').length;
  const cost = a ? ` Estimated cost of the machines it launched: ${formatCostEstimate(session.ledger.costUsd())}.` : '';
  void services.prompter.notify(status === 'success' ? 'info' : 'warning', `Sweep ${name} ${status}: ${succeeded} of ${plan.runs.length} runs succeeded.${cost}`, 'Open Folder').then((x) => {
    if (x) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(dir));
  });
  return { status, dir, runs: plan.runs.length, succeeded, machinesLaunched: session.autoscaler?.launched ?? [], machinesStopped: session.autoscaler?.stopped ?? [] };
}

/** Run Sweep File: the `*.sweep.json` file (the lens's argument, else the active editor's) through the same estimate and run as Queue Sweep…. */
export async function runSweepFile(services: Services, sweeps: SweepGroups, uriArg?: unknown): Promise<EditorSweepResult | undefined> {
  requireTrustedWorkspace();
  const uri = workflowUri(uriArg);
  let file;
  try {
    file = parseSweepFile(await vscode.workspace.openTextDocument(uri));
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(e.message);
    throw e;
  }
  const targets = sweepFileTargets(file, services.config);
  if (targets.length === 0 && !file.autoscale) throw new UserError('The sweep file\'s target "local" means your local ComfyUI servers, and none is set up.', [{ title: 'Add Local Server', command: CommandIds.addLocalServer }]);
  return runEditorSweep(services, sweeps, { uri: file.workflow, targets, axes: file.axes, mode: file.mode, maxCostUsd: file.maxCostUsd, expectSeconds: file.expectSeconds, autoscale: file.autoscale });
}

/** Cancel on a sweep's row: interrupts our prompts only, and stops the machines it launched (stops retried until they land). */
export function cancelSweep(sweeps: SweepGroups, arg?: unknown): void {
  const group = isNode(arg, 'sweep') ? sweeps.get(arg.sweepId) : sweeps.all.find((g) => g.status === 'running');
  if (group?.status !== 'running') throw new UserError('There is no running sweep to cancel.');
  group.cancel();
}
