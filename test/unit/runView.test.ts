import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { encodePng } from '../../src/base/png';
import { OutputSaver } from '../../src/core/outputSaver';
import { type RunEvent, type SavedOutput } from '../../src/core/runEvents';
import { RunRegistry } from '../../src/core/runRegistry';
import { compareRuns, diffPromptInputs, insideRunFolder, outputViewKind, RunViewModel, runViewFromRecord } from '../../src/core/runView';
import { decode as decodeJpeg } from 'jpeg-js';
import { encodeJpeg } from '../../src/base/jpegEncoder';
import { jpegSize, jpegThumbnail, pngThumbnail, SMALL_IMAGE_BYTES, THUMBNAIL_MAX_SIDE, thumbnailFor } from '../../src/core/thumbnails';
import { Emitter } from '../../src/base/event';
import { makeTempDir } from './helpers/workflowFixtures';

const prompt: ApiPrompt = {
  '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 20, model: ['4', 0] }, _meta: { title: 'Sampler' } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'hello', images: ['3', 0] }, _meta: { title: 'Save \u202eevil' } },
};

/** Saves `files` through the real OutputSaver and writes the real run.json; returns the run folder. */
async function savedRun(root: string, promptId: string, p: ApiPrompt, files: { name: string; node: string; kind: string; bytes: Buffer; animated?: boolean }[]): Promise<string> {
  const saver = await OutputSaver.create({ root, workflowName: 'hello', promptId, time: Date.UTC(2026, 11, 3, 10, 0, Number(promptId.slice(-1))) });
  for (const f of files) await saver.saveStream({ filename: f.name, nodeId: f.node, kind: f.kind, animated: f.animated }, Readable.from([f.bytes]));
  const t = Date.UTC(2026, 11, 3, 10, 0, 0);
  await saver.writeRunRecord({ promptId, serverUrl: 'http://127.0.0.1:8188/', workflowFile: 'hello/workflow_api.json', prompt: p, status: 'success', timings: { queued: t, started: t + 1000, finished: t + 61_000, phases: { execute: 60_000 } } });
  return saver.dir;
}

describe('run view model', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => (tmp = makeTempDir()));
  afterEach(() => tmp.cleanup());

  it('follows a live run: queue position, node title and class, steps, elapsed and cost, then the outputs relative to the run folder', () => {
    const m = new RunViewModel({ name: 'hello', target: 'xl 761af3a7', ratePerHour: 3.6, startedAtMs: 1_000 });
    const node = { id: '3', classType: 'KSampler', title: 'Sampler' };
    m.apply({ type: 'queued', promptId: 'p1', number: 4, position: 2 }, 1_100);
    let s = m.state(1_200);
    assert.equal(s.status, 'queued');
    assert.equal(s.queuePosition, 2);
    m.apply({ type: 'started' }, 2_000);
    m.apply({ type: 'executing', node }, 2_000);
    m.apply({ type: 'progress', node, value: 7, max: 20 }, 3_000);
    m.apply({ type: 'preview', node, mime: 'image/jpeg', image: Buffer.from([1, 2, 3]) }, 3_000);
    s = m.state(11_000);
    assert.deepEqual(s.node, { id: '3', title: 'Sampler', classType: 'KSampler' });
    assert.deepEqual(s.progress, { value: 7, max: 20 });
    assert.equal(s.elapsedMs, 10_000);
    assert.equal(s.costEstimate, 0.01, '$3.60/h for 10 s');
    assert.equal(s.outputs.length, 0, 'outputs are shown once the run folder is known');
    const runDir = path.join(tmp.dir, 'hello', 'run1');
    const saved: SavedOutput = { node: '9', key: 'images', filename: 'a.png', subfolder: '', type: 'output', path: path.join(runDir, 'sub', 'a.png'), bytes: 5, source: 'history' };
    const outside: SavedOutput = { ...saved, path: path.join(tmp.dir, 'elsewhere.png') };
    m.apply({ type: 'executed', node: { id: '9', classType: 'SaveImage', title: 'Save' }, output: {} }, 12_000);
    m.apply({ type: 'outputSaved', output: saved }, 12_000);
    m.apply({ type: 'outputSaved', output: outside }, 12_000);
    m.apply({ type: 'finished', result: { promptId: 'p1', status: 'success', outputs: [saved, outside], warnings: [], error: null, runDir, elapsedMs: 12_000 } }, 13_000);
    s = m.state(99_000);
    assert.equal(s.status, 'success');
    assert.equal(s.elapsedMs, 12_000, 'elapsed stops when the run ends');
    assert.equal(s.node, undefined);
    assert.deepEqual(s.outputs, [{ node: '9', nodeTitle: 'Save', key: 'images', kind: 'image', relativePath: 'sub/a.png', fileName: 'a.png', bytes: 5 }]);
    assert.doesNotThrow(() => JSON.stringify(s));
  });

  it('catches up with a run already under way from what the registry kept', () => {
    const registry = new RunRegistry();
    const events = new Emitter<RunEvent>();
    const record = registry.track({ workflowPath: '/w/hello/workflow_api.json', workflowName: 'hello', target: { kind: 'local', name: 'Desk', url: 'http://127.0.0.1:1' } }, { onEvent: events.event, interrupt: async () => {}, dispose: () => {} });
    const node = { id: '3', classType: 'KSampler' };
    events.fire({ type: 'queued', promptId: 'p2', number: 1, position: 0 });
    events.fire({ type: 'started' });
    events.fire({ type: 'executing', node });
    events.fire({ type: 'progress', node, value: 3, max: 8 });
    const s = RunViewModel.following(record, { target: 'Desk' }, record.startedAtMs + 5).state(record.startedAtMs + 5);
    assert.equal(s.status, 'running');
    assert.equal(s.promptId, 'p2');
    assert.deepEqual(s.progress, { value: 3, max: 8 });
    assert.equal(s.node?.classType, 'KSampler');
    registry.dispose();
  });

  it('reads a past run from the run.json the engine writes: outputs by kind, node titles from the prompt, timings, overrides against the file on disk', async () => {
    const png = await encodePng({ width: 2, height: 2, channels: 3, row: () => new Uint8Array(6) }, { compressLevel: 1 });
    const dir = await savedRun(tmp.dir, 'abcdef01', prompt, [
      { name: 'hello_00001_.png', node: '9', kind: 'images', bytes: png },
      { name: 'clip.mp4', node: '12', kind: 'gifs', bytes: Buffer.from('mp4') },
      { name: 'voice.flac', node: '13', kind: 'audio', bytes: Buffer.from('flac') },
      { name: 'mesh.glb', node: '14', kind: '3d', bytes: Buffer.from('glb') },
    ]);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as unknown;
    const onDisk = structuredClone(prompt);
    onDisk['3'].inputs.seed = 7;
    const s = runViewFromRecord(record, dir, { promptOnDisk: onDisk, target: 'Desk', ratePerHour: 1.8 });
    assert.equal(s.source, 'record');
    assert.equal(s.name, 'hello');
    assert.equal(s.status, 'success');
    assert.equal(s.target, 'Desk');
    assert.deepEqual(
      s.outputs.map((o) => [o.kind, o.relativePath, o.nodeTitle]),
      [
        ['image', 'hello_00001_.png', 'Save \\u202eevil'],
        ['video', 'clip.mp4', undefined],
        ['audio', 'voice.flac', undefined],
        ['other', 'mesh.glb', undefined],
      ],
    );
    assert.equal(s.elapsedMs, 61_000);
    assert.equal(s.costEstimate, (1.8 * 61) / 3600);
    assert.deepEqual(s.timings.phases, { execute: 60_000 });
    assert.deepEqual(s.overrides, [{ node: '3', nodeTitle: 'Sampler', input: 'seed', before: '7', after: '1' }]);
    assert.equal(s.workflowFile, 'hello/workflow_api.json');
  });

  it('refuses paths in a run.json that leave the run folder, and escapes its texts', () => {
    const dir = path.join(tmp.dir, 'w', 'run');
    const record = {
      version: 1,
      status: 'error',
      error: 'boom\u001b[2J\u202e',
      prompt: { '5': { class_type: 'Evil\u0007', inputs: {} } },
      files: [
        { path: '../../secrets.png', node: '5', kind: 'images', bytes: 1 },
        { path: '/etc/passwd', node: '5', kind: 'images', bytes: 1 },
        { path: 'C:\\Windows\\win.ini', node: '5', kind: 'images', bytes: 1 },
        { path: 'a/../../b.png', node: '5', kind: 'images', bytes: 1 },
        { path: 'ok\u0000.png', node: '5', kind: 'images', bytes: 1 },
        { path: 7, node: '5', kind: 'images', bytes: 1 },
        { path: 'fine/out.png', node: '5', kind: 'images', bytes: -3 },
      ],
      warnings: ['w\u202e1', 42],
      timings: { queued: 'not a date', phases: { x: 'y', ok: 3 } },
    };
    const s = runViewFromRecord(record, dir);
    assert.deepEqual(s.outputs.map((o) => o.relativePath), ['fine/out.png']);
    assert.equal(s.outputs[0].nodeTitle, 'Evil\\u0007');
    assert.equal(s.outputs[0].bytes, 0);
    assert.equal(s.error, 'boom\\u001b[2J\\u202e');
    assert.match(s.warnings[0], /^6 outputs are not shown: run\.json names a path outside the run folder\.$/);
    assert.deepEqual(s.warnings.slice(1), ['w\\u202e1']);
    assert.equal(s.timings.queued, undefined);
    assert.deepEqual(s.timings.phases, { ok: 3 });
    assert.throws(() => runViewFromRecord({ version: 2, files: [] }, dir), /is not a RunComfy run record/);
    assert.throws(() => runViewFromRecord('[]', dir), /is not a RunComfy run record/);
    assert.equal(insideRunFolder(dir, 'x/./y.png'), 'x/./y.png');
    assert.equal(insideRunFolder(dir, 'x//y.png'), undefined);
  });

  it('shows files by kind: images, animated, video, audio, other', () => {
    assert.equal(outputViewKind('images', 'a.PNG'), 'image');
    assert.equal(outputViewKind('images', 'a.gif'), 'animated');
    assert.equal(outputViewKind('gifs', 'a.webp'), 'animated');
    assert.equal(outputViewKind('gifs', 'a.mp4'), 'video');
    assert.equal(outputViewKind('audio', 'a.wav'), 'audio');
    assert.equal(outputViewKind('images', 'a.exr'), 'other');
    assert.equal(outputViewKind('3d', 'a.glb'), 'other');
  });

  it("keeps the server's animated flag: an APNG or animated WebP under `images` is an animation, live and from run.json; an older record guesses by name", async () => {
    const dir = await savedRun(tmp.dir, 'a0000001', prompt, [
      { name: 'loop.png', node: '9', kind: 'images', bytes: Buffer.from('apng'), animated: true },
      { name: 'loop.webp', node: '9', kind: 'images', bytes: Buffer.from('webp'), animated: true },
      { name: 'still.webp', node: '9', kind: 'images', bytes: Buffer.from('webp') },
    ]);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as { files: Record<string, unknown>[] };
    assert.deepEqual(
      record.files.map((f) => f.animated),
      [true, true, undefined],
      'written only for animated files',
    );
    assert.deepEqual(
      runViewFromRecord(record, dir).outputs.map((o) => o.kind),
      ['animated', 'animated', 'image'],
    );
    const old = { ...record, files: record.files.map(({ animated: _, ...f }) => f) };
    assert.deepEqual(
      runViewFromRecord(old, dir).outputs.map((o) => o.kind),
      ['image', 'image', 'image'],
      'a record from before the flag still reads',
    );
    const hostile = { ...record, files: record.files.map((f) => ({ ...f, animated: 'yes' })) };
    assert.deepEqual(
      runViewFromRecord(hostile, dir).outputs.map((o) => o.kind),
      ['image', 'image', 'image'],
      'only `true` counts',
    );

    const m = new RunViewModel({ name: 'hello', startedAtMs: 0 });
    const saved: SavedOutput = { node: '9', key: 'images', filename: 'loop.png', subfolder: '', type: 'output', path: path.join(dir, 'loop.png'), bytes: 4, animated: true, source: 'history' };
    m.apply({ type: 'outputSaved', output: saved }, 1);
    m.apply({ type: 'finished', result: { promptId: 'p', status: 'success', outputs: [saved], warnings: [], error: null, runDir: dir, elapsedMs: 1 } }, 1);
    assert.deepEqual(
      m.state(2).outputs.map((o) => o.kind),
      ['animated'],
    );
    assert.equal(outputViewKind('images', 'loop.mp4', true), 'video', 'SaveVideo reports `animated` too: an MP4 stays a video');
  });

  it('compares two runs of one workflow: the inputs that differed and the image pairs of the same node', async () => {
    const png = await encodePng({ width: 2, height: 2, channels: 3, row: () => new Uint8Array(6) }, { compressLevel: 1 });
    const second = structuredClone(prompt);
    second['3'].inputs.steps = 30;
    delete second['3'].inputs.seed;
    second['3'].inputs.cfg = 7.5;
    const a = await savedRun(tmp.dir, 'aaaaaaa1', prompt, [{ name: 'x.png', node: '9', kind: 'images', bytes: png }]);
    const b = await savedRun(tmp.dir, 'bbbbbbb2', second, [{ name: 'x.png', node: '9', kind: 'images', bytes: png }, { name: 'y.wav', node: '13', kind: 'audio', bytes: Buffer.from('w') }]);
    const read = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'run.json'), 'utf8')) as { prompt: unknown };
    const c = compareRuns(runViewFromRecord(read(a), a), read(a).prompt, runViewFromRecord(read(b), b), read(b).prompt);
    assert.deepEqual(c.inputs, [
      { node: '3', nodeTitle: 'Sampler', input: 'seed', before: '1', after: undefined },
      { node: '3', nodeTitle: 'Sampler', input: 'steps', before: '20', after: '30' },
      { node: '3', nodeTitle: 'Sampler', input: 'cfg', before: undefined, after: '7.5' },
    ]);
    assert.deepEqual(c.imagePairs, [{ node: '9', left: 0, right: 0 }]);
    assert.deepEqual(diffPromptInputs(prompt, structuredClone(prompt)), []);
  });
});

describe('thumbnails', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => (tmp = makeTempDir()));
  afterEach(() => tmp.cleanup());

  /** A PNG of noise (so it does not compress) of `w`×`h`. */
  async function noisePng(w: number, h: number): Promise<Buffer> {
    let seed = 1;
    const row = () => Uint8Array.from({ length: w * 3 }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24));
    return encodePng({ width: w, height: h, channels: 3, row }, { compressLevel: 1 });
  }

  it('makes a small JPEG from a large PNG, keeps it in the cache, and shows a small file as it is', async () => {
    const big = await noisePng(1024, 512);
    assert.ok(big.byteLength > SMALL_IMAGE_BYTES);
    const file = path.join(tmp.dir, 'big.png');
    fs.writeFileSync(file, big);
    const cache = path.join(tmp.dir, 'cache');
    const thumb = await thumbnailFor(file, big.byteLength, cache);
    assert.ok(thumb && path.dirname(thumb) === cache, `a thumbnail in the cache, got ${thumb}`);
    const jpeg = fs.readFileSync(thumb);
    assert.deepEqual(jpegSize(jpeg), { width: THUMBNAIL_MAX_SIDE, height: THUMBNAIL_MAX_SIDE / 2 });
    assert.ok(jpeg.byteLength < big.byteLength / 10, `${jpeg.byteLength} bytes for a ${big.byteLength}-byte PNG`);
    const mtime = fs.statSync(thumb).mtimeMs;
    assert.equal(await thumbnailFor(file, big.byteLength, cache), thumb);
    assert.equal(fs.statSync(thumb).mtimeMs, mtime, 'the cached thumbnail is reused');
    const small = path.join(tmp.dir, 'small.png');
    fs.writeFileSync(small, await noisePng(8, 8));
    assert.equal(await thumbnailFor(small, fs.statSync(small).size, cache), small);
    assert.equal(pngThumbnail(Buffer.from('not a png'), 64), undefined);
  });

  /** A JPEG of noise made by our own encoder: `w`×`h`, at a quality that keeps it large. */
  function noiseJpeg(w: number, h: number): Buffer {
    let seed = 3;
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24));
    return encodeJpeg(w, h, rgba, 95);
  }

  it('makes a small JPEG from a large JPEG through the same cache, and refuses a header naming too many pixels', async () => {
    const big = noiseJpeg(800, 400);
    assert.ok(big.byteLength > SMALL_IMAGE_BYTES, `${big.byteLength} bytes`);
    const file = path.join(tmp.dir, 'big.jpg');
    fs.writeFileSync(file, big);
    const cache = path.join(tmp.dir, 'cache');
    const thumb = await thumbnailFor(file, big.byteLength, cache);
    assert.ok(thumb && path.dirname(thumb) === cache, `a thumbnail in the cache, got ${thumb}`);
    const jpeg = fs.readFileSync(thumb);
    assert.deepEqual(jpegSize(jpeg), { width: THUMBNAIL_MAX_SIDE, height: THUMBNAIL_MAX_SIDE / 2 });
    assert.ok(jpeg.byteLength < big.byteLength / 10, `${jpeg.byteLength} bytes for a ${big.byteLength}-byte JPEG`);
    assert.equal(await thumbnailFor(file, big.byteLength, cache), thumb, 'the cached thumbnail is reused');
    // The thumbnail shows the picture, not noise of its own: a flat colour comes out that colour.
    const flat = encodeJpeg(640, 480, Uint8Array.from({ length: 640 * 480 * 4 }, (_, i) => [200, 40, 90, 255][i % 4]), 90);
    const flatThumb = decodeJpeg(jpegThumbnail(flat, 64)!, { useTArray: true });
    assert.deepEqual([flatThumb.width, flatThumb.height], [64, 48]);
    const mid = (24 * 64 + 32) * 4;
    assert.ok(Math.abs(flatThumb.data[mid] - 200) < 8 && Math.abs(flatThumb.data[mid + 1] - 40) < 8 && Math.abs(flatThumb.data[mid + 2] - 90) < 8, [...flatThumb.data.subarray(mid, mid + 3)].join(','));

    // The same bytes with a frame header naming 60000×60000: refused from the header, before any pixel is decoded.
    const hostile = Buffer.from(big);
    const sof = hostile.indexOf(Buffer.from([0xff, 0xc0]));
    hostile.writeUInt16BE(60000, sof + 5);
    hostile.writeUInt16BE(60000, sof + 7);
    assert.deepEqual(jpegSize(hostile), { width: 60000, height: 60000 });
    const hostileFile = path.join(tmp.dir, 'hostile.jpg');
    fs.writeFileSync(hostileFile, hostile);
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(await thumbnailFor(hostileFile, hostile.byteLength, cache), undefined);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no buffer for 3.6 gigapixels was allocated');
    assert.equal(jpegThumbnail(Buffer.alloc(SMALL_IMAGE_BYTES + 1), 64), undefined, 'no JPEG at all');
    assert.equal(jpegThumbnail(big.subarray(0, 2000), 64), undefined, 'a JPEG cut short');
  });

  it('keeps the icon tile for a large WebP (no decoder) and ships a small one as it is', async () => {
    const cache = path.join(tmp.dir, 'cache');
    const large = path.join(tmp.dir, 'large.webp');
    fs.writeFileSync(large, Buffer.alloc(SMALL_IMAGE_BYTES + 1));
    assert.equal(await thumbnailFor(large, SMALL_IMAGE_BYTES + 1, cache), undefined);
    const small = path.join(tmp.dir, 'small.webp');
    fs.writeFileSync(small, Buffer.alloc(1000));
    assert.equal(await thumbnailFor(small, 1000, cache), small);
  });
});
