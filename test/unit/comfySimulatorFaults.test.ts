import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { decodePng } from '../../src/base/png';
import { type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import { at, getJson, isText, postPrompt, SocketRecorder } from './helpers/comfyReplay';
import { eventually } from './helpers/runcomfyTestKit';

/** Fault injection and the extra modes, programmatic and over `/__sim/*`. */

const SMALL = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 2, color: 0x336699 } },
  '2': { class_type: 'SaveImageWebsocket', inputs: { images: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'faults/out' } },
};

function variant(color: number): typeof SMALL {
  return { ...SMALL, '1': { ...SMALL['1'], inputs: { ...SMALL['1'].inputs, color } } };
}

async function admin(sim: ComfySimulator, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}/__sim/${route}`, body === undefined ? undefined : { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function historyOf(sim: ComfySimulator, id: string): Promise<PyDict | undefined> {
  let h = new Map() as PyDict;
  await eventually(async () => (h = (await getJson(`${sim.url}/history/${id}`)) as PyDict).size > 0, `prompt ${id} is in the history`);
  return h.get(id) as PyDict;
}

describe('ComfySimulator faults: websocket drops', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  beforeEach(async () => (sim = await startComfySimulator()));
  afterEach(async () => sim?.close());

  it('drops every socket after N messages of the next prompt (HTTP admin), while the prompt itself finishes', async () => {
    const client = await SocketRecorder.open(sim.wsUrl, 'drop-n');
    const bystander = await SocketRecorder.open(sim.wsUrl, 'drop-bystander');
    assert.equal((await admin(sim, 'drop', { afterMessages: 5 })).status, 200);
    const before = client.frames.length;
    const r = await postPrompt(sim.url, { prompt: SMALL, client_id: 'drop-n' });
    await client.waitClosed();
    await bystander.waitClosed();
    assert.equal(client.closeCode, 1006, 'an abrupt drop, no close frame');
    const promptFrames = client.frames.slice(before).filter((f) => !(isText(f, 'status')));
    assert.equal(promptFrames.length, 5, 'exactly the first five messages of the prompt arrived');
    const entry = await historyOf(sim, at(r.body, 'prompt_id') as string);
    assert.equal(at(entry, 'status', 'status_str'), 'success');
    const state = (await admin(sim, 'state')).json as { fired: { fault: string; promptId: string }[] };
    assert.deepEqual(state.fired.map((f) => [f.fault, f.promptId]), [['drop', at(r.body, 'prompt_id')]]);
  });

  it('drops every socket when a given node starts; a reconnect with the same id is told the node and hears the end', async () => {
    sim.configure({ classDelayMs: { SaveImage: 150 } });
    const client = await SocketRecorder.open(sim.wsUrl, 'drop-node');
    sim.dropSockets({ atNode: '3' });
    const r = await postPrompt(sim.url, { prompt: SMALL, client_id: 'drop-node' });
    const id = at(r.body, 'prompt_id') as string;
    await client.waitClosed();
    assert.equal(client.messages('executing').filter((d) => d.get('node') === '3').length, 0, 'dropped before node 3 was announced');
    const again = await SocketRecorder.open(sim.wsUrl, 'drop-node');
    await again.waitForDone(id);
    await again.close();
    const second = again.frames[1];
    assert.ok(isText(second, 'executing'));
    assert.equal(pyKeys(second.msg.get('data')), 'node', 'the reconnect greeting names the node, without prompt_id');
    assert.equal((second.msg.get('data') as PyDict).get('node'), '3');
    assert.equal(sim.dropSocketsNow(), 0);
  });
});

function pyKeys(v: PyValue | undefined): string {
  return [...(v as PyDict).keys()].join(',');
}

describe('ComfySimulator faults: stall, boot, flood', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  beforeEach(async () => (sim = await startComfySimulator()));
  afterEach(async () => sim?.close());

  it('holds a prompt silently for the given time, then continues', async () => {
    const client = await SocketRecorder.open(sim.wsUrl, 'stall-ms');
    assert.equal((await admin(sim, 'stall', { ms: 300, atNode: '3' })).status, 200);
    const r = await postPrompt(sim.url, { prompt: SMALL, client_id: 'stall-ms' });
    const id = at(r.body, 'prompt_id') as string;
    await client.waitForDone(id);
    const start = client.messages('execution_start')[0];
    const success = client.messages('execution_success')[0];
    assert.ok((at(success, 'timestamp') as number) - (at(start, 'timestamp') as number) >= 300, 'the stall lasted at least its time');
  });

  it('holds a prompt until the stall is cleared, and nothing arrives meanwhile', async () => {
    const client = await SocketRecorder.open(sim.wsUrl, 'stall-clear');
    sim.stall();
    const r = await postPrompt(sim.url, { prompt: SMALL, client_id: 'stall-clear' });
    const id = at(r.body, 'prompt_id') as string;
    await client.waitFor((f) => isText(f, 'execution_cached'));
    const held = client.frames.length;
    // Proves a negative: on a slow machine the wait is longer, and a frame would still show.
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(client.frames.length, held, 'silent while stalled');
    assert.equal(sim.state().faults.stallActive, true);
    assert.equal((await admin(sim, 'stall/clear', {})).status, 200);
    await client.waitForDone(id);
    await client.close();
  });

  it('answers 502 on every route and 403 on /ws while booting, then serves normally', async () => {
    // Booting until told otherwise: the checks below take what they take.
    const booting = await startComfySimulator({ bootMs: 3_600_000 });
    try {
      const res = await fetch(`${booting.url}/system_stats`);
      assert.equal(res.status, 502);
      assert.match(await res.text(), /502 Bad Gateway/);
      await assert.rejects(SocketRecorder.open(booting.wsUrl, 'boot'), /403/);
      assert.equal((await fetch(`${booting.url}/__sim/state`)).status, 200, 'admin routes ignore the boot window');
      assert.equal((await admin(booting, 'boot', { ms: 0 })).status, 200);
      assert.equal(booting.state().booting, false);
      assert.equal((await fetch(`${booting.url}/system_stats`)).status, 200);
      const s = await SocketRecorder.open(booting.wsUrl, 'boot');
      await s.close();
      await admin(booting, 'boot', { ms: 10_000 });
      assert.equal((await fetch(`${booting.url}/queue`)).status, 502, 'a boot window can be started at run time');
      const log = (await admin(booting, 'requests')).json.requests as { path: string; status: number }[];
      assert.ok(log.some((e) => e.path === '/ws' && e.status === 403));
      assert.ok(log.some((e) => e.path === '/ws' && e.status === 101));
    } finally {
      await booting.close();
    }
  });

  it('floods the next prompt with N progress messages and M previews of exactly S bytes', async () => {
    const client = await SocketRecorder.open(sim.wsUrl, 'flood');
    assert.equal((await admin(sim, 'flood', { messages: 2000, previews: 30, previewBytes: 50_000 })).status, 200);
    const r = await postPrompt(sim.url, { prompt: SMALL, client_id: 'flood' });
    await client.waitForDone(at(r.body, 'prompt_id') as string);
    await client.close();
    const progress = client.messages('progress');
    assert.equal(progress.filter((p) => at(p, 'max') === 2000).length, 2000);
    const previews = client.frames.filter((f) => f.kind === 'binary' && f.data.readUInt32BE(0) === 1 && f.data.length === 8 + 50_000);
    assert.equal(previews.length, 30, 'thirty type-1 frames of 4+4+50000 bytes');
    const png = decodePng((previews[0] as { data: Buffer }).data.subarray(8));
    assert.equal(png.width, 8, 'each preview is a valid PNG');
  });
});

describe('ComfySimulator faults: hostile names, big files, request log, reset, config', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  it('reports hostile file names; /view answers each the way ComfyUI would (400, 403 or the file)', async () => {
    assert.equal((await admin(sim, 'config', { hostile: true })).status, 200);
    const client = await SocketRecorder.open(sim.wsUrl, 'hostile');
    const r = await postPrompt(sim.url, { prompt: variant(1), client_id: 'hostile' });
    const id = at(r.body, 'prompt_id') as string;
    await client.waitForDone(id);
    await client.close();
    sim.configure({ hostile: false });
    const described = (await admin(sim, 'hostile')).json.entries as { filename: string; subfolder: string; type: string; servable: boolean }[];
    const executed = client.messages('executed')[0];
    const images = at(executed, 'output', 'images') as PyDict[];
    assert.deepEqual(
      images.map((i) => i.get('filename')),
      described.map((d) => d.filename),
    );
    for (const entry of images) {
      const q = new URLSearchParams({ filename: entry.get('filename') as string, subfolder: entry.get('subfolder') as string, type: entry.get('type') as string });
      const res = await fetch(`${sim.url}/view?${q.toString()}`);
      const body = Buffer.from(await res.arrayBuffer());
      const d = described.find((x) => x.filename === entry.get('filename') && x.subfolder === entry.get('subfolder') && x.type === entry.get('type'))!;
      if (d.servable) {
        assert.equal(res.status, 200, `${JSON.stringify(d.filename)} is downloadable`);
        assert.equal(decodePng(body).width, 16);
      } else {
        assert.ok([400, 403].includes(res.status), `${JSON.stringify(d.filename)} / ${JSON.stringify(d.subfolder)} refused (${res.status})`);
      }
    }
  });

  it('creates a big output file by streaming; /view streams it back intact, ranges included', async () => {
    const res = await admin(sim, 'output-file', { filename: 'big.bin', bytes: 40 * 1024 * 1024 + 3, subfolder: 'bench' });
    assert.equal(res.status, 200);
    assert.equal(res.json.bytes, 40 * 1024 * 1024 + 3);
    const download = await fetch(`${sim.url}/view?filename=big.bin&subfolder=bench&type=output`);
    assert.equal(download.headers.get('content-length'), String(40 * 1024 * 1024 + 3));
    const hash = createHash('sha256');
    for await (const chunk of download.body!) hash.update(chunk as Uint8Array);
    assert.equal(hash.digest('hex'), res.json.sha256);
    const part = await fetch(`${sim.url}/view?filename=big.bin&subfolder=bench&type=output`, { headers: { Range: 'bytes=1048570-1048579' } });
    assert.equal(part.status, 206);
    const expected = fs.readFileSync(path.join(sim.folders.output, 'bench', 'big.bin')).subarray(1048570, 1048580);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(expected));
    const bad = await admin(sim, 'output-file', { filename: '../escape.bin', bytes: 1 });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error as string, /must stay inside the output folder/);
  });

  it('logs ComfyUI requests with method, path, query, status and time, but not admin calls', async () => {
    await admin(sim, 'requests/clear', {});
    await fetch(`${sim.url}/history?max_items=1`);
    await fetch(`${sim.url}/view?filename=nope.png`);
    const log = (await admin(sim, 'requests')).json.requests as { method: string; path: string; query: Record<string, string>; status: number; time: number }[];
    assert.deepEqual(
      log.map((e) => [e.method, e.path, e.query, e.status]),
      [
        ['GET', '/history', { max_items: '1' }, 200],
        ['GET', '/view', { filename: 'nope.png' }, 404],
      ],
    );
    assert.ok(log.every((e) => typeof e.time === 'number' && e.time > 1.7e12));
  });

  it('refuses bad admin input with a message naming the field and what it accepts', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['config', { nodeDelayMs: -1 }, /nodeDelayMs must be a non-negative number/],
      ['config', { colour: 'red' }, /unknown setting "colour"/],
      ['config', { classDelayMs: [] }, /classDelayMs must be an object/],
      ['drop', {}, /give \{"now": true\}/],
      ['stall', { ms: 'soon' }, /ms: expected a non-negative integer/],
      ['flood', { messages: 1.5 }, /messages: expected a non-negative integer/],
      ['boot', {}, /ms: expected a non-negative integer/],
      ['output-file', { filename: 'x' }, /bytes: expected a non-negative integer/],
    ];
    for (const [route, body, message] of cases) {
      const r = await admin(sim, route, body);
      assert.equal(r.status, 400, route);
      assert.match(r.json.error as string, message);
    }
    const notJson = await fetch(`${sim.url}/__sim/config`, { method: 'POST', body: '{nope' });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { error: string }).error, /not JSON/);
    assert.equal((await fetch(`${sim.url}/__sim/nope`)).status, 404);
    assert.ok('GET /__sim/state' in ((await (await fetch(`${sim.url}/__sim/`)).json()) as object));
  });

  it('offers permessage-deflate on new sockets only while wsCompression is on', async () => {
    const plain = await SocketRecorder.open(sim.wsUrl, 'plain');
    assert.equal(plain.socket.extensions, '');
    await admin(sim, 'config', { wsCompression: true });
    const compressed = await SocketRecorder.open(sim.wsUrl, 'deflate');
    sim.configure({ wsCompression: false });
    assert.match(compressed.socket.extensions, /permessage-deflate/);
    const r = await postPrompt(sim.url, { prompt: variant(3), client_id: 'deflate' });
    await compressed.waitForDone(at(r.body, 'prompt_id') as string);
    assert.equal(compressed.messages('executed').length, 1, 'a compressed socket hears its prompt like any other');
    await Promise.all([plain.close(), compressed.close()]);
  });

  it('resets queue, history, caches, folders (input keeps example.png) and settings', async () => {
    const start = sim.config();
    sim.configure({ nodeDelayMs: 250, hostile: true });
    const client = await SocketRecorder.open(sim.wsUrl, 'reset');
    const r = await postPrompt(sim.url, { prompt: variant(2), client_id: 'reset' });
    await client.waitForDone(at(r.body, 'prompt_id') as string);
    assert.equal((await admin(sim, 'reset', {})).status, 200);
    assert.deepEqual(sim.config(), start, 'settings are back to the start options');
    assert.equal(((await getJson(`${sim.url}/history`)) as PyDict).size, 0);
    assert.deepEqual(fs.readdirSync(sim.folders.input), ['example.png']);
    assert.deepEqual(fs.readdirSync(sim.folders.output), []);
    const again = await postPrompt(sim.url, { prompt: variant(2), client_id: 'reset' });
    await client.waitForDone(at(again.body, 'prompt_id') as string);
    await client.close();
    const cached = client.messages('execution_cached').at(-1)!;
    assert.deepEqual(at(cached, 'nodes'), [], 'nothing cached after a reset');
  });

  it('closes cleanly: sockets closed, port released, temp data dir removed', async () => {
    const own = await startComfySimulator();
    const s = await SocketRecorder.open(own.wsUrl, 'closing');
    const dir = own.dataDir;
    await own.close();
    await s.waitClosed();
    assert.equal(fs.existsSync(dir), false);
    await assert.rejects(fetch(`${own.url}/queue`));
  });
});
