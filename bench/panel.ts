/**
 * The run panel's extension-host side: what a gallery tile costs, how big the state message of a
 * 500-output gallery is, and whether a preview flood through the panel's model and throttle delays
 * the event loop. The webview itself is drawn by Chromium; what it is sent is bounded here.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodeJpeg } from '../src/base/jpegEncoder';
import { encodePng } from '../src/base/png';
import { throttle } from '../src/base/throttle';
import { RunViewModel, runViewFromRecord } from '../src/core/runView';
import { thumbnailFor } from '../src/core/thumbnails';
import { row, type BenchRow } from './results';

/** A noise PNG (it does not compress): the worst case for a tile. */
async function noisePng(w: number, h: number): Promise<Buffer> {
  let seed = 7;
  const row = () => Uint8Array.from({ length: w * 3 }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
  return encodePng({ width: w, height: h, channels: 3, row }, { compressLevel: 1 });
}

/** A noise JPEG from our encoder at quality 95: the worst case for a JPEG tile. */
function noiseJpeg(w: number, h: number): Buffer {
  let seed = 11;
  const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24));
  return encodeJpeg(w, h, rgba, 95);
}

/** p99 event-loop delay (ms) over `ms` while `load` runs every millisecond-ish tick. */
async function loopDelayP99(ms: number, load: (() => void) | undefined): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    load?.();
    await new Promise((r) => setTimeout(r, 10));
  }
  h.disable();
  return h.percentile(99) / 1e6;
}

export async function benchPanel(runs: number): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-panel-'));
  try {
    // 1. Bytes per tile: a 1024×1024 PNG and the thumbnail the gallery sends instead.
    const png = await noisePng(1024, 1024);
    const file = path.join(dir, 'big.png');
    fs.writeFileSync(file, png);
    const thumbBytes: number[] = [];
    const pngBytes: number[] = [];
    for (let i = 0; i < runs; i++) {
      const cache = path.join(dir, `cache-${i}`);
      const thumb = await thumbnailFor(file, png.byteLength, cache);
      thumbBytes.push(thumb ? fs.statSync(thumb).size : png.byteLength);
      pngBytes.push(png.byteLength);
    }

    // 1b. The same for a 1024×1024 noise JPEG (quality 95, as large as a camera-like output gets), decoded by jpeg-js.
    const jpeg = noiseJpeg(1024, 1024);
    const jpegFile = path.join(dir, 'big.jpg');
    fs.writeFileSync(jpegFile, jpeg);
    const jpegThumbBytes: number[] = [];
    const jpegBytes: number[] = [];
    for (let i = 0; i < runs; i++) {
      const thumb = await thumbnailFor(jpegFile, jpeg.byteLength, path.join(dir, `jpeg-cache-${i}`));
      jpegThumbBytes.push(thumb ? fs.statSync(thumb).size : jpeg.byteLength);
      jpegBytes.push(jpeg.byteLength);
    }

    // 2. The state message of a 500-output gallery, against the run.json it comes from.
    const files = Array.from({ length: 500 }, (_, i) => ({ path: `batch/ComfyUI_${String(i).padStart(5, '0')}_.png`, node: String(9 + (i % 4)), kind: 'images', bytes: 4_000_000 }));
    const record = { version: 1, status: 'success', timings: { phases: {} }, files, outputs: [], warnings: [], prompt: {} };
    const recordBytes = Buffer.byteLength(JSON.stringify(record, null, 2));
    const view = runViewFromRecord(record, path.join(dir, 'wf', 'run'));
    const media = view.outputs.map((o) => ({ src: `https://file+.vscode-resource.vscode-cdn.net${path.join(dir, 'wf', 'run', o.relativePath)}`, thumb: `https://file+.vscode-resource.vscode-cdn.net/${'x'.repeat(80)}.jpg` }));
    const messageBytes = Buffer.byteLength(JSON.stringify({ type: 'state', view: { kind: 'run', run: view, media, cancellable: false }, persist: { runDir: view.runDir } }));

    // 3. A preview flood (100 frames/s of 64 KiB) through the live model and a 10/s throttle that base64s the latest frame.
    const delays: number[] = [];
    const idle: number[] = [];
    const frame = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < runs; i++) {
      idle.push(await loopDelayP99(1000, undefined));
      const model = new RunViewModel({ name: 'bench', startedAtMs: Date.now() });
      let latest: Buffer | undefined;
      let posted = 0;
      const post = throttle(() => {
        if (latest) posted += latest.toString('base64').length;
      }, 100);
      delays.push(
        await loopDelayP99(1000, () => {
          model.apply({ type: 'progress', node: { id: '3', classType: 'KSampler' }, value: 1, max: 20 }, Date.now());
          latest = frame;
          post.run();
          void model.state(Date.now());
        }),
      );
      post.dispose();
      if (posted === 0) throw new Error('no preview was posted');
    }
    return [
      row('panel: bytes per gallery tile (1024×1024 noise PNG)', 'bytes', thumbBytes, pngBytes, 'ratio ≤ 0.05', (_v, _b, ratio) => ratio <= 0.05, 'a JPEG thumbnail of at most 256 px instead of the PNG'),
      row('panel: bytes per gallery tile (1024×1024 noise JPEG)', 'bytes', jpegThumbBytes, jpegBytes, 'ratio ≤ 0.05', (_v, _b, ratio) => ratio <= 0.05, 'a JPEG thumbnail of at most 256 px instead of the JPEG'),
      row('panel: state message per output (500-output gallery)', 'bytes', [messageBytes / files.length], [recordBytes / files.length], '≤ 1 KiB per output', (v) => v <= 1024, `${messageBytes} bytes in all; baseline: run.json per output`),
      row('panel: event-loop p99 with 100 previews/s through the model', 'ms', delays, idle, 'ratio ≤ 2 or ≤ 20 ms', (v, _b, ratio) => ratio <= 2 || v <= 20, 'idle loop as baseline; previews posted at most 10/s'),
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
