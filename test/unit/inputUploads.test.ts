import * as assert from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient, contentDerivedName } from '../../src/api/comfyClient';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { InvalidRequestError } from '../../src/api/errors';
import { InputHashCache } from '../../src/core/inputHashCache';
import { workflowFolderPolicy } from '../../src/core/inputPolicy';
import { type RunEngineOptions } from '../../src/core/runEngine';
import { type RunEvent } from '../../src/core/runEvents';
import { RunLogFormatter } from '../../src/core/runLogFormat';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { runEngine, tempDir } from './helpers/runHarness';
import { recordingsDir } from './helpers/runRecordings';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const uploadPosts = (sim: ComfySimulator) => sim.requests().filter((r) => r.method === 'POST' && r.path === '/upload/image').length;
const uploadedEvents = (events: readonly RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: 'uploaded' }> => e.type === 'uploaded');

/** A LoadImage → ImageInvert → SaveImage prompt reading `photo.png` (and, with `twice`, a second LoadImage of the same file). */
function photoPrompt(twice = false): ApiPrompt {
  const prompt: ApiPrompt = {
    '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'invert/inverted' } },
  };
  if (twice) {
    prompt['4'] = { class_type: 'LoadImage', inputs: { image: 'photo.png' } };
    prompt['5'] = { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: 'second/copy' } };
  }
  return prompt;
}

describe('inputs the server already has are not uploaded again', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let dir: string;
  let out: string;
  let photo: string;

  before(async () => (sim = await startComfySimulator()));
  after(async () => sim.close());
  beforeEach(async () => {
    await sim.reset();
    dir = tempDir('runcomfy-inputs-');
    out = tempDir('runcomfy-inputs-out-');
    photo = path.join(dir, 'photo.png');
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), photo);
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });

  /** A run of `prompt` whose `photo.png` inputs are local files, with `cache` remembering hashes. */
  function run(cache: InputHashCache, prompt = photoPrompt(), extra: Partial<RunEngineOptions> = {}, during?: (e: RunEvent) => void) {
    const localInputs = Object.entries(prompt)
      .filter(([, n]) => n.class_type === 'LoadImage')
      .map(([nodeId]) => ({ nodeId, inputName: 'image', absPath: photo }));
    return runEngine({ prompt, localInputs, inputPolicy: workflowFolderPolicy(path.join(dir, 'workflow_api.json')), comfyUrl: sim.url, outputRoot: out, hashCache: cache, ...extra }, during && ((_engine, e) => during(e)));
  }

  describe('the simulator answers HEAD /view as ComfyUI 0.3.64 does (protocol reference §1.5, §1.11)', () => {
    it('200 with the length and no body for an input it has, 404 for one it has not, inside the subfolder asked for', async () => {
      const client = new ComfyClient({ baseUrl: sim.url });
      const uploaded = await client.uploadFile(photo, { subfolder: 'runs' });
      const view = (query: string) => fetch(`${sim.url}/view?${query}`, { method: 'HEAD' });
      const found = await view(`filename=${encodeURIComponent(uploaded.name)}&subfolder=runs&type=input`);
      assert.strictEqual(found.status, 200);
      assert.strictEqual(Number(found.headers.get('content-length')), fs.statSync(photo).size);
      assert.strictEqual(found.headers.get('content-type'), 'image/png');
      assert.strictEqual((await found.arrayBuffer()).byteLength, 0);
      assert.strictEqual((await view(`filename=${encodeURIComponent(uploaded.name)}&type=input`)).status, 404, 'not at the top of input/');
      assert.strictEqual((await view(`filename=${encodeURIComponent(uploaded.name)}&subfolder=runs&type=output`)).status, 404, 'not in output/');
      assert.strictEqual((await view('filename=nothing-000000000000.png&type=input')).status, 404);
      assert.strictEqual((await view('filename=a..b.png&type=input')).status, 400, 'a name holding ".." is refused');
    });
  });

  it('ComfyClient.hasInput: yes for a name of that size in input/, no otherwise', async () => {
    const client = new ComfyClient({ baseUrl: sim.url });
    const size = fs.statSync(photo).size;
    const name = contentDerivedName(photo, sha(photo));
    assert.strictEqual(await client.hasInput(name, { size }), false);
    assert.strictEqual((await client.uploadFile(photo)).name, name);
    assert.strictEqual(await client.hasInput(name, { size }), true);
    assert.strictEqual(await client.hasInput(name, { size: size + 1 }), false, 'a file of another size (cut short) is not ours');
    assert.strictEqual(await client.hasInput(name, { size, subfolder: 'runs' }), false);
    assert.strictEqual(contentDerivedName('/x/a..b...c.png', 'ab'.repeat(32)), `a.b.c-${'ab'.repeat(6)}.png`, 'no ".." in a name: /view would refuse it');
  });

  it('a second run uploads nothing: no POST /upload/image, and the events and log say "already on the server"', async () => {
    const cache = new InputHashCache(undefined, { racyWindowMs: 0 });
    const first = await run(cache);
    assert.strictEqual(first.result.status, 'success', JSON.stringify(first.result.error));
    assert.strictEqual(uploadPosts(sim), 1);
    assert.deepStrictEqual(uploadedEvents(first.events).map((e) => [e.alreadyOnServer, e.bytes]), [[false, fs.statSync(photo).size]]);
    sim.clearRequests();
    const second = await run(cache);
    assert.strictEqual(second.result.status, 'success', JSON.stringify(second.result.error));
    assert.strictEqual(uploadPosts(sim), 0, 'the second run sent no upload');
    assert.ok(!second.events.some((e) => e.type === 'uploading'), 'no "uploading" event');
    const [said] = uploadedEvents(second.events);
    assert.strictEqual(said.alreadyOnServer, true);
    assert.strictEqual(said.bytes, 0);
    assert.strictEqual(said.reference, uploadedEvents(first.events)[0].reference);
    const lines = new RunLogFormatter({ workflow: 'w', target: 't', server: 's' }).format(said).map((l) => l.text);
    assert.deepStrictEqual(lines, [`↑ Already on the server: ${photo} as "${said.reference}", not uploaded again`]);
    assert.deepStrictEqual(
      sim.requests().filter((r) => r.path === '/view' && r.method === 'HEAD').map((r) => [r.query.filename, r.query.type, r.status]),
      [[said.reference, 'input', 200]],
    );
  });

  it('uploads a file used by two nodes once within the run', async () => {
    const { result, events } = await run(new InputHashCache(undefined), photoPrompt(true));
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(uploadPosts(sim), 1);
    assert.deepStrictEqual(uploadedEvents(events).map((e) => e.alreadyOnServer), [false, true]);
  });

  it('runs started together put one file on the server once', async () => {
    const cache = new InputHashCache(undefined);
    const runs = await Promise.all([run(cache), run(cache), run(cache)]);
    for (const r of runs) assert.strictEqual(r.result.status, 'success', JSON.stringify(r.result.error));
    assert.strictEqual(uploadPosts(sim), 1);
    assert.deepStrictEqual(runs.map((r) => uploadedEvents(r.events).filter((e) => !e.alreadyOnServer).length).sort(), [0, 0, 1]);
  });

  it('re-uploads a changed file under its new name', async () => {
    const cache = new InputHashCache(undefined, { racyWindowMs: 0 });
    const first = await run(cache);
    fs.appendFileSync(photo, Buffer.from('trailing bytes after IEND'));
    sim.clearRequests();
    const second = await run(cache);
    assert.strictEqual(second.result.status, 'success', JSON.stringify(second.result.error));
    assert.strictEqual(uploadPosts(sim), 1);
    const [before] = uploadedEvents(first.events);
    const [after] = uploadedEvents(second.events);
    assert.strictEqual(after.alreadyOnServer, false);
    assert.notStrictEqual(after.reference, before.reference);
    assert.strictEqual(after.reference, contentDerivedName(photo, sha(photo)));
    assert.strictEqual(sha(path.join(sim.folders.input, after.reference)), sha(photo));
  });

  const wholeSecond = new Date('2026-01-01T00:00:00Z');
  for (const { how, window, change } of [
    { how: 'grows (its size no longer matches the hash)', window: 0, change: (f: string) => fs.appendFileSync(f, 'more bytes') },
    {
      how: 'is rewritten in place at the same size and mtime (a write in the same clock tick), within the racy window',
      window: undefined,
      change: (f: string) => {
        const fd = fs.openSync(f, 'r+');
        fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, 100);
        fs.closeSync(fd);
        // Only the bytes can tell now: size and mtime are what they were when hashed (a whole second, set before the run).
        fs.utimesSync(f, wholeSecond, wholeSecond);
      },
    },
  ]) {
    it(`fails, and the server keeps nothing, when the file ${how} between its hash and its upload`, async () => {
      fs.utimesSync(photo, wholeSecond, wholeSecond);
      // "uploading" comes after the hash and before the first byte is read for the body.
      const { result } = await run(new InputHashCache(undefined, { racyWindowMs: window }), photoPrompt(), {}, (e) => {
        if (e.type === 'uploading') change(photo);
      });
      assert.strictEqual(result.status, 'error');
      assert.strictEqual(result.promptId, null, 'nothing was queued');
      assert.match(result.error!.message, /changed while it was being uploaded|changed after it was hashed/);
      assert.deepStrictEqual(fs.readdirSync(sim.folders.input).filter((f) => f.startsWith('photo-')), [], 'no input was saved under a name that lies');
    });
  }
});

describe('InputHashCache', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('runcomfy-hashes-')));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function hashOf(cache: InputHashCache, file: string) {
    const handle = await fs.promises.open(file, 'r');
    try {
      return await cache.hash(file, handle);
    } finally {
      await handle.close();
    }
  }

  function write(name: string, bytes: string | Buffer): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  }

  it('survives a new cache object (a new process): an unchanged file is not read again', async () => {
    const store = path.join(dir, 'cache', 'input-hashes.json');
    const file = write('clip.mp4', crypto.randomBytes(300_000));
    const first = await hashOf(new InputHashCache(store, { racyWindowMs: 0 }), file);
    assert.strictEqual(first.cached, false);
    assert.strictEqual(first.sha256, sha(file));
    const writer = new InputHashCache(store, { racyWindowMs: 0 });
    await hashOf(writer, file);
    await writer.save();
    const later = await hashOf(new InputHashCache(store, { racyWindowMs: 0 }), file);
    assert.deepStrictEqual([later.cached, later.sha256], [true, sha(file)]);
  });

  it('hashes again when the size, the mtime or the inode changed', async () => {
    const store = path.join(dir, 'input-hashes.json');
    const file = write('a.png', 'one');
    const remember = async () => {
      const c = new InputHashCache(store, { racyWindowMs: 0 });
      await hashOf(c, file);
      await c.save();
    };
    const fresh = () => hashOf(new InputHashCache(store, { racyWindowMs: 0 }), file);
    await remember();
    assert.strictEqual((await fresh()).cached, true);
    fs.writeFileSync(file, 'one more');
    assert.deepStrictEqual([(await fresh()).cached, (await fresh()).sha256], [false, sha(file)], 'size');
    await remember();
    fs.utimesSync(file, new Date(2001, 1, 1), new Date(2001, 1, 1));
    assert.strictEqual((await fresh()).cached, false, 'mtime');
    await remember();
    const replacement = write('b.png', 'one more');
    fs.renameSync(replacement, file);
    assert.strictEqual((await fresh()).cached, false, 'inode');
  });

  it('does not remember a file written within the racy window, whose time stamps cannot prove it unchanged', async () => {
    const store = path.join(dir, 'input-hashes.json');
    const file = write('new.png', 'just written');
    const cache = new InputHashCache(store);
    const first = await hashOf(cache, file);
    assert.deepStrictEqual([first.cached, first.racy], [false, true]);
    assert.strictEqual((await hashOf(cache, file)).cached, false);
  });

  it('starts fresh from a corrupt file, and writes a good one over it', async () => {
    const store = write('input-hashes.json', '{"v":1,"entries":[{"path":');
    const file = write('a.png', 'content');
    const cache = new InputHashCache(store, { racyWindowMs: 0 });
    const h = await hashOf(cache, file);
    assert.deepStrictEqual([h.cached, h.sha256], [false, sha(file)]);
    await cache.save();
    const saved = JSON.parse(fs.readFileSync(store, 'utf8')) as { entries: { path: string; sha256: string }[] };
    assert.deepStrictEqual(saved.entries.map((e) => [e.path, e.sha256]), [[file, sha(file)]]);
    fs.writeFileSync(store, JSON.stringify({ v: 1, entries: [{ path: file, dev: 'x', sha256: 'not a hash' }, 42] }));
    assert.strictEqual((await hashOf(new InputHashCache(store, { racyWindowMs: 0 }), file)).cached, false, 'malformed entries are dropped');
  });

  it('keeps at most maxEntries, the most recently used', async () => {
    const store = path.join(dir, 'input-hashes.json');
    const files = ['a', 'b', 'c'].map((n) => write(`${n}.png`, n));
    for (const f of files) {
      const c = new InputHashCache(store, { racyWindowMs: 0, maxEntries: 2 });
      await hashOf(c, f);
      await c.save();
    }
    const saved = JSON.parse(fs.readFileSync(store, 'utf8')) as { entries: { path: string }[] };
    assert.deepStrictEqual(saved.entries.map((e) => path.basename(e.path)).sort(), ['b.png', 'c.png']);
  });

  it('leaves no temp file beside the cache', async () => {
    const store = path.join(dir, 'input-hashes.json');
    const c = new InputHashCache(store, { racyWindowMs: 0 });
    await hashOf(c, write('a.png', 'x'));
    await c.save();
    assert.deepStrictEqual(fs.readdirSync(dir).sort(), ['a.png', 'input-hashes.json']);
  });
});

describe('ComfyClient.uploadFile refuses to finish a body whose file changed', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let dir: string;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim.close());
  beforeEach(() => (dir = tempDir('runcomfy-changed-')));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a hash that does not match the bytes read: the request is dropped unfinished, not retried, and nothing is saved', async () => {
    const file = path.join(dir, 'photo.png');
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), file);
    const stale = crypto.createHash('sha256').update('what the file held when it was hashed').digest('hex');
    const client = new ComfyClient({ baseUrl: sim.url, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
    await assert.rejects(client.uploadFile(file, { sha256: stale, verifySha256: true }), (e: unknown) => e instanceof InvalidRequestError && e.message.includes('changed after it was hashed'));
    await assert.rejects(
      client.uploadFile(file, {
        beforeEnd: () => Promise.reject(new Error(`${file} changed while it was being uploaded`)),
      }),
      (e: unknown) => e instanceof InvalidRequestError && e.message.includes('changed while it was being uploaded'),
    );
    assert.deepStrictEqual(fs.readdirSync(sim.folders.input).filter((f) => f.startsWith('photo-')), []);
    assert.ok(sim.requests().filter((r) => r.path === '/upload/image').length <= 2, 'not retried');
  });
});
