import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../base/atomicFile';
import { encodeJpeg } from '../base/jpegEncoder';
import { decodePng, pngSize } from '../base/png';
import { decode as decodeJpeg } from 'jpeg-js';
import { extensionOf } from './mediaSignature';

/** The longest side of a generated thumbnail, in pixels: a gallery tile at twice its CSS size. */
export const THUMBNAIL_MAX_SIDE = 256;
/** A file this small is its own thumbnail: generating one would not save enough to matter. */
export const SMALL_IMAGE_BYTES = 200 * 1024;
/** PNGs bigger than this (bytes or pixels) get no thumbnail: decoding them would hold the extension host too long. */
const MAX_PNG_BYTES = 64 * 1024 * 1024;
const MAX_PNG_PIXELS = 40_000_000;
/**
 * JPEGs get the same byte cap and a lower pixel cap: the pure-JS decoder takes about 0.1 s per
 * megapixel on the extension host. The cap is checked from the frame header before any pixel is
 * decoded, and the decoder's own memory cap stops a file whose tables or scans ask for more (a
 * hostile header naming 60000×60000 is refused at once, not allocated).
 */
const MAX_JPEG_BYTES = MAX_PNG_BYTES;
const MAX_JPEG_MEGAPIXELS = 16;
const MAX_JPEG_MEMORY_MB = 256;
const JPEG_QUALITY = 80;

/** The thumbnail makers by file extension, with the largest file each takes. WebP, GIF and the rest have no decoder here. */
const MAKERS: Readonly<Record<string, { readonly maxBytes: number; readonly make: (bytes: Uint8Array, maxSide: number) => Buffer | undefined }>> = {
  png: { maxBytes: MAX_PNG_BYTES, make: pngThumbnail },
  jpg: { maxBytes: MAX_JPEG_BYTES, make: jpegThumbnail },
  jpeg: { maxBytes: MAX_JPEG_BYTES, make: jpegThumbnail },
};

/**
 * The file a gallery tile shows for an image output: the file itself when small, else a JPEG
 * thumbnail made from a PNG or JPEG and kept in `cacheDir` (named by the file's path, size and
 * time, so a changed file gets a new one); undefined when none can be had cheaply (a large WebP
 * or GIF, a broken or oversized PNG or JPEG): the tile then shows an icon, and the full file
 * opens on click. An animated PNG's thumbnail is its first frame.
 */
export async function thumbnailFor(file: string, bytes: number, cacheDir: string): Promise<string | undefined> {
  if (bytes <= SMALL_IMAGE_BYTES) return file;
  const maker = Object.hasOwn(MAKERS, extensionOf(file)) ? MAKERS[extensionOf(file)] : undefined;
  if (!maker || bytes > maker.maxBytes) return undefined;
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
    const jpeg = maker.make(await fs.readFile(file), THUMBNAIL_MAX_SIDE);
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
  return boxThumbnail(decoded.width, decoded.height, decoded.channels, decoded.pixels, maxSide);
}

/**
 * A JPEG at most `maxSide` pixels on its longer side from JPEG bytes, or undefined for one too
 * large (over {@link MAX_JPEG_MEGAPIXELS} by its header, or asking the decoder for more memory
 * than {@link MAX_JPEG_MEMORY_MB}) or broken.
 */
export function jpegThumbnail(jpeg: Uint8Array, maxSide: number): Buffer | undefined {
  const size = jpegSize(jpeg);
  if (!size || size.width * size.height > MAX_JPEG_MEGAPIXELS * 1_000_000) return undefined;
  let decoded;
  try {
    decoded = decodeJpeg(jpeg, { useTArray: true, formatAsRGBA: false, tolerantDecoding: true, maxResolutionInMP: MAX_JPEG_MEGAPIXELS, maxMemoryUsageInMB: MAX_JPEG_MEMORY_MB });
  } catch {
    return undefined;
  }
  if (decoded.width === 0 || decoded.height === 0) return undefined;
  return boxThumbnail(decoded.width, decoded.height, 3, decoded.data, maxSide);
}

/**
 * A JPEG's width and height from its first frame header (SOF0-SOF15 but DHT, JPG and DAC), read
 * segment by segment without decoding; undefined when there is none before the scan.
 */
export function jpegSize(b: Uint8Array): { width: number; height: number } | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    // Fill bytes and markers without a length.
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    const len = (b[i + 2] << 8) | b[i + 3];
    if (len < 2) return undefined;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > b.length) return undefined;
      return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + len;
  }
  return undefined;
}

/** Box-filters `channels`-per-pixel samples (grey, grey + alpha, RGB, RGBA) down to at most `maxSide` and encodes them as JPEG. */
function boxThumbnail(width: number, height: number, channels: number, pixels: Uint8Array, maxSide: number): Buffer {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const rgba = new Uint8Array(w * h * 4);
  // 1 and 2 channels are grey (+ alpha); 3 and 4 are RGB (+ alpha). Alpha is dropped: JPEG has none.
  const grey = channels <= 2;
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
