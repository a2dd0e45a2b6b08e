import * as vscode from 'vscode';
import { type SavedWorkflow } from '../api/comfyClient';
import { maskUrl } from '../api/redact';
import { type Machine } from '../api/runcomfyTypes';
import { type AccountManager } from '../auth/accountManager';
import { type Clock, systemClock } from '../base/clock';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { throttle } from '../base/throttle';
import { formatTooltipTime } from '../base/timeFormat';
import { CommandIds, ContextKeys } from '../commands/commandIds';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { machineContextValue, machineDetails, machineIcon, machineRowDescription, machineShortId, machineTarget } from '../core/machineLabels';
import { targetKey, targetLabel, type RunRegistry, type RunTarget } from '../core/runRegistry';
import { type SavedWorkflowCatalog } from '../core/savedWorkflowCatalog';
import { type ConfigService, type LocalServerSetting } from '../util/config';
import { type ContextKeyService } from '../util/contextKeys';
import { detailsMarkdown, loadErrorNode, messageItem, runItem } from './treeItems';
import { type SavedWorkflowNode, type TreeNode } from './treeNodes';

/** Runs listed under a machine; the Runs view has the rest. */
const RUNS_PER_SERVER = 5;

/**
 * RunComfy machines (status and time left in the row; cost, type and the rest in the tooltip) and the user's own ComfyUI servers,
 * each with its queue size and its recent runs. Polls only while visible (plus whatever the store
 * itself keeps polling for: a machine starting or stopping).
 */
export class MachinesTreeDataProvider extends DisposableObject implements vscode.TreeDataProvider<TreeNode> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<TreeNode | undefined>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  private storeSubs: Disposable[] = [];
  private visibleWatch: Disposable | undefined;
  private tick: Disposable | undefined;
  private visible = false;
  private lastQueueProbeMs = -Infinity;
  private readonly refreshSoon;
  /** Size and date of each listed saved workflow, for tooltips: by target key, then path. */
  private readonly savedInfo = new Map<string, Map<string, SavedWorkflow>>();

  constructor(
    private readonly accounts: AccountManager,
    private readonly config: ConfigService,
    private readonly runs: RunRegistry,
    private readonly servers: ComfyServerDirectory,
    private readonly contextKeys: ContextKeyService,
    private readonly saved: SavedWorkflowCatalog,
    private readonly clock: Clock = systemClock,
  ) {
    super();
    this.refreshSoon = this._register(throttle(() => this._onDidChangeTreeData.fire(undefined), 250, clock));
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register(config.onDidChange(() => this.changed()));
    this._register(accounts.money.onDidChange(() => this.changed()));
    this._register(runs.onDidChange(() => this.refreshSoon.run()));
    this._register(servers.onDidChangeQueues(() => this.refreshSoon.run()));
    this._register(saved.onDidChange(() => this._onDidChangeTreeData.fire(undefined)));
    this._register({ dispose: () => this.stopWatching() });
    this._register({ dispose: () => this.storeSubs.forEach((s) => s.dispose()) });
    this.follow();
  }

  /** Machines that cost money right now (Ready), for the view's badge. */
  get runningCount(): number {
    return this.machines().filter((m) => m.isReady).length;
  }

  /** While the view is visible the store polls, and descriptions (time left, cost) tick every 30 s. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.stopWatching();
    if (!visible) return;
    this.visibleWatch = this.accounts.accountOrUndefined?.machines.watch();
    const every = () => {
      this.tick = this.clock.setTimeout(() => {
        this.changed();
        every();
      }, 30_000);
    };
    every();
    this.changed();
  }

  private stopWatching(): void {
    this.visibleWatch?.dispose();
    this.visibleWatch = undefined;
    this.tick?.dispose();
    this.tick = undefined;
  }

  refresh(): void {
    this.accounts.accountOrUndefined?.machines.refresh().catch(() => undefined);
    this.changed();
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    switch (node.kind) {
      case 'machine': {
        const m = this.machines().find((x) => x.serverId === node.serverId);
        return m ? this.machineItem(m) : messageItem({ kind: 'message', text: `Machine ${node.serverId} is gone`, icon: 'warning' });
      }
      case 'localServer':
        return this.localServerItem(node.server);
      case 'queue': {
        const q = this.servers.queueSize(node.parent);
        const item = new vscode.TreeItem(q ? `Queue: ${q.running} running, ${q.pending} pending` : 'Queue: unknown', vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon('list-ordered');
        item.contextValue = 'queue';
        return item;
      }
      case 'run': {
        const run = this.runs.get(node.runId);
        return run ? runItem(run, this.clock.now()) : new vscode.TreeItem('(run no longer listed)');
      }
      case 'savedFolder': {
        const item = new vscode.TreeItem('Saved in ComfyUI', vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `${targetKey(node.target)}/saved`;
        item.iconPath = new vscode.ThemeIcon('folder-library');
        item.tooltip = "The workflows saved in this ComfyUI's web UI (its Workflows list), read when you expand this.";
        item.contextValue = 'savedWorkflows';
        return item;
      }
      case 'savedWorkflow':
        return this.savedWorkflowItem(node);
      case 'message':
        return messageItem(node);
      default:
        return new vscode.TreeItem('');
    }
  }

  getChildren(node?: TreeNode): TreeNode[] | Promise<TreeNode[]> {
    if (!node) return this.roots();
    if (node.kind === 'machine') {
      const m = this.machines().find((x) => x.serverId === node.serverId);
      const ready = m?.isReady && m.mainServiceUrl ? m : undefined;
      return this.serverChildren(`machine:${node.serverId}`, m?.mainServiceUrl, ready && machineTarget(ready));
    }
    if (node.kind === 'localServer') return this.serverChildren(`local:${node.server.url}`, node.server.url, { kind: 'local', name: node.server.name, url: node.server.url });
    if (node.kind === 'savedFolder') return this.savedChildren(node.target);
    return [];
  }

  /** The saved workflows of a server, fetched the first time the node opens (then kept until Refresh). */
  private async savedChildren(target: RunTarget): Promise<TreeNode[]> {
    const url = target.kind === 'local' ? target.url : this.machines().find((m) => m.serverId === target.serverId && m.isReady)?.mainServiceUrl;
    if (!url) return [{ kind: 'message', text: 'The machine is no longer Ready', icon: 'warning' }];
    const retry = { command: CommandIds.refreshSavedWorkflows, args: [{ kind: 'savedFolder', target }] } as const;
    try {
      const list = await this.saved.list(targetKey(target), () => this.servers.client(url));
      this.savedInfo.set(targetKey(target), new Map(list.workflows.map((w) => [w.path, w])));
      const nodes: TreeNode[] = list.workflows.map((w): SavedWorkflowNode => ({ kind: 'savedWorkflow', target, path: w.path }));
      if (list.unsafeNames > 0) nodes.push({ kind: 'message', text: `${list.unsafeNames} saved file${list.unsafeNames === 1 ? '' : 's'} with unsafe names not shown`, icon: 'warning' });
      if (nodes.length === 0) nodes.push({ kind: 'message', text: 'No saved workflows yet', icon: 'info', detail: 'Click to refresh', ...retry });
      return nodes;
    } catch (e) {
      return [{ kind: 'message', text: `Could not list saved workflows: ${e instanceof Error ? e.message : String(e)}`, icon: 'error', detail: 'Click to retry', ...retry }];
    }
  }

  private savedWorkflowItem(node: SavedWorkflowNode): vscode.TreeItem {
    const info: SavedWorkflow | undefined = this.savedInfo.get(targetKey(node.target))?.get(node.path);
    const item = new vscode.TreeItem(node.path.replace(/\.json$/i, ''), vscode.TreeItemCollapsibleState.None);
    item.id = `${targetKey(node.target)}/saved/${node.path}`;
    item.iconPath = new vscode.ThemeIcon('json');
    item.contextValue = 'savedWorkflow';
    item.tooltip = detailsMarkdown(node.path, [
      ['Saved in ComfyUI on', targetLabel(node.target)],
      ...(info?.size === undefined ? [] : ([['Size', `${info.size} bytes`]] as const)),
      ...(info?.modifiedMs === undefined ? [] : ([['Modified', formatTooltipTime(info.modifiedMs, { nowMs: this.clock.now() })]] as const)),
    ]);
    item.command = { command: CommandIds.openSavedWorkflow, title: 'Open', arguments: [node] };
    return item;
  }

  private roots(): TreeNode[] {
    const nodes: TreeNode[] = [];
    const state = this.accounts.state;
    if (state.kind === 'invalid') {
      nodes.push({ kind: 'message', text: state.error.message, icon: 'error', command: 'workbench.action.openSettings', detail: 'Open Settings' });
    } else if (state.kind === 'ready') {
      const error = state.account.machines.lastError;
      if (error) nodes.push(loadErrorNode('Could not list machines', error, state.account.userId));
      for (const m of state.account.machines.machines) nodes.push({ kind: 'machine', serverId: m.serverId });
    }
    for (const server of this.config.value.localServers) nodes.push({ kind: 'localServer', server });
    const shown = new Set([...this.machines().filter((m) => m.isReady).map((m) => `machine:${m.serverId}`), ...this.config.value.localServers.map((s) => `local:${s.url}`)]);
    this.saved.retain(shown);
    for (const key of [...this.savedInfo.keys()]) if (!shown.has(key)) this.savedInfo.delete(key);
    return nodes;
  }

  private serverChildren(key: string, url: string | undefined, savedTarget: RunTarget | undefined): TreeNode[] {
    const children: TreeNode[] = [];
    if (savedTarget) children.push({ kind: 'savedFolder', target: savedTarget });
    if (url && this.servers.queueSize(url)) children.push({ kind: 'queue', parent: url });
    for (const r of this.runs.forTarget(key).slice(0, RUNS_PER_SERVER)) children.push({ kind: 'run', runId: r.id });
    return children;
  }

  private machineItem(m: Machine): vscode.TreeItem {
    const now = this.clock.now();
    const rates = this.config.value.rates;
    const hasChildren = (m.mainServiceUrl && this.servers.queueSize(m.mainServiceUrl)) || this.runs.forTarget(targetKey({ kind: 'machine', serverId: m.serverId, label: '' })).length > 0;
    // A Ready machine always has "Saved in ComfyUI" below it: collapsed until there is more to show.
    const collapsed = m.isReady && m.mainServiceUrl ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(machineShortId(m), hasChildren ? vscode.TreeItemCollapsibleState.Expanded : collapsed);
    item.id = `machine:${m.serverId}`;
    item.description = machineRowDescription(m, now);
    const icon = machineIcon(m);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    const details = machineDetails(m, now, rates);
    item.contextValue = machineContextValue(m);
    const stop = this.accounts.money.stopping(m.serverId);
    if (stop) {
      // A confirmed stop still being retried (perhaps by an account a settings change replaced): the machine bills until it lands.
      const why = stop.lastError ? (stop.lastError.status ? `HTTP ${stop.lastError.status}` : stop.lastError.kind) : undefined;
      item.description = why ? `stopping, retrying (${why})` : `stopping · ${item.description}`;
      details.unshift(['Stop', why ? `retrying until RunComfy confirms it (${stop.failures} failed, last: ${why})` : 'sent; billing ends when RunComfy confirms it']);
      item.contextValue = item.contextValue.replace(/ stoppable\b/, '');
    }
    item.tooltip = detailsMarkdown(`RunComfy machine ${machineShortId(m)} (estimates)`, details);
    return item;
  }

  private localServerItem(server: LocalServerSetting): vscode.TreeItem {
    const q = this.servers.queueSize(server.url);
    const runs = this.runs.forTarget(`local:${server.url}`).length;
    const item = new vscode.TreeItem(server.name, q || runs ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `local:${server.url}`;
    item.description = `local · ${maskUrl(server.url)}`;
    item.iconPath = new vscode.ThemeIcon('server');
    item.tooltip = detailsMarkdown(server.name, [
      ['ComfyUI', maskUrl(server.url)],
      ['Kind', 'Your own ComfyUI server (no RunComfy billing)'],
    ]);
    item.contextValue = 'localServer openable';
    return item;
  }

  private machines(): readonly Machine[] {
    return this.accounts.accountOrUndefined?.machines.machines ?? [];
  }

  private follow(): void {
    this.storeSubs.forEach((s) => s.dispose());
    const store = this.accounts.accountOrUndefined?.machines;
    this.storeSubs = store
      ? [
          store.onDidChangeMachines(() => this.changed()),
          store.onDidChangeError(() => this.changed()),
        ]
      : [];
    this.setVisible(this.visible);
    if (!this.visible) this.changed();
  }

  /** Updates the context keys the welcome views use, probes queues, and redraws. */
  private changed(): void {
    const store = this.accounts.accountOrUndefined?.machines;
    const error = store?.lastError;
    void this.contextKeys.set(ContextKeys.unreachable, error !== undefined && error.kind !== 'auth');
    void this.contextKeys.set(ContextKeys.machinesLoaded, store !== undefined && (store.machines.length > 0 || error !== undefined || store.lastRefreshed !== undefined));
    void this.contextKeys.set(ContextKeys.hasMachines, (store?.machines.length ?? 0) > 0);
    void this.contextKeys.set(ContextKeys.hasLocalServers, this.config.value.localServers.length > 0);
    // Queue sizes come from each ComfyUI; read them at most every 10 s, not on every machine poll.
    if (this.visible && this.clock.now() - this.lastQueueProbeMs >= 10_000) {
      this.lastQueueProbeMs = this.clock.now();
      const urls = [...this.machines().filter((m) => m.isReady && m.mainServiceUrl).map((m) => m.mainServiceUrl!), ...this.config.value.localServers.map((s) => s.url)];
      void this.servers.refreshQueues(urls);
    }
    this.refreshSoon.run();
  }
}
