import * as vscode from 'vscode';
import { type Workflow } from '../api/runcomfyTypes';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { formatTooltipTime } from '../base/timeFormat';
import { markdownText } from '../base/untrustedText';
import { type AccountManager } from '../auth/accountManager';
import { ContextKeys } from '../commands/commandIds';
import { versionLabel } from '../core/workflowCatalog';
import { type ContextKeyService } from '../util/contextKeys';
import { plainMarkdown } from '../util/markdown';
import { type TreeNode, type VersionNode, type WorkflowNode } from './treeNodes';
import { loadErrorNode, messageItem } from './treeItems';

/** The account's workflows, each with its versions; a version launches a machine. Loaded when first shown. */
export class WorkflowsTreeDataProvider extends DisposableObject implements vscode.TreeDataProvider<TreeNode> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<TreeNode | undefined>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  private catalogSub: Disposable | undefined;
  private visible = false;

  constructor(
    private readonly accounts: AccountManager,
    private readonly contextKeys: ContextKeyService,
  ) {
    super();
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register({ dispose: () => this.catalogSub?.dispose() });
    this.follow();
  }

  /** Called by the view: the list loads the first time it becomes visible. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    const catalog = this.accounts.accountOrUndefined?.workflows;
    if (visible && catalog && !catalog.workflows && !catalog.lastError) catalog.load().catch(() => undefined);
  }

  refresh(): void {
    this.accounts.accountOrUndefined?.workflows.load().catch(() => undefined);
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const catalog = this.accounts.accountOrUndefined?.workflows;
    if (node.kind === 'workflow') {
      const wf = catalog?.workflows?.find((w) => w.workflowId === node.workflowId);
      return wf ? workflowItem(wf) : messageItem({ kind: 'message', text: 'This workflow is gone', icon: 'warning' });
    }
    if (node.kind === 'version') {
      const wf = catalog?.workflows?.find((w) => w.workflowId === node.workflowId);
      const index = wf?.versions.findIndex((v) => v.versionId === node.versionId) ?? -1;
      return wf && index >= 0 ? versionItem(wf, index) : messageItem({ kind: 'message', text: 'This version is gone', icon: 'warning' });
    }
    return node.kind === 'message' ? messageItem(node) : new vscode.TreeItem('');
  }

  getChildren(node?: TreeNode): TreeNode[] {
    const catalog = this.accounts.accountOrUndefined?.workflows;
    if (!catalog) return [];
    if (!node) {
      if (catalog.lastError) {
        return [loadErrorNode('Could not list workflows', catalog.lastError, this.accounts.accountOrUndefined?.userId ?? '')];
      }
      if (!catalog.workflows) return [{ kind: 'message', text: 'Loading workflows…', icon: 'loading~spin' }];
      return catalog.workflows.map((w): WorkflowNode => ({ kind: 'workflow', workflowId: w.workflowId }));
    }
    if (node.kind === 'workflow') {
      const wf = catalog.workflows?.find((w) => w.workflowId === node.workflowId);
      return (wf?.versions ?? []).map((v): VersionNode => ({ kind: 'version', workflowId: node.workflowId, versionId: v.versionId }));
    }
    return [];
  }

  private follow(): void {
    this.catalogSub?.dispose();
    const catalog = this.accounts.accountOrUndefined?.workflows;
    this.catalogSub = catalog?.onDidChange(() => {
      void this.contextKeys.set(ContextKeys.workflowsLoaded, catalog.workflows !== undefined);
      void this.contextKeys.set(ContextKeys.hasWorkflows, (catalog.workflows?.length ?? 0) > 0);
      this._onDidChangeTreeData.fire(undefined);
    });
    void this.contextKeys.set(ContextKeys.workflowsLoaded, false);
    this._onDidChangeTreeData.fire(undefined);
    if (this.visible) this.setVisible(true);
  }
}

function workflowItem(wf: Workflow): vscode.TreeItem {
  const item = new vscode.TreeItem(wf.name, vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `workflow:${wf.workflowId}`;
  item.description = `${wf.versions.length} version${wf.versions.length === 1 ? '' : 's'}`;
  item.tooltip = plainMarkdown([`**${markdownText(wf.name)}**`, '', `Workflow id: ${markdownText(wf.workflowId)}`]);
  item.iconPath = new vscode.ThemeIcon('symbol-structure');
  item.contextValue = 'workflow';
  return item;
}

function versionItem(wf: Workflow, index: number): vscode.TreeItem {
  const v = wf.versions[index];
  const label = versionLabel(v);
  const date = v.updatedAtMs ?? v.createdAtMs;
  const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
  item.id = `version:${v.versionId}`;
  item.description = index === 0 ? 'latest' : undefined;
  item.tooltip = plainMarkdown([
    `**${markdownText(wf.name)}**, ${markdownText(label)}`,
    '',
    ...(date === undefined ? [] : [`Saved: ${markdownText(formatTooltipTime(date))}`, '']),
    `Version id: ${markdownText(v.versionId)}`,
    '',
    `Workflow id: ${markdownText(wf.workflowId)}`,
  ]);
  item.iconPath = new vscode.ThemeIcon('versions');
  item.contextValue = 'version';
  return item;
}
