import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelledError } from '../api/errors';
import { maskUrl } from '../api/redact';
import { type Machine } from '../api/runcomfyTypes';
import { noLocalInputsPolicy } from '../core/inputPolicy';
import { machineDescription, machineShortId, machineTarget } from '../core/machineLabels';
import { RunEngine } from '../core/runEngine';
import { type RunEvent, type RunResult } from '../core/runEvents';
import { targetLabel, type RunTarget } from '../core/runRegistry';
import { nodeLabel } from '../core/runLogFormat';
import { checkAgainstObjectInfo } from '../core/objectInfoCheck';
import { EXPORT_HINT, type WorkflowProblem } from '../core/workflowAnalysis';
import { knownProblemsSentence } from '../core/workflowMessages';
import { prepareWorkflow, workflowDisplayName } from '../core/workflowPreparation';
import { inputPolicyFor, isWorkflowFileName } from '../codelens/workflowDocuments';
import { runPanelShowsRuns } from '../panel/runPanels';
import { rateTable } from './machinePicker';
import { type PickItem } from '../ui/prompter';
import { parseSavedWorkflowUri, savedWorkflowName, SAVED_WORKFLOW_SCHEME } from '../views/savedWorkflowDocuments';
import { isNode } from '../views/treeNodes';
import { CommandIds, ContextKeys } from './commandIds';
import { launchFlow, waitUntilReady } from './launchMachine';
import { outputFolder } from './outputFolder';
import { type Services } from './services';
import { UserError } from './userError';
import { requireTrustedWorkspace } from './workspaceTrust';

/**
 * Queue Workflow: the workflow (the given file, or the active editor) on the last used target if it
 * is still there, else on the Ready machine (a pick when several). Resolves with the run's result.
 */
export async function queueWorkflow(services: Services, uriArg?: unknown, targetArg?: RunTarget): Promise<RunResult | undefined> {
  requireTrustedWorkspace();
  const uri = workflowUri(uriArg);
  const target = targetArg ?? (await defaultTarget(services, uri));
  return runWorkflow(services, uri, target);
}

/** Queue Workflow on…: a pick among the Ready machines, your local ComfyUI servers, and launching a new machine. */
export async function queueWorkflowOn(services: Services, uriArg?: unknown): Promise<RunResult | undefined> {
  requireTrustedWorkspace();
  const uri = workflowUri(uriArg);
  const launchNew = { kind: 'launch' } as const;
  const items: PickItem<RunTarget | typeof launchNew>[] = [
    ...(await targetPickItems(services)),
    ...(services.accounts.accountOrUndefined ? [{ label: '$(rocket) Launch a new machine…', description: 'then queue on it', value: launchNew }] : []),
  ];
  if (items.length === 0) {
    throw new UserError('There is nowhere to queue: sign in to RunComfy, or add your own ComfyUI server.', [
      { title: 'Sign In', command: CommandIds.signIn },
      { title: 'Add Local Server', command: CommandIds.addLocalServer },
    ]);
  }
  const picked = await services.prompter.pick(items, { title: `Queue ${workflowDisplayName(uri.fsPath)} on…` });
  if ('kind' in picked && picked.kind === 'launch') return launchAndQueue(services, uri);
  return runWorkflow(services, uri, picked);
}

/** Launch a machine (the usual flow), wait until Ready (Stop Waiting ends the command quietly), then queue on it. */
export async function launchAndQueue(services: Services, uriArg?: unknown): Promise<RunResult | undefined> {
  requireTrustedWorkspace();
  const uri = workflowUri(uriArg);
  const machine = await launchFlow(services, {});
  if (!machine) return undefined;
  const ready = await waitUntilReady(services, machine);
  return runWorkflow(services, uri, machineTarget(ready));
}

/** Run Again: the same workflow file on the same target. */
export async function rerun(services: Services, arg?: unknown): Promise<RunResult | undefined> {
  requireTrustedWorkspace();
  const run = isNode(arg, 'run') ? services.runs.get(arg.runId) : services.runs.runs.find((r) => r.finishedAtMs !== undefined);
  if (!run) throw new UserError('There is no finished run to repeat.');
  // A run of a workflow saved on a server recorded its document's URI; a file's run, its path.
  const uri = run.workflowPath.startsWith(`${SAVED_WORKFLOW_SCHEME}:`) ? vscode.Uri.parse(run.workflowPath) : vscode.Uri.file(run.workflowPath);
  return runWorkflow(services, uri, run.target);
}

/** How to Export: where ComfyUI keeps the API format, offered when a UI-format workflow cannot be converted. */
export async function howToExport(services: Services): Promise<void> {
  await services.prompter.notify('info', `Queueing needs a workflow in ComfyUI's API format. ${EXPORT_HINT}`);
}

/** The workflow a command works on: a `file:` URI argument, else the active editor's file. */
export function workflowUri(arg: unknown): vscode.Uri {
  if (arg instanceof vscode.Uri) {
    if (arg.scheme !== 'file') throw new UserError(`${arg.toString()} is not a file on this computer: queueing reads workflows and inputs from disk and saves outputs there.`);
    return arg;
  }
  const editor = vscode.window.activeTextEditor;
  if (editor?.document.uri.scheme === 'file') return editor.document.uri;
  throw new UserError('Open a ComfyUI workflow (workflow_api.json, or one saved from ComfyUI) in the editor, or run this from its CodeLens.');
}

/** The run target of a local server. */
export function localTarget(name: string, url: string): RunTarget {
  return { kind: 'local', name, url };
}

/** The pick items of every place a workflow can go now: the Ready machines, then your local servers. */
export async function targetPickItems(services: Services): Promise<PickItem<RunTarget>[]> {
  const now = services.clock.now();
  const ready = await readyMachines(services);
  return [
    ...ready.map((m) => ({ label: `$(vm-running) ${machineShortId(m)}`, description: machineDescription(m, now, rateTable(services)), value: machineTarget(m) })),
    ...services.config.value.localServers.map((s) => ({ label: `$(server) ${s.name}`, description: `local · ${maskUrl(s.url)}`, value: localTarget(s.name, s.url) })),
  ];
}

/** The Ready machines with a ComfyUI URL (the list is fetched once if the window has none yet). */
export async function readyMachines(services: Services): Promise<Machine[]> {
  const store = services.accounts.accountOrUndefined?.machines;
  if (!store) return [];
  const machines = store.lastRefreshed === undefined ? await store.refresh() : store.machines;
  return machines.filter((m) => m.isReady && m.mainServiceUrl);
}

async function defaultTarget(services: Services, uri: vscode.Uri): Promise<RunTarget> {
  const ready = await readyMachines(services);
  const last = services.lastTarget.value;
  if (last?.kind === 'local' && services.config.value.localServers.some((s) => s.url === last.url)) return last;
  if (last?.kind === 'machine' && ready.some((m) => m.serverId === last.serverId)) return last;
  if (ready.length === 1) return machineTarget(ready[0]);
  if (ready.length > 1) {
    const now = services.clock.now();
    return services.prompter.pick(
      ready.map((m) => ({ label: machineShortId(m), description: machineDescription(m, now, rateTable(services)), value: machineTarget(m) })),
      { title: `Queue ${workflowDisplayName(uri.fsPath)} on which machine?` },
    );
  }
  services.accounts.requireAccount();
  throw new UserError('No RunComfy machine is Ready. Launch one (it boots in a few minutes), or queue on your own ComfyUI server.', [
    { title: 'Launch and Queue', command: CommandIds.launchAndQueue, args: [uri] },
    { title: 'Queue on…', command: CommandIds.queueWorkflowOn, args: [uri] },
  ]);
}

/** The ComfyUI URL of a target: a local server's, or a Ready machine's (else a UserError saying why not). */
export async function comfyUrlOf(services: Services, target: RunTarget): Promise<string> {
  if (target.kind === 'local') return target.url;
  const store = services.accounts.requireAccount().machines;
  const m = store.machine(target.serverId) ?? (await store.refresh()).find((x) => x.serverId === target.serverId);
  if (!m) throw new UserError(`Machine ${target.serverId} is gone (stopped, or it ran out of time).`, [{ title: 'Launch Machine', command: CommandIds.launchMachine }]);
  if (!m.isReady || !m.mainServiceUrl) throw new UserError(`Machine ${machineShortId(m)} is ${m.status}; a workflow runs only on a Ready machine.`);
  return m.mainServiceUrl;
}

/**
 * The run itself: analysis (problems stop it before anything is sent), upload, queue, a cancellable
 * progress notification (cancel = interrupt), the log, the Runs list, and at the end a notification
 * with "Open Outputs" (the run folder). The first image output opens in the editor. `uri` is a file,
 * or a workflow saved on a server (`runcomfy-saved:`): that one uploads nothing of this computer and
 * saves its outputs under the first workspace folder.
 */
export async function runWorkflow(services: Services, uri: vscode.Uri, target: RunTarget): Promise<RunResult> {
  const doc = await vscode.workspace.openTextDocument(uri);
  const saved = parseSavedWorkflowUri(uri);
  const home = saved ? vscode.workspace.workspaceFolders?.[0]?.uri : uri;
  if (!home) throw new UserError('Open a folder first: the outputs of a workflow saved on a server are saved in the workspace.');
  const relative = saved ? `${saved.path} (saved in ComfyUI on ${targetLabel(target)})` : vscode.workspace.asRelativePath(uri, false);
  // A workflow saved on a server uploads nothing of this computer.
  const policy = saved ? noLocalInputsPolicy() : inputPolicyFor(uri);
  let prepared = prepareWorkflow(doc.getText(), uri.fsPath, [], relative, policy);
  let comfyUrl: string | undefined;
  let knownProblems: () => WorkflowProblem[] = () => services.diagnostics.knownProblems(doc, comfyUrl ?? '');
  if (prepared.analysis.format === 'ui') {
    // The file stays as it is: it is converted against this target's node list for this run only.
    comfyUrl = await comfyUrlOf(services, target);
    const objectInfo = await services.servers.client(comfyUrl).getObjectInfo();
    const where = targetLabel(target);
    prepared = prepareWorkflow(doc.getText(), uri.fsPath, [], relative, policy, { objectInfo, where });
    const error = prepared.conversionError;
    if (error) {
      const actions = error.kind === 'invalidWorkflow' ? [{ title: 'How to Export', command: CommandIds.howToExport }] : [{ title: 'Show Problems', command: 'workbench.actions.view.problems' }];
      throw new UserError(`${relative} cannot be converted for ${where}: ${error.message}`, actions);
    }
    const converted = prepared.analysis;
    knownProblems = () => checkAgainstObjectInfo(converted, objectInfo, where).filter((p) => p.severity === 'error');
  }
  if (!prepared.prompt) {
    const more = prepared.problems.length > 1 ? ` (and ${prepared.problems.length - 1} more problem${prepared.problems.length > 2 ? 's' : ''})` : '';
    throw new UserError(`${relative} cannot be queued: ${prepared.problems[0] ?? 'it is not an API-format workflow'}${more}`, [
      { title: 'Show Problems', command: 'workbench.actions.view.problems' },
    ]);
  }
  if (!isWorkflowFileName(uri.fsPath) && !prepared.analysis.isApiFormat) throw new UserError(`${relative} is not an API-format workflow.`);
  const output = await outputFolder(services, home);
  comfyUrl ??= await comfyUrlOf(services, target);
  await askAboutKnownProblems(services, knownProblems());
  const workflowName = saved ? savedWorkflowName(saved.path) : workflowDisplayName(uri.fsPath);
  const engine = new RunEngine({
    prompt: prepared.prompt,
    localInputs: prepared.localInputs,
    inputPolicy: prepared.inputPolicy,
    warnings: prepared.warnings,
    comfyUrl,
    outputRoot: output.root,
    outputWithin: output.within,
    workflowName,
    workflowFile: relative,
    machineType: target.kind === 'machine' ? services.accounts.accountOrUndefined?.machines.machine(target.serverId)?.serverType : undefined,
    convertedFrom: prepared.convertedFrom,
    dynamicPrompts: prepared.dynamicPrompts,
    clock: services.clock,
    createClient: (url) => services.servers.client(url),
  });
  services.lastTarget.value = target;
  services.runs.track({ workflowPath: saved ? uri.toString() : uri.fsPath, workflowName, target }, { onEvent: engine.onEvent, interrupt: () => engine.interrupt(), dispose: () => engine.dispose() });
  services.runLog.attach(engine.onEvent, { workflow: relative, target: targetLabel(target), server: maskUrl(comfyUrl) });
  void services.contextKeys.set(ContextKeys.runActive, true);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `${workflowName} on ${targetLabel(target)}`, cancellable: true },
      (progress, token) => {
        token.onCancellationRequested(() => void engine.interrupt());
        let lastReport = 0;
        const sub = engine.onEvent((e) => {
          const message = progressMessage(e);
          const now = services.clock.now();
          if (message && (e.type !== 'progress' || now - lastReport > 250)) {
            lastReport = now;
            progress.report({ message });
          }
        });
        return engine.run().finally(() => sub.dispose());
      },
    );
    announce(services, uri, target, result);
    return result;
  } finally {
    engine.dispose();
    void services.contextKeys.set(ContextKeys.runActive, services.runs.activeRuns.length > 0);
  }
}

/**
 * When the target's node list already shows that the server will refuse the workflow (a node class
 * not installed, a value out of range, …), asks before anything is uploaded or queued. For an API
 * file the diagnostics know it (nothing is fetched for this); a UI-format file was just converted
 * against the fetched node list, which is checked. Anything but "Queue Anyway" ends the command quietly.
 */
async function askAboutKnownProblems(services: Services, problems: readonly WorkflowProblem[]): Promise<void> {
  if (problems.length === 0) return;
  const shown = problems.slice(0, maxProblemsInQuestion).map((p) => p.message);
  if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more in the Problems view.`);
  const answer = await services.prompter.choose(`${knownProblemsSentence(problems)} Queue anyway?`, shown.join('\n\n'), ['Queue Anyway', 'Show Problems']);
  if (answer === 'Queue Anyway') return;
  if (answer === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
  throw new CancelledError();
}

/** The question's detail lists this many problems in full; the Problems view has them all. */
const maxProblemsInQuestion = 5;

function progressMessage(e: RunEvent): string | undefined {
  switch (e.type) {
    case 'uploading':
      return `uploading ${path.basename(e.localPath)}…`;
    case 'queued':
      return e.position > 0 ? `queued, position ${e.position}` : 'queued';
    case 'executing':
      return nodeLabel(e.node);
    case 'progress':
      return `${nodeLabel(e.node)}: step ${e.value}/${e.max}`;
    case 'connection':
      return e.state === 'lost' ? 'connection lost, reconnecting…' : 'reconnected';
    case 'succeeded':
      return 'saving outputs…';
    default:
      return undefined;
  }
}

function announce(services: Services, uri: vscode.Uri, target: RunTarget, result: RunResult): void {
  const name = workflowDisplayName(uri.fsPath);
  if (result.status === 'success') {
    const n = result.outputs.length;
    const image = result.outputs.find((o) => /\.(png|jpe?g|webp|gif|bmp)$/i.test(o.path));
    // The run panel, when open, shows the gallery: the image would cover it (and a hidden webview is torn down).
    if (image && !runPanelShowsRuns()) void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(image.path), { preview: true, preserveFocus: true, viewColumn: vscode.ViewColumn.Beside });
    void services.prompter.notify('info', `${name} finished on ${targetLabel(target)}: ${n} output${n === 1 ? '' : 's'} saved.`, 'Open Outputs').then((a) => {
      const run = services.runs.runs.find((r) => r.result === result);
      if (a === 'Open Outputs' && run) void vscode.commands.executeCommand(CommandIds.openRunOutputs, { kind: 'run', runId: run.id });
    });
    return;
  }
  if (result.status === 'interrupted') {
    void services.prompter.notify('info', `${name} was interrupted${result.outputs.length ? `; ${result.outputs.length} output(s) saved` : ''}.`);
    return;
  }
  const error = result.error;
  if (error?.nodeErrors) services.diagnostics.showServerErrors(uri, error.nodeErrors, targetLabel(target));
  // A rejection's message already says what ComfyUI refused ("ComfyUI rejected the workflow: …").
  const message = error?.kind === 'workflowRejected' ? error.message : `${name} failed: ${error?.message ?? 'unknown error'}`;
  void services.prompter.notify('error', message, 'Show Log').then((a) => {
    if (a) void vscode.commands.executeCommand(CommandIds.showLog);
  });
}
