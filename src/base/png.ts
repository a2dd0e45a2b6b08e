import * as zlib from 'node:zlib';

/**
 * PNG encoding and decoding: the simulator's images, and the run panel's thumbnails (decoded here). Encoding follows Pillow's writer (adaptive
 * per-row filter chosen in Pillow's order None, Up, Sub, Paeth; IDAT split at Pillow's block size;
 * tEXt chunks before IDAT), so a SaveImage file is byte-identical to the one a real ComfyUI wrote
 * for the same pixels and prompt (checked against `view_saveimage_output.png`).
 */

/** What to encode: a row source of 8-bit pixels with 1 (L), 3 (RGB) or 4 (RGBA) channels. */
export interface PngSource {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
  /** The bytes of row `y` (width × channels). */
  row(y: number): Uint8Array;
}

export interface PngEncodeOptions {
  /** zlib level: ComfyUI's SaveImage uses 4, previews and PreviewImage 1, Pillow's default is 6. */
  compressLevel: number;
  /** tEXt chunks, in order (ComfyUI: `prompt`, then each `extra_pnginfo` key). */
  text?: readonly (readonly [string, string])[];
  /** Extra bytes as an ancillary private chunk (`sIMp`), which decoders skip: pads a frame to a size. */
  padding?: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAXBLOCK = 65536;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as PNG (and zip) computes it. */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
export function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

const distance = (v: number) => (v < 128 ? v : 256 - v);

/** Pillow's ZipEncode filter choice for one row; returns the filter byte followed by the filtered row. */
function filterRow(cur: Uint8Array, prior: Uint8Array, bpp: number): Buffer {
  const n = cur.length;
  const out = Buffer.alloc(n + 1);
  let best = 0;
  let bestSum = 0;
  for (let i = 0; i < n; i++) bestSum += distance(cur[i]);
  let sum = bestSum;
  const candidate = Buffer.alloc(n);
  const try_ = (filter: number, f: (i: number) => number) => {
    sum = 0;
    for (let i = 0; i < n; i++) {
      candidate[i] = f(i) & 0xff;
      sum += distance(candidate[i]);
    }
    if (sum < bestSum) {
      bestSum = sum;
      best = filter;
      candidate.copy(out, 1);
    }
  };
  if (best === 0) Buffer.from(cur).copy(out, 1);
  if (sum > 0) try_(2, (i) => cur[i] - prior[i]);
  if (sum > 0) try_(1, (i) => (i < bpp ? cur[i] : cur[i] - cur[i - bpp]));
  if (sum > 0) {
    try_(4, (i) => {
      const a = i < bpp ? 0 : cur[i - bpp];
      const b = prior[i];
      const c = i < bpp ? 0 : prior[i - bpp];
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      return cur[i] - (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    });
  }
  out[0] = best;
  return out;
}

/** Encodes a PNG, streaming rows through zlib so a large image never sits in memory unfiltered. */
export async function encodePng(src: PngSource, options: PngEncodeOptions): Promise<Buffer> {
  const colorType = src.channels === 1 ? 0 : src.channels === 3 ? 2 : 6;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(src.width, 0);
  ihdr.writeUInt32BE(src.height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const idat = await deflateRows(src, options.compressLevel);
  const blocks: Buffer[] = [];
  const block = Math.max(MAXBLOCK, src.width * 4);
  for (let i = 0; i < idat.length; i += block) blocks.push(chunk('IDAT', idat.subarray(i, i + block)));
  const text = (options.text ?? []).map(([k, v]) => chunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1')));
  const pad = options.padding && options.padding > 0 ? [chunk('sIMp', Buffer.alloc(options.padding, 0x53))] : [];
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), ...text, ...pad, ...blocks, chunk('IEND', Buffer.alloc(0))]);
}

/** Raw (filtered) bytes above this go through a zlib stream instead of one `deflateSync` call. */
const SYNC_LIMIT = 8 * 1024 * 1024;
const STREAM_CHUNK = 1024 * 1024;

/** Filters every row and deflates them; the output does not depend on how the input is split. */
function deflateRows(src: PngSource, level: number): Promise<Buffer> {
  const bpp = src.channels;
  const rowBytes = src.width * src.channels + 1;
  let prior = new Uint8Array(src.width * src.channels);
  let repeated: Buffer | undefined;
  const filtered = (y: number): Buffer => {
    const cur = Uint8Array.from(src.row(y));
    // A row equal to the one above filters exactly like that one did if it, too, repeated its
    // predecessor: solid images then cost one filter pass instead of one per row.
    const same = y > 0 && sameBytes(cur, prior);
    const out = same && repeated ? repeated : filterRow(cur, prior, bpp);
    repeated = same ? out : undefined;
    prior = cur;
    return out;
  };
  if (rowBytes * src.height <= SYNC_LIMIT) {
    const rows: Buffer[] = [];
    for (let y = 0; y < src.height; y++) rows.push(filtered(y));
    return Promise.resolve(zlib.deflateSync(Buffer.concat(rows), { level }));
  }
  return new Promise((resolve, reject) => {
    const deflate = zlib.createDeflate({ level });
    const parts: Buffer[] = [];
    deflate.on('data', (b: Buffer) => parts.push(b));
    deflate.on('end', () => resolve(Buffer.concat(parts)));
    deflate.on('error', reject);
    let y = 0;
    const pump = () => {
      while (y < src.height) {
        const batch: Buffer[] = [];
        let size = 0;
        while (y < src.height && size < STREAM_CHUNK) {
          const row = filtered(y++);
          batch.push(row);
          size += row.length;
        }
        if (!deflate.write(Buffer.concat(batch))) {
          deflate.once('drain', pump);
          return;
        }
      }
      deflate.end();
    };
    pump();
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A decoded PNG: 8-bit samples, `channels` per pixel (1 L, 2 LA, 3 RGB, 4 RGBA). */
export interface DecodedPng {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pixels: Uint8Array;
  /** tEXt chunks in file order. */
  text: [string, string][];
}

/** Thrown for bytes Pillow would refuse as a PNG. */
export class PngDecodeError extends Error {}

/** Width and height from the IHDR, without decoding pixels. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 24 || !b.subarray(0, 8).equals(SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Decodes any standard PNG (all colour types and bit depths, interlaced or not) to 8-bit samples. */
export function decodePng(bytes: Uint8Array): DecodedPng {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!b.subarray(0, 8).equals(SIGNATURE)) throw new PngDecodeError('not a PNG file');
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 8;
  let colorType = 2;
  let interlace = 0;
  let palette: Buffer | undefined;
  let trns: Buffer | undefined;
  const idat: Buffer[] = [];
  const text: [string, string][] = [];
  while (pos + 8 <= b.length) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    const data = b.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8]!;
      colorType = data[9]!;
      interlace = data[12]!;
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'tEXt') {
      const nul = data.indexOf(0);
      text.push([data.toString('latin1', 0, nul), data.toString('latin1', nul + 1)]);
    } else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (width === 0 || height === 0 || idat.length === 0) throw new PngDecodeError('truncated PNG file');
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat));
  } catch {
    throw new PngDecodeError('broken PNG file');
  }
  const samplesPerPixel = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType as 0 | 2 | 3 | 4 | 6];
  if (samplesPerPixel === undefined) throw new PngDecodeError(`unknown color type ${colorType}`);
  const bitsPerPixel = samplesPerPixel * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);

  const outChannels: 1 | 2 | 3 | 4 = colorType === 3 ? (trns ? 4 : 3) : colorType === 0 ? (trns ? 2 : 1) : colorType === 2 ? (trns ? 4 : 3) : (samplesPerPixel as 2 | 4);
  const pixels = new Uint8Array(width * height * outChannels);
  let offset = 0;

  const passes = interlace
    ? [
        [0, 0, 8, 8],
        [4, 0, 8, 8],
        [0, 4, 4, 8],
        [2, 0, 4, 4],
        [0, 2, 2, 4],
        [1, 0, 2, 2],
        [0, 1, 1, 2],
      ]
    : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * bitsPerPixel) / 8);
    let prior = new Uint8Array(stride);
    for (let py = 0; py < ph; py++) {
      const filter = raw[offset];
      const line = Uint8Array.from(raw.subarray(offset + 1, offset + 1 + stride));
      offset += 1 + stride;
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? line[i - bpp] : 0;
        const up = prior[i];
        const c = i >= bpp ? prior[i - bpp] : 0;
        let pred = 0;
        if (filter === 1) pred = a;
        else if (filter === 2) pred = up;
        else if (filter === 3) pred = (a + up) >> 1;
        else if (filter === 4) {
          const p = a + up - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - up);
          const pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
        }
        line[i] = (line[i] + pred) & 0xff;
      }
      prior = line;
      const sample = (px: number, s: number): number => {
        if (depth === 8) return line[px * samplesPerPixel + s];
        if (depth === 16) return line[(px * samplesPerPixel + s) * 2];
        const bit = (px * samplesPerPixel + s) * depth;
        const v = (line[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        return colorType === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
      };
      for (let px = 0; px < pw; px++) {
        const dst = ((y0 + py * dy) * width + (x0 + px * dx)) * outChannels;
        if (colorType === 3) {
          const idx = sample(px, 0);
          for (let k = 0; k < 3; k++) pixels[dst + k] = palette?.[idx * 3 + k] ?? 0;
          if (outChannels === 4) pixels[dst + 3] = trns?.[idx] ?? 255;
        } else {
          for (let s = 0; s < samplesPerPixel; s++) pixels[dst + s] = sample(px, s);
          if (trns && (colorType === 0 || colorType === 2)) {
            const raw16 = (s: number) => (depth === 16 ? (line[(px * samplesPerPixel + s) * 2] << 8) | line[(px * samplesPerPixel + s) * 2 + 1] : sample(px, s));
            const transparent = Array.from({ length: samplesPerPixel }, (_, s) => raw16(s) === trns.readUInt16BE(s * 2)).every(Boolean);
            pixels[dst + samplesPerPixel] = transparent ? 0 : 255;
          }
        }
      }
    }
  }
  return { width, height, channels: outChannels, pixels, text };
}
