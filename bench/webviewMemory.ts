/**
 * The run panel's webview over a long session, in a real browser: the built page (dist/webview/) in
 * headless Chromium, driven with the host's own messages (src/panel/messages.ts) for 20 runs, each
 * 1,000 previews with live state updates as the host throttles them (10/s, replayed fast) and then a
 * 500-output gallery. After each run the heap is collected and measured over CDP; the figures are
 * ratios against the same page after its first run, so the machine and Chromium's own overhead
 * cancel out. Bounded memory means run 20 holds about what run 1 held.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type CDPSession, type Page } from 'playwright-core';
import { encodePng } from '../src/base/png';
import { type HostMessage } from '../src/panel/messages';
import { RunViewModel, runViewFromRecord } from '../src/core/runView';
import { repoRoot } from './processes';
import { row, type BenchRow } from './results';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** An origin nothing resolves: every request of the page is answered by the route below. */
const ORIGIN = 'https://webview.bench';
const RUNS = 20;
const PREVIEWS_PER_RUN = 1000;
const OUTPUTS_PER_RUN = 500;
/** Distinct preview frames, cycled: each post is still a new data URL string, as the host sends. */
const FRAMES = 8;

/** A 256×256 latent-preview-sized PNG whose pixels depend on `seed`. */
async function frame(seed: number): Promise<string> {
  const png = await encodePng({ width: 256, height: 256, channels: 3, row: (y) => Uint8Array.from({ length: 256 * 3 }, (_, i) => (i * 7 + y * 3 + seed * 41) & 255) }, { compressLevel: 1 });
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** The page as the host writes it (runPanelHost.ts `html()`), without the CSP and with a stand-in for VS Code's webview API. */
function html(): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${ORIGIN}/codicon.css">
<link rel="stylesheet" href="${ORIGIN}/runPanelStyle.css">
<script>
  window.benchLastReport = undefined;
  window.acquireVsCodeApi = () => ({ postMessage: (m) => { if (m.type === 'rendered') window.benchLastReport = m; }, setState: () => undefined });
</script></head>
<body><main id="app"></main><script src="${ORIGIN}/runPanel.js"></script></body></html>`;
}

interface Counters {
  heap: number;
  nodes: number;
  listeners: number;
}

/** JS heap in use, DOM nodes and event listeners after two full collections (what stays, not garbage waiting). */
async function measure(cdp: CDPSession): Promise<Counters> {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = (name: string) => metrics.find((x) => x.name === name)?.value ?? Number.NaN;
  return { heap: m('JSHeapUsedSize'), nodes: m('Nodes'), listeners: m('JSEventListeners') };
}

/** A host message to post, or the preview message of frame `n` (the frames are sent to the page once, not over CDP per post). */
type Scripted = HostMessage | { readonly frame: number };

/**
 * Posts host messages into the page with `postMessage`, which copies each (as a webview receives a
 * fresh copy of every message the host posts), a frame of the browser's rendering every `batch` messages.
 */
async function post(page: Page, messages: readonly Scripted[], batch: number): Promise<void> {
  await page.evaluate(
    async ({ messages, batch }) => {
      // Runs in the page (this file compiles without the DOM's types).
      const w = globalThis as unknown as { benchFrames: string[]; postMessage(m: unknown, origin: string): void; requestAnimationFrame(cb: () => void): void };
      const paint = () => new Promise<void>((r) => w.requestAnimationFrame(() => r()));
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i];
        w.postMessage('frame' in m ? { type: 'preview', dataUrl: w.benchFrames[m.frame] } : m, '*');
        if (i % batch === batch - 1) await paint();
      }
      await paint();
    },
    { messages: messages as Scripted[], batch },
  );
}

/** One run: a live state, previews with a state every 2 frames (200 ms at 10/s), then the gallery from its run.json. */
async function oneRun(page: Page, run: number): Promise<void> {
  const started = Date.UTC(2026, 11, 3, 12, 0, 0) + run * 3_600_000;
  const model = new RunViewModel({ name: `flow-${run}`, target: 'bench GPU', ratePerHour: 1.75, startedAtMs: started });
  model.apply({ type: 'queued', promptId: `prompt-${run}`, number: run, position: 0 }, started);
  model.apply({ type: 'started' }, started);
  model.apply({ type: 'executing', node: { id: '3', classType: 'KSampler', title: 'Sampler' } }, started);
  const live: Scripted[] = [];
  for (let i = 0; i < PREVIEWS_PER_RUN; i++) {
    const now = started + i * 100;
    if (i % 2 === 0) {
      model.apply({ type: 'progress', node: { id: '3', classType: 'KSampler' }, value: i + 1, max: PREVIEWS_PER_RUN }, now);
      live.push({ type: 'state', view: { kind: 'run', run: model.state(now), media: [], cancellable: true }, persist: {} });
    }
    live.push({ frame: (run + i) % FRAMES });
  }
  await post(page, live, 10);
  const runDir = `/bench/outputs/flow-${run}/20261203-${String(run).padStart(6, '0')}-bench`;
  const files = Array.from({ length: OUTPUTS_PER_RUN }, (_, i) => ({ path: `ComfyUI_${String(i).padStart(5, '0')}_.png`, node: String(9 + (i % 4)), kind: 'images', bytes: 4_000_000 }));
  const record = { version: 1, status: 'success', promptId: `prompt-${run}`, timings: { queued: new Date(started).toISOString(), finished: new Date(started + 100_000).toISOString(), phases: {} }, files, outputs: [], warnings: [], prompt: {} };
  const view = runViewFromRecord(record, runDir);
  const media = view.outputs.map((o) => ({ src: `${ORIGIN}/file${runDir}/${o.relativePath}`, thumb: `${ORIGIN}/thumb${runDir}/${o.relativePath}.jpg` }));
  await post(page, [{ type: 'state', view: { kind: 'run', run: view, media, cancellable: false }, persist: { runDir } }], 1);
  const drawn = await page.evaluate(() => (globalThis as unknown as { benchLastReport?: { outputs: number } }).benchLastReport?.outputs);
  if (drawn !== OUTPUTS_PER_RUN) throw new Error(`run ${run}: the webview drew ${drawn} tiles, not ${OUTPUTS_PER_RUN}`);
}

/** One session of 20 runs in a fresh page: the counters after each run. */
async function session(thumb: Buffer, frames: readonly string[]): Promise<Counters[]> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const dist = path.join(repoRoot, 'dist', 'webview');
    await page.route(`${ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: html() });
      if (url.pathname.startsWith('/thumb/') || url.pathname.startsWith('/file/')) return route.fulfill({ contentType: 'image/png', body: thumb });
      const file = path.join(dist, path.basename(url.pathname));
      if (!fs.existsSync(file)) return route.fulfill({ status: 404 });
      const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'font/ttf';
      return route.fulfill({ contentType: type, body: fs.readFileSync(file) });
    });
    await page.goto(`${ORIGIN}/`);
    await page.evaluate((f) => {
      (globalThis as unknown as { benchFrames: string[] }).benchFrames = f;
    }, frames as string[]);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const after: Counters[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await oneRun(page, run);
      after.push(await measure(cdp));
    }
    return after;
  } finally {
    await browser.close();
  }
}

export async function benchWebviewMemory(repetitions: number): Promise<BenchRow[]> {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'webview', 'runPanel.js'))) throw new Error('dist/webview/runPanel.js not found: run `npm run build` first');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run \`npm run setup\``);
  const frames = await Promise.all(Array.from({ length: FRAMES }, (_, i) => frame(i)));
  const thumb = await encodePng({ width: 192, height: 192, channels: 3, row: (y) => new Uint8Array(192 * 3).fill(y) }, { compressLevel: 1 });
  const first: Counters[] = [];
  const last: Counters[] = [];
  const series: string[] = [];
  for (let i = 0; i < repetitions; i++) {
    const after = await session(thumb, frames);
    first.push(after[0]);
    last.push(after[after.length - 1]);
    series.push(after.map((c) => (c.heap / 2 ** 20).toFixed(1)).join(' '));
  }
  const mib = (c: Counters[]) => c.map((x) => x.heap / 2 ** 20);
  const what = `${RUNS} runs × (${PREVIEWS_PER_RUN} previews + a ${OUTPUTS_PER_RUN}-output gallery)`;
  return [
    row(`webview: JS heap after ${what}`, 'MiB', mib(last), mib(first), 'ratio ≤ 1.2', (_v, _b, ratio) => ratio <= 1.2, `baseline: the same page after run 1; MiB after each run: ${series.join(' | ')}`),
    row('webview: DOM nodes after run 20', 'nodes', last.map((c) => c.nodes), first.map((c) => c.nodes), 'ratio ≤ 1.1', (_v, _b, ratio) => ratio <= 1.1, 'baseline: after run 1 (each run draws 500 tiles)'),
    row('webview: event listeners after run 20', 'listeners', last.map((c) => c.listeners), first.map((c) => c.listeners), 'ratio ≤ 1.1', (_v, _b, ratio) => ratio <= 1.1, 'baseline: after run 1'),
  ];
}
