import { createHash, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { type FolderPaths } from './folderPaths';
import { encodeApng, encodeFlac, encodeMp3Silence, encodeMp4, encodeOggOpusSilence, encodeSafetensors } from './mediaEncoders';
import { AudioValue, ImageTensor, LatentValue, MaskTensor, OpaqueValue, VideoValue, type NodeClass, type NodeContext, type NodeResult, type NodeValue } from './nodeClass';
import { fileRef, imagePng, imageRgba, inputFiles, num, pngMetadata, str } from './nodeHelpers';
import { takesUniqueId, type ObjectInfo } from './objectInfo';
import { PyFloat, pyDumps, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { type SimImage } from './simImage';

/**
 * The classes of the recorded `/object_info` that the simulator cannot compute (models, samplers,
 * conditioning, …: most of the 383). They are served, validated and run like any other class:
 *
 * - **Validation** is ComfyUI's own (`PromptValidator` over the recorded entry): required inputs,
 *   link types, min/max, combo values. Combos that list model files list the simulator's `models`
 *   (empty by default, as on the recorded server: a checkpoint workflow is then refused exactly as a
 *   real server without that file refuses it).
 * - **Execution** takes the configured node time; a class with a `steps` input works that many
 *   steps of `stepDelayMs`, each reported as `progress` with a JPEG latent preview (as a sampler
 *   does with previews on).
 * - **Outputs** are values of each output's type: IMAGE, MASK, LATENT, AUDIO and VIDEO of the size
 *   the inputs say (`width`/`height`, else the first image/latent/video input, else 512²), in a
 *   colour derived from the node's inputs and its ancestors (so another seed gives another picture);
 *   INT/FLOAT/STRING/BOOLEAN from the first literal of that type; anything else an opaque value.
 * - **Output nodes** that save media write a small, valid file of their kind and report it with the
 *   `ui` keys 0.3.64 uses (`SAVERS`); the others (model savers, 3D previews, and SaveWEBM, whose VP9
 *   or AV1 the simulator cannot write) return no `ui`.
 */

/** Model folders (`models/<folder>`) of the combo inputs that list files, by input name. */
const MODEL_INPUTS: Record<string, string> = {
  ckpt_name: 'checkpoints',
  lora_name: 'loras',
  vae_name: 'vae',
  unet_name: 'diffusion_models',
  clip_name: 'text_encoders',
  clip_name1: 'text_encoders',
  clip_name2: 'text_encoders',
  clip_name3: 'text_encoders',
  clip_name4: 'text_encoders',
  control_net_name: 'controlnet',
  style_model_name: 'style_models',
  gligen_name: 'gligen',
  hypernetwork_name: 'hypernetworks',
  photomaker_model_name: 'photomaker',
  audio_encoder_name: 'audio_encoders',
  model_name: 'upscale_models',
};

/** Inputs whose folder is not the one their name suggests. */
const CLASS_MODEL_INPUTS: Record<string, Record<string, string>> = {
  CLIPVisionLoader: { clip_name: 'clip_vision' },
  ModelPatchLoader: { name: 'model_patches' },
};

/** Combos that list the input folder's files of a media kind (LoadImage and LoadAudio run for real). */
const INPUT_FILE_COMBOS: Record<string, { input: string; kinds: string[] }> = {
  LoadVideo: { input: 'file', kinds: ['video'] },
};

/** The combo's option list, in either schema (`[[...]]` or `["COMBO", {"options": [...]}]`). */
function comboOptions(spec: PyValue[]): PyValue[] | undefined {
  if (Array.isArray(spec[0])) return spec[0];
  const extra = spec[1];
  if (spec[0] === 'COMBO' && extra instanceof Map) return (extra.get('options') as PyValue[] | undefined) ?? [];
  return undefined;
}

/** `spec` with its option list replaced. */
function withOptions(spec: PyValue[], options: PyValue[]): PyValue[] {
  if (Array.isArray(spec[0])) return [options, ...spec.slice(1)];
  const extra = new Map(spec[1] as Map<string, PyValue>);
  extra.set('options', options);
  return [spec[0], extra, ...spec.slice(2)];
}

/** The entry as this server would list it: model combos from `models`, file combos from the input folder. */
function withServerFiles(entry: ObjectInfo, models: Readonly<Record<string, readonly string[]>>, folders: FolderPaths): ObjectInfo {
  const fileCombo = INPUT_FILE_COMBOS[entry.name];
  const modelInputs = { ...MODEL_INPUTS, ...CLASS_MODEL_INPUTS[entry.name] };
  let changed = false;
  const sections: ObjectInfo['input'] = { ...entry.input };
  for (const key of ['required', 'optional'] as const) {
    const section = entry.input[key];
    if (!section) continue;
    const copy = { ...section };
    for (const [name, spec] of Object.entries(section)) {
      const options = comboOptions(spec);
      if (!options) continue;
      let files: readonly string[] | undefined;
      if (fileCombo?.input === name) files = inputFiles(folders, fileCombo.kinds);
      else if (modelInputs[name] !== undefined) files = [...(models[modelInputs[name]] ?? [])].sort();
      if (!files || files.length === 0) continue;
      copy[name] = withOptions(spec, [...files, ...options.filter((o) => !files.includes(o as string))]);
      changed = true;
    }
    sections[key] = copy;
  }
  return changed ? { ...entry, input: sections } : entry;
}

/** A colour for what a node made: a digest of its class, its literal inputs and the colours of what it was given. */
function tintOf(className: string, inputs: Record<string, NodeValue>): number {
  const hash = createHash('sha256').update(className);
  for (const name of Object.keys(inputs).sort()) {
    const v = inputs[name];
    hash.update(`\0${name}=`);
    if (v instanceof LatentValue || v instanceof OpaqueValue) hash.update(String(v.tint));
    else if (v instanceof ImageTensor) hash.update(`image ${v.width}x${v.height}x${v.images.length}`);
    else if (v instanceof VideoValue) hash.update(`video ${v.frames.width}x${v.frames.height}`);
    else if (v === null || typeof v !== 'object' || v instanceof PyFloat || Array.isArray(v) || v instanceof Map) hash.update(pyDumps(v));
  }
  return hash.digest().readUIntBE(0, 3);
}

/** Size and batch of what a node makes: its `width`/`height`/`batch_size`, else its first sized input, else 512² × 1. */
function sizeOf(inputs: Record<string, NodeValue>): { width: number; height: number; batch: number } {
  const literal = (name: string) => (typeof inputs[name] === 'number' ? (inputs[name]) : undefined);
  const sized = Object.values(inputs).find((v) => v instanceof ImageTensor || v instanceof LatentValue || v instanceof VideoValue);
  const from =
    sized instanceof ImageTensor
      ? { width: sized.width, height: sized.height, batch: sized.images.length }
      : sized instanceof LatentValue
        ? { width: sized.width, height: sized.height, batch: sized.batch }
        : sized instanceof VideoValue
          ? { width: sized.frames.width, height: sized.frames.height, batch: sized.frames.images.length }
          : { width: 512, height: 512, batch: 1 };
  const width = literal('width');
  const height = literal('height');
  return {
    width: width !== undefined && height !== undefined && width > 0 ? width : from.width,
    height: width !== undefined && height !== undefined && height > 0 ? height : from.height,
    batch: Math.max(1, Math.min(64, literal('batch_size') ?? literal('length') ?? from.batch)),
  };
}

function tinted(width: number, height: number, tint: number, strength = 1): SimImage {
  const channel = (shift: number) => Math.fround((0.5 + (((tint >> shift) & 0xff) / 255 - 0.5) * strength));
  return { width, height, solid: [channel(16), channel(8), channel(0)] };
}

/** A value of `type` for output `slot` of a class the simulator imitates. */
function outputValue(type: string, className: string, inputs: Record<string, NodeValue>, tint: number): NodeValue {
  const { width, height, batch } = sizeOf(inputs);
  const literalOf = (test: (v: NodeValue) => boolean) => Object.values(inputs).find(test);
  switch (type) {
    case 'IMAGE':
      return new ImageTensor(Array.from({ length: batch }, () => tinted(width, height, tint)));
    case 'MASK':
      return new MaskTensor(Array.from({ length: batch }, () => ({ width, height, solid: 0 })));
    case 'LATENT':
      return new LatentValue(width, height, batch, tint);
    case 'AUDIO':
      return new AudioValue([[new Float32Array(44100), new Float32Array(44100)]], 44100);
    case 'VIDEO': {
      // CreateVideo and friends: the images they were given, else frames fading in.
      const images = literalOf((v) => v instanceof ImageTensor) as ImageTensor | undefined;
      const fps = inputs.fps instanceof PyFloat ? inputs.fps.value : typeof inputs.fps === 'number' ? inputs.fps : 8;
      return new VideoValue(images ?? new ImageTensor(Array.from({ length: Math.max(batch, 8) }, (_, i) => tinted(width, height, tint, (i + 1) / Math.max(batch, 8)))), fps > 0 ? fps : 8);
    }
    case 'INT':
      return (literalOf((v) => typeof v === 'number' || typeof v === 'bigint') as number | undefined) ?? 0;
    case 'FLOAT':
      return (literalOf((v) => v instanceof PyFloat) as PyFloat | undefined) ?? new PyFloat(0);
    case 'STRING':
      return (literalOf((v) => typeof v === 'string') as string | undefined) ?? '';
    case 'BOOLEAN':
      return (literalOf((v) => typeof v === 'boolean') as boolean | undefined) ?? false;
    default:
      return new OpaqueValue(type, className, tint);
  }
}

/** The frames an output node was given: an IMAGE batch, a VIDEO's frames, or a LATENT's decoded look. */
function framesOf(inputs: Record<string, NodeValue>): ImageTensor {
  for (const v of Object.values(inputs)) {
    if (v instanceof ImageTensor) return v;
    if (v instanceof VideoValue) return v.frames;
    if (v instanceof LatentValue) return new ImageTensor(Array.from({ length: v.batch }, () => tinted(v.width, v.height, v.tint)));
    if (v instanceof MaskTensor) return new ImageTensor(v.masks.map((m) => ({ width: m.width, height: m.height, solid: [m.solid ?? 0, m.solid ?? 0, m.solid ?? 0] as const })));
  }
  return new ImageTensor([tinted(512, 512, 0x808080)]);
}

function audioSeconds(inputs: Record<string, NodeValue>): { seconds: number; rate: number } {
  const audio = Object.values(inputs).find((v): v is AudioValue => v instanceof AudioValue);
  return { seconds: audio ? (audio.waveforms[0]?.[0]?.length ?? 0) / audio.sampleRate : 1, rate: audio?.sampleRate ?? 44100 };
}

/** The 5 random letters PreviewImage and PreviewAudio append to their temp prefix, kept per node object. */
function tempPrefix(ctx: NodeContext): string {
  let letters = ctx.state.get('letters') as string | undefined;
  if (letters === undefined) {
    letters = Array.from({ length: 5 }, () => 'abcdefghijklmnopqrstupvxyz'[randomInt(26)]).join('');
    ctx.state.set('letters', letters);
  }
  return `ComfyUI_temp_${letters}`;
}

interface SaveTarget {
  prefix: string;
  temp: boolean;
  ext: string;
}

/** Writes one file per `bytes` under the node's prefix (`<name>_<counter:05>_.<ext>`) and returns their references. */
async function saveFiles(ctx: NodeContext, target: SaveTarget, files: readonly Buffer[], width = 0, height = 0): Promise<PyValue[]> {
  const dir = target.temp ? ctx.folders.temp : ctx.folders.output;
  const { folder, filename, subfolder, counter: start } = ctx.folders.saveImagePath(target.prefix, dir, width, height);
  const refs: PyValue[] = [];
  for (const [i, bytes] of files.entries()) {
    const name = `${filename.split('%batch_num%').join(String(i))}_${String(start + i).padStart(5, '0')}_.${target.ext}`;
    await fs.promises.writeFile(pypath.join(folder, name), bytes);
    refs.push(fileRef(name, subfolder, target.temp ? 'temp' : 'output'));
  }
  return refs;
}

type Saver = (inputs: Record<string, NodeValue>, ctx: NodeContext) => Promise<NodeResult['ui']>;

const prefixOf = (inputs: Record<string, NodeValue>, fallback: string) => (inputs.filename_prefix === undefined ? fallback : str(inputs.filename_prefix));
const metadataOf = (inputs: Record<string, NodeValue>) => pngMetadata(inputs.prompt, inputs.extra_pnginfo);

/** The media-saving output nodes of 0.3.64 the simulator does not run itself, and what each writes and reports. */
const SAVERS: Record<string, Saver> = {
  // comfy_extras/nodes_images.py: one APNG of the whole batch; `animated` is always (True,).
  SaveAnimatedPNG: async (i, ctx) => {
    const frames = framesOf(i);
    const pngs = await Promise.all(frames.images.map((img) => imagePng(img, 1)));
    const file = encodeApng(pngs, 1000 / num(i.fps), metadataOf(i));
    const refs = await saveFiles(ctx, { prefix: prefixOf(i, 'ComfyUI'), temp: false, ext: 'png' }, [file], frames.width, frames.height);
    return new Map<string, PyValue>([
      ['images', refs],
      ['animated', [true]],
    ]);
  },
  // comfy_extras/nodes_video.py SaveVideo: an MP4 (H.264) reported as `ui.PreviewVideo`: `images` + `animated` (True,).
  SaveVideo: async (i, ctx) => {
    const video = Object.values(i).find((v): v is VideoValue => v instanceof VideoValue);
    const frames = video?.frames ?? framesOf(i);
    const file = encodeMp4({ width: frames.width, height: frames.height, frames: frames.images.map(imageRgba) }, video?.fps ?? 8);
    const refs = await saveFiles(ctx, { prefix: prefixOf(i, 'video/ComfyUI'), temp: false, ext: 'mp4' }, [file], frames.width, frames.height);
    return new Map<string, PyValue>([
      ['images', refs],
      ['animated', [true]],
    ]);
  },
  // nodes.py: MaskPreview is a PreviewImage of the mask.
  MaskPreview: async (i, ctx) => {
    const frames = framesOf(i);
    const pngs = await Promise.all(frames.images.map((img) => imagePng(img, 1, metadataOf(i))));
    return new Map([['images', await saveFiles(ctx, { prefix: tempPrefix(ctx), temp: true, ext: 'png' }, pngs, frames.width, frames.height)]]);
  },
  // comfy_extras/nodes_audio.py: PreviewAudio writes FLAC to temp; the MP3 and Opus savers write their format.
  PreviewAudio: async (i, ctx) => {
    const audio = Object.values(i).find((v): v is AudioValue => v instanceof AudioValue);
    const files = (audio?.waveforms ?? [[new Float32Array(44100)]]).map((channels) => encodeFlac(channels, audio?.sampleRate ?? 44100, metadataOf(i)));
    return new Map([['audio', await saveFiles(ctx, { prefix: tempPrefix(ctx), temp: true, ext: 'flac' }, files)]]);
  },
  SaveAudioMP3: async (i, ctx) => {
    const { seconds, rate } = audioSeconds(i);
    return new Map([['audio', await saveFiles(ctx, { prefix: prefixOf(i, 'audio/ComfyUI'), temp: false, ext: 'mp3' }, [encodeMp3Silence(seconds, rate)])]]);
  },
  SaveAudioOpus: async (i, ctx) => {
    const { seconds, rate } = audioSeconds(i);
    return new Map([['audio', await saveFiles(ctx, { prefix: prefixOf(i, 'audio/ComfyUI'), temp: false, ext: 'opus' }, [encodeOggOpusSilence(seconds, rate, metadataOf(i))])]]);
  },
  // nodes.py SaveLatent: a safetensors file under latents/, reported as `latents`.
  SaveLatent: async (i, ctx) => {
    const latent = Object.values(i).find((v): v is LatentValue => v instanceof LatentValue) ?? new LatentValue(512, 512, 1, 0);
    const shape = [latent.batch, 4, Math.trunc(latent.height / 8), Math.trunc(latent.width / 8)];
    const file = encodeSafetensors({ latent_tensor: shape, latent_format_version_0: [0] }, Object.fromEntries(metadataOf(i)));
    return new Map([['latents', await saveFiles(ctx, { prefix: prefixOf(i, 'latents/ComfyUI'), temp: false, ext: 'latent' }, [file])]]);
  },
};

/** The node class of a recorded entry the simulator imitates (see the module comment). */
export function genericNodeClass(entry: ObjectInfo, models: Readonly<Record<string, readonly string[]>>): NodeClass {
  const saver = entry.output_node ? SAVERS[entry.name] : undefined;
  return {
    name: entry.name,
    outputNode: entry.output_node,
    usesUniqueId: takesUniqueId(entry),
    objectInfo: (folders) => withServerFiles(entry, models, folders),
    run: async (inputs, ctx) => {
      const tint = tintOf(entry.name, inputs);
      const steps = typeof inputs.steps === 'number' ? Math.min(inputs.steps, 10_000) : 0;
      if (steps > 0) {
        const { width, height } = sizeOf(inputs);
        const scale = Math.min(1, 512 / Math.max(width, height));
        for (let step = 1; step <= steps; step++) {
          await ctx.step();
          const preview = tinted(Math.max(1, Math.round((width * scale) / 8)), Math.max(1, Math.round((height * scale) / 8)), tint, step / steps);
          await ctx.progress(step, steps, preview, 'jpeg');
        }
      }
      const outputs = entry.output.map((type) => outputValue(type, entry.name, inputs, tint));
      return { outputs, ui: saver ? await saver(inputs, ctx) : undefined };
    },
  };
}

