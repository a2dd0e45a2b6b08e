import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseComfyUrl } from '../api/comfyClient';
import { ConfigError } from '../api/errors';
import { maskUrl } from '../api/redact';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { DisposableObject } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { type RunTarget } from '../core/runRegistry';
import { isStrictlyInside } from '../core/safePath';
import { knownServerTypes } from '../api/runcomfyTypes';
import { hourlyRate } from '../core/pricing';
import { type AutoscaleSpec } from '../core/sweep/sweepAutoscaler';
import { estimateSweep, type SweepEstimate } from '../core/sweep/sweepEstimate';
import { parseAxis, type AxisSpec } from '../core/sweep/sweepPlan';
import { formatCostEstimate, formatDuration } from '../core/machineMath';
import { type ConfigService } from '../util/config';

/** A `*.sweep.json` file, checked: the workflow inside the workspace, the axes parsed, the targets as written. */
export interface SweepFile {
  readonly workflow: vscode.Uri;
  readonly axes: readonly AxisSpec[];
  readonly mode: 'product' | 'zip';
  /** Machine ids, ComfyUI URLs (validated) and `local`, as written (default `local`). */
  readonly targets: readonly string[];
  readonly maxCostUsd?: number;
  readonly expectSeconds?: number;
  /** `autoscale`: machines the sweep may launch (and stops), as the CLI's `--autoscale` gives them. */
  readonly autoscale?: AutoscaleSpec;
  /** Runs the plan makes (the product of the axes' lengths, or their common length with `zip`). */
  readonly runs: number;
}

/**
 * Reads a `*.sweep.json` document. Its content is untrusted: the workflow path and every `@file`
 * must stay inside the file's workspace folder, URLs must be http(s) without credentials.
 * @throws ConfigError saying what is wrong, where.
 */
export function parseSweepFile(doc: { readonly uri: vscode.Uri; getText(): string }): SweepFile {
  const where = path.basename(doc.uri.fsPath);
  const json = parseJsonOrUndefined(doc.getText());
  if (!isObject(json)) throw new ConfigError(`${where} is not a JSON object with "workflow" and "axes".`);
  const folder = vscode.workspace.getWorkspaceFolder(doc.uri)?.uri.fsPath;
  if (!folder) throw new ConfigError(`${where} is not inside a workspace folder: a sweep file runs only from an open folder.`);
  const dir = path.dirname(doc.uri.fsPath);
  const inside = (rel: string, what: string): string => {
    const abs = path.resolve(dir, rel);
    let real = abs;
    try {
      real = fs.realpathSync.native(abs);
    } catch {
      // A file that does not exist yet is judged by its path; reading it fails later with its own message.
    }
    if (!isStrictlyInside(folder, abs) || !isStrictlyInside(folder, real)) throw new ConfigError(`${where}: ${what} ${JSON.stringify(rel)} leads outside the workspace folder ${folder}.`);
    return abs;
  };
  if (typeof json.workflow !== 'string' || json.workflow.trim() === '') throw new ConfigError(`${where}: "workflow" must be the workflow file's path, relative to this file.`);
  const workflow = vscode.Uri.file(inside(json.workflow, '"workflow"'));
  if (!isObject(json.axes) || Object.keys(json.axes).length === 0) throw new ConfigError(`${where}: "axes" must be an object such as {"3.seed": "1..16"}.`);
  const readLines = (file: string): string[] => {
    try {
      return fs.readFileSync(inside(file, 'the values file'), 'utf8').split('\n');
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(`${where}: cannot read the values file ${file}: ${(e as Error).message}`);
    }
  };
  const axes = Object.entries(json.axes).map(([key, v]): AxisSpec => {
    if (typeof v === 'string') return parseAxis(`${key}=${v}`, readLines);
    if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) {
      const head = parseAxis(`${key}=0`, readLines);
      return { ...head, values: v.map((x) => (typeof x === 'boolean' ? String(x) : x)), spec: JSON.stringify(v) };
    }
    throw new ConfigError(`${where}: axis "${key}" must be a spec such as "1..16" or a non-empty list of values.`);
  });
  const mode = json.zip === true ? 'zip' : 'product';
  const lengths = axes.map((a) => a.values.length);
  if (mode === 'zip' && new Set(lengths).size > 1) throw new ConfigError(`${where}: with "zip" every axis needs as many values (they have ${lengths.join(', ')}).`);
  const autoscale = json.autoscale === undefined ? undefined : parseAutoscaleObject(json.autoscale, where);
  const targets = json.targets === undefined ? ['local'] : json.targets;
  // With autoscale the pool may start empty: the machines it launches are the pool.
  if (!Array.isArray(targets) || (targets.length === 0 && !autoscale) || !targets.every((t) => typeof t === 'string' && t.trim() !== '')) {
    throw new ConfigError(`${where}: "targets" must list machine ids, ComfyUI URLs or "local"${autoscale ? ' (or be [] to use only the machines autoscale launches)' : ''}.`);
  }
  for (const t of targets as string[]) if (/^[a-z]+:\/\//i.test(t)) parseComfyUrl(t, `${where}: the target ${JSON.stringify(maskUrl(t))}`);
  const num = (v: unknown, name: string, min: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ConfigError(`${where}: "${name}" must be a number of at least ${min}.`);
    return v;
  };
  return {
    workflow,
    axes,
    mode,
    targets: targets as string[],
    maxCostUsd: num(json.maxCost, 'maxCost', 0),
    expectSeconds: num(json.expectSeconds, 'expectSeconds', Number.MIN_VALUE),
    autoscale,
    runs: mode === 'zip' ? lengths[0] : lengths.reduce((a, b) => a * b, 1),
  };
}

/**
 * The file's `autoscale` object, `{max, type, version, duration?, idle?}` (seconds), checked as the
 * CLI checks `--autoscale`.
 * @throws ConfigError naming the field that is wrong.
 */
function parseAutoscaleObject(v: unknown, where: string): AutoscaleSpec {
  const form = '{"max": 2, "type": "large", "version": "<version_id>", "duration": 3600, "idle": 60}';
  if (!isObject(v)) throw new ConfigError(`${where}: "autoscale" must be an object such as ${form}.`);
  const unknown = Object.keys(v).find((k) => !['max', 'type', 'version', 'duration', 'idle'].includes(k));
  if (unknown !== undefined) throw new ConfigError(`${where}: "autoscale" has "${unknown}", which is not one of max, type, version, duration, idle.`);
  const whole = (key: string, fallback: number | undefined, min: number): number => {
    const n = v[key];
    if (n === undefined && fallback !== undefined) return fallback;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new ConfigError(`${where}: "autoscale.${key}" must be a whole number of at least ${min}.`);
    return n;
  };
  const type = v.type;
  if (typeof type !== 'string' || !(knownServerTypes as readonly string[]).includes(type)) throw new ConfigError(`${where}: "autoscale.type" must be one of ${knownServerTypes.join(', ')}.`);
  if (typeof v.version !== 'string' || v.version.trim() === '') throw new ConfigError(`${where}: "autoscale.version" must be the workflow version id the machines start with.`);
  return { max: whole('max', undefined, 1), type, version: v.version.trim(), durationS: whole('duration', 3600, 60), idleS: whole('idle', 60, 0) };
}

/** The run targets a sweep file names: `local` is every local server; a URL that is one of them keeps its name. */
export function sweepFileTargets(file: SweepFile, config: ConfigService): RunTarget[] {
  const locals = config.value.localServers;
  return file.targets.flatMap((t): RunTarget[] => {
    if (t === 'local') return locals.map((s) => ({ kind: 'local', name: s.name, url: s.url }));
    if (/^[a-z]+:\/\//i.test(t)) {
      const url = parseComfyUrl(t).href.replace(/\/$/, '');
      const known = locals.find((s) => s.url.replace(/\/$/, '') === url);
      return [{ kind: 'local', name: known?.name ?? maskUrl(url), url }];
    }
    return [{ kind: 'machine', serverId: t, label: `machine ${t.split('-')[0]}` }];
  });
}

/** The estimate in a few words, as the lens and the confirmation show it: "48 runs, ~12 min, at most ~$1.40". */
export function estimateSummary(e: SweepEstimate): string {
  const wall = e.wallSeconds === undefined ? '~? min' : `~${formatDuration(e.wallSeconds * 1000)}`;
  return `${e.runs} run${e.runs === 1 ? '' : 's'}, ${wall}, at most ${formatCostEstimate(e.maxCostUsd)}`;
}

/**
 * "Run sweep: 48 runs, ~12 min, at most ~$1.40" above a `*.sweep.json` file, computed from the file
 * alone (no server asked); "~? min" when the file gives no `expectSeconds`. A file with a problem
 * gets a lens saying what is wrong instead.
 */
export class SweepCodeLensProvider extends DisposableObject implements vscode.CodeLensProvider {
  private readonly _onDidChangeCodeLenses = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this._onDidChangeCodeLenses.event;

  constructor(private readonly config: ConfigService) {
    super();
    this._register(config.onDidChange(() => this._onDidChangeCodeLenses.fire()));
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!this.config.forResource(doc.uri).codeLensEnabled) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    let file: SweepFile;
    try {
      file = parseSweepFile(doc);
    } catch (e) {
      return [new vscode.CodeLens(top, { title: `⚠ ${(e as Error).message}`, command: '' })];
    }
    const a = file.autoscale;
    const e = estimateSweep({
      runs: file.runs,
      targets: file.targets.length,
      secondsPerRun: file.expectSeconds,
      source: file.expectSeconds === undefined ? 'probe' : 'flag',
      maxCostUsd: file.maxCostUsd,
      autoscale: a && { max: a.max, ratePerHour: hourlyRate(a.type, this.config.value.rates), durationS: a.durationS, idleS: a.idleS, bootS: 60 },
    });
    return [
      new vscode.CodeLens(top, {
        title: `▶ Run sweep: ${estimateSummary(e)}`,
        tooltip: 'Run this sweep (the estimate is confirmed first)',
        command: CommandIds.runSweepFile,
        arguments: [doc.uri],
      }),
    ];
  }
}
