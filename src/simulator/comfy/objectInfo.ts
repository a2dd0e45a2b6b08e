/**
 * `/object_info` entries of the simulator's node classes. `recordedObjectInfo()` is the whole reply of a
 * real ComfyUI 0.3.64 (`recordings/comfyui-0.3.64/object_info.json`, 383 classes), parsed as Python
 * would (floats stay floats, 2**64-1 stays exact); the classes the simulator runs itself use those
 * entries unchanged. `writtenObjectInfo` holds the few it adds (VideoHelperSuite's video node and two
 * simulator-only sources), written from their definitions. The `input` dicts double as
 * `INPUT_TYPES()` for validation, as they are in ComfyUI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePyJson, PyFloat, type PyDict, type PyValue } from './pyJson';

/** One `/object_info/{class}` entry. */
export interface ObjectInfo {
  /** `hidden` values are a type name (`"PROMPT"`), or `["PROMPT"]` in the v3 node schema. */
  input: { required?: Record<string, PyValue[]>; optional?: Record<string, PyValue[]>; hidden?: Record<string, PyValue> };
  input_order: Record<string, string[]>;
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  name: string;
  display_name: string;
  description: string;
  python_module: string;
  category: string;
  output_node: boolean;
  [key: string]: PyValue | undefined | ObjectInfo['input'];
}

function info(
  name: string,
  fields: {
    required: Record<string, PyValue[]>;
    optional?: Record<string, PyValue[]>;
    hidden?: Record<string, string>;
    output?: string[];
    outputName?: string[];
    displayName?: string;
    description?: string;
    module: string;
    category: string;
    outputNode: boolean;
  },
): ObjectInfo {
  const output = fields.output ?? [];
  const input: ObjectInfo['input'] = { required: fields.required };
  const order: Record<string, string[]> = { required: Object.keys(fields.required) };
  if (fields.optional) {
    input.optional = fields.optional;
    order.optional = Object.keys(fields.optional);
  }
  if (fields.hidden) {
    input.hidden = fields.hidden;
    order.hidden = Object.keys(fields.hidden);
  }
  return {
    input,
    input_order: order,
    output,
    output_is_list: output.map(() => false),
    output_name: fields.outputName ?? output,
    name,
    display_name: fields.displayName ?? name,
    description: fields.description ?? '',
    python_module: fields.module,
    category: fields.category,
    output_node: fields.outputNode,
  };
}

const f = (v: number) => new PyFloat(v);

const RECORDING = ['recordings', 'comfyui-0.3.64', 'object_info.json'];
let recorded: ReadonlyMap<string, ObjectInfo> | undefined;

/** The recording, found above this module: `dist/` (the bundle) and `out/src/simulator/comfy/` (tests) both sit under the project. */
function recordingPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, ...RECORDING);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`The recorded /object_info (${RECORDING.join('/')}) is not in any folder above ${__dirname}.`);
  }
}

/** One parsed entry as an `ObjectInfo`: its own fields and `input`'s sections as objects, option dicts as parsed. */
function entryOf(value: PyValue): ObjectInfo {
  const d = value as PyDict;
  const dict = (v: PyValue | undefined): PyDict => (v instanceof Map ? v : new Map<string, PyValue>());
  const sections = Object.fromEntries([...dict(d.get('input'))].map(([k, s]) => [k, s instanceof Map ? Object.fromEntries(s) : s]));
  return { ...Object.fromEntries(d), input: sections, input_order: Object.fromEntries(dict(d.get('input_order'))) } as ObjectInfo;
}

/** `GET /object_info` of the real 0.3.64 server, by class, in the order it sent them (read once). */
export function recordedObjectInfo(): ReadonlyMap<string, ObjectInfo> {
  recorded ??= new Map([...(parsePyJson(fs.readFileSync(recordingPath(), 'utf8')) as PyDict)].map(([name, entry]) => [name, entryOf(entry)]));
  return recorded;
}

/** The recorded entry of a class the simulator runs itself. */
export function recordedEntry(name: string): ObjectInfo {
  const entry = recordedObjectInfo().get(name);
  if (!entry) throw new Error(`${name} is not in the recorded /object_info.`);
  return entry;
}

/** Entries NOT in the recording: VideoHelperSuite's video node and the simulator's own sources. */
export const writtenObjectInfo: Record<string, ObjectInfo> = {
  // ComfyUI-VideoHelperSuite `VHS_VideoCombine` as it registers without ffmpeg (gif/webp only); not from a recording.
  VHS_VideoCombine: info('VHS_VideoCombine', {
    required: {
      images: ['IMAGE'],
      frame_rate: ['FLOAT', { default: 8, min: 1, step: 1 }],
      loop_count: ['INT', { default: 0, min: 0, max: 100, step: 1 }],
      filename_prefix: ['STRING', { default: 'AnimateDiff' }],
      format: [['image/gif', 'image/webp']],
      pingpong: ['BOOLEAN', { default: false }],
      save_output: ['BOOLEAN', { default: true }],
    },
    optional: { audio: ['AUDIO'], meta_batch: ['VHS_BatchManager'], vae: ['VAE'] },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO', unique_id: 'UNIQUE_ID' },
    output: ['VHS_FILENAMES'],
    outputName: ['Filenames'],
    displayName: 'Video Combine 🎥🅥🅗🅢',
    module: 'custom_nodes.ComfyUI-VideoHelperSuite',
    category: 'Video Helper Suite 🎥🅥🅗🅢',
    outputNode: true,
  }),
  // Simulator-only (no weight-free node makes a MESH in ComfyUI): a cube, so SaveGLB can run.
  SimCubeMesh: info('SimCubeMesh', {
    required: { size: ['FLOAT', { default: f(1), min: f(0.01), max: f(100), step: f(0.01) }], batch_size: ['INT', { default: 1, min: 1, max: 16 }] },
    output: ['MESH'],
    displayName: 'Cube Mesh (simulator)',
    description: 'Simulator-only node: a cube mesh for testing 3D outputs.',
    module: 'simulator',
    category: 'simulator',
    outputNode: false,
  }),
  // Simulator-only: a sine tone, so SaveAudio can run without an uploaded file.
  SimToneAudio: info('SimToneAudio', {
    required: {
      seconds: ['FLOAT', { default: f(1), min: f(0.01), max: f(600), step: f(0.01) }],
      frequency: ['FLOAT', { default: f(440), min: f(1), max: f(20000), step: f(1) }],
      sample_rate: ['INT', { default: 44100, min: 8000, max: 192000 }],
    },
    output: ['AUDIO'],
    displayName: 'Tone (simulator)',
    description: 'Simulator-only node: a sine tone for testing audio outputs.',
    module: 'simulator',
    category: 'simulator',
    outputNode: false,
  }),
};

/** What a hidden input asks for (`"PROMPT"`), in either schema. */
export function hiddenKind(declared: PyValue): PyValue {
  return Array.isArray(declared) ? (declared[0] ?? null) : declared;
}

/** Whether a class takes the hidden UNIQUE_ID (ComfyUI then keys its cache entry by node id too). */
export function takesUniqueId(entry: ObjectInfo): boolean {
  return Object.values(entry.input.hidden ?? {}).some((v) => hiddenKind(v) === 'UNIQUE_ID');
}

/** A shallow copy of an entry with one combo's option list replaced (LoadImage/LoadAudio file lists). */
export function withCombo(entry: ObjectInfo, input: string, options: string[]): ObjectInfo {
  const required = { ...entry.input.required };
  const current = required[input] ?? [[]];
  required[input] = [options, ...current.slice(1)];
  return { ...entry, input: { ...entry.input, required } };
}

