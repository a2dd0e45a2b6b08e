import * as assert from 'node:assert/strict';
import { type ApiError, AuthError, CancelledError, NotFoundError, TimeoutError } from '../../src/api/errors';
import { type Machine } from '../../src/api/runcomfyTypes';
import { systemClock } from '../../src/base/clock';
import { type Clock } from '../../src/base/clock';
import { MachineStore, goneStatus, notVisibleYet, type MachineApi, type MachineStoreOptions, type WaitProgress } from '../../src/core/machineStore';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { eventually, fluxV3, ManualClock, startTestSimulator, testClient } from './helpers/runcomfyTestKit';

/**
 * The store's view of the API with its list calls counted as they start (synchronously, so a test on a
 * ManualClock knows exactly which clock step started one) and as they settle.
 */
class CountingApi implements MachineApi {
  started = 0;
  settled = 0;
  constructor(private readonly inner: MachineApi) {}
  listMachines(signal?: AbortSignal) {
    this.started++;
    return this.inner.listMachines(signal).finally(() => this.settled++);
  }
  getMachine(serverId: string, signal?: AbortSignal) {
    return this.inner.getMachine(serverId, signal);
  }
  launch(...args: Parameters<MachineApi['launch']>) {
    return this.inner.launch(...args);
  }
  updateEstimatedDuration(...args: Parameters<MachineApi['updateEstimatedDuration']>) {
    return this.inner.updateEstimatedDuration(...args);
  }
  stop(...args: Parameters<MachineApi['stop']>) {
    return this.inner.stop(...args);
  }
  /** Waits until every list call started so far has answered (and the store has seen it). */
  idle(): Promise<void> {
    return eventually(() => this.settled === this.started, 'the list calls in flight answered');
  }
}

/** A machine that stays Starting for the whole test, whatever RUNCOMFY_SIM_TIME_SCALE says. */
const neverBoots = 24 * 3600_000;

const launchMedium = { workflow_version_id: fluxV3, server_type: 'medium', estimated_duration: 600 } as const;

describe('MachineStore (against the RunComfy simulator)', () => {
  let sim: RunComfySimulator;
  let stores: MachineStore[];

  beforeEach(async () => {
    sim = await startTestSimulator({ bootMs: 300, deleteMs: 150 });
    stores = [];
  });
  afterEach(async () => {
    for (const s of stores) s.dispose();
    await sim.close();
  });

  function store(options: MachineStoreOptions = {}, client: MachineApi = testClient(sim), clock: Clock = systemClock): MachineStore {
    const s = new MachineStore(client, clock, { fastIntervalMs: 40, slowIntervalMs: 10_000, changedWindowMs: 100, notVisibleGraceMs: 1000, ...options });
    stores.push(s);
    return s;
  }

  const lists = () => sim.requests().filter((r) => r.route === 'listMachines');

  it('refreshes every machine with one list call and tells listeners when something changed', async () => {
    await sim.seedMachine({ server_type: 'large' });
    await sim.seedMachine({ server_type: 'medium' });
    const s = store();
    const seen: (readonly Machine[])[] = [];
    s.onDidChangeMachines((m) => seen.push(m));
    const list = await s.refresh();
    assert.equal(list.length, 2);
    assert.equal(s.machines, list);
    assert.equal(lists().length, 1);
    assert.equal(sim.requests().length, 1, 'no per-machine calls');
    await s.refresh();
    assert.equal(seen.length, 1, 'an unchanged list fires no event');
  });

  it('announces the first list even when it is empty, so views can leave their loading state', async () => {
    const s = store();
    let events = 0;
    s.onDidChangeMachines(() => events++);
    await s.refresh();
    assert.equal(events, 1);
    await s.refresh();
    assert.equal(events, 1, 'a second empty list is no news');
  });

  it('coalesces concurrent refreshes into one request, but not sequential ones', async () => {
    const s = store();
    await Promise.all(Array.from({ length: 50 }, () => s.refresh()));
    assert.equal(lists().length, 1);
    await s.refresh();
    await s.refresh();
    assert.equal(lists().length, 3);
  });

  it('polls only while watched, fast while a machine is Starting, slow once it is Ready', async () => {
    // Polling runs on a ManualClock: each step of the clock starts exactly the lists it should,
    // however fast the simulator and this machine are.
    sim.configure({ bootMs: neverBoots });
    const starting = await sim.seedMachine({ current_status: 'Starting' });
    const clock = new ManualClock(Date.now());
    const api = new CountingApi(testClient(sim));
    const s = store({}, api, clock);
    const watch = s.watch();
    assert.equal(api.started, 1, 'the first watch lists at once');
    await api.idle();
    for (let i = 0; i < 3; i++) {
      await clock.advance(40);
      assert.equal(api.started, 2 + i, 'one list per fast interval while a machine is Starting');
      await api.idle();
    }
    // The Starting machine goes away and a Ready one takes its place: polling slows down.
    await testClient(sim).stop(starting.server_id as string);
    await eventually(() => sim.machines().length === 0, 'the stopped machine is gone');
    await sim.seedMachine();
    await clock.advance(40);
    await api.idle();
    assert.equal(s.machines[0]?.status, 'Ready');
    const whenReady = api.started;
    await clock.advance(9_000);
    assert.equal(api.started, whenReady, 'no fast polling once nothing is in flight');
    await clock.advance(1_000);
    assert.equal(api.started, whenReady + 1, 'slow polling (10 s) while watched');
    await api.idle();
    watch.dispose();
    await clock.advance(60_000);
    assert.equal(api.started, whenReady + 1, 'no polling once nobody watches');
  });

  it('waitUntilReady follows a launch to Ready, reporting status and elapsed time', async () => {
    const s = store();
    const m = await s.launch(launchMedium);
    assert.equal(s.machine(m.serverId)?.status, 'Starting', 'the launched machine is listed at once');
    const progress: WaitProgress[] = [];
    const ready = await s.waitUntilReady(m.serverId, { onProgress: (p) => progress.push(p) });
    assert.equal(ready.status, 'Ready');
    assert.equal(ready.serverId, m.serverId);
    assert.ok(progress.some((p) => p.status === 'Starting'));
    assert.equal(progress.at(-1)!.status, 'Ready');
    assert.ok(progress.at(-1)!.elapsedMs >= progress[0].elapsedMs);
    assert.equal(sim.requests().filter((r) => r.route === 'getMachine').length, 0, 'the list serves the waiter');
  });

  it('several waiters share one polling loop', async () => {
    const clock = new ManualClock(Date.now());
    const api = new CountingApi(testClient(sim));
    const s = store({}, api, clock);
    const a = await s.launch(launchMedium);
    const b = await s.launch({ ...launchMedium, server_type: 'large' });
    let settled = 0;
    const waits = [s.waitUntilReady(a.serverId), s.waitUntilReady(b.serverId), s.waitUntilReady(a.serverId)].map((w) => w.finally(() => settled++));
    await api.idle();
    // The machines boot in the simulator's real time; each fast interval of the store's clock lists once.
    while (settled < waits.length) {
      const before = api.started;
      await clock.advance(40);
      assert.equal(api.started, before + 1, 'one loop at the fast interval, not one per waiter');
      await api.idle();
      await new Promise((r) => setImmediate(r));
    }
    for (const m of await Promise.all(waits)) assert.equal(m.status, 'Ready');
  });

  it('counts a just-launched machine that answers 404 as "not visible yet" during the grace', async () => {
    // The store's grace runs on a ManualClock that only moves 40 ms per poll, so it outlasts the
    // simulator's hiding however slowly the polls come back.
    sim.configure({ notVisibleAfterLaunchMs: 1500 });
    const clock = new ManualClock(Date.now());
    const api = new CountingApi(testClient(sim));
    const s = store({ notVisibleGraceMs: 3_600_000 }, api, clock);
    const m = await s.launch(launchMedium);
    const statuses: string[] = [];
    let ready: Machine | undefined;
    const waiting = s.waitUntilReady(m.serverId, { onProgress: (p) => statuses.push(p.status) }).then((r) => (ready = r));
    while (!ready) {
      await api.idle();
      await new Promise((r) => setTimeout(r, 10));
      await clock.advance(40);
    }
    await waiting;
    assert.equal(ready.status, 'Ready');
    assert.ok(statuses.includes(notVisibleYet), statuses.join(', '));
    assert.ok(
      sim.requests().some((r) => r.route === 'getMachine' && r.status === 404),
      'a machine missing from the list is asked for directly',
    );
  });

  it('fails the wait once the grace is over and the machine never showed up', async () => {
    sim.configure({ notVisibleAfterLaunchMs: 60_000 });
    const s = store({ notVisibleGraceMs: 200 });
    const m = await s.launch(launchMedium);
    await assert.rejects(s.waitUntilReady(m.serverId), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.match(e.message, /is gone: it stopped, failed to start, or the id is wrong/);
      return true;
    });
  });

  it('fails at once for an id that was not launched here and does not exist', async () => {
    const s = store();
    await s.refresh();
    await assert.rejects(s.waitUntilReady('no-such-machine'), NotFoundError);
  });

  it('fails the wait when the machine is being deleted', async () => {
    // It stays Starting, then Deleting, until the waiter has seen it so.
    sim.configure({ bootMs: neverBoots, deleteMs: neverBoots });
    const seeded = await sim.seedMachine({ current_status: 'Starting' });
    const s = store();
    const waiting = s.waitUntilReady(seeded.server_id as string);
    await s.stop(seeded.server_id as string);
    await assert.rejects(waiting, /is being deleted; it will not become Ready/);
  });

  it('keeps waiting through an unknown status, then times out naming it', async () => {
    const seeded = await sim.seedMachine({ current_status: 'Initializing' });
    const s = store();
    // Listed before the wait, so the wait knows the status whenever its timeout fires.
    await s.refresh();
    const statuses = new Set<string>();
    await assert.rejects(s.waitUntilReady(seeded.server_id as string, { timeoutMs: 200, onProgress: (p) => statuses.add(p.status) }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError);
      assert.match(e.message, /is still Initializing after 0 s/);
      return true;
    });
    assert.deepEqual([...statuses], ['Initializing']);
  });

  it('a wait is cancelled by its signal, and polling stops when nobody needs it', async () => {
    sim.configure({ bootMs: neverBoots });
    const clock = new ManualClock(Date.now());
    const api = new CountingApi(testClient(sim));
    const s = store({}, api, clock);
    const m = await s.launch(launchMedium);
    const controller = new AbortController();
    const waiting = s.waitUntilReady(m.serverId, { signal: controller.signal });
    await api.idle();
    await clock.advance(40);
    assert.equal(api.started, 2, 'polling while waited for');
    await api.idle();
    controller.abort();
    await assert.rejects(waiting, CancelledError);
    // The launch keeps polling fast for changedWindowMs (100 ms of store time); after that nothing does.
    await clock.advance(100);
    await api.idle();
    const after = api.started;
    await clock.advance(60_000);
    assert.equal(api.started, after, 'no waiter, no watcher, no recent change: no polling');
  });

  it('extendBy reads the current total fresh and sends total + N', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 600 });
    const id = seeded.server_id as string;
    const s = store();
    await s.refresh();
    await testClient(sim).updateEstimatedDuration(id, 1200);
    const extended = await s.extendBy(id, 300);
    const update = sim.requests().filter((r) => r.route === 'updateDuration').at(-1)!;
    assert.deepEqual(update.body, { update_estimated_duration: 1500 }, 'extended from the fresh 1200, not the listed 600');
    assert.equal(extended.estimatedDurationS, 1500);
    assert.ok(Math.abs(extended.estimatedStoppingAtMs! - extended.serviceReadyAtMs! - 1_500_000) < 1e-3);
    assert.equal(s.machine(id)?.estimatedDurationS, 1500, 'the store shows the new total at once');
    await assert.rejects(s.extendBy(id, -5), /positive whole number of seconds, got -5/);
  });

  it('setDuration sets a total directly; the simulator refuses it while Starting', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 600 });
    const s = store();
    const m = await s.setDuration(seeded.server_id as string, 120);
    assert.equal(m.estimatedDurationS, 120);
    const starting = await s.launch(launchMedium);
    await assert.rejects(s.setDuration(starting.serverId, 900), /HTTP 400 The running duration can be changed only when the machine is Ready; it is Starting/);
  });

  it('stop then waitUntilGone resolves once the machine answers 404', async () => {
    const seeded = await sim.seedMachine();
    const id = seeded.server_id as string;
    const s = store();
    const stopped = await s.stop(id);
    assert.equal(stopped?.status, 'Deleting');
    assert.equal(s.machine(id)?.status, 'Deleting');
    const statuses: string[] = [];
    await s.waitUntilGone(id, { onProgress: (p) => statuses.push(p.status) });
    assert.equal(statuses.at(-1), goneStatus);
    assert.equal(s.machine(id), undefined);
    assert.equal(sim.machines().length, 0);
  });

  it('drops a machine stopped soon after its launch once the API no longer lists it', async () => {
    const s = store({ notVisibleGraceMs: 60_000 });
    const launched = await s.launch({ workflow_version_id: fluxV3, server_type: 'medium', estimated_duration: 600 });
    await s.waitUntilReady(launched.serverId);
    await s.stop(launched.serverId);
    const watching = s.watch();
    try {
      await eventually(() => s.machine(launched.serverId) === undefined, 'the stopped machine leaves the list');
    } finally {
      watching.dispose();
    }
  });

  it('reports an unreachable API through lastError and recovers', async () => {
    const s = store();
    const errors: (ApiError | undefined)[] = [];
    s.onDidChangeError((e) => errors.push(e));
    sim.addFault({ action: 'error', status: 503, times: 'always', route: 'listMachines' });
    await assert.rejects(s.refresh());
    assert.equal(s.lastRefreshed, undefined, 'never loaded yet');
    assert.equal(s.lastError?.kind, 'server');
    assert.match(s.lastError.message, /List machines failed: HTTP 503/);
    sim.clearFaults();
    const before = Date.now();
    await s.refresh();
    assert.equal(s.lastError, undefined);
    assert.ok(s.lastRefreshed! >= before);
    assert.deepEqual(
      errors.map((e) => e?.kind),
      ['server', undefined],
    );
  });

  it('an auth failure ends every wait at once', async () => {
    const seeded = await sim.seedMachine({ current_status: 'Starting' });
    const s = store({}, testClient(sim, { getToken: () => Promise.resolve('revoked-token') }));
    await assert.rejects(s.waitUntilReady(seeded.server_id as string), AuthError);
  });

  it('dispose cancels waits and stops polling', async () => {
    sim.configure({ bootMs: neverBoots });
    const clock = new ManualClock(Date.now());
    const api = new CountingApi(testClient(sim));
    const s = store({}, api, clock);
    const m = await s.launch(launchMedium);
    s.watch();
    const waiting = s.waitUntilReady(m.serverId);
    assert.ok(api.started >= 1, 'polling');
    s.dispose();
    await assert.rejects(waiting, CancelledError);
    await assert.rejects(s.refresh(), CancelledError);
    const after = api.started;
    await clock.advance(60_000);
    assert.equal(api.started, after);
    assert.equal(clock.pendingTimers, 0, 'no timer left behind');
  });
});
