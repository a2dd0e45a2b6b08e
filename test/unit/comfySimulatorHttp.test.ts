import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { decodePng, encodePng } from '../../src/base/png';
import { parsePyJson, pyDumps, type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import { at, Canon, getJson, isText, multipartBody, postPrompt, rawRequest, recordedFrames, recording, SocketRecorder, upload, workflow } from './helpers/comfyReplay';

/** The HTTP side of the simulator against the recorded replies: validation, uploads, /view, origin, limits, paging. */

function canon(value: PyValue): string {
  return pyDumps(new Canon().value(value));
}

async function solidPng(rgb: number, size = 8): Promise<Buffer> {
  const row = Buffer.alloc(size * 3);
  for (let x = 0; x < size; x++) row.writeUIntBE(rgb, x * 3, 3);
  return encodePng({ width: size, height: size, channels: 3, row: () => row }, { compressLevel: 6 });
}

async function runToEnd(sim: ComfySimulator, body: string | object, clientId = 'http-tests'): Promise<string> {
  const socket = await SocketRecorder.open(sim.wsUrl, clientId);
  try {
    const text = typeof body === 'string' ? body : JSON.stringify({ ...body, client_id: clientId });
    const r = await postPrompt(sim.url, text);
    assert.equal(r.status, 200, r.text);
    const id = at(r.body, 'prompt_id') as string;
    await socket.waitForDone(id);
    return id;
  } finally {
    await socket.close();
  }
}

describe('ComfySimulator HTTP: POST /prompt validation (invalid_prompts.json)', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  const cases = recording('invalid_prompts.json') as PyDict;
  for (const [name, c] of cases) {
    it(`answers "${name}" with the recorded status and body`, async () => {
      const request = at(c, 'request');
      const r = await postPrompt(sim.url, typeof request === 'string' ? request : pyDumps(request));
      assert.equal(r.status, at(c, 'status'));
      const expected = at(c, 'body');
      if (typeof expected === 'string') {
        assert.equal(r.text, expected);
        return;
      }
      if (r.status === 200) {
        // Accepted prompts get a fresh id and the next counter value.
        assert.equal(typeof at(r.body, 'number'), 'number');
        assert.equal(canon(at(r.body, 'node_errors')), canon(at(expected, 'node_errors')));
        assert.deepEqual([...(r.body as PyDict).keys()], [...(expected as PyDict).keys()]);
        return;
      }
      assert.equal(canon(r.body), canon(expected));
    });
  }

  it('gives node_errors [] for whole-prompt errors in old-server mode, as the Dec-2024 build did', async () => {
    sim.configure({ oldServer: true });
    try {
      const r = await postPrompt(sim.url, { prompt: { '1': { class_type: 'Nope', inputs: {} } } });
      assert.equal(canon(r.body), canon(at(recording('old-2024-12/summary_old.json'), 'unknown_class', 1)));
    } finally {
      sim.configure({ oldServer: false });
    }
  });

  it('coerces values like Python ("64" for an INT, {"__value__": ...}) and stores the coerced prompt', async () => {
    const id = await runToEnd(sim, {
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: '64', height: 32.9, batch_size: { __value__: 1 }, color: 0 } },
        '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
      },
    });
    const entry = at(await getJson(`${sim.url}/history/${id}`), id);
    assert.equal(pyDumps(at(entry, 'prompt', 2, '1', 'inputs')), '{"width": 64, "height": 32, "batch_size": 1, "color": 0}');
  });

  it('lists every failing node under every failing output (dependent_outputs), as ComfyUI does', async () => {
    const r = await postPrompt(sim.url, {
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'a' } },
        '3': { class_type: 'EmptyImage', inputs: { width: 8, height: 99999, batch_size: 1, color: 0 } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'b' } },
      },
    });
    assert.equal(r.status, 400);
    const errors = at(r.body, 'node_errors') as PyDict;
    assert.equal(at(errors, '3', 'errors', 0, 'type'), 'value_bigger_than_max');
    assert.equal(at(errors, '3', 'errors', 0, 'message'), 'Value 99999 bigger than max of 16384');
    const deps = [...errors.values()].map((e) => (at(e, 'dependent_outputs') as PyValue[]).length);
    assert.deepEqual(deps.sort(), [1, 2], 'the node that failed first is listed under both outputs');
  });
});

describe('ComfySimulator HTTP: uploads (uploads.json)', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  const red = solidPng(0xff0000);
  const green = solidPng(0x00ff00);
  const blue = solidPng(0x0000ff);
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  it('renames, dedupes by hash, overwrites, refuses traversal, 500s on a bad type, as recorded, step by step', async () => {
    const cases = recording('uploads.json') as PyDict;
    const data: Record<string, Promise<Buffer> | Buffer> = {
      '1_overwrite_true': red,
      '2_same_name_other_bytes_no_overwrite': green,
      '3_same_name_other_bytes_again': blue,
      '4_same_name_identical_bytes_no_overwrite': red,
      '5_identical_to_the_(1)_copy': green,
      '6_overwrite_1': red,
      '14_video_bytes_any_content': Buffer.concat([Buffer.from('000000186674797069736f6d', 'hex'), Buffer.alloc(16)]),
    };
    for (const [name, c] of cases) {
      const fields = Object.fromEntries([...(at(c, 'request_fields') as PyDict)].map(([k, v]) => [k, v as string]));
      const filename = at(c, 'filenames', 0) as string;
      const file = name === '13_missing_image_field' ? undefined : { filename, data: await (data[name] ?? red) };
      const route = name === '15_api_prefix' ? '/api/upload/image' : name === '16_mask' ? '/upload/mask' : '/upload/image';
      const r = await upload(sim.url, fields, file, route);
      assert.equal(r.status, at(c, 'status'), `${name}: status`);
      const body = at(c, 'body');
      if (body === null) assert.equal(r.text, '', `${name}: empty body`);
      else if (typeof body === 'string') assert.equal(r.text, body, `${name}: text body`);
      else assert.equal(r.text, pyDumps(body), `${name}: JSON body`);
      // Distinct mtimes, as the recording's uploads had: a slower machine only spaces them more.
      await new Promise((res) => setTimeout(res, 5));
    }
    assert.ok((await green).equals(fs.readFileSync(path.join(sim.folders.input, 'research_in (1).png'))));
    assert.ok((await red).equals(fs.readFileSync(path.join(sim.folders.input, 'research_in.png'))));
    const mask = decodePng(fs.readFileSync(path.join(sim.folders.input, 'clipspace', 'research_mask.png')));
    assert.equal(mask.channels, 4, 'the mask upload is the original with the uploaded alpha');
    assert.equal(canon(await getJson(`${sim.url}/internal/files/input`)), canon(at(recording('summary.json'), 'internal_files_input_after_uploads', 1)));
  });

  it('streams a large upload to disk intact (and answers 413 above max_upload_size)', async () => {
    const big = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    const r = await upload(sim.url, { overwrite: 'true' }, { filename: 'big.bin', data: big });
    assert.equal(r.status, 200);
    assert.ok(fs.readFileSync(path.join(sim.folders.input, 'big.bin')).equals(big));
    sim.configure({ maxUploadSizeMb: 1 });
    try {
      const tooBig = await upload(sim.url, {}, { filename: 'too-big.bin', data: Buffer.alloc(2 * 1024 * 1024) });
      assert.equal(tooBig.status, 413);
      assert.match(tooBig.text, /^Maximum request body size 1048576 exceeded, actual body size \d+$/);
      assert.equal(fs.existsSync(path.join(sim.folders.input, 'too-big.bin')), false);
      assert.equal(fs.readdirSync(path.join(sim.dataDir, '.staging')).length, 0, 'no staging leftovers');
    } finally {
      sim.configure({ maxUploadSizeMb: null });
    }
  });
});

describe('ComfySimulator HTTP: /view (view_results.json, extra_checks.json, seed_snippet_checks.json)', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => {
    sim = await startComfySimulator();
    const wf = workflow('workflow_a_api.json') as Record<string, Record<string, unknown>>;
    wf['7'].is_changed = [1795876529.1135519];
    await runToEnd(sim, { prompt: wf, extra_data: { extra_pnginfo: { workflow: { note: 'research' } } } });
    await upload(sim.url, { overwrite: 'true' }, { filename: 'research_in.png', data: await solidPng(0xff0000) });
    await upload(sim.url, { subfolder: 'research/sub' }, { filename: 'nested.png', data: await solidPng(0x00ff00) });
    await upload(sim.url, { overwrite: 'true' }, { filename: 'clip.mp4', data: Buffer.concat([Buffer.from('000000186674797069736f6d', 'hex'), Buffer.alloc(16)]) });
  });
  after(async () => sim?.close());

  const tempName = () => fs.readdirSync(sim.folders.temp).sort()[0];

  it('answers every recorded /view variant with the recorded status, type, disposition and magic bytes', async () => {
    for (const [name, c] of recording('view_results.json') as PyDict) {
      const url = (at(c, 'url') as string).replace(/ComfyUI_temp_[a-z]{5}_00001_\.png/, tempName());
      const res = await fetch(`${sim.url}${url}`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, at(c, 'status'), `${name}: status`);
      assert.equal(res.headers.get('content-type'), at(c, 'ctype'), `${name}: content type`);
      const disp = at(c, 'disp');
      assert.equal(res.headers.get('content-disposition'), disp === null ? null : (disp as string).replace(/ComfyUI_temp_[a-z]{5}_/, tempName().slice(0, 19)), `${name}: disposition`);
      const magic = at(c, 'magic') as string;
      // Pillow's WebP preview is lossy VP8; the simulator's is lossless VP8L: compare the RIFF tag only.
      const compared = name === 'preview_webp' ? 8 : magic.length;
      assert.equal(body.subarray(0, compared / 2).toString('hex'), magic.slice(0, compared), `${name}: magic`);
      if (['saveimage', 'api_prefix', 'annotated_name', 'default_type_is_output', 'channel_rgb', 'channel_a', 'missing_file', 'no_filename', 'fake_mp4'].includes(name)) {
        assert.equal(body.length, at(c, 'bytes'), `${name}: size`);
      }
    }
  });

  it('serves one byte range (206 + Content-Range), HEAD with the length, 416 past the end', async () => {
    const url = `${sim.url}/view?filename=api_test_00001_.png&subfolder=research&type=output`;
    const range = await fetch(url, { headers: { Range: 'bytes=0-7' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get('content-range'), 'bytes 0-7/1026');
    assert.equal(range.headers.get('accept-ranges'), 'bytes');
    assert.equal(Buffer.from(await range.arrayBuffer()).toString('hex'), '89504e470d0a1a0a');
    const tail = await fetch(url, { headers: { Range: 'bytes=-6' } });
    assert.equal(tail.headers.get('content-range'), 'bytes 1020-1025/1026');
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '1026');
    assert.equal(head.headers.get('content-type'), 'image/png');
    const past = await fetch(url, { headers: { Range: 'bytes=5000-' } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), 'bytes */1026');
    const etag = head.headers.get('etag')!;
    assert.equal((await fetch(url, { headers: { 'If-None-Match': etag } })).status, 304);
  });

  it('replays the seed document helper calls: type=None is a 400, no type defaults to output', async () => {
    await runToEnd(sim, { prompt: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 5, color: 1 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'research/h' } } } });
    for (const [, c] of recording('seed_snippet_checks.json') as PyDict) {
      const res = await fetch(`${sim.url}/view?${at(c, 0) as string}`);
      await res.arrayBuffer();
      assert.equal(res.status, at(c, 1));
    }
  });
});

describe('ComfySimulator HTTP: origin check, limits, CORS, misc routes', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  it('403s a mismatching Origin on a loopback Host (HTTP), as origin_checks.json', async () => {
    const host = `127.0.0.1:${sim.port}`;
    const cases: [string, Record<string, string>][] = [
      ['no_origin', { Host: host }],
      ['matching_origin', { Host: host, Origin: `http://${host}` }],
      ['evil_origin', { Host: host, Origin: 'http://evil.example' }],
      ['vscode_webview_origin', { Host: host, Origin: 'vscode-webview://abcd' }],
      ['null_origin', { Host: host, Origin: 'null' }],
      ['localhost_origin_vs_ip_host', { Host: host, Origin: `http://localhost:${sim.port}` }],
    ];
    const recorded = recording('origin_checks.json');
    for (const [name, headers] of cases) {
      const r = await rawRequest(`${sim.url}/queue`, { headers });
      assert.equal(r.status, at(recorded, name, 'status'), name);
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    }
    const preflight = await rawRequest(`${sim.url}/prompt`, { method: 'OPTIONS', headers: { Host: host } });
    assert.equal(preflight.status, at(recorded, 'options_preflight_without_cors_flag', 'status'));
    const remote = await rawRequest(`${sim.url}/queue`, { headers: { Host: 'comfy.example.com', Origin: 'http://evil.example' } });
    assert.equal(remote.status, 200, 'no check for a non-loopback Host');
  });

  it('applies the same check to the /ws upgrade (origin_checks_ws_raw.json)', async () => {
    const handshake = (host: string, origin?: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(sim.port, '127.0.0.1', () => {
          socket.write(
            `GET /ws?clientId=raw HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${origin === undefined ? '' : `Origin: ${origin}\r\n`}\r\n`,
          );
        });
        socket.once('data', (d) => {
          resolve(d.toString('latin1').split('\r\n')[0]);
          socket.destroy();
        });
        socket.once('error', reject);
      });
    const host = `127.0.0.1:${sim.port}`;
    const recorded = recording('origin_checks_ws_raw.json');
    assert.equal(await handshake(host), at(recorded, 'None'));
    assert.equal(await handshake(host, `http://${host}`), at(recorded, 'http://127.0.0.1:8188'));
    assert.equal(await handshake(host, 'http://evil.example'), at(recorded, 'http://evil.example'));
    assert.equal(await handshake(host, 'vscode-webview://abcd'), at(recorded, 'vscode-webview://abcd'));
    assert.equal(await handshake(host, `http://localhost:${sim.port}`), at(recorded, 'http://localhost:8188'));
    assert.equal(await handshake(host, 'null'), at(recorded, 'null'));
    assert.equal(await handshake(`localhost:${sim.port}`, `http://localhost:${sim.port}`), at(recorded, 'host_localhost_origin_localhost'));
    assert.equal(await handshake('comfy.example.com', 'http://evil.example'), at(recorded, 'host_remote_name_origin_evil (non-loopback Host header)'));
  });

  it('enforces --max-upload-size on JSON bodies too, and reports it as a float in /features and feature_flags', async () => {
    const limited = await startComfySimulator({ maxUploadSizeMb: 1 });
    try {
      const recorded = recording('limits_and_cors.json');
      const big = await postPrompt(limited.url, JSON.stringify({ prompt: { pad: 'x'.repeat(1_200_000) } }));
      assert.equal(big.status, 413);
      assert.match(big.text, /^Maximum request body size 1048576 exceeded, actual body size \d+$/);
      const small = await upload(limited.url, {}, { filename: 'small.bin', data: Buffer.alloc(500 * 1024) });
      assert.equal(small.text, pyDumps(at(recorded, 'upload_500KB', 'body')));
      assert.equal(await (await fetch(`${limited.url}/features`)).text(), pyDumps(at(recorded, 'GET_features')));
      const socket = await SocketRecorder.open(limited.wsUrl, undefined, { featureFlags: true });
      await socket.close();
      const reply = at(recorded, 'feature_flags_reply') as PyValue[];
      assert.deepEqual(
        socket.frames.map((f) => (f.kind === 'text' ? canon(f.msg) : '')),
        reply.map((m) => canon(m)),
      );
    } finally {
      await limited.close();
    }
  });

  it('replaces the origin check with CORS headers in --enable-cors-header mode', async () => {
    const cors = await startComfySimulator({ corsOrigin: '*' });
    try {
      const recorded = recording('limits_and_cors.json');
      const evil = await rawRequest(`${cors.url}/queue`, { headers: { Host: `127.0.0.1:${cors.port}`, Origin: 'http://evil.example' } });
      assert.equal(evil.status, 200);
      for (const h of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers']) {
        assert.equal(evil.headers[h.toLowerCase()], at(recorded, 'evil_origin_with_cors_flag', h));
      }
      const preflight = await rawRequest(`${cors.url}/prompt`, { method: 'OPTIONS' });
      for (const [h, v] of at(recorded, 'options_preflight_with_cors_flag', 'headers') as PyDict) assert.equal(preflight.headers[h.toLowerCase()], v);
    } finally {
      await cors.close();
    }
  });

  it('answers the summary GETs as recorded (object_info, prompt, queue, history, free, models)', async () => {
    const summary = recording('summary.json');
    assert.equal(canon(await getJson(`${sim.url}/object_info/NoSuchNode`)), canon(at(summary, 'object_info_unknown', 1)));
    assert.equal(canon(await getJson(`${sim.url}/prompt`)), canon(at(summary, 'get_prompt', 1)));
    assert.equal(canon(await getJson(`${sim.url}/queue`)), canon(at(summary, 'get_queue_idle', 1)));
    assert.equal(canon(await getJson(`${sim.url}/api/queue`)), canon(at(summary, 'get_api_queue_idle', 1)));
    assert.equal(canon(await getJson(`${sim.url}/history`)), canon(at(summary, 'get_history_empty', 1)));
    assert.equal(canon(await getJson(`${sim.url}/history/nope`)), canon(at(summary, 'get_history_unknown_id', 1)));
    assert.equal(canon(await getJson(`${sim.url}/internal/files/input`)), canon(at(summary, 'internal_files_input', 1)));
    const free = await fetch(`${sim.url}/free`, { method: 'POST', body: '{"unload_models": true}' });
    assert.equal(free.status, 200);
    assert.equal(await free.text(), '');
    assert.equal((await fetch(`${sim.url}/models/bogus`)).status, at(summary, 'models_bogus_folder'));
    assert.equal(canon(await getJson(`${sim.url}/models`)), canon(at(recording('models.json'), 'body')));
    assert.equal(canon(await getJson(`${sim.url}/models/checkpoints`)), canon(at(recording('models_checkpoints.json'), 'body')));
    assert.equal(canon(await getJson(`${sim.url}/embeddings`)), canon(at(recording('embeddings.json'), 'body')));
    assert.equal(canon(await getJson(`${sim.url}/features`)), canon(at(recording('features.json'), 'body')));
    const stats = await getJson(`${sim.url}/system_stats`);
    const recordedStats = at(recording('system_stats.json'), 'body');
    assert.deepEqual([...(at(stats, 'system') as PyDict).keys()], [...(at(recordedStats, 'system') as PyDict).keys()]);
    assert.deepEqual([...(at(stats, 'devices', 0) as PyDict).keys()], [...(at(recordedStats, 'devices', 0) as PyDict).keys()]);
    assert.equal(at(stats, 'system', 'comfyui_version'), '0.3.64');
    assert.equal((await fetch(`${sim.url}/nothing/here`)).status, 404);
    assert.equal((await fetch(`${sim.url}/api/ws`)).status, 400, 'a GET of /ws without an upgrade');
    assert.equal((await fetch(`${sim.url}/prompt`, { method: 'PUT' })).status, 405);
  });

  it('serves the recorded object_info entries verbatim (LoadImage listing the input folder), its own classes in the v1 shape', async () => {
    for (const name of ['EmptyImage', 'ImageScale', 'LoadImage', 'PreviewAny', 'PreviewImage', 'SaveImage', 'SaveImageWebsocket']) {
      const res = await fetch(`${sim.url}/object_info/${name}`);
      assert.equal(await res.text(), pyDumps(recording(`object_info_${name}.json`)), name);
    }
    const all = (await getJson(`${sim.url}/object_info`)) as PyDict;
    for (const name of ['VHS_VideoCombine', 'SimCubeMesh', 'SimToneAudio']) {
      const entry = all.get(name) as PyDict;
      assert.deepEqual([...entry.keys()], [...(at(recording('object_info_SaveImage.json'), 'SaveImage') as PyDict).keys()], `${name} has the v1 shape`);
    }
  });

  it('pages /history (max_items, offset), deletes and clears it, 500s on a bad max_items', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await runToEnd(sim, { prompt: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: i } }, '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } } } }));
    assert.deepEqual([...((await getJson(`${sim.url}/history?max_items=2`)) as PyDict).keys()], ids.slice(2), 'the newest two');
    assert.deepEqual([...((await getJson(`${sim.url}/history?max_items=2&offset=0`)) as PyDict).keys()], ids.slice(0, 2), 'offset 0 is the oldest');
    assert.equal((await fetch(`${sim.url}/history`, { method: 'POST', body: JSON.stringify({ delete: [ids[0]] }) })).status, at(recording('extra_checks.json'), 'post_history_delete'));
    assert.equal(((await getJson(`${sim.url}/history/${ids[0]}`)) as PyDict).size, 0);
    assert.equal((await fetch(`${sim.url}/history?max_items=abc`)).status, 500);
    assert.equal((await fetch(`${sim.url}/history`, { method: 'POST', body: '{"clear": true}' })).status, 200);
    assert.equal(((await getJson(`${sim.url}/history`)) as PyDict).size, 0);
  });

  it('echoes number as a float, routes by extra_data.client_id, names a socket without clientId by a hex id', async () => {
    const extra = recording('extra_checks.json');
    const numbers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await postPrompt(sim.url, { prompt: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } }, '2': { class_type: 'PreviewAny', inputs: { source: 'x' } } }, number: 5 });
      numbers.push(/"number": ([^,]*),/.exec(r.text)![1]);
    }
    assert.deepEqual(numbers, (at(extra, 'number_echo') as PyValue[]).map((n) => pyDumps(n)));
    const anonymous = await SocketRecorder.open(sim.wsUrl);
    await anonymous.close();
    const greeting = anonymous.frames[0];
    assert.ok(isText(greeting, 'status'));
    assert.match(at(greeting.msg, 'data', 'sid') as string, /^[0-9a-f]{32}$/);
    const routed = await SocketRecorder.open(sim.wsUrl, 'routed-by-extra-data');
    routed.socket.send('{"type": "something_else", "data": {}}');
    const r = await postPrompt(sim.url, { prompt: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 3 } }, '2': { class_type: 'PreviewAny', inputs: { source: 'y' } } }, extra_data: { client_id: 'routed-by-extra-data' } });
    await routed.waitForDone(at(r.body, 'prompt_id') as string);
    await routed.close();
    assert.ok(routed.messages('execution_start').length === 1);
  });
});

describe('ComfySimulator HTTP: old-server mode (old-2024-12 recordings)', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator({ oldServer: true })));
  after(async () => sim?.close());

  it('replays the Dec-2024 run and its cached rerun: no progress_state, type-1 previews, no feature_flags reply, /features 404', async () => {
    const client = await SocketRecorder.open(sim.wsUrl, '85ba9315-5e49-4e15-923c-1e770a8e9de9');
    client.socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    const wf = workflow('workflow_a_api.json');
    delete wf['5'];
    delete wf['6'];
    const first = await postPrompt(sim.url, { prompt: wf, client_id: '85ba9315-5e49-4e15-923c-1e770a8e9de9', prompt_id: 'ignored-by-old-servers' });
    const id1 = at(first.body, 'prompt_id') as string;
    assert.notEqual(id1, 'ignored-by-old-servers');
    await client.waitForDone(id1);
    const mark = client.frames.length;
    const second = await postPrompt(sim.url, { prompt: wf, client_id: '85ba9315-5e49-4e15-923c-1e770a8e9de9' });
    await client.waitForDone(at(second.body, 'prompt_id') as string);
    await client.close();
    const live = (frames: typeof client.frames) => {
      const c = new Canon();
      return frames.map((f) => c.live(f));
    };
    const rec = (name: string) => {
      const c = new Canon();
      return recordedFrames(name).map((f) => c.recorded(f));
    };
    assert.deepEqual(live(client.frames.slice(1, mark)), rec('old-2024-12/ws_run_first.json'));
    assert.deepEqual(live(client.frames.slice(mark)), rec('old-2024-12/ws_run_second_identical.json'));
    assert.equal((await fetch(`${sim.url}/features`)).status, at(recording('old-2024-12/summary_old.json'), 'GET_features'));
    const history = at(await getJson(`${sim.url}/history/${id1}`), id1);
    const recorded = [...(recording('old-2024-12/history_first.json') as PyDict).values()][0]!;
    assert.equal(canon(at(history, 'outputs')), canon(at(recorded, 'outputs')));
    assert.equal(canon(at(history, 'prompt', 4)), canon(at(recorded, 'prompt', 4)));
  });
});

describe('ComfySimulator HTTP: bodies that are not what ComfyUI expects', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  it('500s where ComfyUI raises (non-JSON /queue, non-object /interrupt) and 400s where it checks', async () => {
    assert.equal((await fetch(`${sim.url}/queue`, { method: 'POST', body: 'nope' })).status, 500);
    assert.equal((await fetch(`${sim.url}/interrupt`, { method: 'POST', body: '[1]' })).status, 500);
    assert.equal((await fetch(`${sim.url}/interrupt`, { method: 'POST', body: 'not json' })).status, 200);
    const noPrompt = await postPrompt(sim.url, '[]');
    assert.equal(noPrompt.status, 400);
    assert.equal(at(noPrompt.body, 'error', 'type'), 'no_prompt');
    const { body, contentType } = multipartBody({ image: 'not a file' });
    const text = await fetch(`${sim.url}/upload/image`, { method: 'POST', body, headers: { 'Content-Type': contentType } });
    assert.equal(text.status, 500);
    const parsed = parsePyJson(await (await fetch(`${sim.url}/object_info/EmptyImage`)).text());
    assert.ok(parsed instanceof Map);
  });
});
