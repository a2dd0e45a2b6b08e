import { type FolderPaths } from './folderPaths';
import { type ObjectInfo } from './objectInfo';
import { pyRepr } from './pyFormat';
import { PyFloat, type PyDict, type PyValue } from './pyJson';
import { tensorRepr, type SimImage, type SimMask } from './simImage';

/** An IMAGE value: a batch of same-sized images (`[B, H, W, 3]`). */
export class ImageTensor {
  constructor(readonly images: readonly SimImage[]) {}
  get width(): number {
    return this.images[0]?.width ?? 0;
  }
  get height(): number {
    return this.images[0]?.height ?? 0;
  }
}

/** A MASK value (`[B, H, W]`). */
export class MaskTensor {
  constructor(readonly masks: readonly SimMask[]) {}
}

/** An AUDIO value: `{"waveform": [B, C, T], "sample_rate": n}`. */
export class AudioValue {
  constructor(
    readonly waveforms: readonly (readonly Float32Array[])[],
    readonly sampleRate: number,
  ) {}
}

/** A MESH value: one triangle mesh per batch entry. */
export class MeshValue {
  constructor(readonly meshes: readonly { vertices: Float32Array; faces: Uint32Array }[]) {}
}

/** A LATENT (`{"samples": [B, 4, H/8, W/8]}`): its size in pixels, its batch, and a colour that follows what made it. */
export class LatentValue {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly batch: number,
    readonly tint: number,
  ) {}
}

/** A VIDEO (`comfy_api`'s `VideoInput`): its frames and frame rate. */
export class VideoValue {
  constructor(
    readonly frames: ImageTensor,
    readonly fps: number,
  ) {}
}

/** A value of a type the simulator does not compute with (MODEL, CLIP, CONDITIONING, …): only its type and origin. */
export class OpaqueValue {
  constructor(
    readonly type: string,
    readonly className: string,
    readonly tint: number,
  ) {}
}

/** Anything that flows along a link or arrives as a widget value. */
export type NodeValue = PyValue | ImageTensor | MaskTensor | AudioValue | MeshValue | LatentValue | VideoValue | OpaqueValue;

/** ComfyUI's `format_value` for `current_inputs` of an execution_error: plain JSON values pass, others are `str()`-ed. */
export function formatValue(v: NodeValue | undefined): PyValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint' || v instanceof PyFloat) return v;
  if (v instanceof ImageTensor) return tensorRepr(v.images);
  if (v instanceof MaskTensor) return `tensor(<mask ${v.masks.length}x${v.masks[0]?.height ?? 0}x${v.masks[0]?.width ?? 0}>)`;
  if (v instanceof AudioValue) return `{'waveform': tensor(<${v.waveforms.length}x${v.waveforms[0]?.length ?? 0}x${v.waveforms[0]?.[0]?.length ?? 0}>), 'sample_rate': ${v.sampleRate}}`;
  if (v instanceof MeshValue) return '<comfy_extras.nodes_hunyuan3d.MESH object>';
  if (v instanceof LatentValue) return `{'samples': tensor(<${v.batch}x4x${Math.trunc(v.height / 8)}x${Math.trunc(v.width / 8)}>)}`;
  if (v instanceof VideoValue) return '<comfy_api.latest._input_impl.video_types.VideoFromComponents object>';
  if (v instanceof OpaqueValue) return `<${v.type} object>`;
  return pyRepr(v);
}

/** What a node function can do besides computing its outputs. */
export interface NodeContext {
  readonly nodeId: string;
  readonly folders: FolderPaths;
  /** Lives as long as ComfyUI keeps the node's object (same id and class in consecutive prompts). */
  readonly state: Map<string, unknown>;
  /** `ProgressBar.update_absolute`: checks for an interrupt, then sends progress (and the preview: PNG, or JPEG as latent previews are). */
  progress(value: number, total: number, preview?: SimImage, previewFormat?: 'png' | 'jpeg'): Promise<void>;
  /** Waits one sampler step's simulated time (`stepDelayMs`). */
  step(): Promise<void>;
  /** `PromptServer.send_progress_text`: a binary TEXT frame to every socket. */
  sendText(text: string): void;
}

/** A node function's return: its outputs by slot and its `ui` dict (what `executed` and history show). */
export interface NodeResult {
  outputs: NodeValue[];
  ui?: PyDict;
}

/** `VALIDATE_INPUTS`: which inputs it takes (their min/max/combo checks are skipped) and the check itself. */
export interface CustomValidation {
  readonly args: readonly string[];
  check(args: Record<string, PyValue>, folders: FolderPaths): PyValue;
}

/** One node class: its `/object_info` entry and its behaviour. */
export interface NodeClass {
  readonly name: string;
  readonly outputNode: boolean;
  /** Hidden UNIQUE_ID input: ComfyUI then keys the node's cache entry by id too. */
  readonly usesUniqueId: boolean;
  objectInfo(folders: FolderPaths): ObjectInfo;
  /** `IS_CHANGED`: its value joins the cache key; the prompt node gets it as `is_changed`. */
  isChanged?(inputs: Record<string, NodeValue>, folders: FolderPaths): Promise<PyValue>;
  readonly validate?: CustomValidation;
  run(inputs: Record<string, NodeValue>, ctx: NodeContext): Promise<NodeResult>;
}
