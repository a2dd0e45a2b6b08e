import * as vscode from 'vscode';
import { AccountManager } from './auth/accountManager';
import { CredentialStore } from './auth/credentialStore';
import { demoSignIn } from './auth/demoSignIn';
import { systemClock } from './base/clock';
import { WorkflowCodeLensProvider } from './codelens/workflowCodeLensProvider';
import { WorkflowDiagnostics } from './codelens/workflowDiagnostics';
import { WorkflowDocuments, workflowDocumentSelector } from './codelens/workflowDocuments';
import { WorkflowEditorContext } from './codelens/workflowEditorContext';
import { CommandIds, ContextKeys, ViewIds } from './commands/commandIds';
import { registerCommand } from './commands/commandRunner';
import { extendMachine, type ExtendArgs } from './commands/extendMachine';
import { launchMachine, type LaunchArgs } from './commands/launchMachine';
import { addLocalServer, removeLocalServer, type AddLocalServerArgs } from './commands/localServers';
import { copyComfyUrl, openComfyUI } from './commands/openComfyUI';
import { exportApiFormat } from './commands/exportApiFormat';
import { cancelSweep, queueSweep, runSweepFile } from './commands/queueSweep';
import { SweepCodeLensProvider } from './codelens/sweepCodeLensProvider';
import { howToExport, launchAndQueue, queueWorkflow, queueWorkflowOn, rerun } from './commands/queueWorkflow';
import { interruptRun, openRunOutputs } from './commands/runCommands';
import { refresh, refreshAfterNetworkChange } from './commands/refresh';
import { type Services } from './commands/services';
import { setMachineDuration } from './commands/setMachineDuration';
import { signIn, type SignInArgs } from './commands/signIn';
import { signOut } from './commands/signOut';
import { openSavedWorkflow, queueSavedWorkflow, readSavedWorkflow, refreshSavedWorkflows, savedWorkflowKey, saveSavedWorkflowToWorkspace, saveToComfyUI } from './commands/savedWorkflows';
import { reportUnattendedStopFailures, stopMachine, type StopArgs } from './commands/stopMachine';
import { ComfyServerDirectory } from './core/comfyServerDirectory';
import { type MoneyOperations } from './core/moneyOperations';
import { RunRegistry, isRunTarget, type RunTarget } from './core/runRegistry';
import { SavedWorkflowCatalog } from './core/savedWorkflowCatalog';
import { RunLog } from './output/runLog';
import { pastRunFolders, RunPanels } from './panel/runPanels';
import { registerTestHooks, testHooksEnabled } from './testHooks';
import { editorToolHost } from './tools/editorToolHost';
import { registerLanguageModelTools } from './tools/languageModelTools';
import { MoneyStatusBar } from './ui/moneyStatusBar';
import { WindowPrompter } from './ui/prompter';
import { ScriptedPrompter } from './ui/scriptedPrompter';
import { ConfigService } from './util/config';
import { ContextKeyService } from './util/contextKeys';
import { KnownServers } from './util/knownServers';
import { ProxySettings } from './util/proxySettings';
import { MachinesTreeDataProvider } from './views/machinesTreeDataProvider';
import { RunsTreeDataProvider, SweepGroups } from './views/runsTreeDataProvider';
import { SAVED_WORKFLOW_SCHEME, SavedWorkflowDocumentProvider } from './views/savedWorkflowDocuments';
import { WorkflowsTreeDataProvider } from './views/workflowsTreeDataProvider';

/** The window's sweeps: `deactivate` cancels the running ones, so the machines they launched are stopped. */
let windowSweeps: SweepGroups | undefined;
/** Launches and stops in flight, which `deactivate` waits for; see there. */
let money: { readonly operations: MoneyOperations; readonly log: vscode.LogOutputChannel } | undefined;

/** Composition root: builds the objects, wires them together and hands every disposable to VS Code. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const testMode = testHooksEnabled();
  const clock = systemClock;
  const log = vscode.window.createOutputChannel('RunComfy', { log: true });
  const config = new ConfigService(restrictedConfigurations(context.extension.packageJSON));
  const proxySettings = new ProxySettings((line) => log.info(line));
  const credentials = new CredentialStore(context.secrets);
  const contextKeys = new ContextKeyService();
  const scripted = testMode ? new ScriptedPrompter() : undefined;
  const prompter = scripted ?? new WindowPrompter();
  const accounts = new AccountManager(credentials, config, (line) => log.warn(line));
  money = { operations: accounts.money, log };
  const runs = new RunRegistry(clock);
  const servers = new ComfyServerDirectory();
  const saved = new SavedWorkflowCatalog();
  const knownServers = new KnownServers(servers, accounts, config);
  const runLog = new RunLog(log, clock);
  const documents = new WorkflowDocuments();
  const diagnostics = new WorkflowDiagnostics(documents, accounts, servers, runs, config);
  context.subscriptions.push(log, config, proxySettings, credentials, accounts, runs, servers, saved, knownServers, runLog, diagnostics);
  const lastTarget: { value: RunTarget | undefined } = { value: undefined };
  const services: Services = { credentials, accounts, config, prompter, log, runLog, runs, servers, saved, clock, contextKeys, diagnostics, lastTarget };
  const savedDocuments = new SavedWorkflowDocumentProvider(
    (source, rel) => readSavedWorkflow(services, source, rel),
    (source) => savedWorkflowKey(services, source),
    saved.onDidChange,
  );
  context.subscriptions.push(savedDocuments, vscode.workspace.registerTextDocumentContentProvider(SAVED_WORKFLOW_SCHEME, savedDocuments));

  const codeLens = new WorkflowCodeLensProvider(documents, accounts, config);
  context.subscriptions.push(codeLens, vscode.languages.registerCodeLensProvider(workflowDocumentSelector, codeLens));
  const sweepLens = new SweepCodeLensProvider(config);
  context.subscriptions.push(sweepLens, vscode.languages.registerCodeLensProvider({ scheme: 'file', pattern: '**/*.sweep.json' }, sweepLens));
  context.subscriptions.push(new WorkflowEditorContext(documents, contextKeys));

  const workflowsTree = new WorkflowsTreeDataProvider(accounts, contextKeys);
  const machinesTree = new MachinesTreeDataProvider(accounts, config, runs, servers, contextKeys, saved, clock);
  const sweeps = new SweepGroups();
  windowSweeps = sweeps;
  const runsTree = new RunsTreeDataProvider(runs, clock, sweeps, (max) => pastRunFolders(services, max));
  const workflowsView = vscode.window.createTreeView(ViewIds.workflows, { treeDataProvider: workflowsTree, showCollapseAll: true });
  const machinesView = vscode.window.createTreeView(ViewIds.machines, { treeDataProvider: machinesTree });
  const runsView = vscode.window.createTreeView(ViewIds.runs, { treeDataProvider: runsTree });
  const statusBar = new MoneyStatusBar(accounts, config, runs, servers, prompter, log, clock);
  context.subscriptions.push(sweeps, workflowsTree, machinesTree, runsTree, workflowsView, machinesView, runsView, statusBar);
  context.subscriptions.push(
    workflowsView.onDidChangeVisibility((e) => workflowsTree.setVisible(e.visible)),
    machinesView.onDidChangeVisibility((e) => machinesTree.setVisible(e.visible)),
    machinesTree.onDidChangeTreeData(() => {
      const n = machinesTree.runningCount;
      machinesView.badge = n > 0 ? { value: n, tooltip: `${n} RunComfy machine${n === 1 ? '' : 's'} running` } : undefined;
    }),
  );
  workflowsTree.setVisible(workflowsView.visible);
  machinesTree.setVisible(machinesView.visible);

  const syncSignedIn = async () => contextKeys.set(ContextKeys.signedIn, (await credentials.get()) !== undefined);
  // The event carries the new credentials: the key follows at once, not one SecretStorage read later.
  context.subscriptions.push(credentials.onDidChange((c) => contextKeys.set(ContextKeys.signedIn, c !== undefined)));

  const register = <A extends unknown[]>(id: string, handler: (...args: A) => unknown) => registerCommand(id, handler, log, testMode);
  context.subscriptions.push(
    register(CommandIds.signIn, (args?: SignInArgs) => signIn({ store: credentials, prompter, log, apiUrl: () => config.value.apiUrl }, args)),
    register(CommandIds.signOut, () => signOut(credentials, log)),
    register(CommandIds.showLog, () => log.show()),
    register(CommandIds.refresh, () => refresh(services)),
    register(CommandIds.launchMachine, (arg?: unknown, args?: LaunchArgs) => launchMachine(services, arg, args)),
    register(CommandIds.extendMachine, (arg?: unknown, args?: ExtendArgs) => extendMachine(services, arg, args)),
    register(CommandIds.setMachineDuration, (arg?: unknown, minutes?: number) => setMachineDuration(services, arg, minutes)),
    register(CommandIds.stopMachine, (arg?: unknown, args?: StopArgs) => stopMachine(services, arg, args)),
    register(CommandIds.openComfyUI, (arg?: unknown) => openComfyUI(services, arg)),
    register(CommandIds.copyComfyUrl, (arg?: unknown) => copyComfyUrl(services, arg)),
    register(CommandIds.queueWorkflow, (uri?: unknown, target?: unknown) => queueWorkflow(services, uri, isRunTarget(target) ? target : undefined)),
    register(CommandIds.queueWorkflowOn, (uri?: unknown) => queueWorkflowOn(services, uri)),
    register(CommandIds.launchAndQueue, (uri?: unknown) => launchAndQueue(services, uri)),
    register(CommandIds.howToExport, () => howToExport(services)),
    register(CommandIds.exportApiFormat, (uri?: unknown) => exportApiFormat(services, uri)),
    register(CommandIds.interruptRun, (arg?: unknown) => interruptRun(services, arg)),
    register(CommandIds.rerun, (arg?: unknown) => rerun(services, arg)),
    register(CommandIds.openRunOutputs, (arg?: unknown) => openRunOutputs(services, arg)),
    register(CommandIds.addLocalServer, (args?: AddLocalServerArgs) => addLocalServer(services, args)),
    register(CommandIds.removeLocalServer, (arg?: unknown) => removeLocalServer(services, arg)),
    register(CommandIds.refreshSavedWorkflows, (arg?: unknown) => refreshSavedWorkflows(services, arg)),
    register(CommandIds.openSavedWorkflow, (arg?: unknown) => openSavedWorkflow(arg)),
    register(CommandIds.saveSavedWorkflowToWorkspace, (arg?: unknown) => saveSavedWorkflowToWorkspace(services, arg)),
    register(CommandIds.queueSavedWorkflow, (arg?: unknown) => queueSavedWorkflow(services, arg)),
    register(CommandIds.saveToComfyUI, (uri?: unknown, target?: unknown) => saveToComfyUI(services, uri, isRunTarget(target) ? target : undefined)),
    register(CommandIds.queueSweep, (uri?: unknown) => queueSweep(services, sweeps, uri)),
    register(CommandIds.runSweepFile, (uri?: unknown) => runSweepFile(services, sweeps, uri)),
    register(CommandIds.cancelSweep, (arg?: unknown) => cancelSweep(sweeps, arg)),
  );
  const runPanels = new RunPanels(services, context.extensionUri, context.globalStorageUri, sweeps);
  context.subscriptions.push(
    runPanels,
    register(CommandIds.openRun, (arg?: unknown) => runPanels.open(arg)),
    register(CommandIds.compareRuns, (arg?: unknown, other?: unknown) => runPanels.compare(arg, other)),
    register(CommandIds.openContactSheet, (arg?: unknown) => runPanels.openContactSheet(arg)),
  );
  context.subscriptions.push(reportUnattendedStopFailures(services));
  // Under the host tests the tools ask through the scripted Prompter: VS Code's own dialog cannot be answered there.
  context.subscriptions.push(registerLanguageModelTools(editorToolHost(services), prompter, testMode ? 'prompter' : 'vscode'));
  context.subscriptions.push(proxySettings.onDidChange(() => void refreshAfterNetworkChange(services)));

  if (testMode && scripted) {
    context.subscriptions.push(registerTestHooks({ logDirectory: context.logUri.fsPath, contextKeys, accounts, prompter: scripted, statusBar, machinesTree, workflowsTree, runsTree, runs, panels: runPanels }));
  }
  await demoSignIn(credentials, config.value.apiUrl, log);
  await Promise.all([syncSignedIn(), accounts.initialize()]);
}

/** The manifest's `capabilities.untrustedWorkspaces.restrictedConfigurations`, the one list of them. */
function restrictedConfigurations(manifest: unknown): string[] {
  const keys = (manifest as { capabilities?: { untrustedWorkspaces?: { restrictedConfigurations?: unknown } } }).capabilities?.untrustedWorkspaces?.restrictedConfigurations;
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
}

/**
 * A window closing must not cancel a confirmed stop: every stop already sent its first DELETE when
 * it started, and it keeps retrying here. VS Code gives `deactivate` about five seconds before it
 * ends the extension host, so this waits up to four for the launches and stops in flight to end
 * (the subscriptions, the log among them, are disposed meanwhile: the note is written first). A
 * stop cut short there is not resumed; the next window lists the machines at once (the status bar
 * asks at sign-in), so a machine that still bills shows up.
 */
export async function deactivate(): Promise<void> {
  if (windowSweeps?.all.some((g) => g.status === 'running')) {
    windowSweeps.cancelAll();
    // The sweeps' stops start on the next turns of the event loop; then they are in flight below.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const inFlight = money?.operations.inFlight ?? [];
  if (!money || inFlight.length === 0) return;
  const what = inFlight.map((o) => (o.kind === 'stop' ? `the stop of machine ${o.serverId}` : 'a launch')).join(', ');
  money.log.warn(`Closing while ${what} is in flight: waiting up to 4 s for it to land. If it does not, check your machines when you next open VS Code.`);
  await money.operations.whenIdle(4000);
}
