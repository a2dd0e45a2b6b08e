import { randomBytes } from 'node:crypto';
import { type ApiNode, type ApiPrompt, type ObjectInfo } from '../api/comfyTypes';
import { ConfigError } from '../api/errors';
import { isObject } from '../base/json';

/** One input value to set before queueing: `--set 7.seed=42`. */
export interface Override {
  nodeId: string;
  input: string;
  value: unknown;
}

/** One seed that {@link randomizeSeeds} changed. */
export interface SeedChange {
  nodeId: string;
  input: string;
  from: unknown;
  to: number;
}

/** The largest integer a JSON number carries exactly (2^53 - 1); seeds stay within it. */
export const MAX_EXACT_SEED = Number.MAX_SAFE_INTEGER;

const SEED_INPUTS = new Set(['seed', 'noise_seed']);

/** How many node ids an error lists before it abbreviates. */
const MAX_LISTED_IDS = 30;

/**
 * Parses a `--set` argument, `<node>.<input>=<value>`. The value is JSON when it parses as JSON
 * (`42`, `true`, `"quoted"`, `[1, 2]`, `{"a": 1}`) and the plain text otherwise, so `6.text=a red fox`
 * needs no quotes; quote it (`6.text="true"`) to force a string. The node id is everything before
 * the last dot of the part before `=`, so ids with dots work.
 * @throws ConfigError saying what is wrong with the argument.
 */
export function parseSetArgument(arg: string): Override {
  const usage = `--set expects <node>.<input>=<value> (for example --set 3.seed=42), got ${JSON.stringify(arg)}`;
  const eq = arg.indexOf('=');
  if (eq === -1) throw new ConfigError(`${usage}: there is no "=" before the value.`);
  const target = arg.slice(0, eq);
  const dot = target.lastIndexOf('.');
  if (dot === -1) throw new ConfigError(`${usage}: put the node id and the input name before "=", separated by a dot.`);
  const nodeId = target.slice(0, dot).trim();
  const input = target.slice(dot + 1).trim();
  if (!nodeId) throw new ConfigError(`${usage}: the node id before the dot is missing.`);
  if (!input) throw new ConfigError(`${usage}: the input name after the dot is missing.`);
  const raw = arg.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { nodeId, input, value: raw };
  }
  if (typeof value === 'number' && (!Number.isFinite(value) || (/^\s*-?\d+\s*$/.test(raw) && !Number.isSafeInteger(value)))) {
    throw new ConfigError(
      `--set ${nodeId}.${input}: ${raw.trim()} cannot be sent exactly as a JSON number (the limit is ±${MAX_EXACT_SEED}). Use a smaller number, or quote it ("${raw.trim()}") to send it as text, which ComfyUI converts for whole-number inputs.`,
    );
  }
  return { nodeId, input, value };
}

/**
 * Returns a copy of `prompt` with each override applied in order (a later one wins). Setting an
 * input the node does not have yet is allowed. The prompt passed in is never changed; nodes no
 * override touches are shared between the two, so treat both as read-only.
 * @throws ConfigError when an override names a node that is not in the prompt (listing the ids that are).
 */
export function applyOverrides(prompt: ApiPrompt, overrides: readonly Override[]): ApiPrompt {
  const out: ApiPrompt = { ...prompt };
  const copied = new Set<string>();
  for (const o of overrides) {
    const node: unknown = Object.hasOwn(prompt, o.nodeId) ? prompt[o.nodeId] : undefined;
    if (!isNode(node)) {
      const reason = node === undefined ? `there is no node ${o.nodeId} in this workflow` : `node ${o.nodeId} is not a node object with "inputs"`;
      throw new ConfigError(`--set ${o.nodeId}.${o.input}: ${reason}. Node ids: ${listIds(prompt)}.`);
    }
    if (!copied.has(o.nodeId)) {
      out[o.nodeId] = { ...node, inputs: { ...node.inputs } };
      copied.add(o.nodeId);
    }
    out[o.nodeId].inputs[o.input] = o.value;
  }
  return out;
}

/**
 * Returns a copy of `prompt` in which every literal `seed` and `noise_seed` input (not a link) is
 * a fresh random integer from 0 to 2^53 - 1 (JSON numbers lose precision beyond), or to the
 * input's own `max` when `objectInfo` declares a smaller one, and the list of what changed.
 * `random` returns a number in [0, 1), like `Math.random`; the default draws 53 bits from the
 * operating system's generator.
 */
export function randomizeSeeds(
  prompt: ApiPrompt,
  random: () => number = secureRandom,
  objectInfo?: ObjectInfo,
): { prompt: ApiPrompt; changed: SeedChange[] } {
  const out: ApiPrompt = { ...prompt };
  const changed: SeedChange[] = [];
  for (const [nodeId, node] of Object.entries(prompt) as [string, unknown][]) {
    if (!isNode(node)) continue;
    let inputs: Record<string, unknown> | undefined;
    for (const [input, from] of Object.entries(node.inputs)) {
      if (!SEED_INPUTS.has(input) || typeof from !== 'number') continue;
      const r = random();
      if (!(r >= 0 && r < 1)) throw new RangeError(`randomizeSeeds: the random source returned ${r}; it must return a number in [0, 1).`);
      const to = Math.floor(r * (seedMax(objectInfo, node.class_type, input) + 1));
      inputs ??= { ...node.inputs };
      inputs[input] = to;
      changed.push({ nodeId, input, from, to });
    }
    if (inputs) out[nodeId] = { ...node, inputs };
  }
  return { prompt: out, changed };
}

/** A node whose inputs can be read and set; its class_type is the analysis's business. */
function isNode(v: unknown): v is ApiNode {
  return isObject(v) && isObject(v.inputs);
}

/** The largest seed for this input: its declared `max` when that is smaller than 2^53 - 1. */
function seedMax(objectInfo: ObjectInfo | undefined, classType: string, input: string): number {
  const info = objectInfo && Object.hasOwn(objectInfo, classType) ? objectInfo[classType] : undefined;
  const spec = info?.input.required?.[input] ?? info?.input.optional?.[input];
  const max = spec?.[1]?.max;
  return typeof max === 'number' && Number.isFinite(max) && max >= 0 && max < MAX_EXACT_SEED ? Math.floor(max) : MAX_EXACT_SEED;
}

function secureRandom(): number {
  // 53 random bits over 2^53: every double in [0, 1) that a 53-bit draw can name.
  return Number(randomBytes(8).readBigUInt64BE() >> 11n) / 2 ** 53;
}

function listIds(prompt: ApiPrompt): string {
  const ids = Object.keys(prompt);
  if (ids.length === 0) return '(none: the workflow is empty)';
  const shown = ids.slice(0, MAX_LISTED_IDS).join(', ');
  return ids.length > MAX_LISTED_IDS ? `${shown}, … (${ids.length} in all)` : shown;
}
