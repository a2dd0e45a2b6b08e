import * as assert from 'node:assert/strict';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { encodeWav } from '../../src/simulator/comfy/mediaEncoders';
import { decodePng } from '../../src/base/png';
import { PyFloat, type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import { at, getJson, isText, postPrompt, SocketRecorder, upload } from './helpers/comfyReplay';

/** Every output kind a client must handle, produced by real node runs and downloadable through /view. */

async function run(sim: ComfySimulator, prompt: object, extra: object = {}): Promise<{ id: string; socket: SocketRecorder; history: PyDict }> {
  const socket = await SocketRecorder.open(sim.wsUrl, 'nodes');
  const r = await postPrompt(sim.url, { prompt, client_id: 'nodes', ...extra });
  assert.equal(r.status, 200, r.text);
  const id = at(r.body, 'prompt_id') as string;
  await socket.waitForDone(id);
  await socket.close();
  return { id, socket, history: at(await getJson(`${sim.url}/history/${id}`), id) as PyDict };
}

async function view(sim: ComfySimulator, ref: PyValue): Promise<{ status: number; type: string | null; body: Buffer }> {
  const q = new URLSearchParams({ filename: at(ref, 'filename') as string, subfolder: at(ref, 'subfolder') as string, type: at(ref, 'type') as string });
  const res = await fetch(`${sim.url}/view?${q.toString()}`);
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

describe('ComfySimulator nodes: every output kind', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  let outputs: PyDict;
  let executed: Map<string, PyDict>;

  before(async () => {
    sim = await startComfySimulator();
    const wav = encodeWav([Float32Array.from({ length: 800 }, (_, i) => Math.sin(i / 5) * 0.5)], 8000);
    assert.equal((await upload(sim.url, {}, { filename: 'voice.wav', data: wav })).status, 200);
    const result = await run(sim, {
      '1': { class_type: 'EmptyImage', inputs: { width: 24, height: 16, batch_size: 3, color: 0x10a0f0 } },
      '2': { class_type: 'SaveAnimatedWEBP', inputs: { images: ['1', 0], filename_prefix: 'kinds/anim', fps: 6.0, lossless: true, quality: 80, method: 'default' } },
      '3': { class_type: 'SimToneAudio', inputs: { seconds: 0.25, frequency: 440.0, sample_rate: 16000 } },
      '4': { class_type: 'SaveAudio', inputs: { audio: ['3', 0], filename_prefix: 'kinds/tone' } },
      '5': { class_type: 'VHS_VideoCombine', inputs: { images: ['1', 0], frame_rate: 8, loop_count: 0, filename_prefix: 'kinds/clip', format: 'image/gif', pingpong: false, save_output: false } },
      '6': { class_type: 'VHS_VideoCombine', inputs: { images: ['1', 0], frame_rate: 12, loop_count: 1, filename_prefix: 'kinds/clip', format: 'image/webp', pingpong: true, save_output: true } },
      '7': { class_type: 'SimCubeMesh', inputs: { size: 2.0, batch_size: 1 } },
      '8': { class_type: 'SaveGLB', inputs: { mesh: ['7', 0], filename_prefix: 'kinds/mesh' } },
      '9': { class_type: 'LoadAudio', inputs: { audio: 'voice.wav' } },
      '10': { class_type: 'SaveAudio', inputs: { audio: ['9', 0], filename_prefix: 'kinds/voice' } },
      '11': { class_type: 'GetImageSize', inputs: { image: ['1', 0] } },
      '12': { class_type: 'PreviewAny', inputs: { source: ['11', 2] } },
    });
    outputs = at(result.history, 'outputs') as PyDict;
    executed = new Map(result.socket.messages('executed').map((d) => [at(d, 'node') as string, at(d, 'output') as PyDict]));
  });
  after(async () => sim?.close());

  it('reports SaveAnimatedWEBP as images + animated [true], a real animated WebP', async () => {
    const ui = outputs.get('2') as PyDict;
    assert.deepEqual([...ui.keys()], ['images', 'animated']);
    assert.deepEqual(ui.get('animated'), [true]);
    const file = await view(sim, at(ui, 'images', 0));
    assert.equal(file.status, 200);
    assert.equal(file.type, 'image/webp');
    assert.equal(file.body.toString('latin1', 0, 4) + file.body.toString('latin1', 8, 16), 'RIFFWEBPVP8X');
    assert.equal((file.body.toString('latin1').match(/ANMF/g) ?? []).length, 3, 'three frames');
  });

  it('reports SaveAudio as audio entries with FLAC files (from a simulator tone and from an uploaded WAV)', async () => {
    for (const node of ['4', '10']) {
      const ref = at(outputs.get(node), 'audio', 0);
      assert.match(at(ref, 'filename') as string, /_00001_\.flac$/);
      const file = await view(sim, ref);
      assert.equal(file.type, 'audio/flac');
      assert.equal(file.body.toString('latin1', 0, 4), 'fLaC');
      const sampleRate = Number(file.body.readBigUInt64BE(18) >> 44n);
      assert.equal(sampleRate, node === '4' ? 16000 : 8000);
    }
  });

  it('reports VHS_VideoCombine as gifs entries with format, frame_rate, workflow and fullpath; temp when save_output is false', async () => {
    const temp = at(outputs.get('5'), 'gifs', 0) as PyDict;
    assert.deepEqual([...temp.keys()], ['filename', 'subfolder', 'type', 'format', 'frame_rate', 'workflow', 'fullpath']);
    assert.equal(temp.get('type'), 'temp');
    assert.equal(temp.get('format'), 'image/gif');
    assert.ok(temp.get('frame_rate') instanceof PyFloat);
    assert.equal(temp.get('filename'), 'clip_00001.gif');
    assert.equal(temp.get('workflow'), 'clip_00001.png');
    const gif = await view(sim, temp);
    assert.equal(gif.body.toString('latin1', 0, 6), 'GIF89a');
    const saved = at(outputs.get('6'), 'gifs', 0) as PyDict;
    assert.equal(saved.get('type'), 'output');
    assert.equal(saved.get('format'), 'image/webp');
    const webp = await view(sim, saved);
    assert.equal(webp.body.toString('latin1', 8, 12), 'WEBP');
    const png = await view(sim, new Map<string, PyValue>([...saved, ['filename', saved.get('workflow')!]]));
    assert.ok(decodePng(png.body).text.some(([k]) => k === 'prompt'), 'the workflow PNG carries the prompt');
  });

  it('reports SaveGLB as a 3d entry with a binary glTF file', async () => {
    const ref = at(outputs.get('8'), '3d', 0);
    const file = await view(sim, ref);
    assert.equal(file.type, 'model/gltf-binary');
    assert.equal(file.body.toString('latin1', 0, 4), 'glTF');
    assert.equal(file.body.readUInt32LE(8), file.body.length);
  });

  it('sends executed with the same ui dicts that history stores, and PreviewAny text of an INT', () => {
    for (const [node, ui] of executed) assert.deepEqual(ui, outputs.get(node), node);
    assert.deepEqual(outputs.get('12'), new Map([['text', ['3']]]));
  });
});

describe('ComfySimulator nodes: progress ticks, interrupt at a tick, partial execution, errors at run time', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  before(async () => (sim = await startComfySimulator()));
  after(async () => sim?.close());

  const blur = (color: number) => ({
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1.0 } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'ticks' } },
  });

  it('ticks progress for a configured class, and an interrupt lands on the next tick of the running node', async () => {
    // A thousand ticks: the interrupt lands long before the last one, however slow this machine is.
    sim.configure({ classDelayMs: { ImageBlur: 100_000 }, progressSteps: { ImageBlur: 1000 } });
    try {
      const socket = await SocketRecorder.open(sim.wsUrl, 'ticks');
      const r = await postPrompt(sim.url, { prompt: blur(1), client_id: 'ticks' });
      const id = at(r.body, 'prompt_id') as string;
      await socket.waitFor((f) => isText(f, 'progress') && at(f.msg, 'data', 'value') === 1);
      assert.equal((await fetch(`${sim.url}/interrupt`, { method: 'POST', body: JSON.stringify({ prompt_id: id }) })).status, 200);
      await socket.waitForDone(id);
      await socket.close();
      const progress = socket.messages('progress').map((p) => [at(p, 'node'), at(p, 'value'), at(p, 'max')]);
      assert.deepEqual(progress[0], ['2', 1, 1000]);
      assert.ok(progress.length < 1000, 'stopped before the last tick');
      const interrupted = socket.messages('execution_interrupted')[0];
      assert.equal(at(interrupted, 'node_id'), '2', 'reported on the node that was ticking');
      assert.deepEqual(at(interrupted, 'executed'), ['1']);
    } finally {
      sim.configure({ classDelayMs: { ImageBlur: 40 }, progressSteps: {} });
    }
  });

  it('runs only partial_execution_targets when given', async () => {
    const { history } = await run(
      sim,
      { ...blur(2), '4': { class_type: 'PreviewAny', inputs: { source: 'only me' } } },
      { partial_execution_targets: ['4'] },
    );
    assert.deepEqual([...(at(history, 'outputs') as PyDict).keys()], ['4']);
    assert.deepEqual(at(history, 'prompt', 4), ['4']);
  });

  it('turns an image file that is not an image into the execution_error Pillow would cause', async () => {
    assert.equal((await upload(sim.url, { overwrite: 'true' }, { filename: 'fake.png', data: Buffer.from('not an image at all') })).status, 200);
    const { socket, history } = await run(sim, {
      '1': { class_type: 'LoadImage', inputs: { image: 'fake.png' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
    });
    const error = socket.messages('execution_error')[0];
    assert.equal(at(error, 'exception_type'), 'PIL.UnidentifiedImageError');
    assert.match(at(error, 'exception_message') as string, /^cannot identify image file '.*fake\.png'\n$/);
    assert.equal(at(history, 'status', 'status_str'), 'error');
  });

  it('re-runs a LoadImage whose file changed (IS_CHANGED is the file hash), and caches it when it did not', async () => {
    const red = await (await fetch(`${sim.url}/view?filename=example.png&type=input`)).arrayBuffer();
    await upload(sim.url, { overwrite: 'true' }, { filename: 'changing.png', data: Buffer.from(red) });
    const prompt = { '1': { class_type: 'LoadImage', inputs: { image: 'changing.png' } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } };
    await run(sim, prompt);
    const same = await run(sim, prompt);
    assert.deepEqual(at(same.socket.messages('execution_cached')[0], 'nodes'), ['1', '2']);
    const other = at(same.history, 'outputs', '2', 'images', 0, 'filename') as string;
    const otherBytes = Buffer.from(await (await fetch(`${sim.url}/view?filename=${encodeURIComponent(other)}&type=temp`)).arrayBuffer());
    await upload(sim.url, { overwrite: 'true' }, { filename: 'changing.png', data: Buffer.concat([otherBytes, Buffer.from([0])]) });
    const changed = await run(sim, prompt);
    const cached = at(changed.socket.messages('execution_cached')[0], 'nodes') as PyValue[];
    assert.ok(!cached.includes('1'), 'the changed file is loaded again');
  });
});
