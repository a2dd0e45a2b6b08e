import * as fs from 'node:fs';
import { AudioDecodeError, decodeWav, encodeFlac, encodeGif, encodeGlb, encodeWebp, type RgbaFrames } from './mediaEncoders';
import { AudioValue, MeshValue, type NodeClass, type NodeValue } from './nodeClass';
import { fileRef, fileSha256, imageInput, imagePng, imageRgba, inputFiles, num, pngMetadata, str } from './nodeHelpers';
import { recordedEntry, takesUniqueId, withCombo, writtenObjectInfo, type ObjectInfo } from './objectInfo';
import { PyError, pyTruthy } from './pyFormat';
import { PyFloat, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { type SimImage } from './simImage';

/**
 * The output kinds beyond PNG images, so clients can be tested on every `ui` key ComfyUI uses:
 * SaveAnimatedWEBP (`images` + `animated`), SaveAudio (`audio`), VHS_VideoCombine (`gifs`),
 * SaveGLB (`3d`), plus their weight-free sources (LoadAudio, and two simulator-only nodes).
 */

function rgbaFrames(images: readonly SimImage[]): RgbaFrames {
  return { width: images[0]?.width ?? 0, height: images[0]?.height ?? 0, frames: images.map(imageRgba) };
}

function metadataComments(prompt: NodeValue | undefined, extra: NodeValue | undefined): Record<string, string> {
  return Object.fromEntries(pngMetadata(prompt, extra));
}

function audioInput(v: NodeValue | undefined): AudioValue {
  if (v instanceof AudioValue) return v;
  throw new PyError('TypeError', "'NoneType' object is not subscriptable");
}

function cube(size: number): { vertices: Float32Array; faces: Uint32Array } {
  const h = size / 2;
  const vertices = new Float32Array([-h, -h, -h, h, -h, -h, h, h, -h, -h, h, -h, -h, -h, h, h, -h, h, h, h, h, -h, h, h]);
  const faces = new Uint32Array([0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4, 2, 3, 7, 2, 7, 6, 1, 2, 6, 1, 6, 5, 0, 4, 7, 0, 7, 3]);
  return { vertices, faces };
}

function fixed(entry: ObjectInfo): Pick<NodeClass, 'name' | 'outputNode' | 'objectInfo' | 'usesUniqueId'> {
  return { name: entry.name, outputNode: entry.output_node, objectInfo: () => entry, usesUniqueId: takesUniqueId(entry) };
}

/** The VHS counter: one past the highest `<name>_<digits>…` already in the folder. */
function vhsCounter(folder: string, filename: string): number {
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const matcher = new RegExp(`^${escaped}_(\\d+)\\D*\\..+$`, 'i');
  let max = 0;
  for (const f of fs.readdirSync(folder)) {
    const m = matcher.exec(f);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** SaveAnimatedWEBP, LoadAudio, SaveAudio, SaveGLB, VHS_VideoCombine and the simulator-only sources. */
export function mediaNodeClasses(): NodeClass[] {
  const w = writtenObjectInfo;
  return [
    {
      ...fixed(recordedEntry('SaveAnimatedWEBP')),
      run: async (i, ctx) => {
        const images = imageInput(i.images);
        const { folder, filename, subfolder, counter } = ctx.folders.saveImagePath(str(i.filename_prefix), ctx.folders.output, images.width, images.height);
        const file = `${filename}_${String(counter).padStart(5, '0')}_.webp`;
        await fs.promises.writeFile(pypath.join(folder, file), encodeWebp(rgbaFrames(images.images), Math.trunc(1000 / num(i.fps))));
        return { outputs: [], ui: new Map<string, PyValue>([['images', [fileRef(file, subfolder, 'output')]], ['animated', [images.images.length !== 1]]]) };
      },
    },
    {
      ...fixed(recordedEntry('LoadAudio')),
      objectInfo: (folders) => withCombo(recordedEntry('LoadAudio'), 'audio', inputFiles(folders, ['audio', 'video'])),
      isChanged: async (i, folders) => fileSha256(folders.annotatedPath(i.audio as string)),
      validate: {
        args: ['audio'],
        check: (a, folders) => (folders.existsAnnotated(a.audio as string) ? true : `Invalid audio file: ${str(a.audio)}`),
      },
      run: async (i, ctx) => {
        const path = ctx.folders.annotatedPath(i.audio as string);
        try {
          const { channels, sampleRate } = decodeWav(await fs.promises.readFile(path));
          return { outputs: [new AudioValue([channels], sampleRate)] };
        } catch (e) {
          if (e instanceof AudioDecodeError) throw new PyError('av.error.InvalidDataError', `[Errno 1094995529] Invalid data found when processing input: '${path}'`);
          throw e;
        }
      },
    },
    {
      ...fixed(w.SimToneAudio),
      run: (i) => {
        const rate = num(i.sample_rate);
        const n = Math.max(1, Math.round(num(i.seconds) * rate));
        const freq = num(i.frequency);
        const wave = new Float32Array(n);
        for (let t = 0; t < n; t++) wave[t] = Math.fround(0.5 * Math.sin((2 * Math.PI * freq * t) / rate));
        return Promise.resolve({ outputs: [new AudioValue([[wave]], rate)] });
      },
    },
    {
      ...fixed(recordedEntry('SaveAudio')),
      run: async (i, ctx) => {
        const audio = audioInput(i.audio);
        const { folder, filename, subfolder, counter: start } = ctx.folders.saveImagePath(str(i.filename_prefix), ctx.folders.output);
        let counter = start;
        const comments = Object.entries(metadataComments(i.prompt, i.extra_pnginfo));
        const results: PyValue[] = [];
        for (const [batch, channels] of audio.waveforms.entries()) {
          const file = `${filename.split('%batch_num%').join(String(batch))}_${String(counter).padStart(5, '0')}_.flac`;
          await fs.promises.writeFile(pypath.join(folder, file), encodeFlac(channels, audio.sampleRate, comments));
          results.push(fileRef(file, subfolder, 'output'));
          counter++;
        }
        return { outputs: [], ui: new Map([['audio', results]]) };
      },
    },
    {
      ...fixed(w.SimCubeMesh),
      run: (i) => Promise.resolve({ outputs: [new MeshValue(Array.from({ length: num(i.batch_size) }, () => cube(num(i.size))))] }),
    },
    {
      ...fixed(recordedEntry('SaveGLB')),
      run: async (i, ctx) => {
        if (!(i.mesh instanceof MeshValue)) throw new PyError('AttributeError', "'NoneType' object has no attribute 'vertices'");
        const { folder, filename, subfolder, counter: start } = ctx.folders.saveImagePath(str(i.filename_prefix), ctx.folders.output);
        const extras = metadataComments(i.prompt, i.extra_pnginfo);
        const results: PyValue[] = [];
        let counter = start;
        for (const mesh of i.mesh.meshes) {
          const file = `${filename}_${String(counter).padStart(5, '0')}_.glb`;
          await fs.promises.writeFile(pypath.join(folder, file), encodeGlb(mesh.vertices, mesh.faces, extras));
          results.push(fileRef(file, subfolder, 'output'));
          counter++;
        }
        return { outputs: [], ui: new Map([['3d', results]]) };
      },
    },
    {
      ...fixed(w.VHS_VideoCombine),
      run: async (i, ctx) => {
        const images = imageInput(i.images);
        const saveOutput = pyTruthy(i.save_output as PyValue);
        const outputDir = saveOutput ? ctx.folders.output : ctx.folders.temp;
        const { folder, filename, subfolder } = ctx.folders.saveImagePath(str(i.filename_prefix), outputDir);
        const counter = vhsCounter(folder, filename);
        const text = pngMetadata(i.prompt, i.extra_pnginfo);
        text.push(['CreationTime', new Date().toISOString().replace('T', ' ').slice(0, 19)]);
        const firstImageFile = `${filename}_${String(counter).padStart(5, '0')}.png`;
        const outputFiles = [pypath.join(folder, firstImageFile)];
        await fs.promises.writeFile(outputFiles[0], await imagePng(images.images[0], 4, text));
        const format = str(i.format);
        const ext = format.split('/')[1] ?? 'gif';
        let frames = images.images;
        if (pyTruthy(i.pingpong as PyValue)) frames = [...frames, ...frames.slice(1, -1).reverse()];
        const frameRate = num(i.frame_rate);
        const file = `${filename}_${String(counter).padStart(5, '0')}.${ext}`;
        const path = pypath.join(folder, file);
        const rgba = rgbaFrames(frames);
        const frameMs = Math.round(1000 / frameRate);
        await fs.promises.writeFile(path, ext === 'webp' ? encodeWebp(rgba, frameMs, num(i.loop_count)) : encodeGif(rgba, frameMs, num(i.loop_count)));
        outputFiles.push(path);
        const preview = new Map<string, PyValue>([
          ['filename', file],
          ['subfolder', subfolder],
          ['type', saveOutput ? 'output' : 'temp'],
          ['format', format],
          ['frame_rate', i.frame_rate instanceof PyFloat ? i.frame_rate : new PyFloat(frameRate)],
          ['workflow', firstImageFile],
          ['fullpath', path],
        ]);
        return { outputs: [[saveOutput, outputFiles]], ui: new Map([['gifs', [preview]]]) };
      },
    },
  ];
}
