import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isObject } from '../base/json';
import { DisposableObject } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { type Services } from '../commands/services';
import { UserError } from '../commands/userError';
import { resolveOutputLocation } from '../core/outputLocation';
import { RUN_RECORD_NAME } from '../core/outputSaver';
import { hourlyRate } from '../core/pricing';
import { SWEEP_RECORD_NAME } from '../core/sweep/sweepRecord';
import { type RunTarget } from '../core/runRegistry';
import { type SweepGroup, type SweepGroups } from '../views/runsTreeDataProvider';
import { isNode } from '../views/treeNodes';
import { RUN_PANEL_VIEW_TYPE } from './messages';
import type * as HostModule from './runPanelHost';
import { type RunPanelHost, type RunPanelSnapshot } from './runPanelHost';

/** `runcomfy.showRunPanel`: when a starting run opens the panel. */
export type ShowRunPanel = 'always' | 'never' | 'onFirstRun';

/**
 * True when a run panel is open in this window and follows each new run (any setting but `never`): a
 * finished run's gallery is on screen there, so the run's first image need not open over it.
 */
export function runPanelShowsRuns(): boolean {
  if (vscode.workspace.getConfiguration('runcomfy').get<ShowRunPanel>('showRunPanel', 'onFirstRun') === 'never') return false;
  // A webview tab's viewType is the panel's own, prefixed by the workbench (`mainThreadWebview-runcomfy.run`).
  return vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(RUN_PANEL_VIEW_TYPE)));
}

/** A workflow file larger than this is not read for the overrides. */
const MAX_WORKFLOW_BYTES = 20 * 1024 * 1024;

/* eslint-disable @typescript-eslint/no-require-imports -- the panel's host is loaded when a panel opens, not at activation */
/** The panel host, a file of its own in the extension's bundle (dist/panel/runPanelHost.js, see esbuild.js). */
const hostModule = (): typeof HostModule => require('./runPanelHost') as typeof HostModule;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The run panel as the rest of the extension sees it: opens it when a run starts (per
 * `runcomfy.showRunPanel`), restores it after a reload (the serializer), and runs its commands.
 * The panel's code ({@link RunPanelHost}, the webview bundle) loads only when a panel opens.
 */
export class RunPanels extends DisposableObject {
  private host?: RunPanelHost;
  private sawRun = false;
  private readonly known = new Set<string>();
  /** The latest preview frame of each live run, so a panel opened mid-run shows one at once (one frame per run, dropped when it ends). */
  private readonly latestPreviews = new Map<string, { readonly mime: string; readonly image: Buffer }>();

  constructor(
    private readonly services: Services,
    private readonly extensionUri: vscode.Uri,
    private readonly storageUri: vscode.Uri,
    private readonly sweeps?: SweepGroups,
  ) {
    super();
    this._register(
      vscode.window.registerWebviewPanelSerializer(RUN_PANEL_VIEW_TYPE, {
        deserializeWebviewPanel: (panel, state) => this.load().restore(panel, state, outputRoots(services)),
      }),
    );
    this._register(
      services.runs.onDidRunEvent(({ record, event }) => {
        // The event's image is a view into the received frame: copied, so the frame itself can go.
        if (event.type === 'preview') this.latestPreviews.set(record.id, { mime: event.mime, image: Buffer.from(event.image) });
        else if (event.type === 'finished') this.latestPreviews.delete(record.id);
      }),
    );
    this._register(
      services.runs.onDidChange((r) => {
        if (this.known.has(r.id)) return;
        this.known.add(r.id);
        if (r.finishedAtMs !== undefined) return;
        void this.runStarted(r.id);
      }),
    );
  }

  /** What the test hooks report; undefined until a panel was first opened. */
  snapshot(): RunPanelSnapshot | undefined {
    return this.host?.snapshot();
  }

  /** Posts a message as the webview would (test hooks only). */
  async receive(message: unknown): Promise<void> {
    await this.host?.receive(message);
  }

  /** Open Run: a run of the Runs view, a run folder or its `run.json` (explorer), or a pick among the listed runs. */
  async open(arg?: unknown): Promise<void> {
    if (isNode(arg, 'run')) {
      const run = this.services.runs.get(arg.runId);
      if (!run) throw new UserError('That run is no longer listed.');
      return this.load().showRun(run.id, { preview: this.latestPreviews.get(run.id) });
    }
    const chosen = runDirOf(arg) ?? (await this.pickRun());
    if (typeof chosen !== 'string') return 'sweepDir' in chosen ? this.load().showSheet(chosen.sweepDir) : this.load().showRun(chosen.runId, { preview: this.latestPreviews.get(chosen.runId) });
    // A sweep folder (or its sweep.json) from the Explorer: its runs are below it, its contact sheet shows them all.
    if (path.basename(chosen) === SWEEP_RECORD_NAME || ((await isSweepFolder(chosen)) && !(await isFile(path.join(chosen, RUN_RECORD_NAME))))) return this.openContactSheet(chosen);
    return this.load().showRecord(await checkedRunDir(chosen));
  }

  /** Open Contact Sheet: a sweep of the Runs view, a sweep folder or its `sweep.json` (explorer), or a pick among the sweeps found. */
  async openContactSheet(arg?: unknown): Promise<void> {
    let dir: string | undefined;
    if (isNode(arg, 'sweep')) {
      dir = this.sweeps?.get(arg.sweepId)?.dir;
      if (!dir) throw new UserError('That sweep is no longer listed.');
    } else {
      const given = runDirOf(arg);
      dir = given === undefined ? undefined : path.basename(given) === SWEEP_RECORD_NAME ? path.dirname(given) : given;
    }
    if (dir === undefined) {
      const picked = await this.pickRun({ sweepsOnly: true });
      if (typeof picked === 'string' || !('sweepDir' in picked)) return;
      dir = picked.sweepDir;
    }
    if (!(await isSweepFolder(dir))) throw new UserError(`${dir} is no sweep folder: it has no ${SWEEP_RECORD_NAME}. Pick the folder a sweep saved its runs in (it holds ${SWEEP_RECORD_NAME}).`);
    return this.load().showSheet(path.resolve(dir));
  }

  /** Compare with…: the run given (or shown) against another run of the same workflow, picked. */
  async compare(arg?: unknown, other?: unknown): Promise<void> {
    let dir: string | undefined;
    if (isNode(arg, 'run')) dir = this.services.runs.get(arg.runId)?.result?.runDir;
    else dir = runDirOf(arg) ?? this.host?.currentRunDir();
    if (!dir) throw new UserError('Open a finished run first (Open Run), then compare it with another run of the same workflow.');
    dir = await checkedRunDir(dir);
    const right = runDirOf(other) ?? (await this.pickRunToCompare(dir));
    if (right) await this.load().compare(dir, await checkedRunDir(right));
  }

  private async runStarted(runId: string): Promise<void> {
    const setting = vscode.workspace.getConfiguration('runcomfy').get<ShowRunPanel>('showRunPanel', 'onFirstRun');
    const first = !this.sawRun;
    this.sawRun = true;
    const open = this.host?.isOpen ?? false;
    // An open panel follows the newest run; a closed one opens again only when the user asked for `always`.
    if (open ? setting === 'never' : !(setting === 'always' || (setting === 'onFirstRun' && first))) return;
    try {
      await this.load().showRun(runId, { preserveFocus: true });
    } catch (e) {
      this.services.log.warn(`Could not show the run panel: ${(e as Error).message}`);
    }
  }

  private load(): RunPanelHost {
    if (this.host) return this.host;
    const { RunPanelHost } = hostModule();
    const services = this.services;
    const host = new RunPanelHost({
      extensionUri: this.extensionUri,
      runs: services.runs,
      clock: services.clock,
      rateFor: (t) => rateFor(services, t),
      interrupt: (runId) => vscode.commands.executeCommand(CommandIds.interruptRun, { kind: 'run', runId }),
      thumbnailDir: vscode.Uri.joinPath(this.storageUri, 'thumbnails').fsPath,
      pickRunToCompare: (dir) => this.pickRunToCompare(dir),
      promptOnDisk: (record) => promptOnDisk(record),
      sweepOf: (dir) => {
        const group = this.sweeps?.all.find((g) => path.resolve(g.dir) === path.resolve(dir));
        return group && { runs: group.runs.map(sweepRunShape), status: group.status };
      },
      onDidChangeSweeps: this.sweeps?.onDidChange,
    });
    this.host = this._register(host);
    return host;
  }

  /** A run of this window (live or finished), or a run folder of an earlier session found under the output folders; sweeps (of this window and earlier) open as contact sheets. */
  private async pickRun(options: { sweepsOnly?: boolean } = {}): Promise<string | { runId: string } | { sweepDir: string }> {
    const sweepsOnly = options.sweepsOnly === true;
    const listed = sweepsOnly ? [] : this.services.runs.runs;
    const groups: readonly SweepGroup[] = this.sweeps?.all ?? [];
    const known = new Set(listed.map((r) => r.result?.runDir).filter((d): d is string => d !== undefined).map((d) => path.resolve(d)));
    const knownSweeps = new Set(groups.map((g) => path.resolve(g.dir)));
    const candidates = await pastFolderCandidates(this.services);
    const past = sweepsOnly ? [] : (await foldersWith(candidates, RUN_RECORD_NAME, MAX_PAST_RUNS)).filter((d) => !known.has(d));
    const pastSweeps = (await foldersWith(candidates, SWEEP_RECORD_NAME, MAX_PAST_RUNS)).filter((d) => !knownSweeps.has(d));
    if (listed.length === 0 && past.length === 0 && groups.length === 0 && pastSweeps.length === 0) {
      throw new UserError(
        sweepsOnly
          ? `No sweep to open: none ran in this window and no sweep folder (with its ${SWEEP_RECORD_NAME}) was found under the output folders. Open a sweep folder from the Explorer instead: right-click it, Open Contact Sheet.`
          : 'No run to open: none ran in this window and no run folder was found under the output folders. Open a run folder (or its run.json) from the Explorer instead: right-click it, Open Run.',
      );
    }
    return this.services.prompter.pick<string | { runId: string } | { sweepDir: string }>(
      [
        ...groups.map((g) => ({ label: `Sweep: ${g.name}`, description: `${g.status} · ${g.runs.length} runs · this window`, value: { sweepDir: path.resolve(g.dir) } })),
        ...listed.map((r) => ({ label: r.workflowName, description: `${r.phase} · this window`, value: { runId: r.id } })),
        ...pastSweeps.map((d) => ({ label: `Sweep: ${path.basename(path.dirname(d))}`, description: path.basename(d), detail: d, value: { sweepDir: d } })),
        ...past.map((d) => ({ label: path.basename(path.dirname(d)), description: path.basename(d), detail: d, value: d })),
      ],
      { title: sweepsOnly ? 'Open the contact sheet of which sweep?' : 'Open which run?' },
    );
  }

  /** Another run folder of the same workflow (a sibling under `<output>/<workflow>/`), newest first. */
  private async pickRunToCompare(runDir: string): Promise<string | undefined> {
    const parent = path.dirname(runDir);
    const entries = await fs.readdir(parent, { withFileTypes: true }).catch(() => []);
    const siblings: string[] = [];
    for (const e of entries) {
      const dir = path.join(parent, e.name);
      if (!e.isDirectory() || path.resolve(dir) === path.resolve(runDir)) continue;
      if (await fs.stat(path.join(dir, RUN_RECORD_NAME)).then((s) => s.isFile(), () => false)) siblings.push(dir);
    }
    if (siblings.length === 0) throw new UserError(`No other run of ${path.basename(parent)} was found beside ${path.basename(runDir)} to compare with.`);
    siblings.sort((a, b) => path.basename(b).localeCompare(path.basename(a)));
    return this.services.prompter.pick(
      siblings.map((d) => ({ label: path.basename(d), value: d })),
      { title: `Compare ${path.basename(runDir)} with which run of ${path.basename(parent)}?` },
    );
  }
}

/** Most run folders listed from earlier sessions: enough history for a pick, bounded for a huge output folder. */
const MAX_PAST_RUNS = 500;

/**
 * Folders of earlier sessions that may hold a run or a sweep: `<output folder>/<workflow>/<name>` under
 * each workspace folder's `runcomfy.outputDirectory`, newest first (run and sweep folder names start
 * with the time). Only folder listings are read here.
 */
async function pastFolderCandidates(services: Services): Promise<string[]> {
  const candidates: string[] = [];
  for (const root of outputRoots(services)) {
    for (const workflow of await fs.readdir(root, { withFileTypes: true }).catch(() => [])) {
      if (!workflow.isDirectory()) continue;
      for (const run of await fs.readdir(path.join(root, workflow.name), { withFileTypes: true }).catch(() => [])) {
        if (run.isDirectory()) candidates.push(path.resolve(root, workflow.name, run.name));
      }
    }
  }
  return candidates.sort((a, b) => path.basename(b).localeCompare(path.basename(a)));
}

/**
 * The first `max` of `candidates` (newest first) that hold `record` (run.json: a run folder; sweep.json: a
 * sweep folder), one stat each until `max` are found, so a folder of thousands of runs costs listings, not reads.
 */
async function foldersWith(candidates: readonly string[], record: string, max: number): Promise<string[]> {
  const found: string[] = [];
  for (const dir of candidates) {
    if (found.length >= max) break;
    if (await isFile(path.join(dir, record))) found.push(dir);
  }
  return found;
}

/** Run folders of earlier sessions, newest first, at most `max`. The Open Run pick and the Runs view's "Earlier runs" both find runs here. */
export async function pastRunFolders(services: Services, max = MAX_PAST_RUNS): Promise<string[]> {
  return foldersWith(await pastFolderCandidates(services), RUN_RECORD_NAME, max);
}

function isFile(file: string): Promise<boolean> {
  return fs.stat(file).then((s) => s.isFile(), () => false);
}

function isSweepFolder(dir: string): Promise<boolean> {
  return isFile(path.join(dir, SWEEP_RECORD_NAME));
}

/** A sweep run of this window in sweep.json's shape, for the contact sheet's one reader (which checks its paths like a file's). */
function sweepRunShape(r: SweepGroup['runs'][number]): Record<string, unknown> {
  return { index: r.index, params: r.params, status: r.status, target: r.target, error: r.error, folder: r.folder, run_dir: r.runDir ?? null, outputs: r.outputs };
}

/** The output folder of each workspace folder on disk (`runcomfy.outputDirectory`); a refused setting gives none (queueing says why). */
function outputRoots(services: Services): string[] {
  const roots: string[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== 'file') continue;
    try {
      roots.push(resolveOutputLocation(services.config.forResource(folder.uri).outputDirectory, folder.uri.fsPath, folder.uri.fsPath).root);
    } catch {
      // A refused setting: queueing says why; nothing is listed or restored from this folder.
    }
  }
  return roots;
}

/** A run folder from a command argument: a folder or `run.json` URI (the explorer), or a path (tests, other commands). */
function runDirOf(arg: unknown): string | undefined {
  if (isNode(arg, 'pastRun')) return arg.runDir;
  const p = arg instanceof vscode.Uri ? (arg.scheme === 'file' ? arg.fsPath : undefined) : typeof arg === 'string' ? arg : undefined;
  if (!p) return undefined;
  return path.basename(p) === RUN_RECORD_NAME ? path.dirname(p) : p;
}

async function checkedRunDir(dir: string): Promise<string> {
  const ok = await fs.stat(path.join(dir, RUN_RECORD_NAME)).then((s) => s.isFile(), () => false);
  if (!ok) throw new UserError(`${dir} is no run folder: it has no ${RUN_RECORD_NAME}. Pick a folder a run saved its outputs in.`);
  return path.resolve(dir);
}

function rateFor(services: Services, target: RunTarget): number | undefined {
  if (target.kind !== 'machine') return undefined;
  const machine = services.accounts.accountOrUndefined?.machines.machines.find((m) => m.serverId === target.serverId);
  return hourlyRate(machine?.serverType, services.config.value.rates);
}

/**
 * The workflow file a record names, as it is on disk now, when it is an API-format prompt: the panel
 * lists the inputs the run sent differently (overrides, dynamic prompts). Looked up in each
 * workspace folder (the record names it relative to one); undefined when absent or not API format.
 */
async function promptOnDisk(record: unknown): Promise<unknown> {
  if (!isObject(record) || typeof record.workflowFile !== 'string' || record.convertedFrom === 'ui') return undefined;
  const rel = record.workflowFile;
  if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) return undefined;
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== 'file') continue;
    const file = path.join(folder.uri.fsPath, rel);
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile() || stat.size > MAX_WORKFLOW_BYTES) continue;
      const prompt = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
      if (isObject(prompt) && Object.values(prompt).every((n) => isObject(n) && typeof n.class_type === 'string')) return prompt;
    } catch {
      // Not there, or not JSON: no overrides from this folder.
    }
  }
  return undefined;
}
