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
import { SweepDispatcher, type SweepTarget } from '../core/sweep/sweepDispatcher';
import { earlierRunSeconds, estimateSweep, } from '../core/sweep/sweepEstimate';
import { SweepLedger } from '../core/sweep/sweepLedger';
import { parseAxis, planSweep, type AxisSpec } from '../core/sweep/sweepPlan';
import { SweepRecordWriter, type SweepFacts } from '../core/sweep/sweepRecord';
import { runSweep, type SweepStatus } from '../core/sweep/sweepRunner';
import { prepareWorkflow, workflowDisplayName, type PreparedWorkflow } from '../core/workflowPreparation';
import { estimateSummary, parseSweepFile, sweepFileTargets } from '../codelens/sweepCodeLensProvider';
import { inputPolicyFor } from '../codelens/workflowDocuments';
import { type PickItem } from '../ui/prompter';
import { type SweepGroups } from '../views/runsTreeDataProvider';
import { isNode } from '../views/treeNodes';
import { CommandIds } from './commandIds';
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
}

/** What the editor flow decided before the estimate: everything {@link runEditorSweep} needs. */
export interface EditorSweepRequest {
  readonly uri: vscode.Uri;
  readonly targets: readonly RunTarget[];
  readonly axes: readonly AxisSpec[];
  readonly mode: 'product' | 'zip';
  readonly maxCostUsd?: number;
  readonly expectSeconds?: number;
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
  const budget = await services.prompter.input({
    title: 'Budget (optional)',
    prompt: 'The most, in US dollars, the machines this sweep launches may cost; empty for none. It caps the sweep while it runs.',
    placeholder: 'e.g. 5 or 2.50',
    validate: (v) => (v.trim() === '' || (Number.isFinite(Number(v)) && Number(v) >= 0) ? undefined : 'A number of US dollars, such as 5 or 2.50, or nothing.'),
  });
  return runEditorSweep(services, sweeps, { uri, targets, axes, mode, maxCostUsd: budget.trim() === '' ? undefined : Number(budget) });
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
async function preparedWorkflow(services: Services, uri: vscode.Uri, target: RunTarget): Promise<PreparedWorkflow> {
  const text = (await vscode.workspace.openTextDocument(uri)).getText();
  const relative = vscode.workspace.asRelativePath(uri, false);
  const policy = inputPolicyFor(uri);
  let prepared = prepareWorkflow(text, uri.fsPath, [], relative, policy);
  if (prepared.analysis.format === 'ui') {
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
    out.push({ id: t.kind === 'machine' ? t.serverId : maskUrl(url), url, label: targetLabel(t), launched: false });
  }
  return out;
}

/**
 * The common end of both editor flows: plan, estimate, a modal confirmation, then the sweep itself
 * (a cancellable notification; the Runs view shows it as a group; sweep.json in its folder).
 */
export async function runEditorSweep(services: Services, sweeps: SweepGroups, r: EditorSweepRequest): Promise<EditorSweepResult | undefined> {
  const prepared = await preparedWorkflow(services, r.uri, r.targets[0]);
  const plan = planSweep(prepared.prompt!, r.axes, r.mode);
  const name = workflowDisplayName(r.uri.fsPath);
  const output = await outputFolder(services, r.uri);
  const startedAtMs = services.clock.now();
  const dir = path.join(output.root, name, `sweep-${formatRunTime(startedAtMs)}`);
  const relative = vscode.workspace.asRelativePath(r.uri, false);
  const earlier = await earlierRunSeconds([path.join(output.root, name)], relative);
  const estimate = estimateSweep({
    runs: plan.runs.length,
    targets: r.targets.length,
    secondsPerRun: earlier ?? r.expectSeconds,
    source: earlier !== undefined ? 'history' : r.expectSeconds !== undefined ? 'flag' : 'probe',
    maxCostUsd: r.maxCostUsd,
  });
  const detail = [
    plan.axes.map((a) => `${a.key}: ${a.values.length} value${a.values.length === 1 ? '' : 's'}`).join(plan.mode === 'zip' ? ' zipped with ' : ' × '),
    `On ${r.targets.map(targetLabel).join(', ')}.`,
    'No machine is launched, so nothing is charged to the sweep; the machines it uses bill as they always do.',
    `Outputs and sweep.json in ${dir}.`,
  ].join('\n');
  if (!(await services.prompter.confirm(`Run the sweep? ${estimateSummary(estimate)}.`, detail, 'Run Sweep'))) throw new CancelledError();

  const targets = await sweepTargets(services, r.targets);
  const ledger = new SweepLedger(services.clock, { maxCostUsd: r.maxCostUsd });
  const dispatcher = new SweepDispatcher({
    prompt: prepared.prompt!,
    plan,
    localInputs: prepared.localInputs,
    inputPolicy: prepared.inputPolicy,
    dynamicPrompts: prepared.dynamicPrompts,
    convertedFrom: prepared.convertedFrom,
    sweepDir: dir,
    workflowFile: relative,
    clock: services.clock,
    createClient: (url) => services.servers.client(url),
  });
  for (const t of targets) dispatcher.addTarget(t);
  const abort = new AbortController();
  const group = { id: `${startedAtMs}-${sweeps.all.length}`, name, dir, runs: dispatcher.runs, status: 'running' as SweepStatus | 'running', cancel: () => abort.abort() };
  sweeps.add(group);
  const writer = new SweepRecordWriter(dir);
  const facts = (status: SweepFacts['status'], finishedAtMs?: number): SweepFacts => ({
    status,
    workflowFile: relative,
    axes: plan.axes,
    mode: plan.mode,
    runs: dispatcher.runs,
    machinesLaunched: [],
    machinesStopped: [],
    machines: ledger.snapshot(),
    costUsd: ledger.costUsd(),
    maxCostUsd: r.maxCostUsd,
    estimate,
    targets: targets.map((t) => t.id),
    warnings: [...prepared.warnings, ...dispatcher.dispatchWarnings],
    startedAtMs,
    finishedAtMs,
  });
  const save = (status: SweepFacts['status'], finishedAtMs?: number) =>
    writer.write(facts(status, finishedAtMs)).catch((e: unknown) => services.log.warn(`Could not write ${writer.file}: ${(e as Error).message}`));
  const sub = dispatcher.onDidChangeRun((run) => {
    sweeps.changed();
    if (run.status !== 'queued' && run.status !== 'running') void save('running');
  });
  await save('running');
  let status: SweepStatus;
  try {
    status = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Sweep ${name}: ${plan.runs.length} runs`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => abort.abort());
        const p = dispatcher.onDidChangeRun(() => {
          const done = dispatcher.runs.filter((x) => x.status !== 'pending' && x.status !== 'queued' && x.status !== 'running').length;
          progress.report({ message: `${done} of ${plan.runs.length} ended` });
        });
        try {
          return await runSweep({ dispatcher, ledger, signal: abort.signal, clock: services.clock });
        } finally {
          p.dispose();
        }
      },
    );
  } finally {
    sub.dispose();
    dispatcher.dispose();
  }
  group.status = status;
  sweeps.changed();
  await save(status, services.clock.now());
  const succeeded = dispatcher.runs.filter((x) => x.status === 'success').length;
  void services.prompter.notify(status === 'success' ? 'info' : 'warning', `Sweep ${name} ${status}: ${succeeded} of ${plan.runs.length} runs succeeded.`, 'Open Folder').then((a) => {
    if (a) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(dir));
  });
  return { status, dir, runs: plan.runs.length, succeeded };
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
  if (targets.length === 0) throw new UserError('The sweep file\'s target "local" means your local ComfyUI servers, and none is set up.', [{ title: 'Add Local Server', command: CommandIds.addLocalServer }]);
  return runEditorSweep(services, sweeps, { uri: file.workflow, targets, axes: file.axes, mode: file.mode, maxCostUsd: file.maxCostUsd, expectSeconds: file.expectSeconds });
}

/** Cancel on a sweep's row: interrupts our prompts only (and would stop the machines it launched). */
export function cancelSweep(sweeps: SweepGroups, arg?: unknown): void {
  const group = isNode(arg, 'sweep') ? sweeps.get(arg.sweepId) : sweeps.all.find((g) => g.status === 'running');
  if (group?.status !== 'running') throw new UserError('There is no running sweep to cancel.');
  group.cancel();
}
