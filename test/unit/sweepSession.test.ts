import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { knownServerTypes } from '../../src/api/runcomfyTypes';
import { systemClock } from '../../src/base/clock';
import { MoneyOperations } from '../../src/core/moneyOperations';
import { RUN_RECORD_NAME } from '../../src/core/outputSaver';
import { parseAutoscaleSpec } from '../../src/core/sweep/sweepAutoscaler';
import { type SweepRunStatus, type SweepTarget } from '../../src/core/sweep/sweepDispatcher';
import { earlierRunSeconds, estimateSweep, type SweepEstimate } from '../../src/core/sweep/sweepEstimate';
import { parseAxis, planSweep } from '../../src/core/sweep/sweepPlan';
import { SweepSession, type SweepSessionOptions } from '../../src/core/sweep/sweepSession';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { tempDir } from './helpers/runHarness';
import { fluxV3, startTestSimulator, testClient } from './helpers/runcomfyTestKit';

const prompt: ApiPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sweep' } },
};

interface SweepRecordJson {
  status: string;
  machines_launched: string[];
  machines_stopped: string[];
  estimate: { seconds_per_run: number | null; seconds_per_run_from: string };
  runs: { status: string }[];
}

describe('sweep session (the one orchestration of the CLI and the editor, against the simulators)', function () {
  this.timeout(60_000);
  const sims: ComfySimulator[] = [];
  let out: string;

  beforeEach(() => {
    out = tempDir('runcomfy-sweep-session-');
  });
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.close()));
    fs.rmSync(out, { recursive: true, force: true });
  });

  const comfy = async (runMs: number) => {
    const s = await startComfySimulator({ runMs });
    sims.push(s);
    return s;
  };
  const posts = (s: ComfySimulator) => s.requests().filter((q) => q.method === 'POST' && q.path === '/prompt').length;

  function session(colors: string, targets: SweepTarget[], secondsPerRun: number | undefined, extra: Partial<SweepSessionOptions> = {}): SweepSession {
    const plan = planSweep(prompt, [parseAxis(`1.color=${colors}`, () => [])]);
    const estimateWith = (s: number | undefined, source: SweepEstimate['source']) => estimateSweep({ runs: plan.runs.length, targets: targets.length, secondsPerRun: s, source });
    return new SweepSession({
      workflow: { prompt, warnings: [] },
      plan,
      workflowFile: 'wf_api.json',
      dir: out,
      targets,
      maxCostUsd: undefined,
      estimate: estimateWith(secondsPerRun, secondsPerRun === undefined ? 'probe' : 'flag'),
      reestimate: (s) => estimateWith(s, 'probe'),
      confirmAfterProbe: () => Promise.resolve(true),
      clock: systemClock,
      say: () => undefined,
      warn: (line) => assert.fail(line),
      startedAtMs: Date.now(),
      pollMs: 50,
      tickMs: 50,
      ...extra,
    });
  }
  const record = () => JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepRecordJson;

  it('with no time per run, runs the first parameter set alone, asks with the measured estimate, then runs only the rest', async () => {
    const a = await comfy(150);
    let asked: { estimate: SweepEstimate; statuses: SweepRunStatus[]; posts: number } | undefined;
    const s: SweepSession = session('1..4', [{ id: 'a', url: a.url, label: 'ComfyUI a', launched: false, machineType: 'large' }], undefined, {
      confirmAfterProbe: (estimate) => {
        asked = { estimate, statuses: s.runs.map((r) => r.status), posts: posts(a) };
        return Promise.resolve(true);
      },
    });
    const status = await s.run();
    assert.strictEqual(status, 'success');
    assert.ok(asked, 'asked after the probe run');
    assert.deepStrictEqual(asked.statuses, ['success', 'pending', 'pending', 'pending'], 'only the first run was sent before the question');
    assert.strictEqual(asked.posts, 1);
    assert.strictEqual(asked.estimate.source, 'probe');
    assert.ok(asked.estimate.secondsPerRun !== undefined && asked.estimate.secondsPerRun > 0, String(asked.estimate.secondsPerRun));
    assert.ok(asked.estimate.wallSeconds !== undefined, 'the wall time is known after the probe');
    assert.strictEqual(posts(a), 4, 'the probe run is a run of the sweep: it is not sent again');
    assert.deepStrictEqual(s.runs.map((r) => r.attempts), [1, 1, 1, 1]);
    const r = record();
    assert.strictEqual(r.status, 'success');
    assert.strictEqual(r.estimate.seconds_per_run_from, 'probe');
    assert.strictEqual(r.estimate.seconds_per_run, asked.estimate.secondsPerRun);
    // Each run's run.json names the machine type of its target.
    const runJson = JSON.parse(fs.readFileSync(path.join(s.runs[0].runDir!, RUN_RECORD_NAME), 'utf8')) as { machineType?: string };
    assert.strictEqual(runJson.machineType, 'large');
  });

  it('declined after the probe run: the probe run is kept, the rest never sent, the sweep ends interrupted', async () => {
    const a = await comfy(0);
    const s = session('1..3', [{ id: 'a', url: a.url, label: 'ComfyUI a', launched: false }], undefined, { confirmAfterProbe: () => Promise.resolve(false) });
    assert.strictEqual(await s.run(), 'interrupted');
    assert.deepStrictEqual(s.runs.map((r) => r.status), ['success', 'skipped', 'skipped']);
    assert.strictEqual(posts(a), 1);
    assert.deepStrictEqual(record().runs.map((r) => r.status), ['success', 'skipped', 'skipped']);
  });

  it('with a time per run given, sends at once (no probe, no question)', async () => {
    const a = await comfy(0);
    const s = session('1..3', [{ id: 'a', url: a.url, label: 'ComfyUI a', launched: false }], 5, { confirmAfterProbe: () => assert.fail('no probe run, so no question') });
    assert.strictEqual(await s.run(), 'success');
    assert.strictEqual(record().estimate.seconds_per_run_from, 'flag');
  });

  describe('with autoscale on the RunComfy simulator', () => {
    let sim: RunComfySimulator;
    beforeEach(async () => {
      sim = await startTestSimulator({
        createComfyBackend: async () => {
          const b = await comfy(100);
          return { url: b.url, close: () => b.close() };
        },
      });
    });
    afterEach(() => sim.close());

    it('probes on the given server first, launches nothing before the answer, then launches, runs there and stops what it launched', async () => {
      const a = await comfy(300);
      let launchesWhenAsked = -1;
      const s = session('1..8', [{ id: 'a', url: a.url, label: 'ComfyUI a', launched: false }], undefined, {
        autoscale: { spec: parseAutoscaleSpec(`max=1,type=medium,version=${fluxV3},idle=0`, knownServerTypes), ratePerHour: 1, api: testClient(sim), money: new MoneyOperations(), listEveryMs: 0 },
        confirmAfterProbe: () => {
          launchesWhenAsked = sim.requests().filter((q) => q.method === 'POST').length;
          return Promise.resolve(true);
        },
      });
      assert.strictEqual(await s.run(), 'success');
      assert.strictEqual(launchesWhenAsked, 0, 'no machine is launched before the answer');
      const r = record();
      assert.strictEqual(r.machines_launched.length, 1);
      assert.deepStrictEqual(r.machines_stopped, r.machines_launched);
      assert.ok(sim.billing().machines.every((m) => m.stopped_at !== null), 'billing ended');
    });
  });
});

describe('earlier run times by machine type', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('runcomfy-history-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, executeMs: number, machineType?: string) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    const rec = { version: 1, status: 'success', workflowFile: 'wf_api.json', ...(machineType ? { machineType } : {}), timings: { phases: { execute: executeMs } } };
    fs.writeFileSync(path.join(dir, name, RUN_RECORD_NAME), JSON.stringify(rec));
  };

  it('prefers runs on the same type, else runs with no type (older records, own servers), never another type', async () => {
    write('old', 40_000);
    write('large', 10_000, 'large');
    write('medium', 90_000, 'medium');
    assert.strictEqual(await earlierRunSeconds([dir], 'wf_api.json', 'large'), 10);
    assert.strictEqual(await earlierRunSeconds([dir], 'wf_api.json', '2xl-turbo'), 40, 'no run on this type: the untyped one counts');
    assert.strictEqual(await earlierRunSeconds([dir], 'wf_api.json', undefined), 40, 'no type asked: every run counts (median of 10, 40, 90)');
    fs.rmSync(path.join(dir, 'old'), { recursive: true });
    assert.strictEqual(await earlierRunSeconds([dir], 'wf_api.json', '2xl-turbo'), undefined, 'runs on another type do not count');
  });
});
