import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { type FolderPaths } from './folderPaths';
import { formatValue, ImageTensor, MaskTensor, type NodeClass, type NodeContext, type NodeResult, type NodeValue } from './nodeClass';
import { genericNodeClass } from './genericNodes';
import { recordedEntry, recordedObjectInfo, takesUniqueId, withCombo, type ObjectInfo } from './objectInfo';
import { decodePng, PngDecodeError, pngSize } from '../../base/png';
import { PyError, pyRepr } from './pyFormat';
import { PyFloat, pyDumps, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { blurImage, imageFromBytes, invertImage, scaleImage, solidImage, type SimImage, type SimMask } from './simImage';
import { mediaNodeClasses } from './mediaNodes';
import { fileRef, fileSha256, imageInput, imagePng, inputFiles, num, pngMetadata, str } from './nodeHelpers';

const TEMP_LETTERS = 'abcdefghijklmnopqrstupvxyz';

async function saveImages(
  images: ImageTensor,
  filenamePrefix: string,
  outputDir: string,
  type: string,
  compressLevel: number,
  folders: FolderPaths,
  metadata: [string, string][],
): Promise<NodeResult> {
  const first = images.images[0];
  const { folder, filename, subfolder, counter: start } = folders.saveImagePath(filenamePrefix, outputDir, first?.width ?? 0, first?.height ?? 0);
  let counter = start;
  const results: PyValue[] = [];
  for (const [batch, img] of images.images.entries()) {
    const name = `${filename.split('%batch_num%').join(String(batch))}_${String(counter).padStart(5, '0')}_.png`;
    await fs.promises.writeFile(pypath.join(folder, name), await imagePng(img, compressLevel, metadata));
    results.push(fileRef(name, subfolder, type));
    counter++;
  }
  return { outputs: [], ui: new Map([['images', results]]) };
}

function defineClass(entry: ObjectInfo, behaviour: Omit<NodeClass, 'name' | 'outputNode' | 'objectInfo' | 'usesUniqueId'> & { objectInfo?: NodeClass['objectInfo'] }): NodeClass {
  return {
    name: entry.name,
    outputNode: entry.output_node,
    usesUniqueId: takesUniqueId(entry),
    objectInfo: () => entry,
    ...behaviour,
  };
}

/** Width/height of non-PNG images Pillow could open, read from their headers (pixels are not decoded). */
function sniffImageSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length > 10 && b.toString('latin1', 0, 6).startsWith('GIF8')) return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length > 26 && b.toString('latin1', 0, 2) === 'BM') return { width: b.readInt32LE(18), height: Math.abs(b.readInt32LE(22)) };
  if (b.length > 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    const kind = b.toString('latin1', 12, 16);
    if (kind === 'VP8X') return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
    if (kind === 'VP8L') {
      const bits = b.readUInt32LE(21);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
    if (kind === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  }
  if (b.length > 4 && b[0] === 0xff && b[1] === 0xd8) {
    let p = 2;
    while (p + 9 < b.length) {
      if (b[p] !== 0xff) return undefined;
      const marker = b[p + 1];
      const len = b.readUInt16BE(p + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { width: b.readUInt16BE(p + 7), height: b.readUInt16BE(p + 5) };
      p += 2 + len;
    }
  }
  return undefined;
}

/** LoadImage's decoding: PNGs are decoded for real; other formats Pillow opens become a mid-grey image of their size. */
async function loadImageFile(path: string): Promise<{ image: SimImage; mask: SimMask }> {
  const bytes = await fs.promises.readFile(path);
  if (pngSize(bytes)) {
    try {
      const png = decodePng(bytes);
      const rgb = new Uint8Array(png.width * png.height * 3);
      const alpha = png.channels === 2 || png.channels === 4 ? new Float32Array(png.width * png.height) : undefined;
      for (let i = 0; i < png.width * png.height; i++) {
        const src = i * png.channels;
        const grey = png.channels <= 2;
        rgb[i * 3] = png.pixels[src]!;
        rgb[i * 3 + 1] = grey ? png.pixels[src] : png.pixels[src + 1];
        rgb[i * 3 + 2] = grey ? png.pixels[src] : png.pixels[src + 2];
        if (alpha) alpha[i] = Math.fround(1 - Math.fround(png.pixels[src + png.channels - 1] / 255));
      }
      const image = imageFromBytes(png.width, png.height, rgb);
      const mask: SimMask = alpha ? { width: png.width, height: png.height, data: alpha } : { width: 64, height: 64, solid: 0 };
      return { image, mask };
    } catch (e) {
      if (!(e instanceof PngDecodeError)) throw e;
      throw new PyError('OSError', `image file is truncated (${e.message})`);
    }
  }
  const size = sniffImageSize(bytes);
  if (!size) throw new PyError('PIL.UnidentifiedImageError', `cannot identify image file '${path}'`);
  return { image: { width: size.width, height: size.height, solid: [0.5, 0.5, 0.5] }, mask: { width: 64, height: 64, solid: 0 } };
}

/** PreviewAny's text for a value: strings as-is, numbers via `str`, the rest as JSON or `str()`. */
function previewText(source: NodeValue | undefined): string {
  if (source === undefined || source === null) return 'None';
  if (typeof source === 'string') return source;
  if (typeof source === 'number' || typeof source === 'boolean' || typeof source === 'bigint' || source instanceof PyFloat) return pyRepr(source);
  if (source instanceof Map || Array.isArray(source)) return pyDumps(source);
  return str(formatValue(source));
}

/**
 * The simulator's node classes by name, in the order `/object_info` lists them: every class of the
 * recorded 0.3.64 reply (run for real where the simulator can, imitated otherwise: `genericNodes.ts`),
 * then the classes it adds. `models` are the file names of its model folders.
 */
export function createNodeClasses(models: Readonly<Record<string, readonly string[]>> = {}): Map<string, NodeClass> {
  const r = recordedEntry;
  const classes: NodeClass[] = [
    defineClass(r('EmptyImage'), {
      run: (i) => {
        const width = num(i.width);
        const height = num(i.height);
        const color = num(i.color);
        const batch = Array.from({ length: num(i.batch_size) }, () => solidImage(width, height, color));
        return Promise.resolve({ outputs: [new ImageTensor(batch)] });
      },
    }),
    defineClass(r('ImageScale'), {
      run: (i) => {
        const image = imageInput(i.image);
        let width = num(i.width);
        let height = num(i.height);
        if (width === 0 && height === 0) return Promise.resolve({ outputs: [image] });
        if (width === 0) width = Math.max(1, Math.round((image.width * height) / image.height));
        else if (height === 0) height = Math.max(1, Math.round((image.height * width) / image.width));
        return Promise.resolve({ outputs: [new ImageTensor(image.images.map((img) => scaleImage(img, width, height, str(i.upscale_method), str(i.crop))))] });
      },
    }),
    defineClass(r('ImageBlur'), {
      run: (i) => Promise.resolve({ outputs: [new ImageTensor(imageInput(i.image).images.map((img) => blurImage(img, num(i.blur_radius), num(i.sigma))))] }),
    }),
    defineClass(r('ImageInvert'), {
      run: (i) => Promise.resolve({ outputs: [new ImageTensor(imageInput(i.image).images.map(invertImage))] }),
    }),
    {
      name: 'LoadImage',
      outputNode: false,
      usesUniqueId: false,
      objectInfo: (folders) => withCombo(r('LoadImage'), 'image', inputFiles(folders, ['image'])),
      isChanged: async (i, folders) => fileSha256(folders.annotatedPath(i.image as string)),
      validate: {
        args: ['image'],
        check: (a, folders) => (folders.existsAnnotated(a.image as string) ? true : `Invalid image file: ${str(a.image)}`),
      },
      run: async (i, ctx) => {
        const { image, mask } = await loadImageFile(ctx.folders.annotatedPath(i.image as string));
        return { outputs: [new ImageTensor([image]), new MaskTensor([mask])] };
      },
    },
    defineClass(r('SaveImage'), {
      run: (i, ctx) => saveImages(imageInput(i.images), str(i.filename_prefix), ctx.folders.output, 'output', 4, ctx.folders, pngMetadata(i.prompt, i.extra_pnginfo)),
    }),
    defineClass(r('PreviewImage'), {
      run: (i, ctx) => {
        let letters = ctx.state.get('letters') as string | undefined;
        if (letters === undefined) {
          letters = Array.from({ length: 5 }, () => TEMP_LETTERS[randomInt(TEMP_LETTERS.length)]).join('');
          ctx.state.set('letters', letters);
        }
        return saveImages(imageInput(i.images), `ComfyUI_temp_${letters}`, ctx.folders.temp, 'temp', 1, ctx.folders, pngMetadata(i.prompt, i.extra_pnginfo));
      },
    }),
    defineClass(r('SaveImageWebsocket'), {
      isChanged: () => Promise.resolve(new PyFloat((Date.now() + (performance.now() % 1)) / 1000)),
      run: async (i, ctx) => {
        const images = imageInput(i.images);
        for (const [step, img] of images.images.entries()) await ctx.progress(step, images.images.length, img);
        return { outputs: [] };
      },
    }),
    defineClass(r('GetImageSize'), {
      run: (i, ctx: NodeContext) => {
        const image = imageInput(i.image);
        ctx.sendText(`width: ${image.width}, height: ${image.height}\n batch size: ${image.images.length}`);
        return Promise.resolve({ outputs: [image.width, image.height, image.images.length] });
      },
    }),
    defineClass(r('PreviewAny'), {
      run: (i) => Promise.resolve({ outputs: [], ui: new Map([['text', [previewText(i.source)]]]) }),
    }),
    ...mediaNodeClasses(),
  ];
  const own = new Map(classes.map((c) => [c.name, c]));
  const all = new Map<string, NodeClass>();
  for (const [name, entry] of recordedObjectInfo()) all.set(name, own.get(name) ?? genericNodeClass(entry, models));
  for (const c of classes) if (!all.has(c.name)) all.set(c.name, c);
  return all;
}
