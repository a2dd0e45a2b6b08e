/**
 * Every command id the extension contributes, in one place. A unit test checks this object against
 * `package.json`, and a host test checks it against what VS Code actually registered.
 * Deliberately free of `vscode` imports so plain-Node tests can load it.
 */
export const CommandIds = {
  signIn: 'runcomfy.signIn',
  signOut: 'runcomfy.signOut',
  refresh: 'runcomfy.refresh',
  launchMachine: 'runcomfy.launchMachine',
  extendMachine: 'runcomfy.extendMachine',
  setMachineDuration: 'runcomfy.setMachineDuration',
  stopMachine: 'runcomfy.stopMachine',
  openComfyUI: 'runcomfy.openComfyUI',
  copyComfyUrl: 'runcomfy.copyComfyUrl',
  queueWorkflow: 'runcomfy.queueWorkflow',
  queueWorkflowOn: 'runcomfy.queueWorkflowOn',
  launchAndQueue: 'runcomfy.launchAndQueue',
  interruptRun: 'runcomfy.interruptRun',
  rerun: 'runcomfy.rerun',
  openRunOutputs: 'runcomfy.openRunOutputs',
  showLog: 'runcomfy.showLog',
  addLocalServer: 'runcomfy.addLocalServer',
  removeLocalServer: 'runcomfy.removeLocalServer',
  howToExport: 'runcomfy.howToExport',
  refreshSavedWorkflows: 'runcomfy.savedWorkflows.refresh',
  openSavedWorkflow: 'runcomfy.savedWorkflow.open',
  saveSavedWorkflowToWorkspace: 'runcomfy.savedWorkflow.saveToWorkspace',
  queueSavedWorkflow: 'runcomfy.savedWorkflow.queue',
  saveToComfyUI: 'runcomfy.saveToComfyUI',
  exportApiFormat: 'runcomfy.exportApiFormat',
  openRun: 'runcomfy.openRun',
  compareRuns: 'runcomfy.compareRuns',
  queueSweep: 'runcomfy.queueSweep',
  runSweepFile: 'runcomfy.runSweepFile',
  cancelSweep: 'runcomfy.cancelSweep',
  openContactSheet: 'runcomfy.openContactSheet',
} as const;

export type CommandId = (typeof CommandIds)[keyof typeof CommandIds];

/** Registered only when the test hooks are on (`RUNCOMFY_TEST_HOOKS=1`); never contributed in the manifest. */
export const TestCommandIds = {
  state: 'runcomfy.test.state',
  script: 'runcomfy.test.script',
  /** The run panel: its last posted state, what the webview reported rendering, and a message posted as the webview would. */
  panel: 'runcomfy.test.panel',
  panelMessage: 'runcomfy.test.panelMessage',
} as const;

export const ContextKeys = {
  signedIn: 'runcomfy.signedIn',
  unreachable: 'runcomfy.unreachable',
  workflowsLoaded: 'runcomfy.workflowsLoaded',
  hasWorkflows: 'runcomfy.hasWorkflows',
  machinesLoaded: 'runcomfy.machinesLoaded',
  hasMachines: 'runcomfy.hasMachines',
  hasLocalServers: 'runcomfy.hasLocalServers',
  runActive: 'runcomfy.runActive',
  editorIsWorkflow: 'runcomfy.editorIsWorkflow',
  /** The active editor shows a UI-format workflow: Export API Format… is offered. */
  editorIsUiWorkflow: 'runcomfy.editorIsUiWorkflow',
} as const;

export const ViewIds = {
  workflows: 'runcomfy.workflows',
  machines: 'runcomfy.machines',
  runs: 'runcomfy.runs',
} as const;
