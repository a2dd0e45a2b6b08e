import * as vscode from 'vscode';
import { type Clock, systemClock } from '../base/clock';
import { DisposableObject } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { type RunRegistry } from '../core/runRegistry';
import { throttle } from '../base/throttle';
import { runItem } from './treeItems';
import { type RunNode } from './treeNodes';

/** Recent runs of this window, newest first, with their status; finished ones can run again. */
export class RunsTreeDataProvider extends DisposableObject implements vscode.TreeDataProvider<RunNode> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<undefined>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;

  constructor(
    private readonly runs: RunRegistry,
    private readonly clock: Clock = systemClock,
  ) {
    super();
    // Progress events can arrive thousands of times a second; the tree needs a few updates a second.
    const refresh = this._register(throttle(() => this._onDidChangeTreeData.fire(undefined), 250, clock));
    this._register(runs.onDidChange(() => refresh.run()));
  }

  getTreeItem(node: RunNode): vscode.TreeItem {
    const run = this.runs.get(node.runId);
    if (!run) return new vscode.TreeItem('(run no longer listed)');
    const item = runItem(run, this.clock.now());
    item.command = { command: CommandIds.openRun, title: 'Open Run', arguments: [node] };
    return item;
  }

  getChildren(node?: RunNode): RunNode[] {
    return node ? [] : this.runs.runs.map((r): RunNode => ({ kind: 'run', runId: r.id }));
  }
}
