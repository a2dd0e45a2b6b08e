import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { isInside, spawnCli, tempDir } from './helpers/runHarness';
import { cliEnv, cliPath, fluxV3, startTestSimulator } from './helpers/runcomfyTestKit';

interface SweepJson {
  status: string;
  runs: {
    index: number;
    params: Record<string, unknown>;
    prompt_id: string | null;
    status: string;
    target: string | null;
    outputs: { node: string; filename: string; subfolder: string; type: string; path: string }[];
    error: { type: string; message: string } | null;
  }[];
  machines_launched: string[];
  machines_stopped: string[];
  cost_estimate_usd: number;
  warnings: string[];
}

const contractKeys = ['cost_estimate_usd', 'machines_launched', 'machines_stopped', 'runs', 'status', 'warnings'];
const runKeys = ['error', 'index', 'outputs', 'params', 'prompt_id', 'status', 'target'];

const workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sweep' } },
};

describe('runcomfy sweep (node dist/cli.js against the simulators)', function () {
  this.timeout(60_000);
  let a: ComfySimulator;
  let b: ComfySimulator;
  let api: RunComfySimulator;
  let work: string;
  let file: string;
  const sweep = (args: readonly string[], env: Record<string, string | undefined> = {}) => spawnCli(cliPath, ['sweep', file, ...args], { cwd: work, env: { ...cliEnv(api), ...env } });

  before(async function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
    [a, b] = [await startComfySimulator({ runMs: 100 }), await startComfySimulator({ runMs: 100 })];
    api = await startTestSimulator({
      createComfyBackend: async () => {
        const s = await startComfySimulator();
        return { url: s.url, close: () => s.close() };
      },
    });
  });
  after(async () => {
    await Promise.all([a.close(), b.close(), api.close()]);
  });
  beforeEach(async () => {
    await Promise.all([a.reset(), b.reset(), api.reset()]);
    a.configure({ runMs: 100 });
    b.configure({ runMs: 100 });
    work = tempDir('runcomfy-cli-sweep-');
    file = path.join(work, 'wf_api.json');
    fs.writeFileSync(file, JSON.stringify(workflow, null, 2));
  });
  afterEach(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('--json prints one object in the contract shape; sweep.json sits at the top of --out; one stderr line per state change', async () => {
    const out = path.join(work, 'my-sweep');
    const machine = String((await api.seedMachine()).server_id);
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1..3', '--vary', '1.width=16,32', '--comfy-url', a.url, '--machine', machine, '--comfy-url', b.url, '--out', 'my-sweep', '--json']).done;
    assert.strictEqual(code, 0, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.deepStrictEqual(Object.keys(j).sort(), contractKeys);
    assert.strictEqual(j.status, 'success');
    assert.deepStrictEqual(j.machines_launched, []);
    assert.deepStrictEqual(j.machines_stopped, []);
    assert.strictEqual(j.cost_estimate_usd, 0);
    assert.strictEqual(j.runs.length, 6);
    assert.deepStrictEqual(j.runs[5].params, { '1.color': 3, '1.width': 32 }, 'numbers stay numbers');
    for (const [i, r] of j.runs.entries()) {
      assert.deepStrictEqual(Object.keys(r).sort(), runKeys);
      assert.strictEqual(r.index, i);
      assert.strictEqual(r.status, 'success');
      assert.match(r.prompt_id ?? '', /^[0-9a-f-]{36}$/);
      assert.strictEqual(r.error, null);
      assert.strictEqual(r.outputs.length, 1);
      const o = r.outputs[0];
      assert.ok(path.isAbsolute(o.path) && fs.existsSync(o.path) && isInside(out, o.path), o.path);
      assert.deepStrictEqual(Object.keys(o).sort(), ['filename', 'node', 'path', 'subfolder', 'type']);
    }
    assert.deepStrictEqual(new Set(j.runs.map((r) => r.target)), new Set([new URL(a.url).origin, new URL(b.url).origin, machine]), 'a pool of a machine and two URLs: each ran runs');
    const record = JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepJson & { axes: unknown[]; runs: { folder: string }[] };
    assert.strictEqual(record.status, 'success');
    assert.deepStrictEqual(record.runs.map((r) => r.prompt_id), j.runs.map((r) => r.prompt_id));
    assert.strictEqual(record.axes.length, 2);
    for (const r of record.runs) assert.ok(fs.statSync(path.join(out, r.folder)).isDirectory());
    // Each run: a line when it ran and one when it ended, nothing on stdout but the JSON.
    const lines = stderr.split('\n').filter((l) => /^Run \d+\/6 /.test(l));
    for (let n = 1; n <= 6; n++) {
      assert.strictEqual(lines.filter((l) => l.startsWith(`Run ${n}/6 `) && l.includes(': succeeded on ')).length, 1, stderr);
      assert.ok(lines.some((l) => l.startsWith(`Run ${n}/6 `) && l.includes(': running on ')), stderr);
    }
    // The next sweep of this workflow next to it estimates from these runs' run.json files.
    const next = await sweep(['--vary', '1.color=1..8', '--comfy-url', a.url, '--out', 'next-sweep', '--dry-run']).done;
    assert.strictEqual(next.code, 0, next.stderr);
    assert.match(next.stderr, /^Sweep: 8 runs \(1\.color \(8\)\); ~[\d.]+ ?m?s per run \(from earlier runs\), ~/m);
  });

  it('sweeps a UI-format workflow by its API node ids, converted with the server\'s node list, its photo uploaded', async () => {
    const dir = path.join(work, 'invert-photo-ui');
    fs.cpSync(path.resolve(__dirname, '../../../samples/invert-photo-ui'), dir, { recursive: true });
    file = path.join(dir, 'workflow.json');
    const { code, stdout, stderr } = await sweep(['--vary', '3.filename_prefix=one,two', '--comfy-url', a.url, '--json']).done;
    assert.strictEqual(code, 0, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.deepStrictEqual(j.runs.map((r) => [r.params, r.status]), [[{ '3.filename_prefix': 'one' }, 'success'], [{ '3.filename_prefix': 'two' }, 'success']]);
    assert.deepStrictEqual(j.runs.map((r) => r.outputs[0].filename.split('_')[0]), ['one', 'two']);
    const linked = await sweep(['--vary', '2.image=x,y', '--comfy-url', a.url]).done;
    assert.strictEqual(linked.code, 2);
    assert.match(linked.stderr, /--vary 2\.image: input "image" of node 2 \(ImageInvert\) is linked to node 1/);
  });

  it('--dry-run prints the plan (status planned) and sends nothing to any server', async () => {
    const seeded = await api.seedMachine();
    api.clearRequests();
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1,2', '--vary', '1.width=8..10', '--comfy-url', a.url, '--machine', String(seeded.server_id), '--out', 'never', '--dry-run', '--json']).done;
    assert.strictEqual(code, 0, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.deepStrictEqual(Object.keys(j).sort(), contractKeys);
    assert.strictEqual(j.status, 'planned');
    assert.deepStrictEqual(j.runs.map((r) => r.params), [1, 2].flatMap((c) => [8, 9, 10].map((w) => ({ '1.color': c, '1.width': w }))));
    assert.ok(j.runs.every((r) => r.prompt_id === null && r.outputs.length === 0));
    assert.match(stderr, /^Sweep: 6 runs \(1\.color \(2\) × 1\.width \(3\)\)/m);
    assert.deepStrictEqual(a.requests(), [], 'the ComfyUI heard nothing');
    assert.deepStrictEqual(api.requests(), [], 'RunComfy heard nothing');
    assert.ok(!fs.existsSync(path.join(work, 'never')), 'no folder was made');
  });

  it('with no earlier runs and no --expect-seconds, runs the first set alone (the probe run), prints the measured estimate, then the rest', async () => {
    const dry = await sweep(['--vary', '1.color=1..3', '--comfy-url', a.url, '--dry-run']).done;
    assert.match(dry.stderr, /; unknown, a probe run would measure it/);
    const scaleOnly = await sweep(['--vary', '1.color=1..3', '--autoscale', `max=1,type=medium,version=${fluxV3}`, '--dry-run']).done;
    assert.match(scaleOnly.stderr, /a probe run needs a server: give --expect-seconds <s>, or a --machine or --comfy-url/);
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1..3', '--comfy-url', a.url, '--json']).done;
    assert.strictEqual(code, 0, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.deepStrictEqual(j.runs.map((r) => r.status), ['success', 'success', 'success']);
    assert.strictEqual(a.requests().filter((r) => r.method === 'POST' && r.path === '/prompt').length, 3, 'the probe run is not sent again');
    const lines = stderr.split('\n');
    assert.match(lines[0], /^Sweep: 3 runs \(1\.color \(3\)\); unknown until the probe run/);
    const measured = lines.findIndex((l) => /^Sweep: 3 runs .*per run \(measured by the probe run\), ~/.test(l));
    assert.ok(measured > 0, stderr);
    const probeEnded = lines.findIndex((l) => l.startsWith('Run 1/3 ') && l.includes(': succeeded on '));
    const restStarted = lines.findIndex((l) => /^Run [23]\/3 /.test(l));
    assert.ok(probeEnded >= 0 && probeEnded < measured && measured < restStarted, stderr);

  });

  it('refuses --zip of unequal axes with exit code 2, a clear message and the JSON object', async () => {
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1,2', '--vary', '1.width=8..10', '--zip', '--comfy-url', a.url, '--json']).done;
    assert.strictEqual(code, 2);
    assert.match(stderr, /--zip pairs the axes value by value, so they need equal lengths; got 1\.color: 2, 1\.width: 3/);
    const j = JSON.parse(stdout) as SweepJson;
    assert.strictEqual(j.status, 'failed');
    assert.deepStrictEqual(j.runs, []);
    assert.deepStrictEqual(a.requests().filter((r) => r.method === 'POST'), []);
  });

  it('autoscale launches machines, runs there and stops every one it launched', async () => {
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1..5', '--autoscale', `max=2,type=medium,version=${fluxV3},idle=0`, '--yes', '--json']).done;
    assert.strictEqual(code, 0, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.strictEqual(j.status, 'success');
    assert.ok(j.machines_launched.length >= 1);
    assert.deepStrictEqual([...j.machines_stopped].sort(), [...j.machines_launched].sort());
    assert.ok(j.runs.every((r) => r.target !== null && j.machines_launched.includes(r.target)));
    assert.ok(api.billing().machines.every((m) => m.stopped_at !== null), 'billing ended for every machine');
    assert.match(stderr, /machines it used but did not launch are not charged to it/);
  });

  it('a budget that cannot pay for a machine ends the sweep with status budget and exit code 10', async () => {
    const { code, stdout, stderr } = await sweep(['--vary', '1.color=1..3', '--autoscale', `max=2,type=medium,version=${fluxV3}`, '--max-cost', '0.5', '--json'], { RUNCOMFY_PRICING: '{"medium": 3600}' }).done;
    assert.strictEqual(code, 10, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.strictEqual(j.status, 'budget');
    assert.deepStrictEqual(j.machines_launched, []);
    assert.deepStrictEqual(j.runs.map((r) => r.status), ['skipped', 'skipped', 'skipped']);
    assert.deepStrictEqual(api.requests().filter((r) => r.method === 'POST'), [], 'no launch was sent');
  });

  it('Ctrl-C still stops every machine the sweep launched, retrying a stop that fails until it lands', async () => {
    const run = sweep(['--vary', '1.color=1..40', '--autoscale', `max=1,type=medium,version=${fluxV3}`, '--yes', '--json']);
    await run.stderrIncludes(': running on ');
    // The first two DELETEs fail: the stop must be tried again, Ctrl-C or not.
    api.addFault({ action: 'error', route: 'stop', status: 502, times: 2 });
    run.child.kill('SIGINT');
    const { code, stdout, stderr } = await run.done;
    assert.strictEqual(code, 9, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.strictEqual(j.status, 'interrupted');
    assert.strictEqual(j.machines_launched.length, 1);
    assert.deepStrictEqual(j.machines_stopped, j.machines_launched);
    assert.strictEqual(api.requests().filter((r) => r.method === 'DELETE').length, 3, 'two failed stops, then the one that landed');
    assert.ok(api.billing().machines.every((m) => m.stopped_at !== null), 'billing ended');
  });

  it('Ctrl-C interrupts our prompts and exits 9 with status interrupted', async () => {
    a.configure({ runMs: 60_000 });
    // --expect-seconds: no probe run, so two prompts are on the server when Ctrl-C comes.
    const run = sweep(['--vary', '1.color=1..4', '--comfy-url', a.url, '--expect-seconds', '60', '--json']);
    await run.stderrIncludes(': running on ');
    run.child.kill('SIGINT');
    const { code, stdout, stderr } = await run.done;
    assert.strictEqual(code, 9, stderr);
    const j = JSON.parse(stdout) as SweepJson;
    assert.strictEqual(j.status, 'interrupted');
    assert.deepStrictEqual(j.runs.map((r) => r.status), ['interrupted', 'interrupted', 'skipped', 'skipped']);
    const q = a.state();
    assert.deepStrictEqual([...q.running, ...q.pending], [], 'nothing of ours is left on the server');
  });
});
