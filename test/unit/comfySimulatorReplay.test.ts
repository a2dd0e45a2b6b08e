import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { encodePng } from '../../src/base/png';
import { pyDumps, type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import { at, Canon, getJson, isText, postPrompt, recordedFrames, recording, RECORDINGS, SocketRecorder, upload, workflow, type Frame } from './helpers/comfyReplay';
import { eventually } from './helpers/runcomfyTestKit';

/**
 * Replays the recorded ComfyUI 0.3.64 session against the simulator: the same sockets, the same
 * submissions in the same order, and then every socket's frames and every history entry compared
 * with the recording element by element (ids and timestamps replaced by placeholders).
 */

const LEGACY = 'a0829add-43e6-4887-ac10-0c9bcc81c0d9';
const META = 'ff6301fc-232e-4af4-a33d-ad96f090e082';
const BYSTANDER = '30625225-5e81-4f48-9f46-9e4769502a7c';

function liveCanon(frames: readonly Frame[]): string[] {
  const c = new Canon();
  return frames.map((f) => c.live(f));
}

function recordedCanon(frames: readonly PyValue[]): string[] {
  const c = new Canon();
  return frames.map((f) => c.recorded(f));
}

function canonBody(value: PyValue): string {
  return pyDumps(new Canon().value(value));
}

async function solidPng(rgb: number): Promise<Buffer> {
  const row = Buffer.alloc(8 * 3);
  for (let x = 0; x < 8; x++) row.writeUIntBE(rgb, x * 3, 3);
  return encodePng({ width: 8, height: 8, channels: 3, row: () => row }, { compressLevel: 6 });
}

/** Posts prompts that fail validation, so the next accepted one gets the recorded queue number. */
async function consumeNumbers(sim: ComfySimulator, count: number): Promise<void> {
  for (let i = 0; i < count; i++) assert.equal((await postPrompt(sim.url, { prompt: {} })).status, 400);
}

describe('ComfySimulator replay: run A, cached run, run B, run A again', function () {
  this.timeout(90_000);
  let sim: ComfySimulator;
  let legacy: SocketRecorder;
  let meta: SocketRecorder;
  let bystander: SocketRecorder;
  const marks: Record<string, number> = {};
  const ids: Record<string, string> = {};
  const responses: Record<string, PyValue> = {};

  before(async () => {
    sim = await startComfySimulator();
    legacy = await SocketRecorder.open(sim.wsUrl, LEGACY);
    meta = await SocketRecorder.open(sim.wsUrl, META, { featureFlags: true });
    bystander = await SocketRecorder.open(sim.wsUrl, BYSTANDER);
    await consumeNumbers(sim, 2);

    const a = await postPrompt(sim.url, { prompt: workflow('workflow_a_api.json'), client_id: LEGACY, extra_data: { extra_pnginfo: { workflow: { note: 'research' } } } });
    responses.runA = a.body;
    ids.runA = at(a.body, 'prompt_id') as string;
    await legacy.waitForDone(ids.runA);

    const m = await postPrompt(sim.url, { prompt: workflow('workflow_a_api.json'), client_id: META, extra_data: { extra_pnginfo: { workflow: { note: 'research' } } } });
    responses.meta = m.body;
    ids.meta = at(m.body, 'prompt_id') as string;
    const legacyBefore = legacy.frames.length;
    const bystanderBefore = bystander.frames.length;
    await meta.waitForDone(ids.meta);
    // The closing status broadcast reaches each socket on its own; wait until the other two have it.
    const idle = (f: Frame) => isText(f, 'status') && at(f.msg, 'data', 'status', 'exec_info', 'queue_remaining') === 0;
    await legacy.waitFor(idle, 30_000, legacyBefore);
    await bystander.waitFor(idle, 30_000, bystanderBefore);
    marks.meta = meta.frames.length;
    marks.afterMeta = legacy.frames.length;
    marks.bystanderAfterMeta = bystander.frames.length;
    responses.historyA = await getJson(`${sim.url}/history/${ids.runA}`);

    assert.equal((await upload(sim.url, { overwrite: 'true' }, { filename: 'research_in.png', data: await solidPng(0xff0000) })).status, 200);
    assert.equal((await upload(sim.url, { subfolder: 'research/sub' }, { filename: 'nested.png', data: await solidPng(0x00ff00) })).status, 200);
    const b = await postPrompt(sim.url, { prompt: workflow('workflow_b_api.json'), client_id: LEGACY });
    responses.runB = b.body;
    ids.runB = at(b.body, 'prompt_id') as string;
    await legacy.waitForDone(ids.runB);
    marks.afterB = legacy.frames.length;
    responses.historyB = await getJson(`${sim.url}/history/${ids.runB}`);

    const again = await postPrompt(sim.url, { prompt: workflow('workflow_a_api.json'), client_id: LEGACY });
    ids.again = at(again.body, 'prompt_id') as string;
    await legacy.waitForDone(ids.again);
    marks.afterAgain = legacy.frames.length;
    responses.historyAgain = await getJson(`${sim.url}/history/${ids.again}`);
  });

  after(async () => {
    await Promise.all([legacy?.close(), meta?.close(), bystander?.close()]);
    await sim?.close();
  });

  it('answers POST /prompt like the recording (keys, number, empty node_errors, byte length)', () => {
    const recorded = at(recording('prompt_response_run_legacy.json'), 'body');
    assert.equal(canonBody(responses.runA), canonBody(recorded));
    assert.equal(canonBody(responses.meta), canonBody(at(recording('prompt_response_run_meta.json'), 'body')));
    assert.equal(canonBody(responses.runB), canonBody(at(recording('prompt_response_run_b.json'), 'body')));
    assert.equal(pyDumps(responses.runA).length, Number(at(recording('prompt_response_run_legacy.json'), 'headers', 'Content-Length')));
  });

  it('sends the submitting socket (no feature flags) the recorded sequence, binary type-1 previews and the TEXT frame included', () => {
    assert.deepEqual(liveCanon(legacy.frames.slice(0, marks.afterMeta)), recordedCanon(recordedFrames('ws_run_a_client_legacy.json')));
  });

  it('sends the feature-flags socket its reply, type-4 previews and the cached run exactly as recorded', () => {
    assert.deepEqual(liveCanon(meta.frames.slice(0, marks.meta)), recordedCanon(recordedFrames('ws_run_a_client_feature_flags.json')));
  });

  it('sends a bystander only the broadcasts (status and the TEXT frame)', () => {
    assert.deepEqual(liveCanon(bystander.frames.slice(0, marks.bystanderAfterMeta)), recordedCanon(recordedFrames('ws_run_a_bystander.json')));
  });

  it('stores history for run A as recorded (prompt 5-array, outputs in set order 4, 6, 3, status messages, meta)', () => {
    assert.equal(canonBody(responses.historyA), canonBody(at(recording('history_run_a.json'), 'body')));
  });

  it('runs LoadImage of root and subfolder uploads in the recorded order (13, 14, 10, 11, 12) with the recorded history', () => {
    assert.deepEqual(liveCanon(legacy.frames.slice(marks.afterMeta, marks.afterB)), recordedCanon(recordedFrames('ws_run_b_loadimage.json')));
    assert.equal(canonBody(responses.historyB), canonBody(at(recording('history_run_b.json'), 'body')));
  });

  it('re-runs everything after a different prompt (cache only against the previous prompt): new files _00003_/_00004_', () => {
    assert.deepEqual(liveCanon(legacy.frames.slice(marks.afterB, marks.afterAgain)), recordedCanon(recordedFrames('ws_run_a_again_cached.json')));
    assert.equal(canonBody(responses.historyAgain), canonBody(at(recording('history_run_a_cached.json'), 'body')));
  });

  it('wrote real PNG files where the outputs say, and the cached run wrote none', () => {
    const out = fs.readdirSync(path.join(sim.folders.output, 'research')).sort();
    assert.deepEqual(out, ['api_test_00001_.png', 'api_test_00002_.png', 'api_test_00003_.png', 'api_test_00004_.png', 'loaded_00001_.png', 'nested_00001_.png']);
    assert.equal(fs.readdirSync(sim.folders.temp).length, 4);
  });
});

describe('ComfySimulator replay: SaveImage file bytes', function () {
  this.timeout(60_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  it('writes a PNG byte-identical to the one ComfyUI wrote (same pixels, prompt and workflow chunks)', async () => {
    const wf = workflow('workflow_a_api.json') as Record<string, Record<string, unknown>>;
    // The recorded file's prompt chunk carries SaveImageWebsocket's IS_CHANGED time; a client may pin it.
    wf['7'].is_changed = [1795876529.1135519];
    const client = await SocketRecorder.open(sim.wsUrl, 'pin');
    const r = await postPrompt(sim.url, { prompt: wf, client_id: 'pin', extra_data: { extra_pnginfo: { workflow: { note: 'research' } } } });
    await client.waitForDone(at(r.body, 'prompt_id') as string);
    await client.close();
    const res = await fetch(`${sim.url}/view?filename=api_test_00001_.png&subfolder=research&type=output`);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(bytes.equals(fs.readFileSync(path.join(RECORDINGS, 'view_saveimage_output.png'))), 'SaveImage output differs from view_saveimage_output.png');
  });
});

describe('ComfySimulator replay: runtime execution_error', function () {
  this.timeout(60_000);
  let sim: ComfySimulator;
  let client: SocketRecorder;
  before(async () => {
    sim = await startComfySimulator();
    client = await SocketRecorder.open(sim.wsUrl, LEGACY);
  });
  after(async () => {
    await client?.close();
    await sim?.close();
  });

  it('reports a SaveImage prefix leaving the output folder as the recorded execution_error, after a cached node', async () => {
    const prior = at(recording('invalid_prompts.json'), 'one_good_one_bad_output', 'request') as PyDict;
    await consumeNumbers(sim, 18);
    const first = await postPrompt(sim.url, pyDumps(new Map([...prior, ['client_id', LEGACY]])));
    assert.equal(first.status, 200);
    await client.waitForDone(at(first.body, 'prompt_id') as string);
    await consumeNumbers(sim, 1);
    const mark = client.frames.length;
    const prompt = at(recording('history_runtime_error.json'), 'body');
    const recordedPrompt = at([...(prompt as PyDict).values()][0], 'prompt', 2);
    const r = await postPrompt(sim.url, pyDumps(new Map<string, PyValue>([['prompt', recordedPrompt], ['client_id', LEGACY]])));
    const id = at(r.body, 'prompt_id') as string;
    await client.waitForDone(id);
    const normalise = (s: string) => s.replace(/full_output_folder: [^\\]*\\n/, 'full_output_folder: <dir>\\n').replace(/output_dir: [^\\]*\\n/, 'output_dir: <dir>\\n').replace(/commonpath: [^\\]*\\n/, 'commonpath: <dir>\\n');
    assert.deepEqual(liveCanon(client.frames.slice(mark)).map(normalise), recordedCanon(recordedFrames('ws_runtime_execution_error.json')).map(normalise));
    const history = await getJson(`${sim.url}/history/${id}`);
    assert.equal(normalise(canonBody(history)), normalise(canonBody(at(recording('history_runtime_error.json'), 'body'))));
    const error = client.messages('execution_error')[0];
    assert.match(at(error, 'exception_message') as string, new RegExp(`output_dir: ${sim.folders.output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
  });
});

describe('ComfySimulator replay: queue, front/number, delete, targeted and global interrupt, clear', function () {
  this.timeout(90_000);
  let sim: ComfySimulator;
  let client: SocketRecorder;
  let bystander: SocketRecorder;
  const log: Record<string, PyValue> = {};
  const ids: string[] = [];

  before(async () => {
    sim = await startComfySimulator({ classDelayMs: { ImageBlur: 400 } });
    bystander = await SocketRecorder.open(sim.wsUrl, 'bystander-q');
    client = await SocketRecorder.open(sim.wsUrl, LEGACY);
    const recordedQueue = recording('queue_while_running.json');
    const prompts = [...(at(recordedQueue, 'queue_running') as PyValue[]), ...(at(recordedQueue, 'queue_pending') as PyValue[])].map((i) => at(i, 2));
    const byColor = (c: number) => prompts.find((p) => at(p, '1', 'inputs', 'color') === c)!;
    // Bodies as text, so the prompt keeps the recorded key order ("9" after "22"), as a Python client sends it.
    const body = (prompt: PyValue, extra: [string, PyValue][] = []) => pyDumps(new Map<string, PyValue>([['prompt', prompt], ['client_id', LEGACY], ...extra]));
    await consumeNumbers(sim, 21);
    // The recording interrupted s1 and s4 while node 20 ran. Holding node 20 running (silently) until
    // the requests below are answered makes that so, whatever the speed of the node and of this machine.
    sim.stall({ atNode: '20', whileRunning: true });
    const s1 = await postPrompt(sim.url, body(byColor(1)));
    ids.push(at(s1.body, 'prompt_id') as string);
    await client.waitFor((f) => isText(f, 'executing') && (f.msg.get('data') as PyDict).get('node') === '20');
    log.post_s1 = s1.body;
    const s2 = await postPrompt(sim.url, body(byColor(2)));
    const s3 = await postPrompt(sim.url, body(byColor(3)));
    const s4 = await postPrompt(sim.url, body(byColor(4), [['front', true]]));
    const s5 = await postPrompt(sim.url, body(byColor(5), [['number', 0.5], ['prompt_id', 'my-own-id-0001']]));
    Object.assign(log, { post_s2: s2.body, post_s3: s3.body, post_s4_front: s4.body, post_s5_number_and_own_id: s5.body });
    ids.push(...[s2, s3, s4, s5].map((r) => at(r.body, 'prompt_id') as string));
    log.get_queue_running = await getJson(`${sim.url}/queue`);
    log.get_prompt_while_running = await getJson(`${sim.url}/prompt`);
    log.post_queue_delete_s3 = (await fetch(`${sim.url}/queue`, { method: 'POST', body: JSON.stringify({ delete: [ids[2]] }) })).status;
    log.interrupt_not_running_s2 = (await fetch(`${sim.url}/interrupt`, { method: 'POST', body: JSON.stringify({ prompt_id: ids[1] }) })).status;
    log.interrupt_running_s1 = (await fetch(`${sim.url}/interrupt`, { method: 'POST', body: JSON.stringify({ prompt_id: ids[0] }) })).status;
    await eventually(() => sim.state().fired.some((f) => f.fault === 'stall' && f.promptId === ids[0]), 's1 is held in node 20');
    sim.stall({ atNode: '20', whileRunning: true });
    sim.clearStall({ heldOnly: true });
    await client.waitForDone(ids[0]);
    await client.waitFor((f) => isText(f, 'executing') && (f.msg.get('data') as PyDict).get('node') === '20' && (f.msg.get('data') as PyDict).get('prompt_id') === ids[3]);
    log.queue_after_s1 = await getJson(`${sim.url}/queue`);
    log.post_queue_clear = (await fetch(`${sim.url}/queue`, { method: 'POST', body: JSON.stringify({ clear: true }) })).status;
    log.interrupt_global_no_body = (await fetch(`${sim.url}/interrupt`, { method: 'POST' })).status;
    sim.clearStall();
    await client.waitForDone(ids[3]);
    log.queue_at_end = await getJson(`${sim.url}/queue`);
    await bystander.waitFor((f) => isText(f, 'status') && at(f.msg, 'data', 'status', 'exec_info', 'queue_remaining') === 0, 30_000, 1);
    log.history_interrupted = await getJson(`${sim.url}/history/${ids[0]}`);
  });

  after(async () => {
    await Promise.all([client?.close(), bystander?.close()]);
    await sim?.close();
  });

  it('echoes numbers (counter, -counter for front, float for number) and keeps a client prompt_id', () => {
    const recorded = recording('queue_interrupt_log.json');
    for (const key of ['post_s1', 'post_s2', 'post_s3', 'post_s4_front', 'post_s5_number_and_own_id']) {
      assert.equal(canonBody(log[key]), canonBody(at(recorded, key)), key);
    }
  });

  it('shows GET /queue with the running 5-array and the raw heap order [-24, 0.5, 22, 23]', () => {
    assert.equal(canonBody(log.get_queue_running), canonBody(recording('queue_while_running.json')));
    assert.equal(canonBody(log.get_prompt_while_running), canonBody(at(recording('queue_interrupt_log.json'), 'get_prompt_while_running')));
  });

  it('deletes, ignores an interrupt for a pending prompt, interrupts the running one at the next node, clears', () => {
    const recorded = recording('queue_interrupt_log.json');
    for (const key of ['post_queue_delete_s3', 'interrupt_not_running_s2', 'interrupt_running_s1', 'post_queue_clear', 'interrupt_global_no_body']) {
      assert.equal(log[key], at(recorded, key, 0), key);
    }
    const after = log.queue_after_s1 as PyDict;
    const summary = new Map<string, PyValue>([
      ['running', (at(after, 'queue_running') as PyValue[]).map((i) => at(i, 1))],
      ['pending', (at(after, 'queue_pending') as PyValue[]).map((i) => [at(i, 0), at(i, 1)])],
    ]);
    assert.equal(canonBody(summary), canonBody(at(recorded, 'queue_after_s1')));
    assert.equal(canonBody(log.queue_at_end), canonBody(at(recorded, 'queue_at_end')));
  });

  it('sends the client the recorded sequence (interrupted at node 21 with executed ["1","20"], twice)', () => {
    const c = new Canon(['my-own-id-0001']);
    const live = client.frames.slice(1).map((f) => c.live(f));
    const r = new Canon(['my-own-id-0001']);
    assert.deepEqual(live, recordedFrames('ws_queue_interrupt_client.json').map((f) => r.recorded(f)));
  });

  it('sends a bystander only status broadcasts', () => {
    assert.deepEqual(liveCanon(bystander.frames.slice(1)), recordedCanon(recordedFrames('ws_queue_interrupt_bystander.json')));
  });

  it('stores the interrupted prompt as status error, completed false, with execution_interrupted', () => {
    assert.equal(canonBody(log.history_interrupted), canonBody(at(recording('history_interrupted.json'), 'body')));
  });
});

describe('ComfySimulator replay: reconnect, duplicate clientId, prompt without client_id', function () {
  this.timeout(60_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator({ classDelayMs: { ImageBlur: 150 } })));
  after(async () => sim?.close());

  const slow = {
    '1': { class_type: 'EmptyImage', inputs: { width: 256, height: 256, batch_size: 1, color: 7 } },
    '20': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 31, sigma: 10.0 } },
    '21': { class_type: 'ImageBlur', inputs: { image: ['20', 0], blur_radius: 31, sigma: 10.0 } },
    '9': { class_type: 'SaveImage', inputs: { images: ['21', 0], filename_prefix: 'research/slow' } },
  };

  it('greets a reconnecting socket with status (sid) and executing {node} without prompt_id, then continues', async () => {
    const id = 'reconnect-1f6500e1';
    const first = await SocketRecorder.open(sim.wsUrl, id);
    // Node 20 runs until the second socket is there, however fast it would have been.
    sim.stall({ atNode: '20', whileRunning: true });
    const r = await postPrompt(sim.url, { prompt: slow, client_id: id });
    const pid = at(r.body, 'prompt_id') as string;
    await first.waitFor((f) => isText(f, 'executing') && (f.msg.get('data') as PyDict).get('node') === '20');
    await first.close();
    const second = await SocketRecorder.open(sim.wsUrl, id);
    sim.clearStall();
    await second.waitForDone(pid);
    await second.close();
    const recorded = recording('ws_reconnect_mid_run.json');
    assert.deepEqual(liveCanon(first.frames), recordedCanon(at(recorded, 'before_disconnect') as PyValue[]));
    assert.deepEqual(liveCanon(second.frames), recordedCanon(at(recorded, 'after_reconnect') as PyValue[]));
  });

  it('makes the second socket with the same clientId deaf once the first closes', async () => {
    const id = 'dup-fbe47016';
    const a = await SocketRecorder.open(sim.wsUrl, id);
    const b = await SocketRecorder.open(sim.wsUrl, id);
    await a.close();
    const r = await postPrompt(sim.url, { prompt: { '1': slow['1'], '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'dup' } } }, client_id: id });
    const pid = at(r.body, 'prompt_id') as string;
    await eventually(async () => ((await getJson(`${sim.url}/history/${pid}`)) as PyDict).size > 0, 'the prompt is in the history');
    const history = (await getJson(`${sim.url}/history/${pid}`)) as PyDict;
    assert.equal(history.size, 1, 'prompt finished per history');
    await b.close();
    assert.deepEqual(liveCanon(b.frames), recordedCanon(at(recording('ws_duplicate_client_id.json'), 'frames_on_second_socket_B') as PyValue[]));
  });

  it('broadcasts progress, progress_state and previews of a prompt without client_id, and nothing else of it', async () => {
    const listener = await SocketRecorder.open(sim.wsUrl, 'listener');
    const r = await postPrompt(sim.url, {
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 2, color: 0 } },
        '2': { class_type: 'SaveImageWebsocket', inputs: { images: ['3', 0] } },
        '3': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'nearest-exact', width: 16, height: 16, crop: 'disabled' } },
      },
    });
    assert.equal(r.status, 200);
    await listener.waitFor((f) => isText(f, 'status') && at(f.msg, 'data', 'status', 'exec_info', 'queue_remaining') === 0, 30_000, 2);
    await listener.close();
    const shape = (lines: string[]) => lines.map((l) => l.replace(/"value": [^,]*, "max": [^,]*,/g, '').replace(/"binary": 1.*$/, '"binary": 1'));
    assert.deepEqual(shape(liveCanon(listener.frames.slice(1))), shape(recordedCanon(recordedFrames('ws_prompt_without_client_id_listener.json'))));
  });
});
