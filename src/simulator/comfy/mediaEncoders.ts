import { chunk as pngChunk } from '../../base/png';

/**
 * Small, dependency-free writers for the output kinds beyond PNG (animated WebP, GIF and PNG,
 * H.264 MP4, FLAC, MP3, Ogg Opus, GLB, safetensors) and a WAV reader, so every output the simulator reports is a real file a viewer can open.
 * They aim at validity, not compression: WebP is lossless VP8L without transforms, FLAC uses
 * verbatim subframes, MP3 and Opus hold silence, safetensors hold zeros.
 */

/** 8-bit RGBA frames of one size. */
export interface RgbaFrames {
  readonly width: number;
  readonly height: number;
  readonly frames: readonly Uint8Array[];
}

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;

  /** Writes `count` bits of `value`, least significant first (VP8L order). */
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) {
      this.acc |= ((value >>> i) & 1) << this.n;
      if (++this.n === 8) this.flushByte();
    }
  }

  /** Writes a Huffman code most significant bit first (codes are bit-reversed in VP8L and deflate). */
  code(code: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bits((code >>> i) & 1, 1);
  }

  finish(): Buffer {
    if (this.n > 0) this.flushByte();
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.acc);
    this.acc = 0;
    this.n = 0;
  }
}

/** Code lengths of a Huffman code for `counts`, no longer than `limit` (small counts are raised until it fits). */
function huffmanLengths(counts: readonly number[], limit: number): number[] {
  for (let floor = 1; ; floor *= 2) {
    const nodes: { w: number; syms: number[] }[] = [];
    counts.forEach((c, s) => {
      if (c > 0) nodes.push({ w: Math.max(c, floor), syms: [s] });
    });
    const lengths = counts.map(() => 0);
    if (nodes.length === 1) {
      lengths[nodes[0].syms[0]] = 1;
      return lengths;
    }
    while (nodes.length > 1) {
      nodes.sort((a, b) => a.w - b.w);
      const a = nodes.shift()!;
      const b = nodes.shift()!;
      for (const s of [...a.syms, ...b.syms]) lengths[s]++;
      nodes.push({ w: a.w + b.w, syms: [...a.syms, ...b.syms] });
    }
    if (Math.max(...lengths) <= limit) return lengths;
  }
}

/** Canonical codes for code lengths (shorter first, then by symbol), as deflate and VP8L assign them. */
function canonicalCodes(lengths: readonly number[]): number[] {
  const max = Math.max(0, ...lengths);
  const blCount = new Array<number>(max + 1).fill(0);
  for (const l of lengths) if (l > 0) blCount[l]++;
  const next = new Array<number>(max + 2).fill(0);
  let code = 0;
  for (let bits = 1; bits <= max; bits++) {
    code = (code + blCount[bits - 1]) << 1;
    next[bits] = code;
  }
  return lengths.map((l) => (l > 0 ? next[l]++ : 0));
}

const CODE_LENGTH_ORDER = [17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/** Writes one VP8L prefix code for a histogram; returns `[codes, lengths]` to write symbols with. */
function writePrefixCode(w: BitWriter, counts: readonly number[]): [number[], number[]] {
  const used = counts.map((c, s) => (c > 0 ? s : -1)).filter((s) => s >= 0);
  const zero = counts.map(() => 0);
  if (used.length <= 2 && used.every((s) => s < 256)) {
    const syms = used.length ? used : [0];
    w.bits(1, 1);
    w.bits(syms.length - 1, 1);
    const first = syms[0];
    w.bits(first < 2 ? 0 : 1, 1);
    w.bits(first, first < 2 ? 1 : 8);
    if (syms.length === 2) w.bits(syms[1], 8);
    if (syms.length === 1) return [zero, zero];
    const lengths = [...zero];
    for (const s of syms) lengths[s] = 1;
    return [canonicalCodes(lengths), lengths];
  }
  const lengths = huffmanLengths(counts, 15);
  const clCounts = new Array<number>(19).fill(0);
  for (const l of lengths) clCounts[l]++;
  const clLengths = huffmanLengths(clCounts, 7);
  const single = clLengths.filter((l) => l > 0).length === 1;
  const clCodes = canonicalCodes(clLengths);
  let count = CODE_LENGTH_ORDER.length;
  while (count > 4 && clLengths[CODE_LENGTH_ORDER[count - 1]] === 0) count--;
  w.bits(0, 1);
  w.bits(count - 4, 4);
  for (let i = 0; i < count; i++) w.bits(clLengths[CODE_LENGTH_ORDER[i]], 3);
  w.bits(0, 1);
  // A code-length code with one symbol is a zero-bit code for the decoder.
  for (const l of lengths) if (!single) w.code(clCodes[l], clLengths[l]);
  return [canonicalCodes(lengths), lengths];
}

/** A VP8L (lossless WebP) bitstream of one RGBA frame. */
function vp8l(width: number, height: number, rgba: Uint8Array): Buffer {
  const w = new BitWriter();
  let alpha = false;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) alpha = true;
  w.bits(0x2f, 8);
  w.bits(width - 1, 14);
  w.bits(height - 1, 14);
  w.bits(alpha ? 1 : 0, 1);
  w.bits(0, 3);
  w.bits(0, 1); // no transforms
  w.bits(0, 1); // no colour cache
  w.bits(0, 1); // one prefix code group
  const hist = [new Array<number>(280).fill(0), new Array<number>(256).fill(0), new Array<number>(256).fill(0), new Array<number>(256).fill(0), new Array<number>(40).fill(0)];
  for (let i = 0; i < rgba.length; i += 4) {
    hist[0][rgba[i + 1]]++;
    hist[1][rgba[i]]++;
    hist[2][rgba[i + 2]]++;
    hist[3][rgba[i + 3]]++;
  }
  const codes = hist.map((h) => writePrefixCode(w, h));
  const [g, r, b, a] = codes as [[number[], number[]], [number[], number[]], [number[], number[]], [number[], number[]]];
  for (let i = 0; i < rgba.length; i += 4) {
    w.code(g[0][rgba[i + 1]], g[1][rgba[i + 1]]);
    w.code(r[0][rgba[i]], r[1][rgba[i]]);
    w.code(b[0][rgba[i + 2]], b[1][rgba[i + 2]]);
    w.code(a[0][rgba[i + 3]], a[1][rgba[i + 3]]);
  }
  return w.finish();
}

function riffChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat([head, data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntLE(n, 0, 3);
  return b;
}

/** A lossless WebP; several frames make an animated one (VP8X + ANIM + ANMF). */
export function encodeWebp(img: RgbaFrames, frameMs: number, loop = 0): Buffer {
  const frames = img.frames.map((f) => riffChunk('VP8L', vp8l(img.width, img.height, f)));
  let body: Buffer;
  if (frames.length === 1) {
    body = frames[0]!;
  } else {
    const vp8x = Buffer.concat([Buffer.from([0x02 | 0x10, 0, 0, 0]), u24(img.width - 1), u24(img.height - 1)]);
    const anim = Buffer.alloc(6);
    anim.writeUInt16LE(loop, 4);
    const anmf = frames.map((f) => riffChunk('ANMF', Buffer.concat([u24(0), u24(0), u24(img.width - 1), u24(img.height - 1), u24(Math.max(0, Math.round(frameMs))), Buffer.from([0x02]), f])));
    body = Buffer.concat([riffChunk('VP8X', vp8x), riffChunk('ANIM', anim), ...anmf]);
  }
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + body.length, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

/** An animated GIF (palette from the frames' colours, or a 6×7×6 cube when there are too many). */
export function encodeGif(img: RgbaFrames, frameMs: number, loop = 0): Buffer {
  const colours = new Map<number, number>();
  for (const f of img.frames) {
    for (let i = 0; i < f.length && colours.size <= 256; i += 4) {
      const key = (f[i] << 16) | (f[i + 1] << 8) | f[i + 2];
      if (!colours.has(key)) colours.set(key, colours.size);
    }
  }
  const exact = colours.size <= 256;
  const palette: number[] = exact
    ? [...colours.keys()]
    : Array.from({ length: 252 }, (_, i) => (Math.round((Math.floor(i / 42) * 255) / 5) << 16) | (Math.round((Math.floor((i % 42) / 6) * 255) / 6) << 8) | Math.round(((i % 6) * 255) / 5));
  const index = (r: number, g: number, b: number) =>
    exact ? colours.get((r << 16) | (g << 8) | b)! : Math.round((r * 5) / 255) * 42 + Math.round((g * 6) / 255) * 6 + Math.round((b * 5) / 255);
  let bits = 1;
  while (1 << bits < palette.length) bits++;
  const out: number[] = [...Buffer.from('GIF89a', 'latin1')];
  const u16 = (n: number) => out.push(n & 0xff, (n >> 8) & 0xff);
  u16(img.width);
  u16(img.height);
  out.push(0x80 | 0x70 | (bits - 1), 0, 0);
  for (let i = 0; i < 1 << bits; i++) {
    const c = palette[i] ?? 0;
    out.push((c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff);
  }
  if (img.frames.length > 1) {
    out.push(0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'latin1'), 0x03, 0x01);
    u16(loop);
    out.push(0);
  }
  const minCode = Math.max(2, bits);
  for (const f of img.frames) {
    out.push(0x21, 0xf9, 0x04, 2 << 2);
    u16(Math.round(frameMs / 10));
    out.push(0, 0, 0x2c);
    u16(0);
    u16(0);
    u16(img.width);
    u16(img.height);
    out.push(0, minCode);
    const pixels = new Uint8Array(img.width * img.height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = index(f[i * 4], f[i * 4 + 1], f[i * 4 + 2]);
    const data = lzw(pixels, minCode);
    for (let i = 0; i < data.length; i += 255) {
      const block = data.subarray(i, i + 255);
      out.push(block.length, ...block);
    }
    out.push(0);
  }
  out.push(0x3b);
  return Buffer.from(out);
}

function lzw(pixels: Uint8Array, minCode: number): Buffer {
  const clear = 1 << minCode;
  const eoi = clear + 1;
  const bytes: number[] = [];
  let acc = 0;
  let n = 0;
  let size = minCode + 1;
  const emit = (code: number) => {
    acc |= code << n;
    n += size;
    while (n >= 8) {
      bytes.push(acc & 0xff);
      acc >>>= 8;
      n -= 8;
    }
  };
  let dict = new Map<number, number>();
  let next = eoi + 1;
  emit(clear);
  let prefix = -1;
  for (const p of pixels) {
    if (prefix < 0) {
      prefix = p;
      continue;
    }
    const key = prefix * 256 + p;
    const found = dict.get(key);
    if (found !== undefined) {
      prefix = found;
      continue;
    }
    emit(prefix);
    if (next < 4096) {
      dict.set(key, next++);
      if (next > 1 << size && size < 12) size++;
    } else {
      emit(clear);
      dict = new Map();
      next = eoi + 1;
      size = minCode + 1;
    }
    prefix = p;
  }
  if (prefix >= 0) emit(prefix);
  emit(eoi);
  if (n > 0) bytes.push(acc & 0xff);
  return Buffer.from(bytes);
}

const CRC8 = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
  return c;
});
const CRC16 = Array.from({ length: 256 }, (_, i) => {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
  return c;
});

/** FLAC's UTF-8-like coding of the frame number. */
function utf8Number(n: number): number[] {
  if (n < 0x80) return [n];
  let bytes = 2;
  while (n >= 2 ** (5 * bytes + 1)) bytes++;
  const out: number[] = [];
  for (let i = 0; i < bytes - 1; i++) out.unshift(0x80 | (Math.floor(n / 2 ** (6 * i)) & 0x3f));
  out.unshift(((0xff << (8 - bytes)) & 0xff) | Math.floor(n / 2 ** (6 * (bytes - 1))));
  return out;
}

/** A 16-bit FLAC file (verbatim subframes) with Vorbis comments, from float channels in -1..1. */
export function encodeFlac(channels: readonly Float32Array[], sampleRate: number, comments: readonly (readonly [string, string])[] = []): Buffer {
  const total = channels[0]?.length ?? 0;
  const block = 4096;
  const parts: Buffer[] = [Buffer.from('fLaC', 'latin1')];
  const info = Buffer.alloc(34);
  info.writeUInt16BE(block, 0);
  info.writeUInt16BE(block, 2);
  const packed = (BigInt(sampleRate) << 44n) | (BigInt(channels.length - 1) << 41n) | (15n << 36n) | BigInt(total);
  info.writeBigUInt64BE(packed, 10);
  const vendor = Buffer.from('Lavf (simulator)', 'utf8');
  const entries = comments.map(([k, v]) => Buffer.from(`${k}=${v}`, 'utf8'));
  const vc = Buffer.concat([u32le(vendor.length), vendor, u32le(entries.length), ...entries.flatMap((e) => [u32le(e.length), e])]);
  parts.push(Buffer.from([0x00, 0, 0, 34]), info);
  const vcHead = Buffer.from([0x84, (vc.length >> 16) & 0xff, (vc.length >> 8) & 0xff, vc.length & 0xff]);
  parts.push(vcHead, vc);
  for (let start = 0, frame = 0; start < total; start += block, frame++) {
    const n = Math.min(block, total - start);
    const head = [0xff, 0xf8, 0x70, ((channels.length - 1) << 4) | 0x00, ...utf8Number(frame), ((n - 1) >> 8) & 0xff, (n - 1) & 0xff];
    head.push(head.reduce((c, b) => CRC8[c ^ b], 0));
    const body = Buffer.alloc(channels.length * (1 + n * 2));
    let p = 0;
    for (const ch of channels) {
      body[p++] = 0x02;
      for (let i = 0; i < n; i++) {
        body.writeInt16BE(Math.max(-32768, Math.min(32767, Math.round((ch[start + i] ?? 0) * 32767))), p);
        p += 2;
      }
    }
    const frameBytes = Buffer.concat([Buffer.from(head), body]);
    const crc = frameBytes.reduce((c, b) => ((c << 8) & 0xffff) ^ CRC16[((c >> 8) ^ b) & 0xff], 0);
    parts.push(frameBytes, Buffer.from([(crc >> 8) & 0xff, crc & 0xff]));
  }
  return Buffer.concat(parts);
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** A binary glTF 2.0 file of one triangle mesh, with `extras` in its asset block (ComfyUI puts the prompt there). */
export function encodeGlb(vertices: Float32Array, faces: Uint32Array, extras: Record<string, string>): Buffer {
  const indexBytes = Buffer.from(faces.buffer, faces.byteOffset, faces.byteLength);
  const vertexBytes = Buffer.from(vertices.buffer, vertices.byteOffset, vertices.byteLength);
  const min = [0, 1, 2].map((c) => Math.min(...Array.from({ length: vertices.length / 3 }, (_, i) => vertices[i * 3 + c])));
  const max = [0, 1, 2].map((c) => Math.max(...Array.from({ length: vertices.length / 3 }, (_, i) => vertices[i * 3 + c])));
  const gltf = {
    asset: { version: '2.0', generator: 'ComfyUI', extras },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ mesh: 0 }],
    meshes: [{ primitives: [{ attributes: { POSITION: 1 }, indices: 0 }] }],
    accessors: [
      { bufferView: 0, componentType: 5125, count: faces.length, type: 'SCALAR' },
      { bufferView: 1, componentType: 5126, count: vertices.length / 3, type: 'VEC3', min, max },
    ],
    bufferViews: [
      { buffer: 0, byteOffset: 0, byteLength: indexBytes.length, target: 34963 },
      { buffer: 0, byteOffset: indexBytes.length, byteLength: vertexBytes.length, target: 34962 },
    ],
    buffers: [{ byteLength: indexBytes.length + vertexBytes.length }],
  };
  let json = Buffer.from(JSON.stringify(gltf), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
  let bin = Buffer.concat([indexBytes, vertexBytes]);
  bin = Buffer.concat([bin, Buffer.alloc((4 - (bin.length % 4)) % 4)]);
  const header = Buffer.alloc(12);
  header.write('glTF', 0, 'latin1');
  header.writeUInt32LE(2, 4);
  header.writeUInt32LE(12 + 8 + json.length + 8 + bin.length, 8);
  const chunkHead = (len: number, type: string) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(len, 0);
    b.write(type, 4, 'latin1');
    return b;
  };
  return Buffer.concat([header, chunkHead(json.length, 'JSON'), json, chunkHead(bin.length, 'BIN\0'), bin]);
}

/** Thrown for audio bytes the simulator cannot read (it reads WAV only). */
export class AudioDecodeError extends Error {}

/** Reads a PCM (8/16/24/32-bit) or float (32/64-bit) WAV file into float channels. */
export function decodeWav(bytes: Buffer): { channels: Float32Array[]; sampleRate: number } {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') throw new AudioDecodeError('not a WAV file');
  let pos = 12;
  let format = 0;
  let channels = 0;
  let sampleRate = 0;
  let bits = 0;
  let data: Buffer | undefined;
  while (pos + 8 <= bytes.length) {
    const id = bytes.toString('latin1', pos, pos + 4);
    const len = bytes.readUInt32LE(pos + 4);
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (id === 'fmt ') {
      format = body.readUInt16LE(0);
      channels = body.readUInt16LE(2);
      sampleRate = body.readUInt32LE(4);
      bits = body.readUInt16LE(14);
      if (format === 0xfffe && body.length >= 26) format = body.readUInt16LE(24);
    } else if (id === 'data') data = body;
    pos += 8 + len + (len % 2);
  }
  if (!data || channels === 0 || (format !== 1 && format !== 3)) throw new AudioDecodeError('unsupported WAV encoding');
  const width = bits / 8;
  const frames = Math.floor(data.length / (width * channels));
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      const p = (i * channels + c) * width;
      let v: number;
      if (format === 3) v = bits === 64 ? data.readDoubleLE(p) : data.readFloatLE(p);
      else if (bits === 8) v = (data[p] - 128) / 128;
      else if (bits === 16) v = data.readInt16LE(p) / 32768;
      else if (bits === 24) v = data.readIntLE(p, 3) / 8388608;
      else v = data.readInt32LE(p) / 2147483648;
      out[c][i] = v;
    }
  }
  return { channels: out, sampleRate };
}

/** A 16-bit PCM WAV file (tests and the simulator's example input use it). */
export function encodeWav(channels: readonly Float32Array[], sampleRate: number): Buffer {
  const frames = channels[0]?.length ?? 0;
  const data = Buffer.alloc(frames * channels.length * 2);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels.length; c++) data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(channels[c][i] * 32767))), (i * channels.length + c) * 2);
  }
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0);
  fmt.writeUInt16LE(channels.length, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE(sampleRate * channels.length * 2, 8);
  fmt.writeUInt16LE(channels.length * 2, 12);
  fmt.writeUInt16LE(16, 14);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + 8 + fmt.length + 8 + data.length, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, riffChunk('fmt ', fmt), riffChunk('data', data)]);
}

/** An animated PNG (APNG) from same-sized PNG frames: the first frame is the default image, the rest `fdAT` chunks. */
export function encodeApng(frames: readonly Buffer[], frameMs: number, text: readonly (readonly [string, string])[] = []): Buffer {
  const chunksOf = (png: Buffer) => {
    const out: { type: string; data: Buffer }[] = [];
    for (let p = 8; p + 8 <= png.length; ) {
      const len = png.readUInt32BE(p);
      out.push({ type: png.toString('latin1', p + 4, p + 8), data: png.subarray(p + 8, p + 8 + len) });
      p += 12 + len;
    }
    return out;
  };
  const first = chunksOf(frames[0]);
  const ihdr = first.find((c) => c.type === 'IHDR')!.data;
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(frames.length, 0);
  const parts = [frames[0].subarray(0, 8), pngChunk('IHDR', ihdr), pngChunk('acTL', actl), ...text.map(([k, v]) => pngChunk('tEXt', Buffer.from(`${k}\0${v}`, 'latin1')))];
  let seq = 0;
  for (const [i, frame] of frames.entries()) {
    const fctl = Buffer.alloc(26);
    fctl.writeUInt32BE(seq++, 0);
    fctl.writeUInt32BE(ihdr.readUInt32BE(0), 4);
    fctl.writeUInt32BE(ihdr.readUInt32BE(4), 8);
    fctl.writeUInt16BE(Math.max(1, Math.min(65535, Math.round(frameMs))), 20);
    fctl.writeUInt16BE(1000, 22);
    parts.push(pngChunk('fcTL', fctl));
    for (const c of chunksOf(frame).filter((x) => x.type === 'IDAT')) {
      if (i === 0) parts.push(pngChunk('IDAT', c.data));
      else {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(seq++, 0);
        parts.push(pngChunk('fdAT', Buffer.concat([head, c.data])));
      }
    }
  }
  parts.push(pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** Silent MPEG-1 Layer III: 128 kbit/s mono frames whose side info is all zero (no coded samples), about `seconds` long. */
export function encodeMp3Silence(seconds: number, sampleRate: number): Buffer {
  const rates: Record<number, number> = { 44100: 0, 48000: 1, 32000: 2 };
  const rate = sampleRate in rates ? sampleRate : 44100;
  const frameBytes = Math.floor((144 * 128000) / rate);
  const count = Math.max(1, Math.ceil((seconds * rate) / 1152));
  const frame = Buffer.alloc(frameBytes);
  frame.set([0xff, 0xfb, 0x90 | (rates[rate] << 2), 0xc0]);
  return Buffer.concat(Array.from({ length: count }, () => frame));
}

const OGG_CRC = Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? ((r << 1) ^ 0x04c11db7) >>> 0 : (r << 1) >>> 0;
  return r >>> 0;
});

function oggPage(packets: readonly Buffer[], granule: bigint, seq: number, flags: number): Buffer {
  const lacing = packets.flatMap((p) => [...Array<number>(Math.floor(p.length / 255)).fill(255), p.length % 255]);
  const head = Buffer.alloc(27);
  head.write('OggS', 0, 'latin1');
  head[5] = flags;
  head.writeBigInt64LE(granule, 6);
  head.writeUInt32LE(0x53494d21, 14);
  head.writeUInt32LE(seq, 18);
  head[26] = lacing.length;
  const page = Buffer.concat([head, Buffer.from(lacing), ...packets]);
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ OGG_CRC[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  page.writeUInt32LE(crc, 22);
  return page;
}

/** Ogg Opus of silence: the two header packets, then 20 ms CELT silence frames (`F8 FF FE`), with Vorbis-style comments. */
export function encodeOggOpusSilence(seconds: number, sampleRate: number, comments: readonly (readonly [string, string])[] = []): Buffer {
  const opusHead = Buffer.alloc(19);
  opusHead.write('OpusHead', 0, 'latin1');
  opusHead[8] = 1;
  opusHead[9] = 1;
  opusHead.writeUInt16LE(312, 10);
  opusHead.writeUInt32LE(sampleRate, 12);
  const vendor = Buffer.from('simulator', 'utf8');
  const entries = comments.map(([k, v]) => Buffer.from(`${k}=${v}`, 'utf8'));
  const tags = Buffer.concat([Buffer.from('OpusTags', 'latin1'), u32le(vendor.length), vendor, u32le(entries.length), ...entries.flatMap((e) => [u32le(e.length), e])]);
  const frames = Math.max(1, Math.ceil(seconds * 50));
  const pages = [oggPage([opusHead], 0n, 0, 0x02), oggPage([tags], 0n, 1, 0)];
  const silence = Buffer.from([0xf8, 0xff, 0xfe]);
  for (let done = 0, seq = 2; done < frames; seq++) {
    const n = Math.min(200, frames - done);
    done += n;
    pages.push(oggPage(Array<Buffer>(n).fill(silence), BigInt(312 + done * 960), seq, done === frames ? 0x04 : 0));
  }
  return Buffer.concat(pages);
}

/** A safetensors file of float32 zeros: `tensors` by name with their shapes, and string `metadata`. */
export function encodeSafetensors(tensors: Record<string, readonly number[]>, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const raw = Buffer.from(JSON.stringify(header), 'utf8');
  const json = Buffer.concat([raw, Buffer.alloc((8 - (raw.length % 8)) % 8, 0x20)]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([size, json, Buffer.alloc(offset)]);
}

/** Bits most significant first, with the Exp-Golomb codes of H.264. */
class H264Bits {
  private readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;

  u(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >>> i) & 1);
      if (++this.n === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }

  ue(value: number): void {
    const v = value + 1;
    const len = 32 - Math.clz32(v);
    this.u(0, len - 1);
    this.u(v, len);
  }

  se(value: number): void {
    this.ue(value <= 0 ? -2 * value : 2 * value - 1);
  }

  align(): void {
    while (this.n !== 0) this.u(0, 1);
  }

  /** `rbsp_trailing_bits`, then the NAL unit with its header byte and emulation prevention. */
  nal(header: number): Buffer {
    this.u(1, 1);
    this.align();
    const out = [header];
    let zeros = 0;
    for (const b of this.bytes) {
      if (zeros >= 2 && b <= 3) {
        out.push(3);
        zeros = 0;
      }
      out.push(b);
      zeros = b === 0 ? zeros + 1 : 0;
    }
    return Buffer.from(out);
  }
}

function mp4Box(type: string, ...payload: Buffer[]): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + payload.reduce((a, b) => a + b.length, 0), 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...payload]);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return mp4Box(type, vf, ...payload);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

const IDENTITY_MATRIX = u32s(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000);

/**
 * An MP4 of H.264 (Constrained Baseline): every frame an IDR picture of I_PCM macroblocks, i.e.
 * uncompressed samples in a valid stream that every H.264 decoder plays. Big, but small frames.
 */
export function encodeMp4(img: RgbaFrames, fps: number): Buffer {
  const { width, height } = img;
  const w = width + (width % 2);
  const h = height + (height % 2);
  const mbw = Math.ceil(w / 16);
  const mbh = Math.ceil(h / 16);
  const sps = new H264Bits();
  sps.u(66, 8);
  sps.u(0xc0, 8);
  sps.u(40, 8);
  sps.ue(0);
  sps.ue(0);
  sps.ue(2);
  sps.ue(1);
  sps.u(0, 1);
  sps.ue(mbw - 1);
  sps.ue(mbh - 1);
  sps.u(1, 1);
  sps.u(1, 1);
  const crop = mbw * 16 !== w || mbh * 16 !== h;
  sps.u(crop ? 1 : 0, 1);
  if (crop) {
    sps.ue(0);
    sps.ue((mbw * 16 - w) / 2);
    sps.ue(0);
    sps.ue((mbh * 16 - h) / 2);
  }
  sps.u(0, 1);
  const spsNal = sps.nal(0x67);
  const pps = new H264Bits();
  pps.ue(0);
  pps.ue(0);
  pps.u(0, 1);
  pps.u(0, 1);
  pps.ue(0);
  pps.ue(0);
  pps.ue(0);
  pps.u(0, 1);
  pps.u(0, 2);
  pps.se(0);
  pps.se(0);
  pps.se(0);
  pps.u(1, 1);
  pps.u(0, 1);
  pps.u(0, 1);
  const ppsNal = pps.nal(0x68);

  const pixel = (frame: Uint8Array, x: number, y: number) => {
    const o = (Math.min(y, height - 1) * width + Math.min(x, width - 1)) * 4;
    return [frame[o], frame[o + 1], frame[o + 2]] as const;
  };
  // PCM samples stay within 1..255: early decoders refuse 0.
  const sample = (v: number) => Math.max(1, Math.min(255, v));
  const samples = img.frames.map((frame, index) => {
    const slice = new H264Bits();
    slice.ue(0);
    slice.ue(7);
    slice.ue(0);
    slice.u(0, 4);
    slice.ue(index % 2);
    slice.u(0, 1);
    slice.u(0, 1);
    slice.se(0);
    slice.ue(1);
    for (let my = 0; my < mbh; my++) {
      for (let mx = 0; mx < mbw; mx++) {
        slice.ue(25);
        slice.align();
        for (let y = 0; y < 16; y++) {
          for (let x = 0; x < 16; x++) {
            const [r, g, b] = pixel(frame, mx * 16 + x, my * 16 + y);
            slice.u(sample(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16), 8);
          }
        }
        for (const [cr, cg, cb] of [
          [-38, -74, 112],
          [112, -94, -18],
        ]) {
          for (let y = 0; y < 8; y++) {
            for (let x = 0; x < 8; x++) {
              const [r, g, b] = pixel(frame, mx * 16 + x * 2, my * 16 + y * 2);
              slice.u(sample(((cr * r + cg * g + cb * b + 128) >> 8) + 128), 8);
            }
          }
        }
      }
    }
    const nal = slice.nal(0x65);
    return Buffer.concat([u32s(nal.length), nal]);
  });

  const timescale = Math.max(1, Math.round(fps * 1000));
  const delta = 1000;
  const duration = samples.length * delta;
  const movieMs = Math.round((duration * 1000) / timescale);
  const avcc = mp4Box('avcC', Buffer.from([1, spsNal[1], spsNal[2], spsNal[3], 0xff, 0xe1, spsNal.length >> 8, spsNal.length & 0xff]), spsNal, Buffer.from([1, ppsNal.length >> 8, ppsNal.length & 0xff]), ppsNal);
  const visual = Buffer.alloc(78);
  visual.writeUInt16BE(1, 6);
  visual.writeUInt16BE(width, 24);
  visual.writeUInt16BE(height, 26);
  visual.writeUInt32BE(0x00480000, 28);
  visual.writeUInt32BE(0x00480000, 32);
  visual.writeUInt16BE(1, 40);
  visual.writeUInt16BE(0x18, 74);
  visual.writeInt16BE(-1, 76);
  const stbl = (chunkOffset: number) =>
    mp4Box(
      'stbl',
      fullBox('stsd', 0, 0, u32s(1), mp4Box('avc1', visual, avcc)),
      fullBox('stts', 0, 0, u32s(1, samples.length, delta)),
      fullBox('stsc', 0, 0, u32s(1, 1, samples.length, 1)),
      fullBox('stsz', 0, 0, u32s(0, samples.length, ...samples.map((s) => s.length))),
      fullBox('stco', 0, 0, u32s(1, chunkOffset)),
    );
  const hdlr = fullBox('hdlr', 0, 0, u32s(0), Buffer.from('vide', 'latin1'), Buffer.alloc(12), Buffer.from('VideoHandler\0', 'latin1'));
  const mdhd = fullBox('mdhd', 0, 0, u32s(0, 0, timescale, duration), Buffer.from([0x55, 0xc4, 0, 0]));
  const tkhd = fullBox('tkhd', 0, 3, u32s(0, 0, 1, 0, movieMs, 0, 0, 0, 0), IDENTITY_MATRIX, u32s(width * 65536, height * 65536));
  const mvhd = fullBox('mvhd', 0, 0, u32s(0, 0, 1000, movieMs, 0x00010000), Buffer.from([1, 0, 0, 0]), Buffer.alloc(8), IDENTITY_MATRIX, Buffer.alloc(24), u32s(2));
  const moov = (chunkOffset: number) =>
    mp4Box(
      'moov',
      mvhd,
      mp4Box('trak', tkhd, mp4Box('mdia', mdhd, hdlr, mp4Box('minf', fullBox('vmhd', 0, 1, Buffer.alloc(8)), mp4Box('dinf', fullBox('dref', 0, 0, u32s(1), fullBox('url ', 0, 1))), stbl(chunkOffset)))),
    );
  const ftyp = mp4Box('ftyp', Buffer.from('isom', 'latin1'), u32s(512), Buffer.from('isomiso2avc1mp41', 'latin1'));
  const offset = ftyp.length + moov(0).length + 8;
  return Buffer.concat([ftyp, moov(offset), mp4Box('mdat', ...samples)]);
}
