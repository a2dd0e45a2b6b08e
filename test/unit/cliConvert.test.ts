import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { listFiles, spawnCli, tempDir } from './helpers/runHarness';
import { cliEnv, cliPath, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

const samplesDir = path.resolve(__dirname, '../../../samples');
const uiSample = path.join(samplesDir, 'invert-photo-ui');
/** The UI-format sample is the API sample drawn in the editor: conversion must give exactly this. */
const expectedPrompt = JSON.parse(fs.readFileSync(path.join(samplesDir, 'invert-photo', 'workflow_api.json'), 'utf8')) as ApiPrompt;

/** Two custom-node classes the simulator does not have, one of them twice, with titles. */
const missingClasses = {
  nodes: [
    { id: 3, type: 'FancyUpscaler', title: 'Upscale 4x', mode: 0, inputs: [], outputs: [], widgets_values: [] },
    { id: 8, type: 'ImageInvert', mode: 0, inputs: [], outputs: [], widgets_values: [] },
    { id: 11, type: 'FancyUpscaler', mode: 0, inputs: [], outputs: [], widgets_values: [] },
    { id: 12, type: 'MagicMask', title: 'Mask it', mode: 0, inputs: [], outputs: [], widgets_values: [] },
  ],
  links: [],
};

describe('runcomfy convert and queue of UI-format workflows (node dist/cli.js against the ComfyUI simulator)', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let work: string;

  const write = (name: string, content: unknown): string => {
    const file = path.join(work, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  };
  const cli = (args: readonly string[], env: Record<string, string | undefined> = {}) => spawnCli(cliPath, args, { cwd: work, env }).done;
  /** The sample folder copied to `work`, so a run can upload its photo from below the workflow's folder. */
  const copySample = (): string => {
    const dir = path.join(work, 'invert-photo-ui');
    fs.cpSync(uiSample, dir, { recursive: true });
    return path.join(dir, 'workflow.json');
  };

  before(async function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
    sim = await startComfySimulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
    work = tempDir('runcomfy-convert-');
  });
  afterEach(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('prints the API prompt of the UI-format sample with --comfy-url: reroute, primitive and note resolved, titles kept', async () => {
    const wf = copySample();
    const before = fs.readFileSync(wf, 'utf8');
    const { code, stdout, stderr } = await cli(['convert', wf, '--comfy-url', sim.url]);
    assert.strictEqual(code, 0, stderr);
    assert.deepStrictEqual(JSON.parse(stdout), expectedPrompt);
    assert.strictEqual(fs.readFileSync(wf, 'utf8'), before);
    assert.ok(sim.requests().some((r) => r.method === 'GET' && r.path === '/object_info'));
  });

  it('converts with a saved node list (--object-info FILE) without asking any server', async () => {
    const info = await new ComfyClient({ baseUrl: sim.url }).getObjectInfo();
    const infoFile = write('object_info.json', info);
    await sim.reset();
    const { code, stdout, stderr } = await cli(['convert', copySample(), '--object-info', infoFile]);
    assert.strictEqual(code, 0, stderr);
    assert.deepStrictEqual(JSON.parse(stdout), expectedPrompt);
    assert.deepStrictEqual(sim.requests(), []);
  });

  it('refuses an --object-info file that is not a node list, saying how to get one', async () => {
    const { code, stdout, stderr } = await cli(['convert', copySample(), '--object-info', write('nodes.json', { hello: 1 })]);
    assert.strictEqual(code, 2);
    assert.strictEqual(stdout, '');
    assert.match(stderr, /nodes\.json is not a GET \/object_info answer/);
  });

  it('-o writes the prompt (nothing on stdout), keeps an existing file without --force, replaces it with --force', async () => {
    const wf = copySample();
    const out = path.join(work, 'out_api.json');
    const first = await cli(['convert', wf, '--comfy-url', sim.url, '-o', out]);
    assert.strictEqual(first.code, 0, first.stderr);
    assert.strictEqual(first.stdout, '');
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(out, 'utf8')), expectedPrompt);

    fs.writeFileSync(out, 'mine');
    const refused = await cli(['convert', wf, '--comfy-url', sim.url, '-o', out]);
    assert.strictEqual(refused.code, 2);
    assert.match(refused.stderr, /out_api\.json already exists; give --force/);
    assert.strictEqual(fs.readFileSync(out, 'utf8'), 'mine');

    const forced = await cli(['convert', wf, '--comfy-url', sim.url, '-o', out, '--force']);
    assert.strictEqual(forced.code, 0, forced.stderr);
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(out, 'utf8')), expectedPrompt);
    // No temp file is left beside it.
    assert.deepStrictEqual(fs.readdirSync(work).sort(), ['invert-photo-ui', 'out_api.json']);
  });

  it('passes a file already in API format through byte for byte (stdout and -o), asking no server', async () => {
    const text = '{"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},\n "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}\n';
    const wf = write('already_api.json', text);
    const printed = await cli(['convert', wf, '--comfy-url', sim.url]);
    assert.strictEqual(printed.code, 0, printed.stderr);
    assert.strictEqual(printed.stdout, text);
    const out = path.join(work, 'copy.json');
    const written = await cli(['convert', wf, '--comfy-url', sim.url, '-o', out]);
    assert.strictEqual(written.code, 0, written.stderr);
    assert.strictEqual(fs.readFileSync(out, 'utf8'), text);
    assert.deepStrictEqual(sim.requests(), []);
  });

  it('exits 7 for unknown classes, listing every missing class with node id, title and place in the file', async () => {
    const out = path.join(work, 'never.json');
    const { code, stdout, stderr } = await cli(['convert', write('custom.json', missingClasses), '--comfy-url', sim.url, '-o', out]);
    assert.strictEqual(code, 7, stderr);
    assert.strictEqual(stdout, '');
    assert.match(stderr, /custom\.json cannot be converted to the API format: 2 node classes unknown to this server:/);
    assert.match(stderr, /^ {2}FancyUpscaler: node 3 "Upscale 4x" at nodes\[0\], node 11 at nodes\[2\]$/m);
    assert.match(stderr, /^ {2}MagicMask: node 12 "Mask it" at nodes\[3\]$/m);
    assert.match(stderr, /Install the custom nodes that provide them/);
    assert.ok(!fs.existsSync(out));
  });

  it('with --json, stdout is one object: the prompt, or the error with each missing node', async () => {
    const ok = await cli(['convert', copySample(), '--comfy-url', sim.url, '--json']);
    assert.strictEqual(ok.code, 0, ok.stderr);
    const okJson = JSON.parse(ok.stdout) as { format: string; prompt: ApiPrompt; error: unknown };
    assert.strictEqual(okJson.format, 'ui');
    assert.deepStrictEqual(okJson.prompt, expectedPrompt);
    assert.strictEqual(okJson.error, null);
    const bad = await cli(['convert', write('custom.json', missingClasses), '--comfy-url', sim.url, '--json']);
    assert.strictEqual(bad.code, 7);
    const badJson = JSON.parse(bad.stdout) as { prompt: unknown; error: { type: string; missing: { nodeId: string; classType: string }[] } };
    assert.strictEqual(badJson.prompt, null);
    assert.strictEqual(badJson.error.type, 'workflowRejected');
    assert.deepStrictEqual(badJson.error.missing.map((m) => `${m.nodeId} ${m.classType}`), ['3 FancyUpscaler', '11 FancyUpscaler', '12 MagicMask']);
  });

  it('says where a file is not valid JSON (exit 7), and what a missing or unreadable file is (exit 2)', async () => {
    const bad = await cli(['convert', write('broken.json', '{"nodes": [\n  {"id": 1,\n'), '--comfy-url', sim.url]);
    assert.strictEqual(bad.code, 7);
    assert.strictEqual(bad.stdout, '');
    assert.match(bad.stderr, /broken\.json cannot be converted: it is not valid JSON\.\n {2}.*broken\.json:\d+:\d+: /);
    const missing = await cli(['convert', path.join(work, 'nope.json'), '--comfy-url', sim.url]);
    assert.strictEqual(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the workflow .*nope\.json: the file does not exist/);
    const noTarget = await cli(['convert', copySample()]);
    assert.strictEqual(noTarget.code, 2);
    assert.match(noTarget.stderr, /Give exactly one of --machine/);
  });

  it('queue runs the UI-format sample: converted at queue time, the converted prompt reaches /prompt, the output is saved, the file is unchanged', async () => {
    const wf = copySample();
    const before = fs.readFileSync(wf, 'utf8');
    const { code, stdout, stderr } = await cli(['queue', wf, '--comfy-url', sim.url, '--json']);
    assert.strictEqual(code, 0, stderr);
    const result = JSON.parse(stdout) as { prompt_id: string; status: string; outputs: { path: string }[] };
    assert.strictEqual(result.status, 'success');
    assert.match(stderr, /Converted .*workflow\.json from the UI format with the node list of ComfyUI/);
    // What the server received: the converted prompt, with the photo under the name its upload got.
    const entry = await new ComfyClient({ baseUrl: sim.url }).getHistoryEntry(result.prompt_id);
    const sent = entry?.prompt[2];
    assert.ok(sent);
    const uploadedName = sent['1'].inputs.image;
    assert.match(String(uploadedName), /^photo-[0-9a-f]{12}\.png$/);
    assert.deepStrictEqual(sent, { ...expectedPrompt, '1': { ...expectedPrompt['1'], inputs: { image: uploadedName } } });
    assert.strictEqual(result.outputs.length, 1);
    const saved = result.outputs[0].path;
    assert.ok(fs.existsSync(saved) && saved.startsWith(path.join(work, 'runcomfy-outputs', 'invert-photo-ui') + path.sep), saved);
    const runJson = listFiles(path.join(work, 'runcomfy-outputs')).find((f) => f.endsWith('run.json'));
    assert.ok(runJson, 'no run.json');
    assert.strictEqual((JSON.parse(fs.readFileSync(path.join(work, 'runcomfy-outputs', runJson), 'utf8')) as { convertedFrom?: string }).convertedFrom, 'ui');
    assert.strictEqual(fs.readFileSync(wf, 'utf8'), before);
  });

  it('queue refuses a UI-format workflow with unknown classes (exit 7, every class named) and sends no prompt', async () => {
    const { code, stderr } = await cli(['queue', write('custom.json', missingClasses), '--comfy-url', sim.url]);
    assert.strictEqual(code, 7, stderr);
    assert.match(stderr, /FancyUpscaler: node 3 "Upscale 4x" at nodes\[0\], node 11 at nodes\[2\]/);
    assert.match(stderr, /MagicMask: node 12/);
    assert.ok(!sim.requests().some((r) => r.method === 'POST'));
  });

  it('queue applies the node-list check to the converted prompt (exit 7 without --force)', async () => {
    const wf = copySample();
    const graph = JSON.parse(fs.readFileSync(wf, 'utf8')) as { nodes: { id: number; inputs: { link: number | null }[] }[]; links: unknown[][] };
    // The save node loses its image link: the converted prompt lacks a required input.
    graph.nodes.find((n) => n.id === 3)!.inputs[0].link = null;
    graph.links = graph.links.filter((l) => l[0] !== 3);
    const text = JSON.stringify(graph);
    fs.writeFileSync(wf, text);
    const { code, stderr } = await cli(['queue', wf, '--comfy-url', sim.url]);
    assert.strictEqual(code, 7, stderr);
    // At the save node's "type" in the file, as the editor's messages say it.
    assert.ok(stderr.includes(`workflow.json:1:${text.indexOf('"SaveImage"') + 1}: Node 3 “Save result” (SaveImage)`), stderr);
    assert.match(stderr, /workflow\.json:1:\d+: .*images/);
    assert.ok(!sim.requests().some((r) => r.method === 'POST' && r.path === '/prompt'));
  });

  describe('--machine', () => {
    let runcomfy: RunComfySimulator;
    before(async () => {
      runcomfy = await startTestSimulator({ createComfyBackend: () => Promise.resolve({ url: sim.url, close: () => Promise.resolve() }) });
    });
    after(async () => {
      await runcomfy.close();
    });

    it('convert reads the node list of a Ready machine, never printing the token or its ComfyUI URL', async () => {
      const machine = (await runcomfy.seedMachine({ current_status: 'Ready' })) as { server_id: string };
      const { code, stdout, stderr } = await cli(['convert', copySample(), '--machine', machine.server_id], cliEnv(runcomfy));
      assert.strictEqual(code, 0, stderr);
      assert.deepStrictEqual(JSON.parse(stdout), expectedPrompt);
      assert.ok(sim.requests().some((r) => r.path === '/object_info'));
      assert.ok(!stdout.includes(token1) && !stderr.includes(token1) && !stderr.includes(sim.url));
    });
  });
});
