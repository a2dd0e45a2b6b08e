/**
 * IMAGE and MASK values as the simulator's node classes pass them around: like ComfyUI's float32
 * tensors (channel values in 0..1, converted to bytes with `uint8(255 * v)`, which truncates), but a
 * solid image is stored as one colour so a 16384² EmptyImage costs nothing until it is encoded.
 */

/** One image of a batch: `solid` (RGB floats) or `data` (float32 RGB, row-major), never both. */
export interface SimImage {
  readonly width: number;
  readonly height: number;
  readonly solid?: readonly [number, number, number];
  readonly data?: Float32Array;
}

/** One mask of a batch (single channel, 0..1). */
export interface SimMask {
  readonly width: number;
  readonly height: number;
  readonly solid?: number;
  readonly data?: Float32Array;
}

/** A batch: what flows along an IMAGE link (`[B, H, W, 3]` in ComfyUI). */
export type ImageBatch = readonly SimImage[];

/** `uint8(clip(255 * v))` as numpy does it on a float32 tensor. */
export function toByte(v: number): number {
  const p = Math.fround(v * 255);
  return p <= 0 || Number.isNaN(p) ? 0 : p >= 255 ? 255 : Math.trunc(p);
}

/** `torch.full(..., ((color >> s) & 0xFF) / 0xFF)`: the float32 channel value for a byte. */
export function fromByte(b: number): number {
  return Math.fround(b / 255);
}

/** A solid image of an 0xRRGGBB colour, as EmptyImage builds it. */
export function solidImage(width: number, height: number, color: number): SimImage {
  return { width, height, solid: [fromByte((color >> 16) & 0xff), fromByte((color >> 8) & 0xff), fromByte(color & 0xff)] };
}

/** The RGB bytes of row `y`. */
export function rowBytes(img: SimImage, y: number, out: Buffer = Buffer.alloc(img.width * 3)): Buffer {
  if (img.solid) {
    const [r, g, b] = img.solid.map(toByte) as [number, number, number];
    for (let x = 0; x < img.width; x++) {
      out[x * 3] = r;
      out[x * 3 + 1] = g;
      out[x * 3 + 2] = b;
    }
    return out;
  }
  const data = img.data!;
  const base = y * img.width * 3;
  for (let i = 0; i < img.width * 3; i++) out[i] = toByte(data[base + i]);
  return out;
}

function channel(img: SimImage, x: number, y: number, c: number): number {
  return img.solid ? img.solid[c] : img.data![(y * img.width + x) * 3 + c];
}

/** ImageInvert: `1.0 - image` in float32. */
export function invertImage(img: SimImage): SimImage {
  if (img.solid) return { ...img, solid: img.solid.map((v) => Math.fround(1 - v)) as unknown as [number, number, number] };
  return { width: img.width, height: img.height, data: img.data!.map((v) => Math.fround(1 - v)) };
}

/** `comfy.utils.common_upscale`: optional centre crop to the new aspect, then resample. */
export function scaleImage(img: SimImage, width: number, height: number, method: string, crop: string): SimImage {
  let x0 = 0;
  let y0 = 0;
  let w = img.width;
  let h = img.height;
  if (crop === 'center') {
    const oldAspect = img.width / img.height;
    const newAspect = width / height;
    if (oldAspect > newAspect) x0 = Math.round((img.width - img.width * (newAspect / oldAspect)) / 2);
    else if (oldAspect < newAspect) y0 = Math.round((img.height - img.height * (oldAspect / newAspect)) / 2);
    w = img.width - x0 * 2;
    h = img.height - y0 * 2;
  }
  if (img.solid) return { width, height, solid: img.solid };
  const out = new Float32Array(width * height * 3);
  const nearest = method === 'nearest-exact';
  for (let y = 0; y < height; y++) {
    const sy = Math.max(0, Math.min(h - 1, ((y + 0.5) * h) / height - 0.5));
    for (let x = 0; x < width; x++) {
      const sx = Math.max(0, Math.min(w - 1, ((x + 0.5) * w) / width - 0.5));
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (nearest) {
          v = channel(img, x0 + Math.min(w - 1, Math.floor(((x + 0.5) * w) / width)), y0 + Math.min(h - 1, Math.floor(((y + 0.5) * h) / height)), c);
        } else {
          const xa = Math.floor(sx);
          const ya = Math.floor(sy);
          const xb = Math.min(w - 1, xa + 1);
          const yb = Math.min(h - 1, ya + 1);
          const fx = sx - xa;
          const fy = sy - ya;
          const top = channel(img, x0 + xa, y0 + ya, c) * (1 - fx) + channel(img, x0 + xb, y0 + ya, c) * fx;
          const bottom = channel(img, x0 + xa, y0 + yb, c) * (1 - fx) + channel(img, x0 + xb, y0 + yb, c) * fx;
          v = top * (1 - fy) + bottom * fy;
        }
        out[(y * width + x) * 3 + c] = Math.fround(v);
      }
    }
  }
  return { width, height, data: out };
}

/** ImageBlur: a separable Gaussian of `radius` (edge pixels repeated); a solid image stays as it is. */
export function blurImage(img: SimImage, radius: number, sigma: number): SimImage {
  if (radius === 0 || img.solid) return img;
  const size = radius * 2 + 1;
  const kernel = Array.from({ length: size }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  const k = kernel.map((v) => v / sum);
  const { width, height } = img;
  const pass = (src: Float32Array, horizontal: boolean): Float32Array => {
    const dst = new Float32Array(src.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let i = -radius; i <= radius; i++) {
            const xx = horizontal ? Math.max(0, Math.min(width - 1, x + i)) : x;
            const yy = horizontal ? y : Math.max(0, Math.min(height - 1, y + i));
            acc += src[(yy * width + xx) * 3 + c] * k[i + radius];
          }
          dst[(y * width + x) * 3 + c] = Math.fround(acc);
        }
      }
    }
    return dst;
  };
  return { width, height, data: pass(pass(img.data!, true), false) };
}

/** A batch of RGB8 pixels decoded from a file, as LoadImage turns them into floats. */
export function imageFromBytes(width: number, height: number, rgb: Uint8Array): SimImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = fromByte(rgb[i]);
  return { width, height, data };
}

/** torch's `str(tensor)` of a `[B, H, W, 3]` batch (what `current_inputs` shows), summarised above 1000 values. */
export function tensorRepr(batch: ImageBatch): string {
  const first = batch[0];
  const dims = [batch.length, first?.height ?? 0, first?.width ?? 0, 3];
  const summarize = dims.reduce((a, b) => a * b, 1) > 1000;
  const indices = (n: number) => (summarize && n > 6 ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : Array.from({ length: n }, (_, i) => i));
  const value = (p: readonly number[]) => channel(batch[p[0]], p[2], p[1], p[3]);

  const shown: number[] = [];
  const gather = (prefix: number[]) => {
    if (prefix.length === 4) {
      shown.push(value(prefix));
      return;
    }
    for (const i of indices(dims[prefix.length])) if (i >= 0) gather([...prefix, i]);
  };
  gather([]);
  const nonzero = shown.filter((v) => v !== 0 && Number.isFinite(v)).map(Math.abs);
  const intMode = nonzero.every((v) => Number.isInteger(v));
  const max = Math.max(0, ...nonzero);
  const min = nonzero.length ? Math.min(...nonzero) : 0;
  const sci = nonzero.length > 0 && (max / min > 1000 || max > 1e8 || (!intMode && min < 1e-4));
  const raw = (v: number) => {
    if (sci) {
      const [m, e] = v.toExponential(4).split('e') as [string, string];
      const n = Number(e);
      return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
    }
    return intMode ? `${v.toFixed(0)}.` : v.toFixed(4);
  };
  const width = nonzero.length ? Math.max(...nonzero.map((v) => raw(v).length)) : 1;
  const cell = (v: number) => raw(v).padStart(width);

  const render = (prefix: number[], indent: number): string => {
    const remaining = 4 - prefix.length;
    const parts = indices(dims[prefix.length]).map((i) => {
      if (i < 0) return remaining === 1 ? ' ...' : '...';
      return remaining === 1 ? cell(value([...prefix, i])) : render([...prefix, i], indent + 1);
    });
    if (remaining === 1) return `[${parts.join(', ')}]`;
    return `[${parts.join(`,${'\n'.repeat(remaining - 1)}${' '.repeat(indent + 1)}`)}]`;
  };
  return `tensor(${render([], 7)})`;
}
