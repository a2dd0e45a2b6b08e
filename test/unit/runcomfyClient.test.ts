import * as assert from 'node:assert/strict';
import { ApiError, AuthError, CancelledError, ConfigError, InvalidRequestError, NotFoundError, ServerError, TimeoutError } from '../../src/api/errors';
import { parseTimestamp } from '../../src/api/runcomfyTypes';
import { demoTokens, otherUserId } from '../../src/simulator/runcomfy/demoSeed';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { demoUserId, eventually, fluxV3, startTestSimulator, testClient, token1 } from './helpers/runcomfyTestKit';

/** Asserts `p` rejects with an ApiError of `kind` whose message matches `message`; returns it. */
async function rejectsWith(p: Promise<unknown>, kind: ApiError['kind'], message: RegExp): Promise<ApiError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ApiError, `expected an ApiError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.match(caught.message, message);
  assert.ok(!caught.message.includes('\n'), 'one line');
  return caught;
}

describe('RunComfyClient (HTTP against the RunComfy simulator)', () => {
  let sim: RunComfySimulator;

  beforeEach(async () => {
    sim = await startTestSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  describe('the six endpoints', () => {
    it('lists workflows: one entry per version on the wire, grouped by workflow', async () => {
      const list = await testClient(sim).listWorkflows();
      assert.equal(list.entries.length, 7);
      assert.deepEqual(
        list.workflows.map((w) => [w.name, w.versions.length]),
        [
          ['Background removal', 1],
          ['Flux portrait', 3],
          ['SDXL upscale', 2],
          ['Wan 2.1 image to video', 1],
        ],
      );
      assert.equal(list.workflows[1].latestVersionId, fluxV3);
      const [req] = sim.requests();
      assert.equal(req.method, 'GET');
      assert.equal(req.path, `/prod/api/users/${demoUserId}/workflows`);
      assert.equal(req.accept, 'application/json');
      assert.equal(req.tokenSlot, 1);
    });

    it('lists machines, reads one, and keeps the wire object verbatim', async () => {
      const seeded = await sim.seedMachine({ server_type: 'large', estimated_duration: 400, ready_seconds_ago: 10 });
      const client = testClient(sim);
      const [listed] = await client.listMachines();
      const one = await client.getMachine(seeded.server_id as string);
      assert.deepEqual(listed.wire, seeded);
      assert.deepEqual(one.wire, seeded);
      assert.equal(one.isReady, true);
      assert.match(one.wire.service_ready_at!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.ok(Math.abs(one.estimatedStoppingAtMs! - one.serviceReadyAtMs! - 400_000) < 1e-3, 'microseconds survive parsing');
      assert.deepEqual(
        sim.requests().map((r) => `${r.method} ${r.route}`),
        ['GET listMachines', 'GET getMachine'],
      );
    });

    it('launches with the documented body after listing, and the machine boots to Ready', async () => {
      const client = testClient(sim);
      const m = await client.launch({ workflow_version_id: fluxV3, server_type: 'extra-large', estimated_duration: 600 });
      assert.equal(m.status, 'Starting');
      assert.equal(m.wire.main_service_url, null);
      const [list, post] = sim.requests();
      assert.equal(list.route, 'listMachines', 'a launch lists first, to recognise its machine if the answer is lost');
      assert.equal(post.method, 'POST');
      assert.equal(post.path, `/prod/api/users/${demoUserId}/servers`);
      assert.equal(post.contentType, 'application/json');
      assert.deepEqual(post.body, { workflow_version_id: fluxV3, server_type: 'extra-large', estimated_duration: 600 });
      let ready = m;
      await eventually(async () => (ready = await client.getMachine(m.serverId)).status === 'Ready', 'the machine is Ready');
      assert.equal(ready.mainServiceUrl, `https://${m.serverId}-comfyui.runcomfy.invalid`);
    });

    it('changes the duration with a total and stops with DELETE', async () => {
      const seeded = await sim.seedMachine({ estimated_duration: 600 });
      const id = seeded.server_id as string;
      const client = testClient(sim);
      const updated = await client.updateEstimatedDuration(id, 900);
      assert.equal(updated.estimatedDurationS, 900);
      assert.ok(Math.abs(updated.estimatedStoppingAtMs! - updated.serviceReadyAtMs! - 900_000) < 1e-3);
      const stopped = await client.stop(id);
      assert.equal(stopped?.status, 'Deleting');
      const [update, del] = sim.requests();
      assert.equal(update.path, `/prod/api/users/${demoUserId}/servers/${id}/update-estimated-duration`);
      assert.deepEqual(update.body, { update_estimated_duration: 900 });
      assert.equal(del.method, 'DELETE');
      assert.equal(del.path, `/prod/api/users/${demoUserId}/servers/${id}`);
      await eventually(() => sim.machines().length === 0, 'the machine is deleted');
      await rejectsWith(client.getMachine(id), 'notFound', /HTTP 404 .*may have stopped/);
    });

    it('works with Token2 as well', async () => {
      await testClient(sim, { getToken: () => Promise.resolve(demoTokens[1]) }).listMachines();
      assert.equal(sim.requests()[0].tokenSlot, 2);
    });

    it('URL-encodes the path parts', async () => {
      const client = testClient(sim);
      await rejectsWith(client.getMachine('a/b c?d'), 'notFound', /HTTP 404/);
      assert.equal(sim.requests()[0].path, `/prod/api/users/${demoUserId}/servers/a%2Fb%20c%3Fd`);
      await rejectsWith(testClient(sim, { userId: 'x/../y' }).listMachines(), 'auth', /HTTP 403/);
      assert.equal(sim.requests()[1].path, '/prod/api/users/x%2F..%2Fy/servers');
    });

    it('reads the lists in their wrapped shapes too', async () => {
      await sim.seedMachine();
      for (const listShape of ['servers', 'data'] as const) {
        sim.configure({ listShape });
        const client = testClient(sim);
        assert.equal((await client.listMachines()).length, 1, listShape);
        assert.equal((await client.listWorkflows()).workflows.length, 4, listShape);
      }
    });

    it('keeps an unknown status verbatim and not ready', async () => {
      const seeded = await sim.seedMachine({ current_status: 'Initializing' });
      const m = await testClient(sim).getMachine(seeded.server_id as string);
      assert.equal(m.status, 'Initializing');
      assert.equal(m.isReady, false);
    });
  });

  describe('errors', () => {
    for (const errorEnvelope of ['errorCode', 'message'] as const) {
      it(`types every failure and quotes the server's message (${errorEnvelope} envelope)`, async () => {
        sim.configure({ errorEnvelope });
        const client = testClient(sim, { retry: { maxRetries: 0 } });
        const bad = testClient(sim, { getToken: () => Promise.resolve('not-a-real-token') });
        const e401 = await rejectsWith(bad.listMachines(), 'auth', /^List machines failed: HTTP 401 Unauthorized\. Check the API token/);
        assert.equal(e401.status, 401);
        assert.ok(e401 instanceof AuthError);
        const foreign = testClient(sim, { userId: otherUserId });
        await rejectsWith(foreign.listMachines(), 'auth', /HTTP 403 User is not authorized/);
        const e404 = await rejectsWith(client.getMachine('nope'), 'notFound', /^Get status of machine nope failed: HTTP 404 Server nope not found\./);
        assert.ok(e404 instanceof NotFoundError);
        const e422 = await rejectsWith(
          client.launch({ workflow_version_id: 'missing', server_type: 'large', estimated_duration: 60 }),
          'invalidRequest',
          /HTTP 422 workflow_version_id missing is not a version of any of your workflows/,
        );
        assert.ok(e422 instanceof InvalidRequestError);
        if (errorEnvelope === 'errorCode') assert.equal(e422.serverCode, 422001);
        sim.addFault({ action: 'error', status: 500, message: 'database on fire', route: 'listMachines' });
        const e500 = await rejectsWith(client.listMachines(), 'server', /HTTP 500 database on fire\. RunComfy had a problem/);
        assert.ok(e500 instanceof ServerError);
        assert.equal(e500.serverMessage, 'database on fire');
      });
    }

    it('takes the message from error_message, message, error or detail', async () => {
      const client = testClient(sim, { retry: { maxRetries: 0 } });
      const bodies: [unknown, RegExp][] = [
        [{ error_message: 'from error_message', message: 'not this' }, /HTTP 400 from error_message\.$/],
        [{ message: 'from message' }, /HTTP 400 from message\.$/],
        [{ error: 'from error' }, /HTTP 400 from error\.$/],
        [{ detail: 'from detail' }, /HTTP 400 from detail\.$/],
        [{ detail: [{ loc: ['body', 'server_type'], msg: 'bad type' }] }, /HTTP 400 body\.server_type: bad type\.$/],
      ];
      for (const [body, expected] of bodies) {
        sim.addFault({ action: 'error', status: 400, body });
        await rejectsWith(client.listMachines(), 'invalidRequest', expected);
      }
      sim.addFault({ action: 'error', status: 400, rawBody: '<html>Bad\n  request</html>' });
      await rejectsWith(client.listMachines(), 'invalidRequest', /HTTP 400 <html>Bad request<\/html>\.$/);
    });

    it('treats a 2xx answer that carries error_code as an error', async () => {
      const client = testClient(sim, { retry: { maxRetries: 0 } });
      sim.addFault({ action: 'error', status: 200, errorCode: 10001, message: 'Insufficient funds' });
      const e = await rejectsWith(client.listMachines(), 'invalidRequest', /List machines failed: error_code 10001 Insufficient funds/);
      assert.equal(e.serverCode, 10001);
      sim.addFault({ action: 'error', status: 200, errorCode: 404001, message: 'server not found' });
      await rejectsWith(client.getMachine('x'), 'notFound', /error_code 404001 server not found/);
      sim.addFault({ action: 'error', status: 200, errorCode: 401001, message: 'Unauthorized' });
      await rejectsWith(client.listWorkflows(), 'auth', /error_code 401001 Unauthorized/);
    });

    it('treats a 2xx answer that is not JSON as a server error', async () => {
      sim.addFault({ action: 'error', status: 200, rawBody: '<html>maintenance</html>', route: 'listMachines' });
      const e = await rejectsWith(testClient(sim, { retry: { maxRetries: 0 } }).listMachines(), 'server', /^List machines failed: HTTP 200 answer is not JSON\.$/);
      assert.ok(e instanceof ServerError);
      sim.addFault({ action: 'error', status: 200, body: { servers: 'none' }, route: 'listMachines' });
      await rejectsWith(testClient(sim, { retry: { maxRetries: 0 } }).listMachines(), 'server', /not a list/);
    });

    it('asks for a token before sending anything when there is none', async () => {
      const client = testClient(sim, { getToken: () => Promise.resolve(undefined) });
      const e = await rejectsWith(client.listMachines(), 'auth', /no RunComfy API token\. Check the API token and the user id\.$/);
      assert.ok(e instanceof AuthError);
      // The caller words the next step: the extension says "Sign in again", the CLI names its variables.
      const editor = testClient(sim, { getToken: () => Promise.resolve(undefined), authAdvice: 'Sign in again.' });
      await rejectsWith(editor.listMachines(), 'auth', /no RunComfy API token\. Sign in again\.$/);
      await assert.rejects(testClient(sim, { userId: () => undefined }).listMachines(), ConfigError);
      assert.equal(sim.requests().length, 0);
    });

    it('times out a slow answer, retries idempotent calls, and gives up after the bound', async () => {
      // The server never answers within the test, so only the client's timeout can end the call.
      sim.addFault({ action: 'delay', delayMs: 600_000, route: 'listMachines' });
      const once = testClient(sim, { timeoutMs: 100, retry: { maxRetries: 0 } });
      const e = await rejectsWith(once.listMachines(), 'timeout', /^List machines failed: no answer within 0\.1 s\.$/);
      assert.ok(e instanceof TimeoutError);

      sim.addFault({ action: 'error', status: 502, times: 2, route: 'listMachines' });
      assert.deepEqual(await testClient(sim).listMachines(), []);
      const log = sim.requests().filter((r) => r.route === 'listMachines');
      assert.deepEqual(
        log.slice(-3).map((r) => r.status),
        [502, 502, 200],
      );

      sim.clearRequests();
      sim.addFault({ action: 'drop', times: 'always', route: 'getMachine' });
      await rejectsWith(testClient(sim, { retry: { maxRetries: 2, baseDelayMs: 5 } }).getMachine('x'), 'network', /Get status of machine x failed: the connection was dropped/);
      assert.equal(sim.requests().length, 3, 'one try and two retries');
    });

    it('stops at once when the caller cancels', async () => {
      // Neither the server's answer nor the client's timeout can come before the abort, whenever it comes.
      sim.addFault({ action: 'delay', delayMs: 600_000, route: 'listMachines' });
      const controller = new AbortController();
      const p = testClient(sim, { timeoutMs: 600_000 }).listMachines(controller.signal);
      setTimeout(() => controller.abort(), 50);
      const e = await rejectsWith(p, 'cancelled', /List machines failed: cancelled/);
      assert.ok(e instanceof CancelledError);
    });

    it('never puts the token in an error, even when the server echoes it', async () => {
      sim.addFault({ action: 'error', status: 400, message: `bad header: Bearer ${token1}` });
      const e = await rejectsWith(testClient(sim, { retry: { maxRetries: 0 } }).listMachines(), 'invalidRequest', /bad header: Bearer \*\*\*/);
      assert.ok(!e.message.includes(token1));
      assert.ok(!String(e.serverMessage).includes(token1));
    });

    it('validates arguments before sending', async () => {
      const client = testClient(sim);
      await assert.rejects(client.launch({ workflow_version_id: '', server_type: 'large', estimated_duration: 60 }), /workflow version id/);
      await assert.rejects(client.launch({ workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 1.5 }), /positive whole number of seconds, got 1\.5/);
      await assert.rejects(client.updateEstimatedDuration('x', 0), /positive whole number of seconds, got 0/);
      await assert.rejects(client.stop(' '), /a machine id \(server_id\) is required/);
      assert.equal(sim.requests().length, 0);
    });
  });

  it('parses the timestamps the simulator sends to the microsecond', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 3600 });
    const m = await testClient(sim).getMachine(seeded.server_id as string);
    assert.equal(m.serviceReadyAtMs, parseTimestamp(seeded.service_ready_at));
    assert.equal(m.estimatedStoppingAtMs! - m.serviceReadyAtMs!, 3_600_000);
  });
});
