import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { SweepDispatcher, type SweepTarget } from '../../src/core/sweep/sweepDispatcher';
import { parseAxis, planSweep } from '../../src/core/sweep/sweepPlan';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { listFiles, tempDir } from './helpers/runHarness';
import { eventually } from './helpers/runcomfyTestKit';

const prompt: ApiPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sweep' } },
};

const target = (sim: ComfySimulator, id: string): SweepTarget => ({ id, url: sim.url, label: `ComfyUI ${id}`, launched: false });

function dispatcherFor(out: string, colors: string, extra: Partial<ConstructorParameters<typeof SweepDispatcher>[0]> = {}): SweepDispatcher {
  const plan = planSweep(prompt, [parseAxis(`1.color=${colors}`, () => [])]);
  return new SweepDispatcher({ prompt, plan, sweepDir: out, pollMs: 50, ...extra });
}

describe('sweep dispatcher (a pool of ComfyUI simulators over real HTTP)', function () {
  this.timeout(60_000);
  const sims: ComfySimulator[] = [];
  let out: string;

  beforeEach(() => {
    out = tempDir('runcomfy-sweep-');
  });
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.close()));
    fs.rmSync(out, { recursive: true, force: true });
  });
  const sim = async (runMs = 0) => {
    const s = await startComfySimulator({ runMs });
    sims.push(s);
    return s;
  };

  it('spreads the runs over every server, at most two of ours queued on each, and saves each run in its folder', async () => {
    const [a, b, c] = [await sim(200), await sim(200), await sim(200)];
    const d = dispatcherFor(out, '1..9');
    let most = 0;
    d.onDidChangeRun(() => (most = Math.max(most, d.inFlight('a'), d.inFlight('b'), d.inFlight('c'))));
    for (const [s, id] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) d.addTarget(target(s, id));
    await d.run();
    d.dispose();
    assert.deepStrictEqual(d.runs.map((r) => r.status), Array(9).fill('success'));
    assert.ok(most <= 2, `at most two of ours per server, saw ${most}`);
    assert.deepStrictEqual(new Set(d.runs.map((r) => r.target)), new Set(['a', 'b', 'c']), 'every server got work');
    for (const r of d.runs) {
      assert.strictEqual(r.outputs.length, 1);
      assert.ok(r.outputs[0].path.startsWith(path.join(out, r.folder) + path.sep), r.outputs[0].path);
      const record = JSON.parse(fs.readFileSync(path.join(r.runDir!, 'run.json'), 'utf8')) as { promptId: string };
      assert.strictEqual(record.promptId, r.promptId);
    }
    // Each server ran exactly the prompts the dispatcher says it sent there, with the run's own value.
    for (const [s, id] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) {
      const posts = s.requests().filter((q) => q.method === 'POST' && q.path === '/prompt').length;
      assert.strictEqual(posts, d.runs.filter((r) => r.target === id).length);
    }
  });

  it('gives a server that joins later work while runs wait', async () => {
    const [a, late] = [await sim(300), await sim(0)];
    const d = dispatcherFor(out, '1..8', { moreTargetsMayJoin: () => true });
    d.addTarget(target(a, 'a'));
    const done = d.run();
    await eventually(() => d.runs.some((r) => r.status === 'success'), 'the first run ended');
    d.addTarget(target(late, 'late'));
    await done;
    d.dispose();
    assert.ok(d.runs.some((r) => r.target === 'late'), 'the late server ran some of the runs');
    assert.ok(d.runs.every((r) => r.status === 'success'));
  });

  it('sends the runs of a server that stops mid-run to another one, and saves none twice', async () => {
    // `doomed` holds each prompt for a minute (in ticks an interrupt would end), `spare` is quick.
    const doomed = await sim(60_000);
    const d = dispatcherFor(out, '1..4', { moreTargetsMayJoin: () => true, downAfterFailures: 2 });
    d.addTarget(target(doomed, 'doomed'));
    const done = d.run();
    await eventually(() => d.runs.filter((r) => r.status === 'running' || r.status === 'queued').length === 2, 'two runs are on the doomed server');
    const spare = await sim(0);
    await doomed.close();
    d.addTarget(target(spare, 'spare'));
    await done;
    d.dispose();
    assert.deepStrictEqual(d.runs.map((r) => r.status), Array(4).fill('success'));
    assert.ok(d.runs.every((r) => r.target === 'spare'));
    const moved = d.runs.filter((r) => r.attempts === 2);
    assert.strictEqual(moved.length, 2, 'the two runs on the stopped server were sent again');
    for (const r of moved) assert.match(r.requeued[0], /ComfyUI doomed/);
    for (const r of d.runs) {
      const images = listFiles(path.join(out, r.folder)).filter((f) => f.endsWith('.png'));
      assert.strictEqual(images.length, 1, `run ${r.index + 1} saved once: ${images.join(', ')}`);
    }
  });

  it('stop interrupts only our prompts and skips the runs not sent', async () => {
    const s = await sim(60_000);
    // Somebody else's prompt waits in the same queue.
    const other = new ComfyClient({ baseUrl: s.url });
    const theirs = await other.queuePrompt({ prompt: { ...prompt, '1': { ...prompt['1'], inputs: { ...prompt['1'].inputs, color: 77 } } }, clientId: 'someone-else' });
    const d = dispatcherFor(out, '1..5');
    d.addTarget(target(s, 's'));
    const done = d.run();
    await eventually(() => d.runs.filter((r) => r.status === 'queued' || r.status === 'running').length === 2, 'two of ours are queued behind theirs');
    d.stop('interrupted');
    await done;
    d.dispose();
    assert.deepStrictEqual(d.runs.map((r) => r.status), ['interrupted', 'interrupted', 'skipped', 'skipped', 'skipped']);
    const q = await other.getQueue();
    assert.deepStrictEqual([...q.running, ...q.pending].map((i) => i.promptId), [theirs.promptId], 'their prompt is still there, ours are gone');
    assert.strictEqual(s.requests().filter((r) => r.path === '/interrupt').length, 0, 'nothing running was ours, so nothing was interrupted');
  });
});
