import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { type FolderPaths, guessMimeType, isFile } from './folderPaths';
import { ImageTensor, type NodeValue } from './nodeClass';
import { encodePng } from '../../base/png';
import { PyError, pyRepr, pyStr } from './pyFormat';
import { PyFloat, pyDumps, type PyDict, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { rowBytes, type SimImage } from './simImage';

/** Helpers shared by the node classes: input coercion, file references, PNG metadata, input listings. */

/** Reads a number that validation already coerced with `int()`/`float()`. */
export function num(v: NodeValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new PyError('TypeError', `expected a number, got ${pyRepr(v as PyValue)}`);
}

/** `str(v)` of a widget value (validation already made STRING inputs strings). */
export function str(v: NodeValue | undefined): string {
  return typeof v === 'string' ? v : pyStr(v as PyValue);
}

/** The IMAGE input of a node, or the error ComfyUI raises when a link delivered nothing. */
export function imageInput(v: NodeValue | undefined): ImageTensor {
  if (v instanceof ImageTensor) return v;
  throw new PyError('AttributeError', "'NoneType' object has no attribute 'shape'");
}

/** `{filename, subfolder, type}`: the file reference every saving node reports. */
export function fileRef(filename: string, subfolder: string, type: string): PyDict {
  return new Map<string, PyValue>([
    ['filename', filename],
    ['subfolder', subfolder],
    ['type', type],
  ]);
}

/** The PNG text chunks SaveImage writes: the prompt, then each `extra_pnginfo` key. */
export function pngMetadata(prompt: NodeValue | undefined, extraPngInfo: NodeValue | undefined): [string, string][] {
  const text: [string, string][] = [];
  if (prompt !== undefined && prompt !== null) text.push(['prompt', pyDumps(prompt as PyValue)]);
  if (extraPngInfo instanceof Map) for (const [k, v] of extraPngInfo) text.push([k, pyDumps(v)]);
  return text;
}

/** Encodes one image of a batch as PNG. */
export function imagePng(img: SimImage, compressLevel: number, text?: [string, string][]): Promise<Buffer> {
  const row = Buffer.alloc(img.width * 3);
  return encodePng({ width: img.width, height: img.height, channels: 3, row: (y) => rowBytes(img, y, row) }, { compressLevel, text });
}

/** One image as 8-bit RGBA (opaque), what the WebP, GIF and JPEG writers take. */
export function imageRgba(img: SimImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height * 4);
  const row = Buffer.alloc(img.width * 3);
  for (let y = 0; y < img.height; y++) {
    rowBytes(img, y, row);
    for (let x = 0; x < img.width; x++) {
      const o = (y * img.width + x) * 4;
      out[o] = row[x * 3]!;
      out[o + 1] = row[x * 3 + 1]!;
      out[o + 2] = row[x * 3 + 2]!;
      out[o + 3] = 255;
    }
  }
  return out;
}

/** Files of the input folder (top level only) whose guessed type is one of `kinds`, sorted. */
export function inputFiles(folders: FolderPaths, kinds: readonly string[]): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(folders.input).filter((n) => isFile(pypath.join(folders.input, n)));
  } catch {
    return [];
  }
  return names.filter((n) => kinds.includes((guessMimeType(n) ?? '').split('/')[0] ?? '')).sort();
}

/** `hashlib.sha256(file).hexdigest()`: the IS_CHANGED of nodes that load a file. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
