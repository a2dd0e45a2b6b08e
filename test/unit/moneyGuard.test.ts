import * as assert from 'node:assert/strict';
import { ComfyClient } from '../../src/api/comfyClient';
import { AuthError } from '../../src/api/errors';
import { type Machine } from '../../src/api/runcomfyTypes';
import { systemClock } from '../../src/base/clock';
import { Emitter } from '../../src/base/event';
import { MachineStore } from '../../src/core/machineStore';
import { MoneyGuard, type IdleStop, type StopWarning } from '../../src/core/moneyGuard';
import { type MoneyOperationEnd } from '../../src/core/moneyOperations';
import { type RunEvent } from '../../src/core/runEvents';
import { RunRegistry } from '../../src/core/runRegistry';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { eventually, startTestSimulator, testClient } from './helpers/runcomfyTestKit';

describe('MoneyGuard (against the RunComfy and ComfyUI simulators)', () => {
  let sim: RunComfySimulator;
  const comfies: ComfySimulator[] = [];
  const disposables: { dispose(): void }[] = [];

  beforeEach(async () => {
    sim = await startTestSimulator({
      createComfyBackend: async () => {
        const c = await startComfySimulator();
        comfies.push(c);
        return { url: c.url, close: () => c.close() };
      },
    });
  });
  afterEach(async () => {
    for (const d of disposables.splice(0)) d.dispose();
    await sim.close();
    await Promise.all(comfies.splice(0).map((c) => c.close()));
  });

  function guard(options: { warnBeforeMs: number; autoStopIdleMs: number }, runs = new RunRegistry()) {
    const store = new MachineStore(testClient(sim), systemClock, { fastIntervalMs: 30, slowIntervalMs: 60 });
    const queueOf = async (m: Machine) => {
      const q = await new ComfyClient({ baseUrl: m.mainServiceUrl! }).getQueue();
      return { running: q.running.length, pending: q.pending.length };
    };
    const counts = { looks: 0, queueChecks: 0 };
    const countedQueueOf = (m: Machine) => {
      counts.queueChecks++;
      return queueOf(m);
    };
    const g = new MoneyGuard(store, runs, countedQueueOf, { ...options, tickMs: 30 }, systemClock);
    disposables.push(g, store, runs);
    const warnings: StopWarning[] = [];
    const stops: IdleStop[] = [];
    g.onWarn((w) => warnings.push(w));
    g.onIdleStop((s) => stops.push(s));
    g.onDidChange(() => counts.looks++);
    return { g, store, warnings, stops, counts };
  }

  it('warns once when a machine nears its stop time, and again after the stop time moved', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 120 });
    const { store, warnings, counts } = guard({ warnBeforeMs: 5 * 60_000, autoStopIdleMs: 0 });
    await store.refresh();
    await eventually(() => warnings.length === 1, 'the first warning');
    assert.equal(warnings[0]?.machine.serverId, seeded.server_id);
    assert.ok(warnings[0].timeLeftMs <= 120_000);
    await store.refresh();
    // Several more looks at the same stop time, however long they take to come.
    const looked = counts.looks;
    await eventually(() => counts.looks >= looked + 3, 'three more looks');
    assert.equal(warnings.length, 1, 'the same stop time is warned about once');
    await store.extendBy(seeded.server_id as string, 60);
    await eventually(() => warnings.length === 2, 'a warning for the new stop time');
  });

  it('stops a Ready machine that sat idle with an empty queue, and only that one', async () => {
    const idle = await sim.seedMachine({ server_type: 'large' });
    const runs = new RunRegistry();
    const { store, stops } = guard({ warnBeforeMs: 0, autoStopIdleMs: 300 }, runs);
    const busy = await sim.seedMachine({ server_type: 'medium' });
    // A run of ours on the second machine keeps it busy.
    const events = new Emitter<RunEvent>();
    runs.track({ workflowPath: '/w/workflow_api.json', workflowName: 'w', target: { kind: 'machine', serverId: busy.server_id as string, label: 'busy' } }, { onEvent: events.event, interrupt: () => Promise.resolve(), dispose: () => undefined });
    await store.refresh();
    await eventually(() => stops.length === 1, 'the idle machine is stopped', 5000);
    assert.equal(stops[0]?.machine.serverId, idle.server_id);
    assert.ok(stops[0].idleMs >= 300);
    const billing = sim.billing().machines;
    assert.ok(billing.find((b) => b.server_id === idle.server_id)?.stopped_at, 'billing of the idle machine stopped');
    assert.ok(!billing.find((b) => b.server_id === busy.server_id)?.stopped_at, 'the busy machine still runs');
  });

  it('an idle auto-stop that cannot land is recorded as unattended and ends with its error, so the window can report it', async () => {
    const seeded = await sim.seedMachine();
    sim.addFault({ action: 'error', status: 403, message: 'Forbidden', times: 'always', route: 'stop' });
    const { store, stops } = guard({ warnBeforeMs: 0, autoStopIdleMs: 200 }, new RunRegistry());
    const ended: MoneyOperationEnd[] = [];
    store.money.onDidEnd((e) => ended.push(e));
    await store.refresh();
    await eventually(() => ended.length > 0, 'the auto-stop ended');
    assert.equal(ended[0]?.operation.kind, 'stop');
    assert.equal(ended[0].operation.serverId, seeded.server_id);
    assert.equal(ended[0].operation.unattended, true);
    assert.ok(ended[0].error instanceof AuthError);
    assert.match(ended[0].error.message, /HTTP 403 Forbidden\. .*The machine was not stopped and may still be billing\.$/);
    assert.equal(stops.length, 0, 'no "stopped" notice for a stop that did not land');
  });

  it('never stops a machine whose queue holds work from elsewhere', async () => {
    const seeded = await sim.seedMachine();
    // Auto-stop is armed only once the prompt from elsewhere is queued, so the guard cannot find the queue empty first.
    const { g, store, stops, counts } = guard({ warnBeforeMs: 0, autoStopIdleMs: 0 }, new RunRegistry());
    await store.refresh();
    const comfy = comfies[0];
    comfy.stall();
    const res = await fetch(`${store.machines[0].mainServiceUrl}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ prompt: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } } }),
    });
    assert.equal(res.status, 200, 'the prompt from elsewhere was queued');
    g.setOptions({ warnBeforeMs: 0, autoStopIdleMs: 200, tickMs: 30 });
    // The guard found the machine idle long enough and asked its queue twice (the second ask
    // comes only after the first answer was handled), whatever the speed of this machine.
    await eventually(() => counts.queueChecks >= 2, 'two looks at the queue of the idle-looking machine');
    assert.equal(stops.length, 0);
    assert.equal(sim.machines().find((m) => m.server_id === seeded.server_id)?.current_status, 'Ready');
    comfy.clearStall();
  });
});
