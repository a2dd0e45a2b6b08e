import * as assert from 'node:assert/strict';
import { CancelledError, InvalidRequestError, NetworkError, NotFoundError, ServerError, TimeoutError } from '../../src/api/errors';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { eventually, fluxV3, startTestSimulator, testClient } from './helpers/runcomfyTestKit';

const launchLarge = { workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 600 } as const;

describe('RunComfyClient money rules (against the simulator)', () => {
  let sim: RunComfySimulator;

  beforeEach(async () => {
    sim = await startTestSimulator({ bootMs: 5000 });
  });
  afterEach(async () => {
    await sim.close();
  });

  const posts = () => sim.requests().filter((r) => r.route === 'launch');

  describe('launch', () => {
    it('is not duplicated when its response is lost: the machine that appeared is returned', async () => {
      await sim.seedMachine({ server_type: 'large' });
      sim.addFault({ action: 'dropAfterHandling', route: 'launch' });
      const m = await testClient(sim).launch(launchLarge);
      assert.equal(posts().length, 1, 'exactly one POST');
      assert.equal(sim.machines().length, 2, 'the seeded machine and the launched one');
      const created = sim.machines().find((x) => x.server_id !== m.serverId && x.server_type === 'large');
      assert.ok(created, 'the machine launched elsewhere was not mistaken for ours');
      assert.equal(m.status, 'Starting');
      assert.deepEqual(
        sim.requests().map((r) => `${r.route}${r.dropped ? ' (dropped)' : ''}`),
        ['listMachines', 'launch (dropped)', 'listMachines'],
      );
    });

    it('after a 5xx that created nothing, says so and does not retry', async () => {
      sim.addFault({ action: 'error', status: 500, message: 'boom', route: 'launch' });
      await assert.rejects(testClient(sim).launch(launchLarge), (e: unknown) => {
        assert.ok(e instanceof ServerError);
        assert.match(e.message, /^Launch machine failed: HTTP 500 boom\. .*No new large machine appeared in the machine list, so none was created; the launch was not retried\.$/);
        return true;
      });
      assert.equal(posts().length, 1);
      assert.equal(sim.machines().length, 0);
    });

    it('finds the machine after a slow answer that timed out (created after the client gave up)', async () => {
      sim.addFault({ action: 'delay', delayMs: 300, route: 'launch' });
      const m = await testClient(sim, { timeoutMs: 100, launchReconcile: { attempts: 6, intervalMs: 100 } }).launch(launchLarge);
      assert.equal(posts().length, 1);
      assert.equal(sim.machines().length, 1);
      assert.equal(m.serverId, sim.machines()[0].server_id);
    });

    it('waits out a short "not visible yet" after a lost answer before concluding', async () => {
      sim.configure({ notVisibleAfterLaunchMs: 250 });
      sim.addFault({ action: 'dropAfterHandling', route: 'launch' });
      const m = await testClient(sim, { launchReconcile: { attempts: 6, intervalMs: 100 } }).launch(launchLarge);
      assert.equal(m.serverId, sim.machines()[0].server_id);
      assert.equal(posts().length, 1);
    });

    it('says it cannot tell when two new machines of the type appeared', async () => {
      sim.addFault({ action: 'delay', delayMs: 600, route: 'launch' });
      const client = testClient(sim, { timeoutMs: 100, launchReconcile: { attempts: 4, intervalMs: 400 } });
      const launching = client.launch(launchLarge);
      // Another machine of the same type appears right after ours, before the next list.
      await eventually(() => sim.machines().length === 1, 'the delayed launch created its machine');
      await sim.seedMachine({ server_type: 'large', estimated_duration: 600 });
      await assert.rejects(launching, /the answer was lost .* 2 new large machines appeared .*cannot tell which one this launch created/);
      assert.equal(posts().length, 1);
    });

    it('reports an unknown outcome when even the list fails afterwards', async () => {
      sim.addFault({ action: 'drop', route: 'launch' });
      sim.addFault({ action: 'error', status: 503, skip: 1, times: 'always', route: 'listMachines' });
      const client = testClient(sim, { retry: { maxRetries: 1 }, launchReconcile: { attempts: 2, intervalMs: 10 } });
      await assert.rejects(client.launch(launchLarge), (e: unknown) => {
        assert.ok(e instanceof NetworkError);
        assert.match(e.message, /outcome is unknown: the connection was dropped, and the machine list could not be read afterwards\. A machine may be starting \(it bills once Ready\)/);
        return true;
      });
      assert.deepEqual(
        sim.requests().map((r) => `${r.route} ${r.status}`),
        ['listMachines 200', 'launch 0', 'listMachines 503', 'listMachines 503', 'listMachines 503', 'listMachines 503'],
      );
    });

    it('checks the machine list even when the caller gives up after the POST left, and never launches twice', async () => {
      sim.addFault({ action: 'delay', delayMs: 300, route: 'launch' });
      const controller = new AbortController();
      const launching = testClient(sim, { launchReconcile: { attempts: 20, intervalMs: 100 } }).launch(launchLarge, controller.signal);
      // The second request to arrive is the POST, held 300 ms before the simulator creates the machine.
      await eventually(() => sim.lastSeq >= 2, 'the POST has arrived');
      controller.abort();
      const m = await launching;
      assert.equal(posts().length, 1, 'exactly one POST');
      assert.equal(m.serverId, sim.machines()[0]?.server_id, 'the machine created after the caller gave up was found');
    });

    it('finishes checking the machine list after a lost answer even when the caller gives up meanwhile', async () => {
      sim.addFault({ action: 'drop', route: 'launch' });
      sim.configure({ latencyMs: 100 });
      const controller = new AbortController();
      const launching = testClient(sim, { launchReconcile: { attempts: 3, intervalMs: 10 } }).launch(launchLarge, controller.signal);
      // Request 3 is the first list after the dropped POST.
      await eventually(() => sim.lastSeq >= 3, 'the check of the list has begun');
      controller.abort();
      await assert.rejects(launching, (e: unknown) => {
        assert.ok(e instanceof NetworkError);
        assert.match(e.message, /No new large machine appeared in the machine list, so none was created; the launch was not retried\.$/);
        return true;
      });
      assert.deepEqual(
        sim.requests().map((r) => `${r.route} ${r.status}`),
        ['listMachines 200', 'launch 0', 'listMachines 200', 'listMachines 200', 'listMachines 200'],
        'all three lists of the check, none cut short',
      );
    });

    it('retries a launch refused with 429 (the server did nothing)', async () => {
      sim.addFault({ action: 'rateLimit', retryAfter: '0', route: 'launch' });
      const m = await testClient(sim).launch(launchLarge);
      assert.deepEqual(
        posts().map((r) => r.status),
        [429, 200],
      );
      assert.equal(sim.machines().length, 1);
      assert.equal(sim.machines()[0].server_id, m.serverId);
    });

    it('never launches when the list before it fails', async () => {
      sim.addFault({ action: 'error', status: 500, times: 'always', route: 'listMachines' });
      await assert.rejects(testClient(sim, { retry: { maxRetries: 1 } }).launch(launchLarge), ServerError);
      assert.equal(posts().length, 0);
    });
  });

  describe('stop', () => {
    const deletes = () => sim.requests().filter((r) => r.route === 'stop');

    it('is retried through 5xx until it lands, and billing stops then', async () => {
      const seeded = await sim.seedMachine({ server_type: '2x-large' });
      sim.addFault({ action: 'error', status: 503, times: 3, route: 'stop' });
      const m = await testClient(sim, { retry: { maxRetries: 0 } }).stop(seeded.server_id as string);
      assert.equal(m?.status, 'Deleting');
      assert.deepEqual(
        deletes().map((r) => r.status),
        [503, 503, 503, 200],
        'retried beyond maxRetries: a stop is retried until it lands',
      );
      const [bill] = sim.billing().machines;
      assert.notEqual(bill.stopped_at, null);
    });

    it('is retried through dropped connections and timeouts', async () => {
      // The machine is gone as soon as a DELETE lands, and the slow DELETE takes far longer than the
      // client's timeout plus its retry, so the retry lands first on any machine.
      sim.configure({ deleteMs: 0 });
      const seeded = await sim.seedMachine();
      sim.addFault({ action: 'drop', times: 2, route: 'stop' });
      sim.addFault({ action: 'delay', delayMs: 2000, route: 'stop' });
      const m = await testClient(sim, { timeoutMs: 150 }).stop(seeded.server_id as string);
      assert.equal(m?.status, 'Deleting');
      await eventually(() => deletes().length === 4, 'the slow DELETE has been answered too');
      assert.deepEqual(
        deletes().map((r) => (r.dropped ? 'dropped' : r.status)),
        ['dropped', 'dropped', 404, 200],
        'the retry stopped the machine while the slow one was still pending; the slow one then found it gone',
      );
    });

    it('counts a 404 after a lost answer as landed', async () => {
      sim.configure({ deleteMs: 0 });
      const seeded = await sim.seedMachine();
      sim.addFault({ action: 'dropAfterHandling', route: 'stop' });
      const result = await testClient(sim, { retry: { baseDelayMs: 50 } }).stop(seeded.server_id as string);
      assert.equal(result, undefined);
      assert.deepEqual(
        deletes().map((r) => r.status),
        [0, 404],
      );
      assert.notEqual(sim.billing().machines[0].stopped_at, null);
    });

    it('is retried through a passing 4xx, and ends with why after repeated ones', async () => {
      const seeded = await sim.seedMachine();
      const id = seeded.server_id as string;
      sim.addFault({ action: 'error', status: 409, message: 'busy', times: 2, route: 'stop' });
      assert.equal((await testClient(sim).stop(id))?.status, 'Deleting');
      assert.deepEqual(
        deletes().map((r) => r.status),
        [409, 409, 200],
      );

      const other = (await sim.seedMachine()).server_id as string;
      sim.addFault({ action: 'error', status: 400, message: 'no', times: 'always', route: 'stop' });
      await assert.rejects(testClient(sim, { retry: { maxRetries: 2 } }).stop(other), (e: unknown) => {
        assert.ok(e instanceof InvalidRequestError);
        assert.match(e.message, /^Stop machine .* failed: HTTP 400 no\. Refused 3 times\. The machine was not stopped and may still be billing\.$/);
        return true;
      });
      assert.equal(deletes().filter((r) => r.serverId === other).length, 3);
    });

    it('says, when interrupted, that a DELETE was sent and the machine may still bill', async () => {
      const seeded = await sim.seedMachine();
      sim.addFault({ action: 'error', status: 503, times: 'always', route: 'stop' });
      const controller = new AbortController();
      const stopping = testClient(sim).stop(seeded.server_id as string, controller.signal);
      await eventually(() => deletes().length >= 2, 'two attempts');
      controller.abort();
      await assert.rejects(stopping, (e: unknown) => {
        assert.ok(e instanceof CancelledError);
        assert.match(e.message, /^Stop machine .* was interrupted before RunComfy confirmed it \(\d+ attempts, last: HTTP 503 .*\): the machine may still be running and billing\. Stop it again\.$/);
        return true;
      });
    });

    it('reports an unknown machine as NotFoundError at once', async () => {
      await assert.rejects(testClient(sim).stop('no-such-machine'), NotFoundError);
      assert.equal(deletes().length, 1);
    });

    it('keeps trying until cancelled', async () => {
      const seeded = await sim.seedMachine();
      sim.addFault({ action: 'error', status: 500, times: 'always', route: 'stop' });
      const controller = new AbortController();
      const stopping = testClient(sim).stop(seeded.server_id as string, controller.signal);
      await eventually(() => deletes().length >= 5, 'five attempts');
      controller.abort();
      await assert.rejects(stopping, CancelledError);
      const attempts = deletes().length;
      // Proves a negative: a slower machine waits longer, and a retry after the cancel would still show.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(deletes().length, attempts, 'no attempt after the cancel');
    });
  });

  it('times out every call (here a GET) and takes an AbortSignal', async () => {
    sim.addFault({ action: 'delay', delayMs: 500, times: 'always', route: 'getMachine' });
    await assert.rejects(testClient(sim, { timeoutMs: 50, retry: { maxRetries: 1 } }).getMachine('x'), TimeoutError);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(testClient(sim).getMachine('x', controller.signal), CancelledError);
  });
});
