import * as vscode from 'vscode';
import { type Clock, systemClock } from '../base/clock';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { type RunRegistry } from '../core/runRegistry';
import { type SweepRunState } from '../core/sweep/sweepDispatcher';
import { type SweepStatus } from '../core/sweep/sweepRunner';
import { throttle } from '../base/throttle';
import { runItem } from './treeItems';
import { type RunNode, type SweepNode, type SweepRunNode } from './treeNodes';

/** A sweep as the Runs view shows it: one parent row, its runs (the dispatcher's live states) below. */
export interface SweepGroup {
  readonly id: string;
  readonly name: string;
  /** The sweep's folder (sweep.json at its top). */
  readonly dir: string;
  readonly runs: readonly SweepRunState[];
  /** `running` until the sweep ends. */
  status: 'running' | SweepStatus;
  /** Interrupts our prompts and stops the machines the sweep launched. */
  cancel(): void;
  /** With autoscale: how many machines the sweep launched and how many of their stops landed so far. */
  readonly machines?: () => { readonly launched: number; readonly stopped: number };
}

/** The sweeps of this window, newest first; the view listens to their changes. */
export class SweepGroups extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<void>());
  readonly onDidChange: Event<void> = this._onDidChange.event;
  private readonly groups: SweepGroup[] = [];

  get all(): readonly SweepGroup[] {
    return this.groups;
  }

  get(id: string): SweepGroup | undefined {
    return this.groups.find((g) => g.id === id);
  }

  add(group: SweepGroup): void {
    this.groups.unshift(group);
    this.changed();
  }

  /** The window closes: every running sweep is cancelled, so the machines it launched are stopped (their stops run on the account's money operations, which `deactivate` waits for). */
  cancelAll(): void {
    for (const g of this.groups) if (g.status === 'running') g.cancel();
  }

  /** Call when a run of a group or its status changed. */
  changed(): void {
    this._onDidChange.fire();
  }
}

type RunsViewNode = RunNode | SweepNode | SweepRunNode;

/** Recent runs of this window, newest first, with their status; finished ones can run again. Sweeps come first, as groups. */
export class RunsTreeDataProvider extends DisposableObject implements vscode.TreeDataProvider<RunsViewNode> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<undefined>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;

  constructor(
    private readonly runs: RunRegistry,
    private readonly clock: Clock = systemClock,
    private readonly sweeps?: SweepGroups,
  ) {
    super();
    // Progress events can arrive thousands of times a second; the tree needs a few updates a second.
    const refresh = this._register(throttle(() => this._onDidChangeTreeData.fire(undefined), 250, clock));
    this._register(runs.onDidChange(() => refresh.run()));
    if (sweeps) this._register(sweeps.onDidChange(() => refresh.run()));
  }

  getTreeItem(node: RunsViewNode): vscode.TreeItem {
    if (node.kind === 'sweep') {
      const group = this.sweeps?.get(node.sweepId);
      return group ? sweepItem(group) : new vscode.TreeItem('(sweep no longer listed)');
    }
    if (node.kind === 'sweepRun') {
      const run = this.sweeps?.get(node.sweepId)?.runs[node.index];
      return run ? sweepRunItem(node.sweepId, run) : new vscode.TreeItem('(run no longer listed)');
    }
    const run = this.runs.get(node.runId);
    if (!run) return new vscode.TreeItem('(run no longer listed)');
    const item = runItem(run, this.clock.now());
    item.command = { command: CommandIds.openRun, title: 'Open Run', arguments: [node] };
    return item;
  }

  getChildren(node?: RunsViewNode): RunsViewNode[] {
    if (!node) {
      return [
        ...(this.sweeps?.all ?? []).map((g): SweepNode => ({ kind: 'sweep', sweepId: g.id })),
        ...this.runs.runs.map((r): RunNode => ({ kind: 'run', runId: r.id })),
      ];
    }
    if (node.kind === 'sweep') return (this.sweeps?.get(node.sweepId)?.runs ?? []).map((r): SweepRunNode => ({ kind: 'sweepRun', sweepId: node.sweepId, index: r.index }));
    return [];
  }
}

function sweepItem(g: SweepGroup): vscode.TreeItem {
  const item = new vscode.TreeItem(`Sweep: ${g.name}`, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `sweep:${g.id}`;
  const counts = new Map<string, number>();
  for (const r of g.runs) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const parts = ['success', 'running', 'queued', 'pending', 'error', 'interrupted', 'skipped'].filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${statusWord(s)}`);
  const m = g.machines?.();
  const machines = m && m.launched > 0 ? ` · ${m.launched} machine${m.launched === 1 ? '' : 's'} launched, ${m.stopped} stopped` : '';
  item.description = `${g.status === 'running' ? '' : `${g.status} · `}${parts.join(', ')}${machines}`;
  item.iconPath = new vscode.ThemeIcon(g.status === 'running' ? 'loading~spin' : g.status === 'success' ? 'pass' : 'warning');
  item.contextValue = g.status === 'running' ? 'sweep liveSweep' : 'sweep';
  item.tooltip = `${g.runs.length} runs · ${g.dir}`;
  return item;
}

function sweepRunItem(sweepId: string, r: SweepRunState): vscode.TreeItem {
  const item = new vscode.TreeItem(Object.entries(r.params).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join(', '), vscode.TreeItemCollapsibleState.None);
  item.id = `sweep:${sweepId}:${r.index}`;
  item.description = `${statusWord(r.status)}${r.target ? ` · ${r.target}` : ''}${r.status === 'success' ? ` · ${r.outputs.length} output${r.outputs.length === 1 ? '' : 's'}` : ''}`;
  item.iconPath = new vscode.ThemeIcon(r.status === 'success' ? 'pass' : r.status === 'error' ? 'error' : r.status === 'running' ? 'loading~spin' : 'circle-outline');
  item.contextValue = 'sweepRun';
  if (r.error) item.tooltip = r.error.message;
  return item;
}

function statusWord(s: string): string {
  return s === 'success' ? 'done' : s === 'error' ? 'failed' : s;
}
