/**
 * A baseline JPEG encoder (JFIF, 4:4:4, the standard Annex K tables scaled by quality the way
 * libjpeg does), for the simulator's `/view?preview=jpeg;<quality>` and the run panel's thumbnails. Small and slow-ish, which is fine for previews.
 */

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38,
  31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49,
  64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

const DC_LUMA_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUMA_VALUES = [
  0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33,
  0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54,
  0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94,
  0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
  0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];
const AC_CHROMA_BITS = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES = [
  0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62,
  0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53,
  0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
  0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
  0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];

type HuffTable = Map<number, [code: number, length: number]>;

function huffTable(bits: readonly number[], values: readonly number[]): HuffTable {
  const table: HuffTable = new Map();
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < bits[len - 1]; i++) table.set(values[k++], [code++, len]);
    code <<= 1;
  }
  return table;
}

function scaledTable(base: readonly number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - q * 2;
  return base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

const COS = Array.from({ length: 8 }, (_, x) => Array.from({ length: 8 }, (_, u) => Math.cos(((2 * x + 1) * u * Math.PI) / 16)));

function fdct(block: Float64Array): Float64Array {
  const tmp = new Float64Array(64);
  const out = new Float64Array(64);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += block[y * 8 + x] * COS[x][u];
      tmp[y * 8 + u] = s * (u === 0 ? Math.SQRT1_2 : 1) * 0.5;
    }
  }
  for (let u = 0; u < 8; u++) {
    for (let v = 0; v < 8; v++) {
      let s = 0;
      for (let y = 0; y < 8; y++) s += tmp[y * 8 + u] * COS[y][v];
      out[v * 8 + u] = s * (v === 0 ? Math.SQRT1_2 : 1) * 0.5;
    }
  }
  return out;
}

/** Encodes 8-bit RGBA pixels (alpha ignored) as a baseline JPEG of the given quality (1–100). */
export function encodeJpeg(width: number, height: number, rgba: Uint8Array, quality: number): Buffer {
  const lq = scaledTable(LUMA_Q, quality);
  const cq = scaledTable(CHROMA_Q, quality);
  const dcL = huffTable(DC_LUMA_BITS, DC_VALUES);
  const dcC = huffTable(DC_CHROMA_BITS, DC_VALUES);
  const acL = huffTable(AC_LUMA_BITS, AC_LUMA_VALUES);
  const acC = huffTable(AC_CHROMA_BITS, AC_CHROMA_VALUES);

  const out: number[] = [];
  let acc = 0;
  let n = 0;
  const put = (code: number, len: number) => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1);
      if (++n === 8) {
        out.push(acc);
        if (acc === 0xff) out.push(0);
        acc = 0;
        n = 0;
      }
    }
  };
  const category = (v: number) => (v === 0 ? 0 : Math.floor(Math.log2(Math.abs(v))) + 1);
  const encodeBlock = (block: Float64Array, q: readonly number[], dc: HuffTable, ac: HuffTable, prev: number): number => {
    const coeffs = fdct(block);
    const zz = ZIGZAG.map((pos) => Math.round(coeffs[pos] / q[pos]));
    const diff = zz[0] - prev;
    const dcCat = category(diff);
    const [dcCode, dcLen] = dc.get(dcCat)!;
    put(dcCode, dcLen);
    if (dcCat) put(diff >= 0 ? diff : diff + (1 << dcCat) - 1, dcCat);
    let run = 0;
    for (let i = 1; i < 64; i++) {
      const v = zz[i];
      if (v === 0) {
        run++;
        continue;
      }
      while (run > 15) {
        const [c, l] = ac.get(0xf0)!;
        put(c, l);
        run -= 16;
      }
      const cat = category(v);
      const [c, l] = ac.get((run << 4) | cat)!;
      put(c, l);
      put(v >= 0 ? v : v + (1 << cat) - 1, cat);
      run = 0;
    }
    if (run > 0) {
      const [c, l] = ac.get(0)!;
      put(c, l);
    }
    return zz[0];
  };

  const header: number[] = [0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
  header.push(0xff, 0xdb, 0, 132, 0, ...ZIGZAG.map((p) => lq[p]), 1, ...ZIGZAG.map((p) => cq[p]));
  header.push(0xff, 0xc0, 0, 17, 8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1);
  const dht = (cls: number, bits: readonly number[], values: readonly number[]) => {
    const len = 2 + 1 + 16 + values.length;
    header.push(0xff, 0xc4, len >> 8, len & 0xff, cls, ...bits, ...values);
  };
  dht(0x00, DC_LUMA_BITS, DC_VALUES);
  dht(0x10, AC_LUMA_BITS, AC_LUMA_VALUES);
  dht(0x01, DC_CHROMA_BITS, DC_VALUES);
  dht(0x11, AC_CHROMA_BITS, AC_CHROMA_VALUES);
  header.push(0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0);

  let prevY = 0;
  let prevCb = 0;
  let prevCr = 0;
  const Y = new Float64Array(64);
  const Cb = new Float64Array(64);
  const Cr = new Float64Array(64);
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) {
          const px = Math.min(width - 1, bx + x);
          const py = Math.min(height - 1, by + y);
          const o = (py * width + px) * 4;
          const r = rgba[o];
          const g = rgba[o + 1];
          const b = rgba[o + 2];
          Y[y * 8 + x] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
          Cb[y * 8 + x] = -0.168736 * r - 0.331264 * g + 0.5 * b;
          Cr[y * 8 + x] = 0.5 * r - 0.418688 * g - 0.081312 * b;
        }
      }
      prevY = encodeBlock(Y, lq, dcL, acL, prevY);
      prevCb = encodeBlock(Cb, cq, dcC, acC, prevCb);
      prevCr = encodeBlock(Cr, cq, dcC, acC, prevCr);
    }
  }
  if (n > 0) put((1 << (8 - n)) - 1, 8 - n);
  return Buffer.from([...header, ...out, 0xff, 0xd9]);
}
