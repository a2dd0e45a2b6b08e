import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../base/atomicFile';
import { encodeJpeg } from '../base/jpegEncoder';
import { decodePng, pngSize } from '../base/png';
import { extensionOf } from './mediaSignature';

/** The longest side of a generated thumbnail, in pixels: a gallery tile at twice its CSS size. */
export const THUMBNAIL_MAX_SIDE = 256;
/** A file this small is its own thumbnail: generating one would not save enough to matter. */
export const SMALL_IMAGE_BYTES = 200 * 1024;
/** PNGs bigger than this (bytes or pixels) get no thumbnail: decoding them would hold the extension host too long. */
const MAX_PNG_BYTES = 64 * 1024 * 1024;
const MAX_PNG_PIXELS = 40_000_000;
const JPEG_QUALITY = 80;

/**
 * The file a gallery tile shows for an image output: the file itself when small, else a JPEG
 * thumbnail made from a PNG and kept in `cacheDir` (named by the file's path, size and time, so
 * a changed file gets a new one); undefined when none can be had cheaply (a large JPEG or WebP, a
 * broken PNG): the tile then shows an icon, and the full file opens on click.
 */
export async function thumbnailFor(file: string, bytes: number, cacheDir: string): Promise<string | undefined> {
  if (bytes <= SMALL_IMAGE_BYTES) return file;
  if (extensionOf(file) !== 'png' || bytes > MAX_PNG_BYTES) return undefined;
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    return undefined;
  }
  const key = createHash('sha256').update(`${path.resolve(file)}\0${stat.size}\0${stat.mtimeMs}`).digest('hex').slice(0, 32);
  const thumb = path.join(cacheDir, `${key}.jpg`);
  if (await fs.stat(thumb).then((s) => s.isFile(), () => false)) return thumb;
  try {
    const jpeg = pngThumbnail(await fs.readFile(file), THUMBNAIL_MAX_SIDE);
    if (!jpeg) return undefined;
    await fs.mkdir(cacheDir, { recursive: true });
    await writeFileAtomic(thumb, jpeg);
    return thumb;
  } catch {
    return undefined;
  }
}

/** A JPEG at most `maxSide` pixels on its longer side from PNG bytes (box-filtered), or undefined for a PNG too large or broken. */
export function pngThumbnail(png: Uint8Array, maxSide: number): Buffer | undefined {
  const size = pngSize(png);
  if (!size || size.width * size.height > MAX_PNG_PIXELS) return undefined;
  let decoded;
  try {
    decoded = decodePng(png);
  } catch {
    return undefined;
  }
  const { width, height, channels, pixels } = decoded;
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * width) / w));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * width + sx) * channels;
          // 1 and 2 channels are grey (+ alpha); 3 and 4 are RGB (+ alpha). Alpha is dropped: JPEG has none.
          const grey = channels <= 2;
          r += pixels[i];
          g += grey ? pixels[i] : pixels[i + 1];
          b += grey ? pixels[i] : pixels[i + 2];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * w + x) * 4;
      rgba[o] = Math.round(r / n);
      rgba[o + 1] = Math.round(g / n);
      rgba[o + 2] = Math.round(b / n);
      rgba[o + 3] = 255;
    }
  }
  return encodeJpeg(w, h, rgba, JPEG_QUALITY);
}
