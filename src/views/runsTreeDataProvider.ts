import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type Clock, systemClock } from '../base/clock';
import { printableText } from '../base/untrustedText';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { RUN_RECORD_NAME } from '../core/outputSaver';
import { type RunRegistry } from '../core/runRegistry';
import { runViewFromRecord } from '../core/runView';
import { type SweepRunState } from '../core/sweep/sweepDispatcher';
import { type SweepStatus } from '../core/sweep/sweepRunner';
import { throttle } from '../base/throttle';
import { messageItem, runItem } from './treeItems';
import { type EarlierRunsNode, type MessageNode, type PastRunNode, type RunNode, type SweepNode, type SweepRunNode } from './treeNodes';

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

type RunsViewNode = RunNode | SweepNode | SweepRunNode | EarlierRunsNode | PastRunNode | MessageNode;

/** Finds run folders of earlier sessions, newest first, at most `max` (the Open Run pick's finder). */
export type PastRunFinder = (max: number) => Promise<string[]>;

/** Most earlier runs the view lists (each is one `run.json` read when the group opens); Open Run's pick offers more. */
export const MAX_EARLIER_RUNS = 100;
/** A `run.json` larger than this is not read for its row: the row says so and still opens the run. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** One earlier run as its row shows it, read from its `run.json` (untrusted: texts escaped, output paths checked). */
interface PastRunRow {
  readonly runDir: string;
  readonly name: string;
  readonly status?: string;
  readonly outputs?: number;
  readonly problem?: string;
}

const EARLIER: EarlierRunsNode = { kind: 'earlierRuns' };

/**
 * Recent runs of this window, newest first, with their status; finished ones can run again. Sweeps
 * come first, as groups; runs of earlier sessions (found under the output folders) last, in a
 * collapsed "Earlier runs" group that looks for them only when opened.
 */
export class RunsTreeDataProvider extends DisposableObject implements vscode.TreeDataProvider<RunsViewNode> {
  private readonly _onDidChangeTreeData = this._register(new vscode.EventEmitter<RunsViewNode | undefined>());
  readonly onDidChangeTreeData = this._onDidChangeTreeData.event;
  /** The earlier runs found when the group was last opened; dropped when a run ends (its folder is new, the list may change). */
  private earlier?: Promise<{ rows: Map<string, PastRunRow>; more: boolean }>;
  private readonly ended = new Set<string>();

  constructor(
    private readonly runs: RunRegistry,
    private readonly clock: Clock = systemClock,
    private readonly sweeps?: SweepGroups,
    private readonly findPastRuns?: PastRunFinder,
  ) {
    super();
    // Progress events can arrive thousands of times a second; the tree needs a few updates a second.
    const refresh = this._register(throttle(() => this._onDidChangeTreeData.fire(undefined), 250, clock));
    this._register(
      runs.onDidChange((r) => {
        if (r.finishedAtMs !== undefined && !this.ended.has(r.id)) {
          this.ended.add(r.id);
          this.earlier = undefined;
        }
        refresh.run();
      }),
    );
    if (sweeps) this._register(sweeps.onDidChange(() => refresh.run()));
  }

  async getTreeItem(node: RunsViewNode): Promise<vscode.TreeItem> {
    if (node.kind === 'earlierRuns') {
      const item = new vscode.TreeItem('Earlier runs', vscode.TreeItemCollapsibleState.Collapsed);
      item.id = 'earlierRuns';
      item.iconPath = new vscode.ThemeIcon('history');
      item.contextValue = 'earlierRuns';
      item.tooltip = `Runs of earlier sessions found under the output folders (runcomfy.outputDirectory), newest ${MAX_EARLIER_RUNS} first.`;
      return item;
    }
    if (node.kind === 'pastRun') {
      const row = (await this.earlier)?.rows.get(node.runDir);
      return row ? pastRunItem(node, row) : new vscode.TreeItem('(run no longer listed)');
    }
    if (node.kind === 'message') return messageItem(node);
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

  async getChildren(node?: RunsViewNode): Promise<RunsViewNode[]> {
    if (!node) {
      return [
        ...(this.sweeps?.all ?? []).map((g): SweepNode => ({ kind: 'sweep', sweepId: g.id })),
        ...this.runs.runs.map((r): RunNode => ({ kind: 'run', runId: r.id })),
        ...(this.findPastRuns ? [EARLIER] : []),
      ];
    }
    if (node.kind === 'sweep') return (this.sweeps?.get(node.sweepId)?.runs ?? []).map((r): SweepRunNode => ({ kind: 'sweepRun', sweepId: node.sweepId, index: r.index }));
    if (node.kind === 'earlierRuns') {
      this.earlier ??= this.readEarlier();
      const { rows, more } = await this.earlier;
      const nodes: RunsViewNode[] = [...rows.keys()].map((runDir): PastRunNode => ({ kind: 'pastRun', runDir }));
      if (nodes.length === 0) nodes.push({ kind: 'message', text: 'No runs of earlier sessions under the output folders.', icon: 'info' });
      if (more) nodes.push({ kind: 'message', text: `Only the newest ${MAX_EARLIER_RUNS} are listed.`, detail: 'Open Run… offers more', icon: 'info', command: CommandIds.openRun });
      return nodes;
    }
    return [];
  }

  /** The newest earlier runs (not of this window), each row from its `run.json`. */
  private async readEarlier(): Promise<{ rows: Map<string, PastRunRow>; more: boolean }> {
    const mine = new Set(this.runs.runs.map((r) => r.result?.runDir).filter((d): d is string => d !== undefined).map((d) => path.resolve(d)));
    let found: string[];
    try {
      found = (await this.findPastRuns!(MAX_EARLIER_RUNS + 1 + mine.size)).filter((d) => !mine.has(path.resolve(d)));
    } catch {
      found = [];
    }
    const rows = await Promise.all(found.slice(0, MAX_EARLIER_RUNS).map((d) => readPastRun(d)));
    return { rows: new Map(rows.map((r) => [r.runDir, r])), more: found.length > MAX_EARLIER_RUNS };
  }
}

/** A row for a run folder from its `run.json`, read with a size cap: what it says is escaped, a broken record is a row that says so. */
async function readPastRun(runDir: string): Promise<PastRunRow> {
  const name = printableText(path.basename(path.dirname(runDir)));
  const file = path.join(runDir, RUN_RECORD_NAME);
  try {
    const stat = await fs.stat(file);
    if (stat.size > MAX_RECORD_BYTES) return { runDir, name, problem: `${RUN_RECORD_NAME} is too large to read here (${Math.round(stat.size / 1024 / 1024)} MB)` };
    const view = runViewFromRecord(JSON.parse(await fs.readFile(file, 'utf8')) as unknown, runDir);
    return { runDir, name: view.name, status: view.status, outputs: view.outputs.length };
  } catch (e) {
    return { runDir, name, problem: e instanceof SyntaxError ? `${RUN_RECORD_NAME} is not valid JSON` : printableText((e as Error).message) };
  }
}

function pastRunItem(node: PastRunNode, row: PastRunRow): vscode.TreeItem {
  const item = new vscode.TreeItem(row.name, vscode.TreeItemCollapsibleState.None);
  item.id = `past:${node.runDir}`;
  const folder = printableText(path.basename(node.runDir));
  item.description = row.problem ? `${folder} · unreadable` : `${folder} · ${statusWord(row.status ?? '')}${row.outputs ? ` · ${row.outputs} output${row.outputs === 1 ? '' : 's'}` : ''}`;
  item.iconPath = new vscode.ThemeIcon(row.problem ? 'warning' : row.status === 'success' ? 'pass' : row.status === 'interrupted' ? 'debug-stop' : 'error');
  item.contextValue = 'pastRun';
  item.tooltip = row.problem ? `${printableText(node.runDir)}\n${row.problem}` : printableText(node.runDir);
  item.command = { command: CommandIds.openRun, title: 'Open Run', arguments: [node] };
  return item;
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
