import * as path from 'node:path';
import { isObject } from '../base/json';
import { printableText } from '../base/untrustedText';
import { insideRunFolder, outputViewKind } from './runView';
import { isStrictlyInside } from './safePath';
import { maxSweepRuns } from './sweep/sweepPlan';
import { SWEEP_RECORD_NAME } from './sweep/sweepRecord';

/** A `sweep.json` larger than this is refused: 10,000 runs with their outputs fit in a fraction of it. */
export const MAX_SWEEP_RECORD_BYTES = 32 * 1024 * 1024;

/** Where a run of the sweep is, as its tile shows it (anything else a file says reads as `error`). */
export type ContactSheetStatus = 'pending' | 'queued' | 'running' | 'success' | 'error' | 'interrupted' | 'skipped';

/** One run of the sweep on the sheet: its values, its status, and its first image when it made one. */
export interface ContactSheetTile {
  /** The run's index in the plan (0-based). */
  readonly index: number;
  /** `3.seed=4 · 3.cfg=6`: every param, escaped and shortened. */
  readonly label: string;
  /** The run's value of each axis (escaped, shortened), aligned with {@link ContactSheetView.axes}. */
  readonly values: readonly string[];
  readonly status: ContactSheetStatus;
  readonly error?: string;
  readonly target?: string;
  /** The run's folder (with its `run.json`), relative to the sweep folder, `/`-separated, checked to stay inside it. */
  readonly runDir?: string;
  /** The run's first image output, relative to the sweep folder and checked likewise. */
  readonly image?: { readonly relativePath: string; readonly fileName: string; readonly kind: 'image' | 'animated'; readonly bytes?: number };
}

/** An axis as the sheet's header shows it: its key and its values in plan order. */
export interface ContactSheetAxis {
  readonly key: string;
  readonly values: readonly string[];
}

/** A sweep as a contact sheet: serialisable, the same for a sweep running in this window and a `sweep.json`. */
export interface ContactSheetView {
  /** The sweep folder's name. */
  readonly name: string;
  /** Absolute path of the sweep folder. */
  readonly sweepDir: string;
  /** The workflow file the sweep ran, as the record names it (escaped). */
  readonly workflow?: string;
  /** `running`, or how the sweep ended. */
  readonly status: string;
  readonly axes: readonly ContactSheetAxis[];
  /** In plan order. */
  readonly tiles: readonly ContactSheetTile[];
  /**
   * Two axes that make a full product: rows are the first axis's values, columns the second's; each
   * cell is a position in `tiles`, or null when no run has that pair. Absent otherwise (one axis,
   * three or more, or zipped): the tiles are then a flat grid.
   */
  readonly grid?: readonly (readonly (number | null)[])[];
  readonly counts: Readonly<Partial<Record<ContactSheetStatus, number>>>;
  readonly warnings: readonly string[];
}

/** Longest value shown in a label: a prompt text can be a paragraph. */
const MAX_VALUE_CHARS = 60;
const MAX_TEXT = 2000;
/** Most values listed per axis in the header. */
const MAX_AXIS_VALUES = 1000;
const STATUSES = new Set<ContactSheetStatus>(['pending', 'queued', 'running', 'success', 'error', 'interrupted', 'skipped']);

function shown(text: string, max = MAX_TEXT): string {
  const t = printableText(text);
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** A param value as the Runs view writes it: strings quoted, everything else as JSON. */
function valueText(v: unknown): string {
  const text = (v === undefined ? undefined : JSON.stringify(v)) ?? '–';
  return shown(text, MAX_VALUE_CHARS);
}

/** `a/b` + `c` → `a/b/c`, for relative paths that {@link insideRunFolder} checks afterwards. */
function joinRelative(...parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => p !== undefined && p !== '').join('/');
}

/**
 * The run's folder relative to the sweep folder. `run_dir` is absolute as written; a sweep folder
 * moved or copied elsewhere still finds its runs through `folder` and the run folder's own name.
 */
function runDirOf(sweepDir: string, runDir: unknown, folder: unknown): string | undefined {
  if (typeof runDir !== 'string' || runDir === '') return undefined;
  if (path.isAbsolute(runDir)) {
    if (isStrictlyInside(path.resolve(sweepDir), path.resolve(runDir))) return insideRunFolder(sweepDir, path.relative(path.resolve(sweepDir), path.resolve(runDir)));
    return typeof folder === 'string' ? insideRunFolder(sweepDir, joinRelative(folder, path.basename(runDir))) : undefined;
  }
  return insideRunFolder(sweepDir, runDir);
}

/** An output's path relative to the sweep folder: absolute paths are taken relative to the run folder they were written in. */
function outputPathOf(sweepDir: string, runRel: string | undefined, recordedRunDir: unknown, file: string): string | undefined {
  if (!path.isAbsolute(file)) {
    const own = insideRunFolder(path.join(sweepDir, runRel ?? ''), file);
    return own === undefined ? undefined : insideRunFolder(sweepDir, joinRelative(runRel, own));
  }
  const recorded = typeof recordedRunDir === 'string' && path.isAbsolute(recordedRunDir) ? path.resolve(recordedRunDir) : undefined;
  if (recorded && runRel !== undefined && isStrictlyInside(recorded, path.resolve(file))) return insideRunFolder(sweepDir, joinRelative(runRel, path.relative(recorded, path.resolve(file))));
  return isStrictlyInside(path.resolve(sweepDir), path.resolve(file)) ? insideRunFolder(sweepDir, path.relative(path.resolve(sweepDir), path.resolve(file))) : undefined;
}

function errorText(e: unknown): string | undefined {
  if (typeof e === 'string') return shown(e);
  return isObject(e) && typeof e.message === 'string' ? shown(e.message) : undefined;
}

/**
 * The contact sheet of a sweep from its runs in `sweep.json`'s shape (`{index, params, status,
 * target, outputs: [{node, filename, path}], error, folder, run_dir}`): parsed, untrusted. Every
 * path must stay inside `sweepDir` (others are dropped, with a warning), every text is escaped and
 * shortened, the runs are bounded. The axes come from the runs' params, in plan order.
 */
export function contactSheetView(runs: readonly unknown[], sweepDir: string, info: { status?: unknown; workflow?: unknown } = {}): ContactSheetView {
  const dir = path.resolve(sweepDir);
  const warnings: string[] = [];
  const kept = runs.slice(0, maxSweepRuns).filter(isObject);
  if (runs.length > maxSweepRuns) warnings.push(`Only the first ${maxSweepRuns} of ${runs.length} runs are shown.`);
  const keys: string[] = [];
  for (const r of kept) if (isObject(r.params)) for (const k of Object.keys(r.params)) if (!keys.includes(k) && keys.length < 20) keys.push(k);
  const axisValues = keys.map(() => [] as string[]);
  let refused = 0;
  const tiles: ContactSheetTile[] = kept.map((r, position) => {
    const params = isObject(r.params) ? r.params : {};
    const values = keys.map((k, i) => {
      const text = valueText(Object.hasOwn(params, k) ? params[k] : undefined);
      if (!axisValues[i].includes(text) && axisValues[i].length < MAX_AXIS_VALUES) axisValues[i].push(text);
      return text;
    });
    const status: ContactSheetStatus = typeof r.status === 'string' && STATUSES.has(r.status as ContactSheetStatus) ? (r.status as ContactSheetStatus) : 'error';
    const runDir = runDirOf(dir, r.run_dir, r.folder);
    let image: ContactSheetTile['image'];
    for (const o of Array.isArray(r.outputs) ? (r.outputs as unknown[]).slice(0, 10_000) : []) {
      if (!isObject(o) || typeof o.path !== 'string' || o.path === '') continue;
      const rel = outputPathOf(dir, runDir, r.run_dir, o.path);
      if (rel === undefined) {
        refused++;
        continue;
      }
      const fileName = rel.slice(rel.lastIndexOf('/') + 1);
      const kind = outputViewKind(typeof o.key === 'string' ? o.key : 'images', fileName);
      if (kind !== 'image' && kind !== 'animated') continue;
      const bytes = typeof o.bytes === 'number' && Number.isFinite(o.bytes) && o.bytes >= 0 ? o.bytes : undefined;
      image = { relativePath: rel, fileName: shown(fileName), kind, ...(bytes === undefined ? {} : { bytes }) };
      break;
    }
    return {
      index: typeof r.index === 'number' && Number.isInteger(r.index) && r.index >= 0 ? r.index : position,
      label: keys.map((k, i) => `${shown(k, MAX_VALUE_CHARS)}=${values[i]}`).join(' · '),
      values,
      status,
      error: errorText(r.error),
      target: typeof r.target === 'string' ? shown(r.target, 200) : undefined,
      runDir,
      image,
    };
  });
  if (refused > 0) warnings.push(`${refused} output${refused === 1 ? ' is' : 's are'} not shown: sweep.json names a path outside the sweep folder.`);
  const counts: Partial<Record<ContactSheetStatus, number>> = {};
  for (const t of tiles) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return {
    name: shown(path.basename(dir)),
    sweepDir: dir,
    workflow: typeof info.workflow === 'string' ? shown(info.workflow) : undefined,
    status: typeof info.status === 'string' ? shown(info.status, 40) : 'unknown',
    axes: keys.map((k, i) => ({ key: shown(k, MAX_VALUE_CHARS), values: axisValues[i] })),
    tiles,
    grid: gridOf(tiles, axisValues),
    counts,
    warnings,
  };
}

/** Rows × columns for two axes whose value pairs are all distinct (a product sweep); undefined otherwise. */
function gridOf(tiles: readonly ContactSheetTile[], axisValues: readonly (readonly string[])[]): ContactSheetView['grid'] {
  if (axisValues.length !== 2 || axisValues[0].length >= MAX_AXIS_VALUES || axisValues[1].length >= MAX_AXIS_VALUES) return undefined;
  const [rows, columns] = axisValues;
  const cells: (number | null)[][] = rows.map(() => columns.map(() => null));
  for (const [position, t] of tiles.entries()) {
    const r = rows.indexOf(t.values[0]);
    const c = columns.indexOf(t.values[1]);
    if (cells[r][c] !== null) return undefined; // two runs with one pair: zipped or repeated values, no grid
    cells[r][c] = position;
  }
  // A zipped sweep fills only the diagonal: a grid of mostly empty cells says less than a flat list.
  return tiles.length * 2 > rows.length * columns.length ? cells : undefined;
}

/**
 * The contact sheet of a `sweep.json` (parsed, untrusted). Throws an Error saying what is wrong
 * when it is no sweep record at all.
 */
export function contactSheetFromRecord(record: unknown, sweepDir: string): ContactSheetView {
  if (!isObject(record) || record.version !== 1 || !Array.isArray(record.runs)) {
    throw new Error(`${path.join(sweepDir, SWEEP_RECORD_NAME)} is not a RunComfy sweep record (version 1 with a list of runs).`);
  }
  return contactSheetView(record.runs as unknown[], sweepDir, { status: record.status, workflow: record.workflow });
}
