import * as assert from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { ComfySocket } from '../../src/api/comfySocket';
import { type Clock } from '../../src/base/clock';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { workflowFolderPolicy } from '../../src/core/inputPolicy';
import { analyzeWorkflow } from '../../src/core/workflowAnalysis';
import { RunEngine } from '../../src/core/runEngine';
import { RunRegistry } from '../../src/core/runRegistry';
import { runViewFromRecord } from '../../src/core/runView';
import { type RunEvent } from '../../src/core/runEvents';
import { HOSTILE_ENTRIES } from '../../src/simulator/comfy/promptExecutor';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { eventTypes, fastSocket, isInside, listFiles, recordedWorkflow, runEngine, tempDir } from './helpers/runHarness';
import { readRecording, recordingsDir } from './helpers/runRecordings';
import { MEDIA_HEADS, PRIVATE_KEY, writeFile } from './helpers/mediaSamples';
import { eventually } from './helpers/runcomfyTestKit';

function sha(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Two blurs and a save: a prompt a test can hold running (with a stall) while it acts. */
function slowPrompt(color: number): ApiPrompt {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color } },
    '20': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1 } },
    '21': { class_type: 'ImageBlur', inputs: { image: ['20', 0], blur_radius: 3, sigma: 1 } },
    '9': { class_type: 'SaveImage', inputs: { images: ['21', 0], filename_prefix: `slow/c${color}` } },
  };
}

const waitFor = (check: () => boolean | Promise<boolean>, what: string) => eventually(check, what, 20_000);

describe('RunEngine against the ComfyUI simulator', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let out: string;


  before(async () => {
    sim = await startComfySimulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
    out = tempDir('runcomfy-engine-');
  });
  afterEach(() => {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('reports the full event sequence of a run and saves every output once, with run.json', async () => {
    const { result, events } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out, workflowName: 'workflow_a' });
    // Outputs are saved while the run goes on: where their events fall among the others depends on timing.
    assert.strictEqual(events.filter((e) => e.type === 'outputSaved').length, 4);
    assert.deepStrictEqual(eventTypes(events.filter((e) => e.type !== 'outputSaved')), [
      'queued',
      'started',
      'cached',
      'executing 1',
      'executing 2',
      'executing 7',
      'preview',
      'progress',
      'preview',
      'progress',
      'executing 3',
      'executed',
      'executing 4',
      'executed',
      'executing 5',
      'text',
      'executing 6',
      'executed',
      'succeeded',
      'finished',
    ]);
    const executing = events.filter((e): e is Extract<RunEvent, { type: 'executing' }> => e.type === 'executing');
    assert.deepStrictEqual(executing[3].node, { id: '3', classType: 'PreviewImage', title: undefined });
    const progress = events.find((e) => e.type === 'progress');
    assert.deepStrictEqual(progress, { type: 'progress', node: { id: '7', classType: 'SaveImageWebsocket', title: undefined }, value: 0, max: 2 });
    const preview = events.find((e): e is Extract<RunEvent, { type: 'preview' }> => e.type === 'preview');
    assert.strictEqual(preview?.mime, 'image/png');
    assert.strictEqual(preview.image.subarray(1, 4).toString(), 'PNG');
    assert.deepStrictEqual(events.find((e) => e.type === 'text'), { type: 'text', node: { id: '5', classType: 'GetImageSize', title: undefined }, text: 'width: 128, height: 96\n batch size: 2' });

    assert.strictEqual(result.status, 'success');
    assert.strictEqual(result.error, null);
    assert.ok(result.promptId);
    assert.ok(result.runDir && isInside(out, result.runDir));
    assert.deepStrictEqual(
      result.outputs.map((o) => [o.node, o.type, o.subfolder, o.filename.replace(/_temp_[a-z]+_/, '_temp_x_')]),
      [
        ['3', 'temp', '', 'ComfyUI_temp_x_00001_.png'],
        ['3', 'temp', '', 'ComfyUI_temp_x_00002_.png'],
        ['4', 'output', 'research', 'api_test_00001_.png'],
        ['4', 'output', 'research', 'api_test_00002_.png'],
      ],
    );
    for (const o of result.outputs) {
      const serverFile = path.join(o.type === 'temp' ? sim.folders.temp : sim.folders.output, o.subfolder, o.filename);
      assert.strictEqual(sha(o.path), sha(serverFile), o.filename);
      assert.strictEqual(o.bytes, fs.statSync(serverFile).size);
    }
    assert.deepStrictEqual(listFiles(result.runDir), [
      result.outputs[0].filename,
      result.outputs[1].filename,
      path.join('research', 'api_test_00001_.png'),
      path.join('research', 'api_test_00002_.png'),
      'run.json',
    ].sort());
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir, 'run.json'), 'utf8')) as { promptId: string; status: string; outputs: unknown[] };
    assert.strictEqual(record.promptId, result.promptId);
    assert.strictEqual(record.status, 'success');
    assert.strictEqual(record.outputs.length, 4);
  });

  it('uploads a local input under a content-derived name and queues the name the server returned', async () => {
    const dir = tempDir('runcomfy-wf-');
    try {
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), path.join(dir, 'photo.png'));
      const text = JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' }, _meta: { title: 'Load photo' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'invert/inverted' } },
      });
      const analysis = analyzeWorkflow(text, { fileDir: dir });
      assert.strictEqual(analysis.localFiles.length, 1);
      const { result, events } = await runEngine({
        prompt: analysis.prompt!,
        localInputs: analysis.localFiles.map((f) => ({ nodeId: f.nodeId, inputName: f.inputName, absPath: f.absPath })),
        inputPolicy: workflowFolderPolicy(path.join(dir, 'workflow_api.json')),
        comfyUrl: sim.url,
        outputRoot: out,
      });
      assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
      const hash = sha(path.join(dir, 'photo.png'));
      const uploaded = events.find((e): e is Extract<RunEvent, { type: 'uploaded' }> => e.type === 'uploaded');
      assert.strictEqual(uploaded?.reference, `photo-${hash.slice(0, 12)}.png`);
      assert.strictEqual(uploaded.node.title, 'Load photo');
      assert.strictEqual(sha(path.join(sim.folders.input, uploaded.reference)), hash);
      assert.deepStrictEqual(
        result.outputs.map((o) => o.filename),
        ['inverted_00001_.png'],
      );
      const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { uploads: unknown[] };
      assert.deepStrictEqual(record.uploads, [{ localPath: path.join(dir, 'photo.png'), serverName: uploaded.reference }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends a prompt the server rejects with its structured error, in words naming the node by title, and creates no run folder', async () => {
    const recorded = readRecording<Record<string, { request: { prompt: ApiPrompt }; body: { node_errors: unknown } }>>('invalid_prompts.json').value_below_min;
    const prompt = { ...recorded.request.prompt, '1': { ...recorded.request.prompt['1'], _meta: { title: 'Blank canvas' } } };
    const { result, events } = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.promptId, null);
    assert.strictEqual(result.error?.kind, 'workflowRejected');
    assert.strictEqual(result.error.type, 'prompt_outputs_failed_validation');
    assert.deepStrictEqual(result.error.nodeErrors, recorded.body.node_errors);
    assert.strictEqual(result.error.message, 'ComfyUI rejected the workflow: node 1 “Blank canvas” (EmptyImage): width 0 is below the minimum of 1.');
    assert.deepStrictEqual(eventTypes(events), ['finished']);
    assert.deepStrictEqual(listFiles(out), []);
  });

  it('runs the outputs ComfyUI accepted and warns in words about the one it dropped', async () => {
    const recorded = readRecording<Record<string, { request: { prompt: ApiPrompt } }>>('invalid_prompts.json').one_good_one_bad_output;
    const prompt = { ...recorded.request.prompt, '3': { ...recorded.request.prompt['3'], _meta: { title: 'Second save' } } };
    const { result } = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.deepStrictEqual(result.warnings, ['ComfyUI dropped an output: node 3 “Second save” (SaveImage): required input filename_prefix is missing.']);
  });

  it('reports an execution error with node, type, message and traceback', async () => {
    const prompt: ApiPrompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: '../../escape' }, _meta: { title: 'Save outside' } },
    };
    const { result, events } = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    const failed = events.find((e): e is Extract<RunEvent, { type: 'failed' }> => e.type === 'failed');
    assert.ok(failed);
    assert.deepStrictEqual(failed.node, { id: '2', classType: 'SaveImage', title: 'Save outside' });
    assert.strictEqual(failed.exceptionType, 'Exception');
    assert.match(failed.message, /Saving image outside the output folder is not allowed/);
    assert.ok(failed.traceback.length >= 3);
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.kind, 'execution');
    assert.match(result.error.message, /node 2 \(SaveImage\): Exception: \*\*\*\* ERROR: Saving image outside/);
    assert.ok(fs.existsSync(path.join(result.runDir!, 'run.json')));
  });

  it('records the dynamic-prompt choices of a converted workflow in run.json, and nothing for a workflow without', async () => {
    const prompt: ApiPrompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'dyn' } },
    };
    const dynamicPrompts = [{ nodeId: '7', input: 'text', template: '{a|b} cat', text: 'b cat' }];
    const chosen = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out, dynamicPrompts });
    assert.strictEqual(chosen.result.status, 'success', JSON.stringify(chosen.result.error));
    const record = JSON.parse(fs.readFileSync(path.join(chosen.result.runDir!, 'run.json'), 'utf8')) as { dynamicPrompts?: unknown };
    assert.deepStrictEqual(record.dynamicPrompts, dynamicPrompts);
    const plain = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    const plainRecord = JSON.parse(fs.readFileSync(path.join(plain.result.runDir!, 'run.json'), 'utf8')) as Record<string, unknown>;
    assert.ok(!('dynamicPrompts' in plainRecord));
  });

  it('saves every output kind: images, animated images, audio, 3d, gifs', async () => {
    const prompt: ApiPrompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 2, color: 255 } },
      '2': { class_type: 'SaveAnimatedWEBP', inputs: { images: ['1', 0], filename_prefix: 'anim/a', fps: 6, lossless: true, quality: 80, method: 'default' } },
      '3': { class_type: 'SimToneAudio', inputs: { seconds: 0.1, frequency: 440, sample_rate: 8000 } },
      '4': { class_type: 'SaveAudio', inputs: { audio: ['3', 0], filename_prefix: 'audio/tone' } },
      '5': { class_type: 'SimCubeMesh', inputs: { size: 1, batch_size: 1 } },
      '6': { class_type: 'SaveGLB', inputs: { mesh: ['5', 0], filename_prefix: 'mesh/cube' } },
      '7': { class_type: 'VHS_VideoCombine', inputs: { images: ['1', 0], frame_rate: 8, loop_count: 0, filename_prefix: 'vid', format: 'image/gif', pingpong: false, save_output: false } },
      '8': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    const { result } = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const keys = new Set(result.outputs.map((o) => o.key));
    assert.deepStrictEqual([...keys].sort(), ['3d', 'audio', 'gifs', 'images']);
    assert.ok(result.outputs.some((o) => o.key === 'gifs' && o.type === 'temp'), 'a VHS preview is saved with its own type');
    assert.strictEqual(result.outputs.length, 6);
    for (const o of result.outputs) {
      const base = o.type === 'temp' ? sim.folders.temp : sim.folders.output;
      assert.strictEqual(sha(o.path), sha(path.join(base, o.subfolder, o.filename)), `${o.key} ${o.filename}`);
    }
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { files: { path: string; node: string; kind: string; bytes: number; animated?: true }[] };
    // SaveAnimatedWEBP lists its file under `images` with `animated: [true]`: the flag reaches the saved output and run.json, and nothing else gets it.
    assert.deepStrictEqual(result.outputs.filter((o) => o.animated).map((o) => o.node), ['2']);
    assert.deepStrictEqual(
      record.files,
      result.outputs.map((o) => ({ path: path.relative(result.runDir!, o.path).split(path.sep).join('/'), node: o.node, kind: o.key, bytes: fs.statSync(o.path).size, ...(o.node === '2' ? { animated: true } : {}) })),
    );
    const shown = runViewFromRecord(record, result.runDir!).outputs;
    assert.deepStrictEqual(shown.filter((o) => o.node === '2').map((o) => o.kind), ['animated'], 'the animated WebP is shown as an animation, not a still');
    for (const f of record.files) {
      assert.ok(!path.isAbsolute(f.path) && !f.path.includes('\\'), `${f.path} is relative, with forward slashes`);
      assert.strictEqual(fs.statSync(path.join(result.runDir!, ...f.path.split('/'))).size, f.bytes, f.path);
    }
    assert.deepStrictEqual([...new Set(record.files.map((f) => f.kind))].sort(), ['3d', 'audio', 'gifs', 'images']);
  });

  it('never lets a hostile name escape the run folder, and never drops one silently', async () => {
    sim.configure({ hostile: true });
    const { result } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out });
    const hostile = HOSTILE_ENTRIES;
    assert.ok(result.runDir);
    for (const f of listFiles(out)) assert.ok(isInside(result.runDir, path.join(out, f)), f);
    for (const o of result.outputs) assert.ok(isInside(result.runDir, o.path), o.path);
    for (const h of hostile) {
      const saved = result.outputs.find((o) => o.filename === h.filename && o.subfolder === h.subfolder && o.type === h.type);
      const mentioned = result.warnings.some((w) => w.includes(JSON.stringify(h.subfolder ? `${h.subfolder}/${h.filename}` : h.filename)) || w.includes(h.filename));
      assert.ok(saved ?? mentioned, `${JSON.stringify(h)} was neither saved nor reported`);
      if (saved && path.basename(saved.path) !== h.filename) assert.ok(mentioned, `${JSON.stringify(h.filename)} renamed without a warning`);
      if (!h.servable) assert.ok(!saved && mentioned, `${h.why}: should be reported as not downloadable`);
    }
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.type, 'download_failed');
    assert.strictEqual(result.error.kind, 'server');
  });

  it('finishes a run whose websocket drops mid-run, with each output saved exactly once', async () => {
    sim.dropSockets({ atNode: '4' });
    const { result, events } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const connection = events.filter((e) => e.type === 'connection').map((e) => (e.type === 'connection' ? e.state : ''));
    assert.deepStrictEqual(connection, ['lost', 'restored']);
    assert.strictEqual(result.outputs.length, 4);
    assert.strictEqual(new Set(result.outputs.map((o) => `${o.type}/${o.subfolder}/${o.filename}`)).size, 4);
    assert.strictEqual(events.filter((e) => e.type === 'outputSaved').length, 4);
    assert.strictEqual(listFiles(result.runDir!).length, 5);
  });

  it('catches up through /history when the end of the run happened while the socket was down', async () => {
    sim.dropSockets({ atNode: '3' });
    // The socket's timers (its reconnect among them) fire only once the simulator ran the prompt to its end.
    const afterTheRun: Clock = {
      now: () => Date.now(),
      setTimeout(fn, ms) {
        let cancelled = false;
        const idle = () => sim.state().running.length === 0 && sim.state().pending.length === 0;
        const t = setTimeout(() => void eventually(idle, 'the simulator ran the prompt', 60_000).then(() => cancelled || fn()), ms);
        return { dispose: () => ((cancelled = true), clearTimeout(t)) };
      },
    };
    const { result, events } = await runEngine({
      prompt: recordedWorkflow('workflow_a_api.json'),
      comfyUrl: sim.url,
      outputRoot: out,
      createSocket: (url, id) => new ComfySocket({ baseUrl: url, clientId: id, reconnect: { baseDelayMs: 20, maxDelayMs: 80 }, pingIntervalMs: 0, clock: afterTheRun }),
    });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.ok(!events.some((e) => e.type === 'executing' && e.node.id === '6'), 'the tail of the run was not seen live');
    assert.strictEqual(events.filter((e) => e.type === 'succeeded').length, 1);
    assert.strictEqual(result.outputs.length, 4);
    assert.strictEqual(listFiles(result.runDir!).length, 5);
  });

  it('retries a /history that answers 500 after the run, and saves what history lists', async () => {
    sim.failRoute({ path: '/history', times: 3 });
    const { result } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(sim.requests().filter((r) => r.path.startsWith('/history/') && r.status === 500).length, 3);
    assert.strictEqual(result.outputs.length, 4);
    assert.ok(result.outputs.every((o) => o.source === 'history'));
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { status: string; outputsFrom: string };
    assert.deepStrictEqual([record.status, record.outputsFrom], ['success', 'history']);
  });

  it('retries a /history that hangs (client timeouts) until it answers', async () => {
    sim.failRoute({ path: '/history', times: 2, hangMs: 10_000 });
    const { result } = await runEngine({
      prompt: recordedWorkflow('workflow_a_api.json'),
      comfyUrl: sim.url,
      outputRoot: out,
      createClient: (url) => new ComfyClient({ baseUrl: url, timeoutMs: 1000, retry: { maxRetries: 0 } }),
    });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(sim.state().fired.filter((f) => f.fault === 'route /history').length, 2);
    assert.strictEqual(result.outputs.length, 4);
  });

  it('saves the outputs announced live when /history stays broken, and fails saying exactly what is known', async () => {
    sim.failRoute({ path: '/history', times: 1_000_000 });
    const { result, events } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out, historyTimeoutMs: 300 });
    const announced = events.flatMap((e): unknown[] =>
      e.type === 'executed' ? Object.values(e.output).flatMap((v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]).filter((f) => typeof f === 'object' && f !== null && 'filename' in f) : [])) : [],
    );
    assert.strictEqual(announced.length, 4, 'the recorded run announces four files live');
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.type, 'history_unreadable');
    assert.match(result.error.message, /^The run finished \(the server reported success over the websocket\); 4 outputs were saved from live messages, history could not be read: .*HTTP 500/);
    assert.strictEqual(result.outputs.length, 4);
    assert.ok(result.outputs.every((o) => o.source === 'live messages' && fs.statSync(o.path).size > 0));
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { status: string; outputsFrom: string; outputs: unknown[]; error: string };
    assert.deepStrictEqual([record.status, record.outputsFrom, record.outputs.length], ['error', 'live messages', 4]);
    assert.strictEqual(record.error, result.error.message);
  });

  it('keeps the end of a prompt that ran, flood and all, before POST /prompt answered', async () => {
    sim.flood({ messages: 12_000, previews: 20, previewBytes: 4096 });
    /** The server's answer reaches the engine only after the whole prompt has run. */
    class LateAnswerClient extends ComfyClient {
      override async queuePrompt(...args: Parameters<ComfyClient['queuePrompt']>): ReturnType<ComfyClient['queuePrompt']> {
        const queued = await super.queuePrompt(...args);
        await waitFor(async () => (await this.getHistoryEntry(queued.promptId)) !== undefined, 'the prompt to finish');
        return queued;
      }
    }
    const { result, events } = await runEngine({
      prompt: recordedWorkflow('workflow_a_api.json'),
      comfyUrl: sim.url,
      outputRoot: out,
      idleTimeoutMs: 600_000,
      createClient: (url) => new LateAnswerClient({ baseUrl: url }),
    });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(result.outputs.length, 4);
    const types = eventTypes(events);
    assert.strictEqual(types[0], 'queued');
    assert.ok(types.indexOf('succeeded') > types.indexOf('executing 6'));
    assert.ok(events.filter((e) => e.type === 'progress').length < 1100, 'the flood of 12,000 was compacted while the prompt id was unknown');
  });

  it('waits for a server that is still booting (502, and 403 on /ws) instead of failing', async () => {
    sim.boot(3_600_000);
    const running = runEngine({
      prompt: recordedWorkflow('workflow_a_api.json'),
      comfyUrl: sim.url,
      outputRoot: out,
      createClient: (url) => new ComfyClient({ baseUrl: url, retry: { maxRetries: 0 } }),
    });
    const probes = () => sim.requests().filter((r) => r.path === '/system_stats');
    await eventually(() => probes().length >= 3, 'three readiness probes');
    sim.boot(0);
    const { result, events } = await running;
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.ok(events.some((e) => e.type === 'warning' && e.message.includes('not ready yet (HTTP 502)')));
    // Backoff from 500 ms, jittered into the upper half: at least 250, then 500 ms between probes (a slower machine waits longer).
    const times = probes().map((r) => r.time);
    assert.ok(times[1] - times[0] >= 248, `the second probe came ${times[1] - times[0]} ms after the first`);
    assert.ok(times[2] - times[1] >= 498, `the third probe came ${times[2] - times[1]} ms after the second`);
  });

  it('fails fast on a URL where nothing listens', async () => {
    const { result } = await runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: 'http://127.0.0.1:1', outputRoot: out, createClient: (url) => new ComfyClient({ baseUrl: url, retry: { maxRetries: 0 } }) });
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.kind, 'network');
    assert.match(result.error.message, /connection refused/);
  });

  it('lets the idle watchdog finish a run whose websocket stays down', async () => {
    sim.dropSockets({ atNode: '3' });
    const { result } = await runEngine({
      prompt: recordedWorkflow('workflow_a_api.json'),
      comfyUrl: sim.url,
      outputRoot: out,
      idleTimeoutMs: 100,
      createSocket: (url, id) => fastSocket(url, id, 60_000),
    });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(result.outputs.length, 4);
  });

  it('fails clearly when the prompt vanishes from queue and history', async () => {
    sim.configure({ classDelayMs: { ImageBlur: 300 } });
    const other = new ComfyClient({ baseUrl: sim.url });
    await other.queuePrompt({ prompt: slowPrompt(1), clientId: 'someone-else' });
    const { result } = await runEngine({ prompt: slowPrompt(2), comfyUrl: sim.url, outputRoot: out, idleTimeoutMs: 100 }, (_engine, e) => {
      if (e.type === 'queued') void sim.reset();
    });
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.type, 'prompt_lost');
    assert.match(result.error.message, /neither queued, running nor in the server's history/);
  });

  it('succeeds on an identical resubmission that the server serves from its cache', async () => {
    const prompt = recordedWorkflow('workflow_a_api.json');
    const first = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    const second = await runEngine({ prompt, comfyUrl: sim.url, outputRoot: out });
    assert.strictEqual(second.result.status, 'success');
    const cached = second.events.find((e): e is Extract<RunEvent, { type: 'cached' }> => e.type === 'cached');
    assert.deepStrictEqual(
      cached?.nodes.map((n) => n.id),
      ['1', '2', '3', '4', '5', '6'],
    );
    assert.deepStrictEqual(
      second.result.outputs.map((o) => o.filename),
      first.result.outputs.map((o) => o.filename),
    );
    assert.notStrictEqual(second.result.runDir, first.result.runDir);
    for (const o of second.result.outputs) assert.ok(fs.statSync(o.path).size > 0);
  });

  it('interrupts a pending prompt by deleting it, leaving the running prompt of someone else alone', async () => {
    // Theirs runs (held in its first blur) until ours was dealt with, so ours is pending whatever the speed.
    sim.stall({ atNode: '20', whileRunning: true });
    const other = new ComfyClient({ baseUrl: sim.url });
    const theirs = await other.queuePrompt({ prompt: slowPrompt(3), clientId: 'someone-else' });
    sim.clearRequests();
    const { result } = await runEngine({ prompt: slowPrompt(4), comfyUrl: sim.url, outputRoot: out }, (engine, e) => {
      if (e.type === 'queued') void engine.interrupt();
    });
    sim.clearStall();
    assert.strictEqual(result.status, 'interrupted');
    assert.ok(!sim.requests().some((r) => r.path === '/interrupt'), 'no /interrupt for a pending prompt');
    assert.ok(sim.requests().some((r) => r.method === 'POST' && r.path === '/queue'));
    await waitFor(async () => (await other.getHistoryEntry(theirs.promptId)) !== undefined, 'the other prompt to finish');
    assert.strictEqual((await other.getHistoryEntry(theirs.promptId))?.status?.status_str, 'success');
    assert.strictEqual(await other.getHistoryEntry(result.promptId!), undefined);
  });

  it('interrupts our running prompt only; the next one in line still runs', async () => {
    // Ours runs (held in its first blur) until the interrupt was sent, so it cannot finish first.
    sim.stall({ atNode: '20', whileRunning: true });
    const other = new ComfyClient({ baseUrl: sim.url });
    let theirs: string | undefined;
    const { result, events } = await runEngine({ prompt: slowPrompt(5), comfyUrl: sim.url, outputRoot: out }, (engine, e) => {
      if (e.type === 'started') {
        void other
          .queuePrompt({ prompt: slowPrompt(6), clientId: 'someone-else' })
          .then((q) => {
            theirs = q.promptId;
            return engine.interrupt();
          })
          .finally(() => sim.clearStall());
      }
    });
    assert.strictEqual(result.status, 'interrupted');
    assert.ok(events.some((e) => e.type === 'interrupted'));
    assert.strictEqual(result.error?.kind, 'interrupted');
    assert.ok(theirs);
    await waitFor(async () => (await other.getHistoryEntry(theirs!)) !== undefined, 'the other prompt to finish');
    assert.strictEqual((await other.getHistoryEntry(theirs))?.status?.status_str, 'success');
  });

  it('on an old server, never sends a global interrupt while another prompt runs', async () => {
    sim.configure({ oldServer: true });
    // Theirs runs (held in its first blur) until ours was dealt with, so ours is pending whatever the speed.
    sim.stall({ atNode: '20', whileRunning: true });
    const other = new ComfyClient({ baseUrl: sim.url });
    const theirs = await other.queuePrompt({ prompt: slowPrompt(7), clientId: 'someone-else' });
    sim.clearRequests();
    const { result } = await runEngine({ prompt: slowPrompt(8), comfyUrl: sim.url, outputRoot: out }, (engine, e) => {
      if (e.type === 'queued') void engine.interrupt();
    });
    sim.clearStall();
    assert.strictEqual(result.status, 'interrupted');
    assert.ok(!sim.requests().some((r) => r.path === '/interrupt'));
    await waitFor(async () => (await other.getHistoryEntry(theirs.promptId)) !== undefined, 'the other prompt to finish');
    assert.strictEqual((await other.getHistoryEntry(theirs.promptId))?.status?.status_str, 'success');
  });

  it('on an old server, interrupts our running prompt only; the next one in line still runs', async () => {
    sim.configure({ oldServer: true, classDelayMs: { ImageBlur: 150 } });
    const other = new ComfyClient({ baseUrl: sim.url });
    let theirs: string | undefined;
    const { result } = await runEngine({ prompt: slowPrompt(9), comfyUrl: sim.url, outputRoot: out }, (engine, e) => {
      if (e.type === 'started') {
        void other.queuePrompt({ prompt: slowPrompt(10), clientId: 'someone-else' }).then((q) => {
          theirs = q.promptId;
          return engine.interrupt();
        });
      }
    });
    assert.strictEqual(result.status, 'interrupted');
    const interrupts = sim.requests().filter((r) => r.path === '/interrupt');
    assert.strictEqual(interrupts.length, 1);
    await waitFor(async () => theirs !== undefined && (await other.getHistoryEntry(theirs)) !== undefined, 'the other prompt to finish');
    assert.strictEqual((await other.getHistoryEntry(theirs!))?.status?.status_str, 'success');
  });

  it('says so, and interrupts nothing, when our prompt already left the queue', async () => {
    sim.dropSockets({ atNode: '3' });
    const other = new ComfyClient({ baseUrl: sim.url });
    let tried: Promise<void> | undefined;
    const { result, events } = await runEngine(
      { prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out, idleTimeoutMs: 600_000, createSocket: (url, id) => fastSocket(url, id, 600_000) },
      (engine, e) => {
        if (e.type === 'connection' && e.state === 'lost') {
          const id = engine.currentPromptId!;
          tried = waitFor(async () => (await other.getHistoryEntry(id)) !== undefined, 'our prompt to end on the server').then(() => engine.interrupt());
        }
      },
    );
    await tried;
    assert.ok(!sim.requests().some((r) => r.path === '/interrupt'), 'no /interrupt for a prompt that is not running');
    const warning = events.find((e): e is Extract<RunEvent, { type: 'warning' }> => e.type === 'warning' && e.message.startsWith('Nothing to interrupt'));
    assert.ok(warning, JSON.stringify(events.filter((e) => e.type === 'warning')));
    assert.match(warning.message, /no longer lists prompt .* as queued or running/);
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(result.outputs.length, 4);
  });

  for (const kind of ['old', 'new'] as const) {
    it(`with /queue unreadable on ${kind === 'old' ? 'an old server, interrupts nothing and says why' : 'a current server, sends the interrupt scoped to our prompt'}`, async () => {
      sim.configure({ oldServer: kind === 'old', classDelayMs: { ImageBlur: 150 } });
      const other = new ComfyClient({ baseUrl: sim.url });
      let theirs: string | undefined;
      const { result, events } = await runEngine({ prompt: slowPrompt(kind === 'old' ? 11 : 13), comfyUrl: sim.url, outputRoot: out }, (engine, e) => {
        if (e.type === 'started') {
          void other.queuePrompt({ prompt: slowPrompt(kind === 'old' ? 12 : 14), clientId: 'someone-else' }).then(async (q) => {
            theirs = q.promptId;
            sim.failRoute({ path: '/queue', times: 1_000_000 });
            await engine.interrupt();
            sim.failRoute({ path: '/queue', times: 0 });
          });
        }
      });
      const warnings = events.filter((e): e is Extract<RunEvent, { type: 'warning' }> => e.type === 'warning').map((e) => e.message);
      if (kind === 'old') {
        assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
        assert.ok(!sim.requests().some((r) => r.path === '/interrupt'), 'no global interrupt without knowing ours runs');
        assert.ok(
          warnings.some((w) => /^Did not interrupt prompt .*: this ComfyUI \(version unknown\) predates prompt-scoped interrupts .* queue could not be read/.test(w)),
          JSON.stringify(warnings),
        );
      } else {
        assert.strictEqual(result.status, 'interrupted', JSON.stringify(result.error));
        assert.strictEqual(sim.requests().filter((r) => r.path === '/interrupt').length, 1);
      }
      await waitFor(async () => theirs !== undefined && (await other.getHistoryEntry(theirs)) !== undefined, 'the other prompt to finish');
      assert.strictEqual((await other.getHistoryEntry(theirs!))?.status?.status_str, 'success');
    });
  }

  it('ends the runs in progress when the registry is disposed (the window closes), leaving the prompt to the server', async () => {
    sim.configure({ classDelayMs: { ImageBlur: 150 } });
    const runs = new RunRegistry();
    const engine = new RunEngine({ prompt: slowPrompt(15), comfyUrl: sim.url, outputRoot: out, workflowName: 'slow', createSocket: (url, id) => fastSocket(url, id) });
    runs.track({ workflowPath: '/w/slow.api.json', workflowName: 'slow', target: { kind: 'local', name: 'sim', url: sim.url } }, { onEvent: engine.onEvent, interrupt: () => engine.interrupt(), dispose: () => engine.dispose() });
    engine.onEvent((e) => {
      if (e.type === 'started') runs.dispose();
    });
    const result = await engine.run();
    assert.equal(result.status, 'error');
    assert.equal(result.error?.type, 'abandoned');
    assert.match(result.error?.message ?? '', /window closed; prompt .* may still run on the server/);
    await waitFor(() => sim.state().sockets === 0, 'the run\'s websocket to close');
    assert.ok(!sim.requests().some((r) => r.path === '/interrupt'), 'closing the window interrupts nothing on the server');
    const other = new ComfyClient({ baseUrl: sim.url });
    await waitFor(async () => (await other.getHistoryEntry(result.promptId!)) !== undefined, 'the prompt to finish on the server');
  });

  it('stops before queueing when cancelled during the upload, and sends nothing', async () => {
    const dir = tempDir('runcomfy-wf-');
    try {
      const big = path.join(dir, 'big.png');
      fs.writeFileSync(big, Buffer.concat([MEDIA_HEADS.png, crypto.randomBytes(8 * 1024 * 1024)]));
      const controller = new AbortController();
      const { result } = await runEngine(
        {
          prompt: { '1': { class_type: 'LoadImage', inputs: { image: 'big.png' } } },
          localInputs: [{ nodeId: '1', inputName: 'image', absPath: big }],
          inputPolicy: workflowFolderPolicy(path.join(dir, 'workflow_api.json')),
          comfyUrl: sim.url,
          outputRoot: out,
          signal: controller.signal,
        },
        (_engine, e) => {
          if (e.type === 'uploading') controller.abort();
        },
      );
      assert.strictEqual(result.status, 'interrupted');
      assert.strictEqual(result.promptId, null);
      assert.ok(!sim.requests().some((r) => r.path === '/prompt'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('local inputs and the input policy', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.realpathSync(tempDir('runcomfy-wf-'));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const loadImages = (...names: string[]): ApiPrompt =>
      Object.fromEntries(names.map((image, i) => [String(i + 1), { class_type: 'LoadImage', inputs: { image } }]));

    it('refuses a private file, a symbolic link out of the folder and a file that is not what its name says: nothing is sent at all', async function () {
      const key = writeFile(path.join(dir, 'home', '.ssh', 'id_ed25519'), PRIVATE_KEY);
      const flows = path.join(dir, 'project', 'flows');
      writeFile(path.join(flows, 'fake.png'), PRIVATE_KEY);
      const good = path.join(flows, 'good.png');
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), good);
      const link = path.join(flows, 'linked.png');
      try {
        fs.symlinkSync(key, link);
      } catch {
        this.skip();
      }
      sim.clearRequests();
      const values = ['../../home/.ssh/id_ed25519', 'linked.png', 'fake.png', 'good.png'];
      const { result, events } = await runEngine({
        prompt: loadImages(...values),
        localInputs: values.map((value, i) => ({ nodeId: String(i + 1), inputName: 'image', absPath: path.resolve(flows, value), value })),
        inputPolicy: workflowFolderPolicy(path.join(flows, 'workflow_api.json')),
        comfyUrl: sim.url,
        outputRoot: out,
      });
      assert.strictEqual(result.status, 'error');
      assert.strictEqual(result.promptId, null);
      assert.strictEqual(result.error?.kind, 'workflowRejected');
      assert.strictEqual(result.error.type, 'input_not_allowed');
      const lines = result.error.details.split('\n');
      assert.strictEqual(lines.length, 3, result.error.details);
      assert.match(lines[0], /^Node 1 \(LoadImage\), input "image": "\.\.\/\.\.\/home\/\.ssh\/id_ed25519" is not uploaded: it is not inside the workflow's folder /);
      assert.match(lines[1], /^Node 2 \(LoadImage\), input "image": "linked\.png" is not uploaded: it is not inside the workflow's folder .* \(it leads to .*id_ed25519\)/);
      assert.match(lines[2], /^Node 3 \(LoadImage\), input "image": "fake\.png" is not uploaded: .*its first bytes are plain text/);
      assert.ok(!events.some((e) => e.type === 'uploading'), 'nothing was uploading');
      assert.deepStrictEqual(sim.requests(), [], 'the server heard nothing: no /upload/image, no /prompt');
      assert.deepStrictEqual(listFiles(sim.folders.input).filter((f) => /id_ed25519|fake|linked|good/.test(f)), []);
      assert.deepStrictEqual(listFiles(out), [], 'no run folder');
    });

    it('uploads no local file when it was given no policy', async () => {
      const good = path.join(dir, 'good.png');
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), good);
      sim.clearRequests();
      const { result } = await runEngine({ prompt: loadImages('good.png'), localInputs: [{ nodeId: '1', inputName: 'image', absPath: good }], comfyUrl: sim.url, outputRoot: out });
      assert.strictEqual(result.error?.type, 'input_not_allowed');
      assert.match(result.error.message, /is not uploaded: it is not inside any allowed folder/);
      assert.deepStrictEqual(sim.requests(), []);
    });

    it('uploads the very file it checked, even when the name is pointed elsewhere before the bytes go out', async () => {
      const photo = path.join(dir, 'photo.png');
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), photo);
      const checked = sha(photo);
      const swap = writeFile(path.join(dir, 'swap.png'), Buffer.concat([MEDIA_HEADS.png, Buffer.from(PRIVATE_KEY)]));
      const { result, events } = await runEngine(
        {
          prompt: { ...loadImages('photo.png'), '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } },
          localInputs: [{ nodeId: '1', inputName: 'image', absPath: photo }],
          inputPolicy: workflowFolderPolicy(path.join(dir, 'workflow_api.json')),
          comfyUrl: sim.url,
          outputRoot: out,
        },
        // The file is open and checked when "uploading" is announced; the swap happens before a byte is read for the upload.
        (_engine, e) => {
          if (e.type === 'uploading') fs.renameSync(swap, photo);
        },
      );
      assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
      const uploaded = events.find((e): e is Extract<RunEvent, { type: 'uploaded' }> => e.type === 'uploaded');
      assert.ok(uploaded);
      assert.strictEqual(uploaded.reference, `photo-${checked.slice(0, 12)}.png`);
      assert.strictEqual(sha(path.join(sim.folders.input, uploaded.reference)), checked);
    });
  });
});
