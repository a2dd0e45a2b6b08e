import * as assert from 'node:assert';
import * as fs from 'node:fs';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { systemClock } from '../../src/base/clock';
import { MoneyOperations } from '../../src/core/moneyOperations';
import { SweepAutoscaler, parseAutoscaleSpec } from '../../src/core/sweep/sweepAutoscaler';
import { SweepDispatcher } from '../../src/core/sweep/sweepDispatcher';
import { SweepLedger } from '../../src/core/sweep/sweepLedger';
import { parseAxis, planSweep } from '../../src/core/sweep/sweepPlan';
import { runSweep } from '../../src/core/sweep/sweepRunner';
import { knownServerTypes } from '../../src/api/runcomfyTypes';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { tempDir } from './helpers/runHarness';
import { ManualClock, eventually, fluxV3, startTestSimulator, testClient } from './helpers/runcomfyTestKit';

const prompt: ApiPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sweep' } },
};

describe('sweep autoscale and budget (RunComfy simulator, a ComfyUI per machine)', function () {
  this.timeout(60_000);
  let sim: RunComfySimulator;
  let backends: ComfySimulator[];
  let out: string;
  let runMs: number;

  beforeEach(async () => {
    backends = [];
    runMs = 0;
    out = tempDir('runcomfy-sweep-');
    sim = await startTestSimulator({
      createComfyBackend: async () => {
        const b = await startComfySimulator({ runMs });
        backends.push(b);
        return { url: b.url, close: () => b.close() };
      },
    });
  });
  afterEach(async () => {
    await sim.close();
    await Promise.all(backends.map((b) => b.close()));
    fs.rmSync(out, { recursive: true, force: true });
  });

  function setup(colors: string, spec: string, ledger: SweepLedger, clock: ManualClock | undefined): { dispatcher: SweepDispatcher; autoscaler: SweepAutoscaler } {
    const plan = planSweep(prompt, [parseAxis(`1.color=${colors}`, () => [])]);
    const dispatcher: SweepDispatcher = new SweepDispatcher({ prompt, plan, sweepDir: out, pollMs: 50, moreTargetsMayJoin: () => autoscaler.mayGrow() || autoscaler.budgetRefusedLaunch });
    const autoscaler: SweepAutoscaler = new SweepAutoscaler({
      api: testClient(sim),
      money: new MoneyOperations(),
      ledger,
      dispatcher,
      spec: parseAutoscaleSpec(spec, knownServerTypes),
      ratePerHour: 3600,
      clock: clock ?? systemClock,
      listEveryMs: 0,
      usefulMs: () => 1000,
      say: () => undefined,
    });
    return { dispatcher, autoscaler };
  }

  it('parses --autoscale and says which field is wrong', () => {
    assert.deepStrictEqual(parseAutoscaleSpec(`max=3,type=large,version=${fluxV3},idle=5`, knownServerTypes), { max: 3, type: 'large', version: fluxV3, durationS: 3600, idleS: 5 });
    assert.throws(() => parseAutoscaleSpec('max=3,type=huge,version=v', knownServerTypes), /type=huge: not a machine type/);
    assert.throws(() => parseAutoscaleSpec('max=0,type=large,version=v', knownServerTypes), /max= must be a whole number of at least 1/);
    assert.throws(() => parseAutoscaleSpec('type=large,version=v', knownServerTypes), /needs max=/);
    assert.throws(() => parseAutoscaleSpec('max=1,type=large,version=v,speed=9', knownServerTypes), /"speed=9" is not one of/);
  });

  it('launches while the backlog per machine is above two, runs there, and stops what it launched', async () => {
    const clock = new ManualClock();
    const ledger = new SweepLedger(clock, { maxCostUsd: undefined });
    const { dispatcher, autoscaler } = setup('1..8', `max=2,type=medium,version=${fluxV3},idle=0`, ledger, undefined);
    const status = await runSweep({ dispatcher, ledger, autoscaler, clock: systemClock, tickMs: 50 });
    dispatcher.dispose();
    assert.strictEqual(status, 'success');
    assert.strictEqual(autoscaler.launched.length, 2, '8 runs: one machine, then a second while more than two runs per machine wait');
    assert.deepStrictEqual(new Set(autoscaler.stopped), new Set(autoscaler.launched), 'every machine it launched was stopped');
    const billing = sim.billing().machines;
    assert.ok(billing.every((m) => m.stopped_at !== null), 'billing ended for each');
    assert.ok(dispatcher.runs.every((r) => r.target !== null && autoscaler.launched.includes(r.target)));
  });

  it('ends with status budget near --max-cost: our prompts interrupted, its machine stopped within the cap', async () => {
    runMs = 60_000;
    const clock = new ManualClock();
    // $1 per second of the ManualClock; a stop may take 1 s; a launch must be able to work 1 s.
    const ledger = new SweepLedger(clock, { maxCostUsd: 10, stopMarginMs: 1000 });
    const { dispatcher, autoscaler } = setup('1..3', `max=1,type=medium,version=${fluxV3},idle=60`, ledger, clock);
    const done = runSweep({ dispatcher, ledger, autoscaler, clock, tickMs: 100 });
    await eventually(async () => {
      await clock.advance(100);
      return dispatcher.runs.some((r) => r.status === 'running');
    }, 'a run is running on the launched machine');
    const before = ledger.costUsd();
    assert.ok(before < 9, `still within the budget: $${before}`);
    await eventually(async () => {
      await clock.advance(500);
      return dispatcher.runs.every((r) => r.status !== 'running' && r.status !== 'queued' && r.status !== 'pending');
    }, 'the budget ended the sweep');
    assert.strictEqual(await done, 'budget');
    dispatcher.dispose();
    assert.deepStrictEqual(dispatcher.runs.map((r) => r.status), ['interrupted', 'interrupted', 'skipped']);
    assert.deepStrictEqual(autoscaler.stopped, autoscaler.launched);
    assert.ok(ledger.costUsd() <= 10, `billing ended within the cap: $${ledger.costUsd()}`);
    assert.ok(sim.billing().machines.every((m) => m.stopped_at !== null));
  });

  it('launches nothing when the budget cannot keep a machine running long enough, and ends as budget', async () => {
    const clock = new ManualClock();
    const ledger = new SweepLedger(clock, { maxCostUsd: 1.5, stopMarginMs: 1000 });
    const { dispatcher, autoscaler } = setup('1..3', `max=2,type=medium,version=${fluxV3}`, ledger, clock);
    const done = runSweep({ dispatcher, ledger, autoscaler, clock, tickMs: 100 });
    await eventually(async () => {
      await clock.advance(100);
      return dispatcher.runs.every((r) => r.status === 'skipped');
    }, 'the runs were skipped');
    assert.strictEqual(await done, 'budget');
    dispatcher.dispose();
    assert.deepStrictEqual(autoscaler.launched, []);
    assert.strictEqual(sim.requests().filter((r) => r.method === 'POST').length, 0, 'no launch was sent');
  });
});
