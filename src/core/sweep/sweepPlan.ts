import { type ApiPrompt } from '../../api/comfyTypes';
import { ConfigError } from '../../api/errors';
import { isObject } from '../../base/json';
import { applyOverrides } from '../overrides';
import { safeSegment } from '../safePath';

/** One `--vary NODE.INPUT=SPEC` as written, its values still text (typed later against the prompt). */
export interface AxisSpec {
  readonly nodeId: string;
  readonly input: string;
  /** `NODE.INPUT`, the key of the run's `params`. */
  readonly key: string;
  /** The values in order; numbers from a range are already numbers. */
  readonly values: readonly (string | number)[];
  /** The SPEC as given, for messages and sweep.json. */
  readonly spec: string;
}

/** An axis whose values are typed as the prompt's input is (numbers stay numbers). */
export interface Axis {
  readonly nodeId: string;
  readonly input: string;
  readonly key: string;
  readonly spec: string;
  readonly values: readonly unknown[];
}

/** One run of a sweep: its parameter set and the folder its outputs go to. */
export interface SweepRunPlan {
  /** 0-based, in plan order. */
  readonly index: number;
  /** Keyed `NODE.INPUT`; the values exactly as they go into the prompt. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The run folder's name inside the sweep folder: safe on every OS, unique, the same for the same plan. */
  readonly folder: string;
}

/** Everything needed to run a sweep, decided before anything is sent. */
export interface SweepPlan {
  readonly axes: readonly Axis[];
  readonly mode: 'product' | 'zip';
  readonly runs: readonly SweepRunPlan[];
}

/** A range longer than this is almost certainly a typo (`1..1e9`); refuse it instead of planning it. */
export const maxSweepRuns = 10_000;

/** How many characters of a value a run folder name keeps (a prompt text can be long). */
const folderValueChars = 24;

/**
 * Parses `NODE.INPUT=SPEC`. SPEC is a list (`4,6,8`), an integer range (`1..16`, both ends
 * included), a stepped range (`0.3..0.9:0.2`, computed in decimal so no float drift appears), or
 * `@file`: one value per line of a text file (blank lines skipped). `readLines` reads that file;
 * the caller decides what a relative path is relative to (the CLI: the current folder).
 * @throws ConfigError saying what is wrong and what the forms are.
 */
export function parseAxis(arg: string, readLines: (file: string) => string[]): AxisSpec {
  const forms = 'a list (3.cfg=4,6,8), a range (3.seed=1..16), a stepped range (3.denoise=0.3..0.9:0.2) or a file (6.text=@prompts.txt)';
  const usage = `--vary expects NODE.INPUT=SPEC with SPEC ${forms}; got ${JSON.stringify(arg)}`;
  const eq = arg.indexOf('=');
  if (eq === -1) throw new ConfigError(`${usage}: there is no "=".`);
  const target = arg.slice(0, eq);
  const dot = target.lastIndexOf('.');
  const nodeId = dot === -1 ? '' : target.slice(0, dot).trim();
  const input = dot === -1 ? '' : target.slice(dot + 1).trim();
  if (!nodeId || !input) throw new ConfigError(`${usage}: name the node id and the input before "=", separated by a dot.`);
  const spec = arg.slice(eq + 1).trim();
  const key = `${nodeId}.${input}`;
  if (spec === '') throw new ConfigError(`--vary ${key}: no values after "=". Give ${forms}.`);
  let values: (string | number)[];
  if (spec.startsWith('@')) {
    const file = spec.slice(1);
    if (!file) throw new ConfigError(`--vary ${key}=@: name the file after "@" (one value per line).`);
    values = readLines(file).map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
    if (values.length === 0) throw new ConfigError(`--vary ${key}=@${file}: the file has no values (one value per line; blank lines are skipped).`);
  } else if (/^[^,]*\.\.[^,]*$/.test(spec) && /^\s*-?[\d.]+\s*\.\./.test(spec)) {
    values = parseRange(key, spec);
  } else {
    values = spec.split(',').map((v) => v.trim());
    if (values.some((v) => v === '')) throw new ConfigError(`--vary ${key}=${spec}: an empty value in the list (check for a doubled or trailing comma).`);
  }
  return { nodeId, input, key, values, spec };
}

/** `a..b` (integers, step 1) or `a..b:step`, ends included, in the direction from a to b. */
function parseRange(key: string, spec: string): number[] {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)\s*(?::\s*(-?\d+(?:\.\d+)?)\s*)?$/.exec(spec);
  if (!m) throw new ConfigError(`--vary ${key}=${spec}: a range is FROM..TO or FROM..TO:STEP with plain decimal numbers (1..16, 0.3..0.9:0.2).`);
  const [from, to] = [Number(m[1]), Number(m[2])];
  if (m[3] === undefined && !(Number.isInteger(from) && Number.isInteger(to))) {
    throw new ConfigError(`--vary ${key}=${spec}: a range without a step counts whole numbers; add a step for decimals (${m[1]}..${m[2]}:0.1).`);
  }
  const step = m[3] === undefined ? (to >= from ? 1 : -1) : Number(m[3]);
  if (step === 0 || (to - from) * step < 0) {
    throw new ConfigError(`--vary ${key}=${spec}: the step ${step} never gets from ${from} to ${to}; use a ${to >= from ? 'positive' : 'negative'} step.`);
  }
  // Work in integers of the finest decimal place given, so 0.3 + 2 × 0.2 is 0.7, not 0.7000000000000001.
  const places = Math.max(...[m[1], m[2], m[3] ?? '0'].map((t) => (t.split('.')[1] ?? '').length));
  const scale = 10 ** places;
  const [a, b, s] = [Math.round(from * scale), Math.round(to * scale), Math.round(step * scale)];
  const count = Math.floor((b - a) / s) + 1;
  if (count > maxSweepRuns) throw new ConfigError(`--vary ${key}=${spec}: ${count} values; a sweep plans at most ${maxSweepRuns} runs.`);
  return Array.from({ length: count }, (_, i) => (a + i * s) / scale);
}

/**
 * Types each axis's values as the prompt's current value of that input is typed (a number input
 * gets numbers, a boolean true/false, a text input text), after checking that the node and the
 * input exist and that the input is a value, not a link. Then combines the axes: the product
 * (the first axis changes slowest), or pairwise with `zip` (equal lengths).
 * @throws ConfigError naming the axis and what to do.
 */
export function planSweep(prompt: ApiPrompt, specs: readonly AxisSpec[], mode: 'product' | 'zip' = 'product'): SweepPlan {
  if (specs.length === 0) throw new ConfigError('A sweep needs at least one --vary NODE.INPUT=SPEC (for example --vary 3.seed=1..16).');
  const seen = new Set<string>();
  const axes = specs.map((s) => {
    if (seen.has(s.key)) throw new ConfigError(`--vary ${s.key} is given twice; give each input once, with all its values.`);
    seen.add(s.key);
    return typeAxis(prompt, s);
  });
  if (mode === 'zip') {
    const lengths = new Set(axes.map((a) => a.values.length));
    if (lengths.size > 1) {
      throw new ConfigError(`--zip pairs the axes value by value, so they need equal lengths; got ${axes.map((a) => `${a.key}: ${a.values.length}`).join(', ')}. Drop --zip for every combination.`);
    }
  }
  const total = mode === 'zip' ? axes[0].values.length : axes.reduce((n, a) => n * a.values.length, 1);
  if (total > maxSweepRuns) throw new ConfigError(`The axes make ${total} runs; a sweep plans at most ${maxSweepRuns}. Use fewer values, or --zip.`);
  const combos: unknown[][] = [];
  if (mode === 'zip') {
    for (let i = 0; i < total; i++) combos.push(axes.map((a) => a.values[i]));
  } else {
    const walk = (depth: number, acc: unknown[]) => {
      if (depth === axes.length) combos.push(acc);
      else for (const v of axes[depth].values) walk(depth + 1, [...acc, v]);
    };
    walk(0, []);
  }
  const width = String(total).length;
  const runs = combos.map((values, index) => {
    const params: Record<string, unknown> = {};
    axes.forEach((a, i) => (params[a.key] = values[i]));
    return { index, params, folder: runFolderName(index, width, axes, values) };
  });
  return { axes, mode, runs };
}

/** The prompt of one run: the sweep's prompt with the run's params set. */
export function promptForRun(prompt: ApiPrompt, run: SweepRunPlan): ApiPrompt {
  return applyOverrides(
    prompt,
    Object.entries(run.params).map(([key, value]) => {
      const dot = key.lastIndexOf('.');
      return { nodeId: key.slice(0, dot), input: key.slice(dot + 1), value };
    }),
  );
}

function typeAxis(prompt: ApiPrompt, s: AxisSpec): Axis {
  const node: unknown = Object.hasOwn(prompt, s.nodeId) ? prompt[s.nodeId] : undefined;
  if (!isObject(node) || !isObject(node.inputs)) {
    throw new ConfigError(`--vary ${s.key}: there is no node ${s.nodeId} in the workflow (API node ids: ${Object.keys(prompt).slice(0, 30).join(', ')}).`);
  }
  const inputs = node.inputs;
  const classType = typeof node.class_type === 'string' ? ` (${node.class_type})` : '';
  if (!Object.hasOwn(inputs, s.input)) {
    throw new ConfigError(`--vary ${s.key}: node ${s.nodeId}${classType} has no input "${s.input}"; its inputs: ${Object.keys(inputs).join(', ') || '(none)'}.`);
  }
  const current = inputs[s.input];
  if (Array.isArray(current)) {
    throw new ConfigError(`--vary ${s.key}: input "${s.input}" of node ${s.nodeId}${classType} is linked to node ${String(current[0])}; vary the value at its source instead.`);
  }
  const values = s.values.map((v) => typedValue(s, current, v));
  return { nodeId: s.nodeId, input: s.input, key: s.key, spec: s.spec, values };
}

function typedValue(s: AxisSpec, current: unknown, v: string | number): unknown {
  if (typeof current === 'number') {
    const n = typeof v === 'number' ? v : Number(v.trim());
    if (typeof v === 'string' && (v.trim() === '' || !Number.isFinite(n))) {
      throw new ConfigError(`--vary ${s.key}: "${v}" is not a number, and the input holds a number (${current}).`);
    }
    if (Number.isInteger(n) && !Number.isSafeInteger(n)) throw new ConfigError(`--vary ${s.key}: ${v} cannot be sent exactly as a JSON number (the limit is ±${Number.MAX_SAFE_INTEGER}).`);
    return n;
  }
  if (typeof current === 'boolean') {
    const t = String(v).trim().toLowerCase();
    if (t !== 'true' && t !== 'false') throw new ConfigError(`--vary ${s.key}: "${v}" is not true or false, and the input holds a boolean.`);
    return t === 'true';
  }
  return String(v);
}

/** `07-seed=3-cfg=4.5`: the index (zero-padded, so folders sort in plan order and never collide) and the values. */
function runFolderName(index: number, width: number, axes: readonly Axis[], values: readonly unknown[]): string {
  const parts = axes.map((a, i) => {
    const text = String(values[i]).replace(/\s+/g, ' ').trim();
    const short = text.length > folderValueChars ? `${text.slice(0, folderValueChars)}…` : text;
    return `${a.input}=${short}`;
  });
  return safeSegment(`${String(index + 1).padStart(width, '0')}-${parts.join('-')}`).name;
}
