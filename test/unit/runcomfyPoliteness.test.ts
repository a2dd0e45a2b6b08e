import * as assert from 'node:assert/strict';
import { RateLimitedError } from '../../src/api/errors';
import { RunComfyClient } from '../../src/api/runcomfyClient';
import { TokenBucket, sharedTokenBucket } from '../../src/api/tokenBucket';
import { MachineStore } from '../../src/core/machineStore';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { demoUserId, eventually, fluxV3, startTestSimulator, testClient, token1 } from './helpers/runcomfyTestKit';

describe('RunComfyClient politeness (rate limits against the simulator)', () => {
  let sim: RunComfySimulator;
  const stores: MachineStore[] = [];

  afterEach(async () => {
    for (const s of stores.splice(0)) s.dispose();
    await sim.close();
  });
  const statuses = () => sim.requests().map((r) => r.status);

  it('50 refreshes fired at once at a simulator limited to 1/s cause one request and no 429', async () => {
    sim = await startTestSimulator({ rateLimit: { ratePerSecond: 1, burst: 1 } });
    await sim.seedMachine();
    const store = new MachineStore(testClient(sim, { bucket: new TokenBucket() }));
    stores.push(store);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.refresh()));
    assert.ok(results.every((r) => r.length === 1));
    const log = sim.requests();
    assert.equal(log.length, 1);
    assert.equal(log[0].status, 200);
  });

  it('calls that cannot be shared are paced by the default bucket: no 429 at 1/s with the server burst 3', async () => {
    sim = await startTestSimulator({ rateLimit: { ratePerSecond: 1, burst: 3 } });
    const seeded = await sim.seedMachine();
    const id = seeded.server_id as string;
    const bucket = new TokenBucket();
    const a = testClient(sim, { bucket, retry: { rateLimitBudgetMs: 0 } });
    const b = testClient(sim, { bucket, retry: { rateLimitBudgetMs: 0 } });
    await Promise.all([a.listMachines(), b.getMachine(id), a.listWorkflows(), b.listMachines()]);
    assert.deepEqual(
      sim.requests().map((r) => r.status),
      [200, 200, 200, 200],
    );
  });

  it('every client shares the process-wide bucket unless given one', async () => {
    sim = await startTestSimulator({ rateLimit: { ratePerSecond: 1, burst: 2 } });
    const make = () => new RunComfyClient({ baseUrl: sim.url, userId: demoUserId, getToken: () => Promise.resolve(token1), retry: { rateLimitBudgetMs: 0 } });
    // Start from a drained shared bucket, so the result does not depend on what earlier tests spent.
    sharedTokenBucket().pause(0);
    await Promise.all([make().listMachines(), make().listMachines(), make().listWorkflows()]);
    const log = sim.requests();
    assert.deepEqual(
      log.map((r) => r.status),
      [200, 200, 200],
    );
    for (let i = 1; i < log.length; i++) {
      assert.ok(log[i].timeMs - log[i - 1].timeMs >= 900, 'one budget: one request per second across the three clients');
    }
  });

  it('survives a storm of 429s without Retry-After by backing off exponentially', async () => {
    sim = await startTestSimulator({ retryAfter: false });
    sim.addFault({ action: 'rateLimit', retryAfter: null, times: 4, route: 'listMachines' });
    const notices: number[] = [];
    const client = testClient(sim, { retry: { maxRetries: 5, baseDelayMs: 20, maxDelayMs: 1000 }, random: () => 1, onRetry: (n) => notices.push(n.delayMs) });
    assert.deepEqual(await client.listMachines(), []);
    assert.deepEqual(
      sim.requests().map((r) => r.status),
      [429, 429, 429, 429, 200],
    );
    assert.deepEqual(notices, [20, 40, 80, 160], 'doubling delays (jitter pinned to its maximum)');
    const times = sim.requests().map((r) => r.timeMs);
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i] - times[i - 1] >= notices[i - 1] - 5, `retry ${i} waited its backoff`);
    }
  });

  it('honours Retry-After and makes every caller sharing the bucket wait, not only the refused one', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '1', route: 'listMachines' });
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 100 });
    // The client tells of a retry only once it has paused the shared bucket; the simulator's log of the
    // 429 comes earlier, before the answer reached the client.
    let paused = false;
    const a = testClient(sim, { bucket, onRetry: () => (paused = true) });
    const b = testClient(sim, { bucket });
    const first = a.listMachines();
    await eventually(() => paused, 'the refused call paused the shared bucket');
    await Promise.all([first, b.listWorkflows()]);
    const log = sim.requests();
    const refused = log.find((r) => r.status === 429)!;
    const later = log.filter((r) => r.seq > refused.seq);
    assert.equal(later.length, 2, JSON.stringify(log.map((r) => [r.route, r.status])));
    for (const r of later) {
      assert.ok(r.timeMs - refused.answeredAtMs >= 950, `${r.route} went ${Math.round(r.timeMs - refused.answeredAtMs)} ms after the 429`);
    }
  });

  it('retries 429s by time, not by count: seven in a row are more than maxRetries, and still fine', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '0', times: 7 });
    const client = testClient(sim, { retry: { maxRetries: 1 } });
    assert.deepEqual(await client.listMachines(), []);
    assert.deepEqual(statuses(), [429, 429, 429, 429, 429, 429, 429, 200]);
  });

  it('gives up with RateLimitedError once the budget is spent, and never waits past it', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '0.1', times: 'always' });
    const notices: number[] = [];
    const client = testClient(sim, { retry: { rateLimitBudgetMs: 500 }, onRetry: (n) => notices.push(n.delayMs) });
    await assert.rejects(client.listMachines(), (e: unknown) => {
      assert.ok(e instanceof RateLimitedError);
      assert.match(e.message, /^List machines failed: HTTP 429 .*\(rate limited\)\. Gave up: (still rate limited after [\d.]+ s of retries|RunComfy asked to wait 0\.1 s, more than the 0\.\d s left of the 0\.5 s retry budget); wait a minute and try again\.$/);
      return true;
    });
    assert.ok(notices.length >= 1, 'retried within the budget');
    assert.ok(notices.reduce((a, b) => a + b, 0) <= 500, `the waits fit the budget: ${notices.join(', ')}`);
    assert.equal(sim.requests().length, notices.length + 1);
  });

  it('a Retry-After longer than the budget is not waited for: the call fails at once', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '30', times: 'always' });
    const client = testClient(sim, { retry: { rateLimitBudgetMs: 5000 } });
    await assert.rejects(client.listMachines(), /Gave up: RunComfy asked to wait 30 s, more than the [\d.]+ s left of the 5\.0 s retry budget/);
    assert.equal(sim.requests().length, 1);
  });

  it('a stop refused with 429 is retried until it lands, whatever the budget (billing runs until then)', async () => {
    sim = await startTestSimulator();
    const seeded = await sim.seedMachine();
    sim.addFault({ action: 'rateLimit', retryAfter: '0', times: 4, route: 'stop' });
    const m = await testClient(sim, { retry: { rateLimitBudgetMs: 0 } }).stop(seeded.server_id as string);
    assert.equal(m?.status, 'Deleting');
    assert.deepEqual(statuses(), [429, 429, 429, 429, 200]);
  });

  it('a launch refused with 429 gives up when the budget is spent, having launched nothing', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '0', times: 'always', route: 'launch' });
    const client = testClient(sim, { retry: { rateLimitBudgetMs: 0 } });
    await assert.rejects(client.launch({ workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 60 }), RateLimitedError);
    assert.deepEqual(
      sim.requests().map((r) => [r.route, r.status]),
      [
        ['listMachines', 200],
        ['launch', 429],
      ],
    );
    assert.equal(sim.machines().length, 0);
  });

  it('the simulator itself answers 429 with Retry-After when its per-token limit is exceeded', async () => {
    sim = await startTestSimulator({ rateLimit: { ratePerSecond: 1, burst: 2 } });
    const greedy = testClient(sim, { retry: { rateLimitBudgetMs: 0 } });
    const results = await Promise.allSettled([greedy.listMachines(), greedy.listMachines(), greedy.listMachines()]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected'],
    );
    const refused = (results[2] as PromiseRejectedResult).reason as RateLimitedError;
    assert.ok(refused instanceof RateLimitedError);
    assert.equal(refused.retryAfterMs, 1000);
  });
});
