/**
 * `/object_info` entries of the simulator's node classes. Seven are the recorded 0.3.64 replies,
 * imported verbatim; the rest are written from ComfyUI 0.3.64's (and VideoHelperSuite's) node
 * definitions and say so in a comment. The `input` dicts double as `INPUT_TYPES()` for validation,
 * as they are in ComfyUI for these classes.
 */
import recordedEmptyImage from '../../../recordings/comfyui-0.3.64/object_info_EmptyImage.json';
import recordedImageScale from '../../../recordings/comfyui-0.3.64/object_info_ImageScale.json';
import recordedLoadImage from '../../../recordings/comfyui-0.3.64/object_info_LoadImage.json';
import recordedPreviewAny from '../../../recordings/comfyui-0.3.64/object_info_PreviewAny.json';
import recordedPreviewImage from '../../../recordings/comfyui-0.3.64/object_info_PreviewImage.json';
import recordedSaveImage from '../../../recordings/comfyui-0.3.64/object_info_SaveImage.json';
import recordedSaveImageWebsocket from '../../../recordings/comfyui-0.3.64/object_info_SaveImageWebsocket.json';
import { PyFloat, type PyValue } from './pyJson';

/** One `/object_info/{class}` entry. */
export interface ObjectInfo {
  input: { required?: Record<string, PyValue[]>; optional?: Record<string, PyValue[]>; hidden?: Record<string, string> };
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
const PROMPT_HIDDEN = { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' };

/** The recorded entries, as the server sent them (LoadImage's file list is replaced per request). */
export const recordedObjectInfo: Record<string, ObjectInfo> = {
  ...(recordedEmptyImage as unknown as Record<string, ObjectInfo>),
  ...(recordedImageScale as unknown as Record<string, ObjectInfo>),
  ...(recordedLoadImage as unknown as Record<string, ObjectInfo>),
  ...(recordedPreviewAny as unknown as Record<string, ObjectInfo>),
  ...(recordedPreviewImage as unknown as Record<string, ObjectInfo>),
  ...(recordedSaveImage as unknown as Record<string, ObjectInfo>),
  ...(recordedSaveImageWebsocket as unknown as Record<string, ObjectInfo>),
};

/** Entries NOT from a recording: written from the 0.3.64 sources (or VHS's / the simulator's own). */
export const writtenObjectInfo: Record<string, ObjectInfo> = {
  // comfy_extras/nodes_post_processing.py `Blur` (not from a recording).
  ImageBlur: info('ImageBlur', {
    required: {
      image: ['IMAGE'],
      blur_radius: ['INT', { default: 1, min: 1, max: 31, step: 1 }],
      sigma: ['FLOAT', { default: f(1), min: f(0.1), max: f(10), step: f(0.1) }],
    },
    output: ['IMAGE'],
    displayName: 'Image Blur',
    module: 'comfy_extras.nodes_post_processing',
    category: 'image/postprocessing',
    outputNode: false,
  }),
  // nodes.py `ImageInvert` (not from a recording).
  ImageInvert: info('ImageInvert', {
    required: { image: ['IMAGE'] },
    output: ['IMAGE'],
    displayName: 'Invert Image',
    module: 'nodes',
    category: 'image',
    outputNode: false,
  }),
  // comfy_extras/nodes_images.py `GetImageSize` (not from a recording).
  GetImageSize: info('GetImageSize', {
    required: { image: ['IMAGE'] },
    hidden: { unique_id: 'UNIQUE_ID' },
    output: ['INT', 'INT', 'INT'],
    outputName: ['width', 'height', 'batch_size'],
    displayName: 'Get Image Size',
    description: 'Returns width and height of the image, and passes it through unchanged.',
    module: 'comfy_extras.nodes_images',
    category: 'image',
    outputNode: false,
  }),
  // comfy_extras/nodes_images.py `SaveAnimatedWEBP` (not from a recording).
  SaveAnimatedWEBP: info('SaveAnimatedWEBP', {
    required: {
      images: ['IMAGE'],
      filename_prefix: ['STRING', { default: 'ComfyUI' }],
      fps: ['FLOAT', { default: f(6), min: f(0.01), max: f(1000), step: f(0.01) }],
      lossless: ['BOOLEAN', { default: true }],
      quality: ['INT', { default: 80, min: 0, max: 100 }],
      method: [['default', 'fastest', 'slowest']],
    },
    hidden: PROMPT_HIDDEN,
    module: 'comfy_extras.nodes_images',
    category: 'image/animation',
    outputNode: true,
  }),
  // comfy_extras/nodes_audio.py `LoadAudio` (not from a recording; the list is the input folder's audio/video files).
  LoadAudio: info('LoadAudio', {
    required: { audio: [[], { audio_upload: true }] },
    output: ['AUDIO'],
    displayName: 'Load Audio',
    module: 'comfy_extras.nodes_audio',
    category: 'audio',
    outputNode: false,
  }),
  // comfy_extras/nodes_audio.py `SaveAudio` (not from a recording).
  SaveAudio: info('SaveAudio', {
    required: { audio: ['AUDIO'], filename_prefix: ['STRING', { default: 'audio/ComfyUI' }] },
    hidden: PROMPT_HIDDEN,
    displayName: 'Save Audio (FLAC)',
    module: 'comfy_extras.nodes_audio',
    category: 'audio',
    outputNode: true,
  }),
  // comfy_extras/nodes_hunyuan3d.py `SaveGLB` (not from a recording).
  SaveGLB: info('SaveGLB', {
    required: { mesh: ['MESH'], filename_prefix: ['STRING', { default: 'mesh/ComfyUI' }] },
    hidden: PROMPT_HIDDEN,
    module: 'comfy_extras.nodes_hunyuan3d',
    category: '3d',
    outputNode: true,
  }),
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

/** A shallow copy of an entry with one combo's option list replaced (LoadImage/LoadAudio file lists). */
export function withCombo(entry: ObjectInfo, input: string, options: string[]): ObjectInfo {
  const required = { ...entry.input.required };
  const current = required[input] ?? [[]];
  required[input] = [options, ...current.slice(1)];
  return { ...entry, input: { ...entry.input, required } };
}

