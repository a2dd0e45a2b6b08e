import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { type ObjectInfo } from '../../src/api/comfyTypes';
import { convertUiWorkflow } from '../../src/core/convert/convertUiWorkflow';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { decodePng } from '../../src/base/png';
import { parsePyJson, pyDumps, type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import { at, getJson, postPrompt, SocketRecorder } from './helpers/comfyReplay';
import { spawnCli, tempDir } from './helpers/runHarness';
import { cliPath, eventually } from './helpers/runcomfyTestKit';

/**
 * The simulator's `/object_info` is the recorded 0.3.64 reply, and the classes it cannot compute run
 * as imitations: validated as ComfyUI validates, timed, with sampler progress and previews, and with
 * a real file of each saved media kind.
 */

const recordingFile = path.resolve(__dirname, '../../../recordings/comfyui-0.3.64/object_info.json');
const MODELS = { checkpoints: ['v1-5-pruned-emaonly-fp16.safetensors'] };

type UiNode = Record<string, unknown>;

/** A small UI-format text-to-image workflow, as ComfyUI's Save writes it, with image, animation, audio and latent outputs. */
function textToImageUi(ckpt: string, sampler = 'euler'): Record<string, unknown> {
  const out = (name: string, type: string, links: number[]) => ({ name, type, links });
  const inp = (name: string, type: string, link: number | null) => ({ name, type, link });
  const nodes: UiNode[] = [
    { id: 1, type: 'CheckpointLoaderSimple', mode: 0, inputs: [], outputs: [out('MODEL', 'MODEL', [1]), out('CLIP', 'CLIP', [2, 3]), out('VAE', 'VAE', [4, 9])], widgets_values: [ckpt] },
    { id: 2, type: 'CLIPTextEncode', mode: 0, title: 'Positive', inputs: [inp('clip', 'CLIP', 2)], outputs: [out('CONDITIONING', 'CONDITIONING', [5])], widgets_values: ['a lighthouse at dusk'] },
    { id: 3, type: 'CLIPTextEncode', mode: 0, title: 'Negative', inputs: [inp('clip', 'CLIP', 3)], outputs: [out('CONDITIONING', 'CONDITIONING', [6])], widgets_values: ['blurry'] },
    { id: 4, type: 'EmptyLatentImage', mode: 0, inputs: [], outputs: [out('LATENT', 'LATENT', [7])], widgets_values: [96, 64, 2] },
    {
      id: 5,
      type: 'KSampler',
      mode: 0,
      inputs: [inp('model', 'MODEL', 1), inp('positive', 'CONDITIONING', 5), inp('negative', 'CONDITIONING', 6), inp('latent_image', 'LATENT', 7)],
      outputs: [out('LATENT', 'LATENT', [8, 12])],
      widgets_values: [123456789, 'randomize', 4, 7.5, sampler, 'normal', 1],
    },
    { id: 6, type: 'VAEDecode', mode: 0, inputs: [inp('samples', 'LATENT', 8), inp('vae', 'VAE', 4)], outputs: [out('IMAGE', 'IMAGE', [10, 11, 16])] },
    { id: 7, type: 'SaveImage', mode: 0, inputs: [inp('images', 'IMAGE', 10)], outputs: [], widgets_values: ['t2i/still'] },
    { id: 8, type: 'SaveAnimatedPNG', mode: 0, inputs: [inp('images', 'IMAGE', 11)], outputs: [], widgets_values: ['t2i/anim', 6, 4] },
    { id: 9, type: 'SaveLatent', mode: 0, inputs: [inp('samples', 'LATENT', 12)], outputs: [], widgets_values: ['t2i/latent'] },
    { id: 10, type: 'EmptyLatentAudio', mode: 0, inputs: [], outputs: [out('LATENT', 'LATENT', [13])], widgets_values: [2, 1] },
    { id: 11, type: 'VAEDecodeAudio', mode: 0, inputs: [inp('samples', 'LATENT', 13), inp('vae', 'VAE', 9)], outputs: [out('AUDIO', 'AUDIO', [14, 15])] },
    { id: 12, type: 'SaveAudioMP3', mode: 0, inputs: [inp('audio', 'AUDIO', 14)], outputs: [], widgets_values: ['t2i/sound', 'V0'] },
    { id: 13, type: 'SaveAudioOpus', mode: 0, inputs: [inp('audio', 'AUDIO', 15)], outputs: [], widgets_values: ['t2i/sound', '128k'] },
    { id: 14, type: 'CreateVideo', mode: 0, inputs: [inp('images', 'IMAGE', 16)], outputs: [out('VIDEO', 'VIDEO', [17])], widgets_values: [8] },
    { id: 15, type: 'SaveVideo', mode: 0, inputs: [inp('video', 'VIDEO', 17)], outputs: [], widgets_values: ['t2i/clip', 'auto', 'auto'] },
  ];
  const links = [
    [1, 1, 0, 5, 0, 'MODEL'],
    [2, 1, 1, 2, 0, 'CLIP'],
    [3, 1, 1, 3, 0, 'CLIP'],
    [4, 1, 2, 6, 1, 'VAE'],
    [5, 2, 0, 5, 1, 'CONDITIONING'],
    [6, 3, 0, 5, 2, 'CONDITIONING'],
    [7, 4, 0, 5, 3, 'LATENT'],
    [8, 5, 0, 6, 0, 'LATENT'],
    [9, 1, 2, 11, 1, 'VAE'],
    [10, 6, 0, 7, 0, 'IMAGE'],
    [11, 6, 0, 8, 0, 'IMAGE'],
    [12, 5, 0, 9, 0, 'LATENT'],
    [13, 10, 0, 11, 0, 'LATENT'],
    [14, 11, 0, 12, 0, 'AUDIO'],
    [15, 11, 0, 13, 0, 'AUDIO'],
    [16, 6, 0, 14, 0, 'IMAGE'],
    [17, 14, 0, 15, 0, 'VIDEO'],
  ];
  return { last_node_id: 15, last_link_id: 17, nodes: nodes.map((n, order) => ({ order, properties: {}, ...n })), links, version: 0.4 };
}

async function objectInfoOf(sim: ComfySimulator): Promise<ObjectInfo> {
  return (await (await fetch(`${sim.url}/object_info`)).json()) as ObjectInfo;
}

async function view(sim: ComfySimulator, ref: PyValue): Promise<Buffer> {
  const q = new URLSearchParams({ filename: at(ref, 'filename') as string, subfolder: at(ref, 'subfolder') as string, type: at(ref, 'type') as string });
  const res = await fetch(`${sim.url}/view?${q.toString()}`);
  assert.equal(res.status, 200, `GET /view?${q.toString()}`);
  return Buffer.from(await res.arrayBuffer());
}

describe('ComfySimulator: the recorded /object_info and the classes it imitates', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;

  before(async () => {
    sim = await startComfySimulator({ models: MODELS });
  });
  after(async () => sim?.close());

  it('serves the recorded 0.3.64 /object_info byte for byte, then the classes it adds', async () => {
    const plain = await startComfySimulator();
    try {
      const recorded = fs.readFileSync(recordingFile, 'utf8').trimEnd();
      const text = await (await fetch(`${plain.url}/object_info`)).text();
      assert.ok(text.startsWith(`${recorded.slice(0, -1)}, `), 'every recorded class, in the recorded order and bytes');
      const served = parsePyJson(text) as PyDict;
      const recordedNames = [...(parsePyJson(recorded) as PyDict).keys()];
      assert.equal(recordedNames.length, 383);
      assert.deepEqual([...served.keys()].slice(recordedNames.length), ['SimToneAudio', 'SimCubeMesh', 'VHS_VideoCombine']);
      for (const name of ['KSampler', 'ImageBlur', 'SaveVideo']) {
        assert.equal(await (await fetch(`${plain.url}/object_info/${name}`)).text(), pyDumps(new Map([[name, served.get(name) ?? null]])), name);
      }
    } finally {
      await plain.close();
    }
  });

  it('lists its model files in /models and in the loaders’ combos', async () => {
    assert.deepEqual(await getJson(`${sim.url}/models/checkpoints`), MODELS.checkpoints);
    const entry = at(await getJson(`${sim.url}/object_info/CheckpointLoaderSimple`), 'CheckpointLoaderSimple', 'input', 'required', 'ckpt_name', 0);
    assert.deepEqual(entry, MODELS.checkpoints);
  });

  it('runs a converted UI-format text-to-image workflow of imitated classes to success, every output downloadable', async () => {
    const { prompt } = convertUiWorkflow(textToImageUi(MODELS.checkpoints[0]), await objectInfoOf(sim));
    assert.equal(prompt['5'].inputs.seed, 123456789, 'the seed as saved');
    const socket = await SocketRecorder.open(sim.wsUrl, 't2i', { featureFlags: true });
    const r = await postPrompt(sim.url, { prompt, client_id: 't2i' });
    assert.equal(r.status, 200, r.text);
    const id = at(r.body, 'prompt_id') as string;
    await socket.waitForDone(id);
    await socket.close();
    const history = at(await getJson(`${sim.url}/history/${id}`), id) as PyDict;
    assert.equal(at(history, 'status', 'status_str'), 'success');

    const progress = socket.messages('progress').filter((d) => at(d, 'node') === '5');
    assert.deepEqual(
      progress.map((d) => [at(d, 'value'), at(d, 'max')]),
      [1, 2, 3, 4].map((v) => [v, 4]),
      'one progress message per sampler step',
    );
    const previews = socket.frames.filter((f): f is { kind: 'binary'; data: Buffer } => f.kind === 'binary' && f.data.readUInt32BE(0) === 4);
    assert.equal(previews.length, 4, 'one latent preview per step');
    for (const p of previews) {
      const metaLength = p.data.readUInt32BE(4);
      const meta = parsePyJson(p.data.subarray(8, 8 + metaLength).toString('utf8'));
      assert.equal(at(meta, 'image_type'), 'image/jpeg');
      assert.equal(at(meta, 'node_id'), '5');
      assert.deepEqual([...p.data.subarray(8 + metaLength, 8 + metaLength + 3)], [0xff, 0xd8, 0xff], 'a JPEG');
    }

    const outputs = at(history, 'outputs') as PyDict;
    const executed = new Map(socket.messages('executed').map((d) => [at(d, 'node') as string, pyDumps(at(d, 'output'))]));
    for (const [node, ui] of outputs) assert.equal(executed.get(node), pyDumps(ui), `executed ${node} = history`);
    assert.deepEqual([...outputs.keys()].sort(), ['12', '13', '15', '7', '8', '9']);

    const still = at(outputs, '7', 'images') as PyValue[];
    assert.equal(still.length, 2, 'the batch of two');
    const png = decodePng(await view(sim, still[0]));
    assert.deepEqual([png.width, png.height], [96, 64], 'the latent size');
    assert.equal(at(still[0], 'type'), 'output');

    assert.deepEqual(at(outputs, '8', 'animated'), [true]);
    const apng = await view(sim, at(outputs, '8', 'images', 0));
    assert.ok(apng.includes(Buffer.from('acTL')) && apng.includes(Buffer.from('fdAT')), 'an animated PNG of two frames');
    assert.deepEqual([decodePng(apng).width, decodePng(apng).height], [96, 64]);

    const latent = await view(sim, at(outputs, '9', 'latents', 0));
    const header = JSON.parse(latent.subarray(8, 8 + Number(latent.readBigUInt64LE(0))).toString('utf8')) as Record<string, { shape?: number[] }>;
    assert.deepEqual(header.latent_tensor.shape, [2, 4, 8, 12]);
    assert.match(at(outputs, '9', 'latents', 0, 'filename') as string, /^latent_00001_\.latent$/);

    const mp3 = await view(sim, at(outputs, '12', 'audio', 0));
    assert.deepEqual([mp3[0], mp3[1] & 0xe0], [0xff, 0xe0], 'an MPEG audio frame');
    assert.match(at(outputs, '12', 'audio', 0, 'filename') as string, /\.mp3$/);
    assert.deepEqual(at(outputs, '15', 'animated'), [true], 'SaveVideo reports ui.PreviewVideo');
    const mp4 = await view(sim, at(outputs, '15', 'images', 0));
    assert.equal(mp4.subarray(4, 8).toString('latin1'), 'ftyp');
    assert.match(at(outputs, '15', 'images', 0, 'filename') as string, /^clip_00001_\.mp4$/);
    const stsz = mp4.indexOf('stsz');
    assert.ok(mp4.includes(Buffer.from('avc1')) && stsz > 0, 'an H.264 track');
    assert.equal(mp4.readUInt32BE(stsz + 12), 2, 'one sample per image of the batch');
    const opus = await view(sim, at(outputs, '13', 'audio', 0));
    assert.equal(opus.subarray(0, 4).toString('latin1'), 'OggS');
    assert.equal(opus.subarray(28, 36).toString('latin1'), 'OpusHead');
  });

  it('gives another picture for another seed, and the same for the same inputs', async () => {
    const colour = async (seed: number) => {
      const { prompt } = convertUiWorkflow(textToImageUi(MODELS.checkpoints[0]), await objectInfoOf(sim));
      prompt['5'].inputs.seed = seed;
      const r = await postPrompt(sim.url, { prompt: { '1': prompt['1'], '2': prompt['2'], '3': prompt['3'], '4': prompt['4'], '5': prompt['5'], '6': prompt['6'], '7': prompt['7'] } });
      assert.equal(r.status, 200, r.text);
      const id = at(r.body, 'prompt_id') as string;
      let history: PyDict | undefined;
      await eventually(async () => (history = ((await getJson(`${sim.url}/history/${id}`)) as PyDict).get(id) as PyDict | undefined) !== undefined, `prompt ${id} is in the history`);
      const png = decodePng(await view(sim, at(history, 'outputs', '7', 'images', 0)));
      return [...png.pixels.subarray(0, 3)];
    };
    const a = await colour(1);
    assert.notDeepEqual(await colour(2), a);
    assert.deepEqual(await colour(1), a);
  });

  it('refuses a combo value as 0.3.64 does: model files, long lists and v3 COMBO options', async () => {
    const plain = await startComfySimulator();
    try {
      const { prompt } = convertUiWorkflow(textToImageUi('missing.safetensors', 'magic'), await objectInfoOf(plain));
      prompt['14'] = { class_type: 'UpscaleModelLoader', inputs: { model_name: 'x4.pth' } };
      prompt['15'] = { class_type: 'ImageUpscaleWithModel', inputs: { upscale_model: ['14', 0], image: ['6', 0] } };
      prompt['16'] = { class_type: 'PreviewImage', inputs: { images: ['15', 0] } };
      const r = await postPrompt(plain.url, { prompt });
      assert.equal(r.status, 400);
      assert.equal(at(r.body, 'error', 'type'), 'prompt_outputs_failed_validation');
      const errorsOf = (node: string) => at(r.body, 'node_errors', node, 'errors') as PyDict[];
      const ckpt = errorsOf('1')[0];
      assert.equal(at(ckpt, 'type'), 'value_not_in_list');
      assert.equal(at(ckpt, 'details'), "ckpt_name: 'missing.safetensors' not in []");
      const sampler = errorsOf('5').find((e) => at(e, 'extra_info', 'input_name') === 'sampler_name')!;
      assert.match(at(sampler, 'details') as string, /^sampler_name: 'magic' not in \(list of length \d+\)$/);
      assert.equal(at(sampler, 'extra_info', 'input_config'), null);
      assert.equal(at(errorsOf('14')[0], 'details'), "model_name: 'x4.pth' not in []");
    } finally {
      await plain.close();
    }
  });
});

describe('npm start: the UI-format samples queue on the simulator (node dist/simulator.js, node dist/cli.js)', function () {
  this.timeout(60_000);
  const root = path.resolve(__dirname, '../../..');
  let simulator: ChildProcess;
  let localComfyUrl: string;
  let work: string;

  before(async () => {
    simulator = spawn(process.execPath, [path.join(root, 'dist/simulator.js'), '--step-ms', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      simulator.once('exit', (code) => reject(new Error(`the simulator exited with code ${code}`)));
      readline.createInterface({ input: simulator.stdout! }).once('line', resolve);
    });
    localComfyUrl = (JSON.parse(line) as { localComfyUrl: string }).localComfyUrl;
    work = tempDir('runcomfy-samples-');
  });
  after(() => {
    simulator?.kill();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  for (const sample of ['text-to-image-ui', 'invert-photo-ui']) {
    it(`queues samples/${sample}/workflow.json and saves its image`, async () => {
      const file = path.join(root, 'samples', sample, 'workflow.json');
      const { code, stdout, stderr } = await spawnCli(cliPath, ['queue', file, '--comfy-url', localComfyUrl, '--out', work, '--json'], { cwd: work }).done;
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as { status: string; outputs: { path: string }[] };
      assert.equal(result.status, 'success');
      assert.equal(result.outputs.length, 1);
      assert.ok(decodePng(fs.readFileSync(result.outputs[0].path)).width > 0);
    });
  }
});
