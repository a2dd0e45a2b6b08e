import * as path from 'node:path';
import { isObject } from '../base/json';
import { printableText } from '../base/untrustedText';
import { costOf } from './machineMath';
import { extensionOf } from './mediaSignature';
import { type NodeRef, type RunEvent, type SavedOutput } from './runEvents';
import { type RunRecord as RegistryRecord } from './runRegistry';
import { isStrictlyInside } from './safePath';

/** Where a run is in its life, as the panel shows it. */
export type RunViewStatus = 'preparing' | 'queued' | 'running' | 'success' | 'error' | 'interrupted';

/** How the gallery shows an output: a thumbnail, a player, or a tile with Reveal/Open. */
export type OutputViewKind = 'image' | 'animated' | 'video' | 'audio' | 'other';

/** One saved output, as the gallery shows it. Paths are relative to the run folder, `/`-separated, and checked to stay inside it. */
export interface OutputView {
  readonly node: string;
  /** The node's `_meta.title` or class, when known (escaped: no control or bidi characters). */
  readonly nodeTitle?: string;
  /** The output key the server listed the file under (`images`, `gifs`, …). */
  readonly key: string;
  readonly kind: OutputViewKind;
  readonly relativePath: string;
  /** The file's name (escaped), for captions. */
  readonly fileName: string;
  readonly bytes: number;
}

/** One input whose value differs between two prompts (overrides: run vs. file on disk; comparison: run A vs. run B). */
export interface InputDiff {
  readonly node: string;
  readonly nodeTitle?: string;
  readonly input: string;
  /** The value as JSON text (shortened), or undefined when the input is absent on that side. */
  readonly before?: string;
  readonly after?: string;
}

/** Everything the run panel shows about one run: serialisable, the same for a live run and a `run.json`. */
export interface RunViewState {
  /** `live` while the extension follows the run's events; `record` when read from `run.json`. */
  readonly source: 'live' | 'record';
  readonly name: string;
  readonly target?: string;
  readonly status: RunViewStatus;
  readonly promptId?: string;
  /** 0 = running, n = n-th in line. */
  readonly queuePosition?: number;
  readonly node?: { readonly id: string; readonly title?: string; readonly classType?: string };
  readonly progress?: { readonly value: number; readonly max: number };
  readonly elapsedMs?: number;
  /** US dollars per hour of the machine, when known (RunComfy machines). */
  readonly ratePerHour?: number;
  /** Machine rate × running time, an estimate. */
  readonly costEstimate?: number;
  readonly outputs: readonly OutputView[];
  /** Inputs that differ from the workflow on disk. */
  readonly overrides: readonly InputDiff[];
  readonly timings: { readonly queued?: string; readonly started?: string; readonly finished?: string; readonly phases: Readonly<Record<string, number>> };
  readonly convertedFrom?: 'ui';
  readonly error?: string;
  readonly warnings: readonly string[];
  /** Absolute path of the run folder, once there is one. */
  readonly runDir?: string;
  readonly workflowFile?: string;
}

/** Longest text kept of one untrusted field (a title, a warning, a value): the panel is no log viewer. */
const MAX_TEXT = 2000;
/** Most outputs and warnings kept from one `run.json`. */
const MAX_OUTPUTS = 10_000;
const MAX_WARNINGS = 200;
/** Most differing inputs listed. */
const MAX_DIFFS = 500;

/** Untrusted text made safe to show: controls and bidi escaped, length bounded. */
function shown(text: string): string {
  const t = printableText(text);
  return t.length > MAX_TEXT ? `${t.slice(0, MAX_TEXT)}…` : t;
}

const ANIMATED = new Set(['gif', 'webp', 'apng']);
const IMAGES = new Set(['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp', 'avif', 'apng']);
const VIDEOS = new Set(['mp4', 'm4v', 'webm', 'mov', 'mkv', 'avi']);
const AUDIOS = new Set(['wav', 'mp3', 'flac', 'ogg', 'oga', 'opus', 'm4a', 'aac']);

/**
 * How the gallery shows a file: by the key the server listed it under, its extension and the
 * server's `animated` flag. A browser cannot show TIFF or EXR, so those are tiles; `gifs` (Video
 * Helper Suite) can hold MP4s; an APNG or animated WebP comes as `images` with `animated` set
 * (SaveAnimatedPNG, SaveAnimatedWEBP), its name alone cannot tell it from a still.
 */
export function outputViewKind(key: string, fileName: string, animated = false): OutputViewKind {
  const ext = extensionOf(fileName);
  if (VIDEOS.has(ext)) return 'video';
  if (AUDIOS.has(ext)) return 'audio';
  if (IMAGES.has(ext)) return animated || key === 'gifs' || (ANIMATED.has(ext) && key !== 'images') || ext === 'gif' ? 'animated' : 'image';
  return 'other';
}

/**
 * A path from `run.json`, relative to the run folder, or undefined when it is not one: absolute,
 * with `..`, a drive, a NUL, or resolving outside the folder. The panel only ever shows files inside it.
 */
export function insideRunFolder(runDir: string, relative: unknown): string | undefined {
  if (typeof relative !== 'string' || relative === '' || relative.length > 4096 || relative.includes('\0')) return undefined;
  const segments = relative.split(/[\\/]/);
  if (segments.some((s) => s === '..' || s === '') || path.isAbsolute(relative) || /^[a-zA-Z]:/.test(relative)) return undefined;
  return isStrictlyInside(path.resolve(runDir), path.resolve(runDir, ...segments)) ? segments.join('/') : undefined;
}

/** The title a prompt gives a node, else its class. */
function promptNodeTitle(prompt: unknown, node: string): string | undefined {
  if (!isObject(prompt) || !Object.hasOwn(prompt, node)) return undefined;
  const n = prompt[node];
  if (!isObject(n)) return undefined;
  const title = isObject(n._meta) && typeof n._meta.title === 'string' ? n._meta.title : typeof n.class_type === 'string' ? n.class_type : undefined;
  return title === undefined ? undefined : shown(title);
}

function valueText(v: unknown): string | undefined {
  return v === undefined ? undefined : shown(JSON.stringify(v));
}

/**
 * Inputs whose values differ between two API prompts, by node id and input name, in node order.
 * Link inputs (`["4", 0]`) compare like values. Nodes only one side has are listed input by input.
 */
export function diffPromptInputs(before: unknown, after: unknown): InputDiff[] {
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  const inputsOf = (p: Record<string, unknown>, id: string): Record<string, unknown> => {
    const n = Object.hasOwn(p, id) ? p[id] : undefined;
    return isObject(n) && isObject(n.inputs) ? n.inputs : {};
  };
  const ids = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort((x, y) => Number(x) - Number(y) || x.localeCompare(y));
  const diffs: InputDiff[] = [];
  for (const id of ids) {
    const ia = inputsOf(a, id);
    const ib = inputsOf(b, id);
    for (const input of [...new Set([...Object.keys(ia), ...Object.keys(ib)])]) {
      const va = Object.hasOwn(ia, input) ? ia[input] : undefined;
      const vb = Object.hasOwn(ib, input) ? ib[input] : undefined;
      if (JSON.stringify(va) === JSON.stringify(vb)) continue;
      diffs.push({ node: shown(id), nodeTitle: promptNodeTitle(b, id) ?? promptNodeTitle(a, id), input: shown(input), before: valueText(va), after: valueText(vb) });
      if (diffs.length >= MAX_DIFFS) return diffs;
    }
  }
  return diffs;
}

function nodeView(n: NodeRef): RunViewState['node'] {
  return { id: shown(n.id), title: n.title === undefined ? undefined : shown(n.title), classType: n.classType === undefined ? undefined : shown(n.classType) };
}

/** What the live model needs to know beyond the events. */
export interface LiveRunInfo {
  readonly name: string;
  readonly target?: string;
  readonly ratePerHour?: number;
  readonly startedAtMs: number;
}

/**
 * The panel's model of a live run: fed the run's events in order, it answers {@link RunViewModel.state}
 * at any moment (elapsed time and cost grow with the clock). Previews are not kept here: only the
 * latest frame matters and it goes to the panel directly.
 */
export class RunViewModel {
  private status: RunViewStatus = 'preparing';
  private promptId?: string;
  private queuePosition?: number;
  private node?: RunViewState['node'];
  private progress?: { value: number; max: number };
  private readonly saved: SavedOutput[] = [];
  private readonly titles = new Map<string, string>();
  private readonly warnings: string[] = [];
  private error?: string;
  private runDir?: string;
  private finishedAtMs?: number;

  constructor(private readonly info: LiveRunInfo) {}

  /**
   * A model for a run already under way (a panel opened mid-run): what the registry kept of it
   * (phase, node, step, result) stands in for the events missed.
   */
  static following(r: RegistryRecord, info: Omit<LiveRunInfo, 'startedAtMs' | 'name'>, nowMs: number): RunViewModel {
    const m = new RunViewModel({ ...info, name: r.workflowName, startedAtMs: r.startedAtMs });
    if (r.promptId !== undefined) m.apply({ type: 'queued', promptId: r.promptId, number: 0, position: r.queuePosition ?? 0 }, nowMs);
    if (r.phase === 'running') m.apply({ type: 'started' }, nowMs);
    if (r.currentNode) m.apply({ type: 'executing', node: r.currentNode }, nowMs);
    if (r.progress) m.apply({ type: 'progress', node: r.currentNode, ...r.progress }, nowMs);
    m.saved.push(...r.outputs);
    if (r.result) m.apply({ type: 'finished', result: r.result }, r.finishedAtMs ?? nowMs);
    return m;
  }

  /** True once the run ended. */
  get finished(): boolean {
    return this.finishedAtMs !== undefined;
  }

  apply(e: RunEvent, nowMs: number): void {
    switch (e.type) {
      case 'queued':
        this.promptId = e.promptId;
        this.queuePosition = e.position;
        if (this.status === 'preparing') this.status = 'queued';
        break;
      case 'started':
        this.status = 'running';
        this.queuePosition = 0;
        break;
      case 'executing':
        this.status = 'running';
        this.remember(e.node);
        this.node = nodeView(e.node);
        this.progress = undefined;
        break;
      case 'progress':
        if (e.node) this.remember(e.node);
        this.progress = { value: e.value, max: e.max };
        break;
      case 'executed':
        this.remember(e.node);
        break;
      case 'warning':
        if (this.warnings.length < MAX_WARNINGS) this.warnings.push(shown(e.message));
        break;
      case 'outputSaved':
        this.saved.push(e.output);
        break;
      case 'finished':
        this.status = e.result.status;
        this.error = e.result.error ? shown(e.result.error.message) : undefined;
        this.runDir = e.result.runDir;
        this.finishedAtMs = nowMs;
        this.node = undefined;
        this.progress = undefined;
        if (this.saved.length === 0) this.saved.push(...e.result.outputs);
        break;
      default:
        break;
    }
  }

  /** The state to show at `nowMs`. */
  state(nowMs: number): RunViewState {
    const elapsedMs = Math.max(0, (this.finishedAtMs ?? nowMs) - this.info.startedAtMs);
    return {
      source: 'live',
      name: shown(this.info.name),
      target: this.info.target === undefined ? undefined : shown(this.info.target),
      status: this.status,
      promptId: this.promptId,
      queuePosition: this.queuePosition,
      node: this.node,
      progress: this.progress,
      elapsedMs,
      ratePerHour: this.info.ratePerHour,
      costEstimate: this.info.ratePerHour === undefined ? undefined : costOf(elapsedMs / 1000, this.info.ratePerHour),
      outputs: this.outputViews(),
      overrides: [],
      timings: { queued: new Date(this.info.startedAtMs).toISOString(), finished: this.finishedAtMs === undefined ? undefined : new Date(this.finishedAtMs).toISOString(), phases: {} },
      error: this.error,
      warnings: [...this.warnings],
      runDir: this.runDir,
    };
  }

  private remember(n: NodeRef): void {
    const title = n.title ?? n.classType;
    if (title !== undefined) this.titles.set(n.id, shown(title));
  }

  /** Outputs relative to the run folder, known once the run ended (files are downloaded at the end); any outside it is dropped. */
  private outputViews(): OutputView[] {
    const dir = this.runDir;
    if (!dir) return [];
    const views: OutputView[] = [];
    for (const o of this.saved) {
      const rel = insideRunFolder(dir, path.relative(dir, o.path));
      if (rel === undefined) continue;
      const fileName = rel.slice(rel.lastIndexOf('/') + 1);
      views.push({ node: shown(o.node), nodeTitle: this.titles.get(o.node), key: shown(o.key), kind: outputViewKind(o.key, fileName, o.animated === true), relativePath: rel, fileName: shown(fileName), bytes: o.bytes });
    }
    return views;
  }
}

/** What a caller may know about a past run beyond its `run.json`. */
export interface RecordContext {
  /** The workflow file's prompt as it is on disk now (API format), for the overrides. */
  readonly promptOnDisk?: unknown;
  readonly target?: string;
  readonly ratePerHour?: number;
}

function isoOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(Date.parse(v)).toISOString() : undefined;
}

/**
 * A past run's state from its `run.json` (parsed, untrusted: a file anyone could have written).
 * Every path must stay inside `runDir` (others are dropped, with a warning), every text is escaped,
 * lists are bounded. Throws an Error saying what is wrong when it is no run record at all.
 */
export function runViewFromRecord(record: unknown, runDir: string, context: RecordContext = {}): RunViewState {
  if (!isObject(record) || record.version !== 1 || !Array.isArray(record.files ?? record.outputs)) {
    throw new Error(`${path.join(runDir, 'run.json')} is not a RunComfy run record (version 1 with a list of files).`);
  }
  const warnings: string[] = [];
  const prompt = record.prompt;
  const outputs: OutputView[] = [];
  const entries: unknown[] = Array.isArray(record.files) ? record.files : (record.outputs as unknown[]);
  let refused = 0;
  for (const f of entries.slice(0, MAX_OUTPUTS)) {
    if (!isObject(f)) continue;
    const rel = insideRunFolder(runDir, f.path);
    if (rel === undefined) {
      refused++;
      continue;
    }
    const node = typeof f.node === 'string' ? f.node : '';
    const key = typeof f.kind === 'string' ? f.kind : 'images';
    const fileName = rel.slice(rel.lastIndexOf('/') + 1);
    outputs.push({
      node: shown(node),
      nodeTitle: promptNodeTitle(prompt, node),
      key: shown(key),
      // `animated` is absent in records written before it was kept: those guess by name as before.
      kind: outputViewKind(key, fileName, f.animated === true),
      relativePath: rel,
      fileName: shown(fileName),
      bytes: typeof f.bytes === 'number' && Number.isFinite(f.bytes) && f.bytes >= 0 ? f.bytes : 0,
    });
  }
  if (refused > 0) warnings.push(`${refused} output${refused === 1 ? ' is' : 's are'} not shown: run.json names a path outside the run folder.`);
  if (Array.isArray(record.warnings)) {
    for (const w of (record.warnings as unknown[]).slice(0, MAX_WARNINGS)) if (typeof w === 'string') warnings.push(shown(w));
  }
  const t = isObject(record.timings) ? record.timings : {};
  const phases: Record<string, number> = {};
  if (isObject(t.phases)) for (const [k, v] of Object.entries(t.phases)) if (typeof v === 'number' && Number.isFinite(v)) phases[shown(k)] = v;
  const queued = isoOrUndefined(t.queued);
  const started = isoOrUndefined(t.started);
  const finished = isoOrUndefined(t.finished);
  const elapsedMs = queued && finished ? Math.max(0, Date.parse(finished) - Date.parse(queued)) : undefined;
  const status: RunViewStatus = record.status === 'success' || record.status === 'error' || record.status === 'interrupted' ? record.status : 'error';
  return {
    source: 'record',
    name: shown(path.basename(path.dirname(path.resolve(runDir)))),
    target: context.target === undefined ? (typeof record.server === 'string' ? shown(record.server) : undefined) : shown(context.target),
    status,
    promptId: typeof record.promptId === 'string' ? shown(record.promptId) : undefined,
    elapsedMs,
    ratePerHour: context.ratePerHour,
    costEstimate: context.ratePerHour !== undefined && elapsedMs !== undefined ? costOf(elapsedMs / 1000, context.ratePerHour) : undefined,
    outputs,
    overrides: context.promptOnDisk !== undefined && isObject(prompt) ? diffPromptInputs(context.promptOnDisk, prompt) : [],
    timings: { queued, started, finished, phases },
    convertedFrom: record.convertedFrom === 'ui' ? 'ui' : undefined,
    error: typeof record.error === 'string' ? shown(record.error) : undefined,
    warnings,
    runDir: path.resolve(runDir),
    workflowFile: typeof record.workflowFile === 'string' ? shown(record.workflowFile) : undefined,
  };
}

/** Two runs side by side: both states, the inputs whose prompt values differ, and the images both made (same node, same position). */
export interface RunComparison {
  readonly left: RunViewState;
  readonly right: RunViewState;
  readonly inputs: readonly InputDiff[];
  /** Pairs of image outputs of the same node, for the slider: indexes into each side's `outputs`. */
  readonly imagePairs: readonly { readonly node: string; readonly left: number; readonly right: number }[];
}

/** Compares two runs of one workflow: their prompts (from their records) and their image outputs. */
export function compareRuns(left: RunViewState, leftPrompt: unknown, right: RunViewState, rightPrompt: unknown): RunComparison {
  const pairs: { node: string; left: number; right: number }[] = [];
  const byNode = (s: RunViewState) => {
    const m = new Map<string, number[]>();
    s.outputs.forEach((o, i) => {
      if (o.kind !== 'image' && o.kind !== 'animated') return;
      m.set(o.node, [...(m.get(o.node) ?? []), i]);
    });
    return m;
  };
  const l = byNode(left);
  const r = byNode(right);
  for (const [node, li] of l) {
    const ri = r.get(node) ?? [];
    for (let k = 0; k < Math.min(li.length, ri.length); k++) pairs.push({ node, left: li[k], right: ri[k] });
  }
  return { left, right, inputs: diffPromptInputs(leftPrompt, rightPrompt), imagePairs: pairs };
}
