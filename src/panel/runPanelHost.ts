import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { type Clock } from '../base/clock';
import { type Event } from '../base/event';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { throttle, type Throttled } from '../base/throttle';
import { RUN_RECORD_NAME } from '../core/outputSaver';
import { contactSheetFromRecord, contactSheetView, type ContactSheetView, MAX_SWEEP_RECORD_BYTES } from '../core/contactSheet';
import { SWEEP_RECORD_NAME } from '../core/sweep/sweepRecord';
import { thumbnailFor } from '../core/thumbnails';
import { compareRuns, RunViewModel, runViewFromRecord, type RunViewState } from '../core/runView';
import { type RunRegistry, type RunTarget, targetLabel } from '../core/runRegistry';
import { checkRestoreState } from './restoreState';
import { RUN_PANEL_VIEW_TYPE, type HostMessage, type OutputMedia, type PanelPersistedState, type PanelSide, type PanelView, parseWebviewMessage, type SheetThumb, type WebviewMessage } from './messages';


/** At most this many previews a second reach the webview: what the eye follows; the latest frame wins. */
const PREVIEW_INTERVAL_MS = 100;
/** State updates (node, step, elapsed, cost) at most this often. */
const STATE_INTERVAL_MS = 200;
/** Elapsed time and cost tick this often while a live run is shown. */
const TICK_MS = 1000;

/** What the host needs of the extension. */
export interface RunPanelDeps {
  readonly extensionUri: vscode.Uri;
  readonly runs: RunRegistry;
  readonly clock: Clock;
  /** US dollars per hour of a target, when known. */
  readonly rateFor: (target: RunTarget) => number | undefined;
  /** Interrupts a live run through the Interrupt Run command (the one path for every cancel). */
  readonly interrupt: (runId: string) => Thenable<unknown>;
  /** Where generated thumbnails are kept (the extension's storage; the webview may load from it). */
  readonly thumbnailDir: string;
  /** Compare with…: another run folder of the same workflow, asked of the user. */
  readonly pickRunToCompare: (runDir: string) => Promise<string | undefined>;
  /** The workflow's prompt on disk now (API format), for a record's overrides. */
  readonly promptOnDisk: (record: unknown, runDir: string) => Promise<unknown>;
  /** A sweep of this window by its folder: its runs as they are now (sweep.json's shape), for a contact sheet that follows it live. */
  readonly sweepOf?: (sweepDir: string) => { readonly runs: readonly unknown[]; readonly status: string; readonly workflow?: string } | undefined;
  /** Fires when a run of a sweep of this window changes. */
  readonly onDidChangeSweeps?: Event<void>;
}

/** A contact sheet's tile pictures, made one at a time in the background: 500 large PNGs must not hold the first picture back. */
interface SheetThumbs {
  readonly sweepDir: string;
  /** Image file → its thumbnail file, or null when it gets none. */
  readonly done: Map<string, string | null>;
  readonly queue: { readonly file: string; readonly bytes?: number }[];
  readonly queued: Set<string>;
  working: boolean;
}

/** What the panel shows now. */
type Showing =
  | { readonly kind: 'live'; readonly runId: string; readonly model: RunViewModel }
  | { readonly kind: 'record'; readonly runDir: string }
  | { readonly kind: 'compare'; readonly left: string; readonly right: string }
  | { readonly kind: 'sheet'; readonly sweepDir: string }
  | { readonly kind: 'notice'; readonly title: string; readonly message: string };

/** What the test hooks see of the panel. */
export interface RunPanelSnapshot {
  readonly open: boolean;
  /** True when the open panel is one VS Code restored after a reload (handed to the serializer), not one this window created. */
  readonly restored: boolean;
  readonly showing?: { kind: Showing['kind']; runId?: string; runDir?: string; right?: string; sweepDir?: string };
  /** The last state posted to the webview. */
  readonly view?: PanelView;
  readonly previewsPosted: number;
  readonly lastPreviewBytes: number;
  /** The webview's last `rendered` report. */
  readonly rendered?: WebviewMessage;
  /** Every message the host received from the webview (types only), in order. */
  readonly received: readonly string[];
}

/**
 * The run panel: one webview panel, reused. It shows the run that started last (or the one the user
 * opened), follows it live and turns into its gallery when it ends; a past run or a comparison
 * replaces it. One panel rather than one per run, because runs come in bursts (reruns, sweeps)
 * and a panel per run would bury the editor; the extension holds every run's state, so switching
 * the panel to another run costs nothing, and the serializer restores the run folder it showed.
 */
export class RunPanelHost extends DisposableObject {
  private panel?: vscode.WebviewPanel;
  private panelSubs: Disposable[] = [];
  private showing?: Showing;
  private view?: PanelView;
  private latestPreview?: string;
  private previewsPosted = 0;
  private lastPreviewBytes = 0;
  private rendered?: WebviewMessage;
  private restored = false;
  private readonly received: string[] = [];
  private readonly postPreview: Throttled;
  private readonly postState: Throttled;
  private tick?: Disposable;
  /** Bumped whenever what is shown changes: a slow render for an older choice is dropped. */
  private generation = 0;
  /** The contact sheet a run was opened from (its sweep folder), while that run is shown: the way back. */
  private fromSheet?: string;
  private sheetThumbs?: SheetThumbs;
  /** The last sweep.json read, kept while unchanged (size and time): a live sheet re-renders often. */
  private sheetRecord?: { readonly file: string; readonly size: number; readonly mtimeMs: number; readonly record: unknown };

  constructor(private readonly deps: RunPanelDeps) {
    super();
    this.postPreview = this._register(throttle(() => this.sendPreview(), PREVIEW_INTERVAL_MS, deps.clock));
    this.postState = this._register(throttle(() => void this.renderOrExplain(), STATE_INTERVAL_MS, deps.clock));
    this._register(
      deps.runs.onDidRunEvent(({ record, event }) => {
        const s = this.showing;
        if (s?.kind !== 'live' || s.runId !== record.id) return;
        if (event.type === 'preview') {
          this.latestPreview = previewDataUrl(event.mime, event.image);
          this.lastPreviewBytes = event.image.byteLength;
          this.postPreview.run();
          return;
        }
        s.model.apply(event, deps.clock.now());
        if (event.type === 'finished') {
          this.stopTick();
          // The gallery comes from the run.json just written: node titles from the prompt, phases, overrides.
          const runDir = event.result.runDir;
          if (runDir) this.showing = { kind: 'record', runDir: path.resolve(runDir) };
          void this.renderOrExplain();
        } else {
          this.postState.run();
        }
      }),
    );
    if (deps.onDidChangeSweeps) {
      this._register(
        deps.onDidChangeSweeps(() => {
          if (this.showing?.kind === 'sheet') this.postState.run();
        }),
      );
    }
    this._register({ dispose: () => this.disposePanel() });
  }

  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  /** Shows a run of this window (live or finished) and follows it. */
  async showRun(runId: string, options: { preserveFocus?: boolean; preview?: { readonly mime: string; readonly image: Buffer } } = {}): Promise<void> {
    const record = this.deps.runs.get(runId);
    if (!record) throw new Error(`Run ${runId} is no longer listed.`);
    if (record.result?.runDir) return this.showRecord(record.result.runDir, options);
    const now = this.deps.clock.now();
    const model = RunViewModel.following(record, { target: targetLabel(record.target), ratePerHour: this.deps.rateFor(record.target) }, now);
    this.showing = { kind: 'live', runId, model };
    this.fromSheet = undefined;
    this.latestPreview = options.preview && !model.finished ? previewDataUrl(options.preview.mime, options.preview.image) : undefined;
    this.ensurePanel(options.preserveFocus ?? false);
    this.stopTick();
    if (!model.finished) this.tick = this.every(TICK_MS, () => this.postState.run());
    await this.render();
    if (this.latestPreview) this.postPreview.run();
  }

  /** Shows a past run from its folder (`run.json` inside). */
  async showRecord(runDir: string, options: { preserveFocus?: boolean; fromSheet?: string } = {}): Promise<void> {
    await this.readRecord(runDir); // fails here, before the panel changes, when it is no run folder
    this.showing = { kind: 'record', runDir: path.resolve(runDir) };
    this.fromSheet = options.fromSheet;
    this.stopTick();
    this.ensurePanel(options.preserveFocus ?? false);
    await this.render();
  }

  /**
   * A sweep's contact sheet: the first image of every run, labelled by its values. A sweep of this
   * window is followed live (its runs in memory); any other is read from its `sweep.json`.
   */
  async showSheet(sweepDir: string, options: { preserveFocus?: boolean } = {}): Promise<void> {
    const dir = path.resolve(sweepDir);
    await this.sheetOf(dir); // fails here, before the panel changes, when it is no sweep folder
    this.showing = { kind: 'sheet', sweepDir: dir };
    this.fromSheet = undefined;
    this.stopTick();
    this.ensurePanel(options.preserveFocus ?? false);
    await this.render();
  }

  /** Two runs side by side. */
  async compare(left: string, right: string): Promise<void> {
    await Promise.all([this.readRecord(left), this.readRecord(right)]);
    this.showing = { kind: 'compare', left: path.resolve(left), right: path.resolve(right) };
    this.fromSheet = undefined;
    this.stopTick();
    this.ensurePanel(false);
    await this.render();
  }

  /**
   * Takes over a panel VS Code restored after a reload, showing the run folder (or sweep) it showed. The state
   * comes from the webview: only run folders under `outputRoots` are reopened (see restoreState.ts);
   * for any other the panel says why it shows nothing, rather than closing without a word.
   */
  async restore(panel: vscode.WebviewPanel, state: unknown, outputRoots: readonly string[]): Promise<void> {
    const target = await checkRestoreState(state, outputRoots);
    this.disposePanel();
    this.adopt(panel);
    this.restored = true;
    if (!target) {
      panel.dispose();
      return;
    }
    try {
      if ('refusal' in target) await this.showNotice(target.refusal);
      else if ('sweepDir' in target) await this.showSheet(target.sweepDir, { preserveFocus: true });
      else if (target.compareWith) await this.compare(target.runDir, target.compareWith);
      else await this.showRecord(target.runDir, { preserveFocus: true });
    } catch (e) {
      // The record went bad between the check and the read (or is no run record): say so in the panel.
      await this.showNotice((e as Error).message);
    }
  }

  /**
   * Draws again what the panel shows, where nobody awaits it (a webview's `ready`, a run's events): a
   * run folder deleted or spoiled meanwhile becomes a notice in the panel, not an unhandled rejection.
   */
  private async renderOrExplain(): Promise<void> {
    try {
      await this.render();
    } catch (e) {
      await this.showNotice((e as Error).message);
    }
  }

  private async showNotice(message: string): Promise<void> {
    this.showing = { kind: 'notice', title: 'Run not reopened', message };
    this.stopTick();
    await this.render();
  }

  /** A message from the webview (or from the test hooks, which post what the webview would). */
  async receive(raw: unknown): Promise<void> {
    const m = parseWebviewMessage(raw);
    if (!m) return;
    this.received.push(m.type);
    switch (m.type) {
      case 'ready':
        await this.renderOrExplain();
        if (this.latestPreview) this.sendPreview();
        return;
      case 'rendered':
        this.rendered = m;
        return;
      case 'cancel':
        if (this.showing?.kind === 'live') await this.deps.interrupt(this.showing.runId);
        return;
      case 'openOutput':
      case 'revealOutput': {
        const file = this.outputFile(m.index, m.side);
        if (!file) return;
        const uri = vscode.Uri.file(file);
        if (m.type === 'openOutput') await vscode.commands.executeCommand('vscode.open', uri);
        else await vscode.commands.executeCommand(vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS', uri);
        return;
      }
      case 'sheetRendered':
        this.rendered = m;
        return;
      case 'openSheetRun': {
        const s = this.showing;
        const tile = s?.kind === 'sheet' && this.view?.kind === 'sheet' ? this.view.sheet.tiles[m.index] : undefined;
        if (s?.kind !== 'sheet' || !tile?.runDir) return;
        await this.showRecord(path.join(s.sweepDir, ...tile.runDir.split('/')), { fromSheet: s.sweepDir });
        return;
      }
      case 'openSheet':
        if (this.fromSheet) await this.showSheet(this.fromSheet);
        return;
      case 'compareWith': {
        const dir = this.currentRunDir();
        if (!dir) return;
        const other = await this.deps.pickRunToCompare(dir);
        if (other) await this.compare(dir, other);
        return;
      }
    }
  }

  /** The run folder shown (the left one of a comparison). */
  currentRunDir(): string | undefined {
    const s = this.showing;
    if (!s) return undefined;
    if (s.kind === 'live') return s.model.state(this.deps.clock.now()).runDir;
    return s.kind === 'record' ? s.runDir : s.kind === 'compare' ? s.left : undefined;
  }

  snapshot(): RunPanelSnapshot {
    const s = this.showing;
    return {
      open: this.panel !== undefined,
      restored: this.panel !== undefined && this.restored,
      showing: s && (s.kind === 'live' ? { kind: s.kind, runId: s.runId } : s.kind === 'record' ? { kind: s.kind, runDir: s.runDir } : s.kind === 'sheet' ? { kind: s.kind, sweepDir: s.sweepDir } : s.kind === 'compare' ? { kind: s.kind, runDir: s.left, right: s.right } : { kind: s.kind }),
      view: this.view,
      previewsPosted: this.previewsPosted,
      lastPreviewBytes: this.lastPreviewBytes,
      rendered: this.rendered,
      received: [...this.received],
    };
  }

  private ensurePanel(preserveFocus: boolean): void {
    if (this.panel) {
      if (!this.panel.visible) this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(RUN_PANEL_VIEW_TYPE, 'RunComfy Run', { viewColumn: vscode.ViewColumn.Beside, preserveFocus }, this.webviewOptions([]));
    this.adopt(panel);
    this.restored = false;
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    // What the test hooks report describes this panel's webview, not an earlier one's.
    this.rendered = undefined;
    this.received.length = 0;
    this.previewsPosted = 0;
    panel.iconPath = vscode.Uri.joinPath(this.deps.extensionUri, 'media', 'runcomfy.svg');
    panel.webview.options = this.webviewOptions([]);
    panel.webview.html = this.html(panel.webview);
    this.panelSubs = [
      panel.onDidDispose(() => {
        if (this.panel === panel) {
          this.panel = undefined;
          this.showing = undefined;
          this.view = undefined;
          this.stopTick();
          for (const d of this.panelSubs) d.dispose();
          this.panelSubs = [];
        }
      }),
      panel.webview.onDidReceiveMessage((m: unknown) => void this.receive(m)),
      // A hidden webview is torn down (no retainContextWhenHidden): shown again, it asks with `ready`.
    ];
  }

  private disposePanel(): void {
    const p = this.panel;
    this.panel = undefined;
    for (const d of this.panelSubs) d.dispose();
    this.panelSubs = [];
    this.stopTick();
    p?.dispose();
  }

  private webviewOptions(runDirs: readonly string[]): vscode.WebviewOptions {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.deps.extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(this.deps.extensionUri, 'media'), vscode.Uri.file(this.deps.thumbnailDir), ...runDirs.map((d) => vscode.Uri.file(d))],
    };
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(this.deps.extensionUri, 'dist', 'webview', name)).toString();
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data: blob:`,
      `media-src ${webview.cspSource}`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${asset('codicon.css')}" nonce="${nonce}">
<link rel="stylesheet" href="${asset('runPanelStyle.css')}" nonce="${nonce}">
<title>RunComfy Run</title>
</head>
<body>
<main id="app" aria-live="polite"></main>
<script nonce="${nonce}" src="${asset('runPanel.js')}"></script>
</body>
</html>`;
  }

  /** Builds the state of what is shown and posts it. */
  private async render(): Promise<void> {
    const s = this.showing;
    const panel = this.panel;
    if (!s || !panel) return;
    const generation = ++this.generation;
    let view: PanelView;
    let persist: PanelPersistedState;
    let dirs: string[];
    if (s.kind === 'live') {
      const run = s.model.state(this.deps.clock.now());
      view = { kind: 'run', run, media: await this.media(panel.webview, run), cancellable: !s.model.finished };
      persist = { runDir: run.runDir };
      dirs = run.runDir ? [run.runDir] : [];
    } else if (s.kind === 'record') {
      const run = await this.recordState(s.runDir);
      const back = this.fromSheet;
      view = { kind: 'run', run, media: await this.media(panel.webview, run), cancellable: false, ...(back ? { fromSheet: path.basename(back) } : {}) };
      persist = { runDir: s.runDir };
      dirs = [s.runDir];
    } else if (s.kind === 'sheet') {
      const sheet = await this.sheetOf(s.sweepDir);
      view = { kind: 'sheet', sheet, thumbs: this.sheetThumbsOf(panel.webview, sheet) };
      persist = { sweepDir: s.sweepDir };
      dirs = [s.sweepDir];
    } else if (s.kind === 'notice') {
      view = { kind: 'notice', title: s.title, message: s.message };
      persist = {};
      dirs = [];
    } else {
      const [l, r] = await Promise.all([this.readRecord(s.left), this.readRecord(s.right)]);
      const left = await this.recordState(s.left, l);
      const right = await this.recordState(s.right, r);
      const comparison = compareRuns(left, promptOf(l), right, promptOf(r));
      view = { kind: 'compare', comparison, leftMedia: await this.media(panel.webview, left), rightMedia: await this.media(panel.webview, right) };
      persist = { runDir: s.left, compareWith: s.right };
      dirs = [s.left, s.right];
    }
    if (generation !== this.generation || this.panel !== panel) return;
    const roots = this.webviewOptions(dirs);
    const current = panel.webview.options.localResourceRoots?.map((u) => u.toString()).join('\n');
    if (current !== roots.localResourceRoots?.map((u) => u.toString()).join('\n')) panel.webview.options = roots;
    panel.title = view.kind === 'run' ? `Run: ${view.run.name}` : view.kind === 'sheet' ? `Sweep: ${view.sheet.name}` : view.kind === 'compare' ? `Compare: ${view.comparison.left.name}` : 'RunComfy Run';
    this.view = view;
    this.post({ type: 'state', view, persist });
    if (view.kind === 'sheet') void this.makeSheetThumbs();
  }

  private async recordState(runDir: string, record?: unknown): Promise<RunViewState> {
    const r = record ?? (await this.readRecord(runDir));
    const live = this.deps.runs.runs.find((x) => x.result?.runDir !== undefined && path.resolve(x.result.runDir) === runDir);
    return runViewFromRecord(r, runDir, {
      promptOnDisk: await this.deps.promptOnDisk(r, runDir),
      target: live ? targetLabel(live.target) : undefined,
      ratePerHour: live ? this.deps.rateFor(live.target) : undefined,
    });
  }

  private async readRecord(runDir: string): Promise<unknown> {
    const file = path.join(runDir, RUN_RECORD_NAME);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      throw new Error(`${runDir} is no run folder: its ${RUN_RECORD_NAME} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, { cause: e });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The contact sheet of a sweep folder: from the sweep of this window when it is one, else from its sweep.json (size-checked, parsed, untrusted). */
  private async sheetOf(sweepDir: string): Promise<ContactSheetView> {
    const live = this.deps.sweepOf?.(sweepDir);
    if (live) return contactSheetView(live.runs, sweepDir, { status: live.status, workflow: live.workflow });
    const file = path.join(sweepDir, SWEEP_RECORD_NAME);
    let stat;
    try {
      stat = await fs.stat(file);
    } catch (e) {
      throw new Error(`${sweepDir} is no sweep folder: its ${SWEEP_RECORD_NAME} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, { cause: e });
    }
    if (!stat.isFile()) throw new Error(`${file} is not a file: a sweep folder holds its ${SWEEP_RECORD_NAME} at its top.`);
    if (stat.size > MAX_SWEEP_RECORD_BYTES) {
      throw new Error(`${file} is ${(stat.size / 1024 / 1024).toFixed(0)} MiB; a contact sheet reads at most ${MAX_SWEEP_RECORD_BYTES / 1024 / 1024} MiB (10,000 runs fit in far less). It is no sweep record this extension wrote: open the run folders inside it with Open Run instead.`);
    }
    const cached = this.sheetRecord;
    let record: unknown;
    if (cached?.file === file && cached.size === stat.size && cached.mtimeMs === stat.mtimeMs) {
      record = cached.record;
    } else {
      try {
        record = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
      } catch (e) {
        throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      this.sheetRecord = { file, size: stat.size, mtimeMs: stat.mtimeMs, record };
    }
    return contactSheetFromRecord(record, sweepDir);
  }

  /** Each tile's picture as far as it is made; the rest are queued, and the sheet is posted again as they come. */
  private sheetThumbsOf(webview: vscode.Webview, sheet: ContactSheetView): SheetThumb[] {
    if (this.sheetThumbs?.sweepDir !== sheet.sweepDir) this.sheetThumbs = { sweepDir: sheet.sweepDir, done: new Map(), queue: [], queued: new Set(), working: false };
    const t = this.sheetThumbs;
    return sheet.tiles.map((tile) => {
      if (!tile.image) return {};
      const file = path.join(sheet.sweepDir, ...tile.image.relativePath.split('/'));
      const made = t.done.get(file);
      if (made === undefined) {
        if (!t.queued.has(file)) {
          t.queued.add(file);
          t.queue.push({ file, bytes: tile.image.bytes });
        }
        return { loading: true };
      }
      return made === null ? {} : { thumb: webview.asWebviewUri(vscode.Uri.file(made)).toString() };
    });
  }

  private async makeSheetThumbs(): Promise<void> {
    const t = this.sheetThumbs;
    if (!t || t.working) return;
    t.working = true;
    try {
      for (let job = t.queue.shift(); job && this.sheetThumbs === t; job = t.queue.shift()) {
        const bytes = job.bytes ?? (await fs.stat(job.file).then((st) => (st.isFile() ? st.size : undefined), () => undefined));
        const made = bytes === undefined ? undefined : await thumbnailFor(job.file, bytes, this.deps.thumbnailDir);
        t.done.set(job.file, made ?? null);
        t.queued.delete(job.file);
        this.postState.run();
      }
    } finally {
      t.working = false;
    }
  }

  private async media(webview: vscode.Webview, run: RunViewState): Promise<OutputMedia[]> {
    const dir = run.runDir;
    if (!dir) return [];
    const out: OutputMedia[] = [];
    for (const o of run.outputs) {
      const file = path.join(dir, ...o.relativePath.split('/'));
      const src = webview.asWebviewUri(vscode.Uri.file(file)).toString();
      const thumbFile = o.kind === 'image' || o.kind === 'animated' ? await thumbnailFor(file, o.bytes, this.deps.thumbnailDir) : undefined;
      out.push({ src, thumb: thumbFile === undefined ? undefined : webview.asWebviewUri(vscode.Uri.file(thumbFile)).toString() });
    }
    return out;
  }

  private outputFile(index: number, side: PanelSide): string | undefined {
    const v = this.view;
    if (!v || v.kind === 'sheet' || v.kind === 'notice') return undefined;
    const run = v.kind === 'run' ? v.run : side === 'right' ? v.comparison.right : v.comparison.left;
    const o = run.outputs[index];
    return o && run.runDir ? path.join(run.runDir, ...o.relativePath.split('/')) : undefined;
  }

  private sendPreview(): void {
    if (!this.latestPreview) return;
    this.previewsPosted++;
    this.post({ type: 'preview', dataUrl: this.latestPreview });
  }

  private post(m: HostMessage): void {
    void this.panel?.webview.postMessage(m);
  }

  private every(ms: number, fn: () => void): Disposable {
    let timer: Disposable | undefined;
    const loop = () => {
      timer = this.deps.clock.setTimeout(() => {
        fn();
        loop();
      }, ms);
    };
    loop();
    return { dispose: () => timer?.dispose() };
  }

  private stopTick(): void {
    this.tick?.dispose();
    this.tick = undefined;
  }
}

/** A preview frame as a `data:` URL (the CSP allows `img-src data:`); only PNG and JPEG are named, anything else is shown as JPEG. */
function previewDataUrl(mime: string, image: Buffer): string {
  return `data:${mime === 'image/png' ? 'image/png' : 'image/jpeg'};base64,${image.toString('base64')}`;
}

function promptOf(record: unknown): unknown {
  return typeof record === 'object' && record !== null ? (record as { prompt?: unknown }).prompt : undefined;
}
