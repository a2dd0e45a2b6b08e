import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { demoTokens, demoUserId, otherTokens } from '../../src/simulator/runcomfy/demoSeed';
import { type SimBillingEntry, type SimRequestLogEntry } from '../../src/simulator/runcomfy/simulatorTypes';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { delay, eventually, fluxV3, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
}

/** A raw HTTP request, so these tests see exactly what the simulator sends (no client in between). */
function request(sim: RunComfySimulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}${path}`, { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const api = (path = '') => `/prod/api/users/${demoUserId}${path}`;
const bearer = (t: string = token1) => ({ authorization: `Bearer ${t}` });

describe('RunComfySimulator', () => {
  let sim: RunComfySimulator;

  beforeEach(async () => {
    sim = await startTestSimulator({ bootMs: 150, deleteMs: 100 });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('listens on 127.0.0.1 and sends machine objects with the eight documented keys in order', async () => {
    assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const launched = await request(sim, 'POST', api('/servers'), { workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 400 }, bearer());
    assert.equal(launched.status, 200);
    const m = launched.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(m), [
      'server_id',
      'estimated_duration',
      'server_type',
      'user_id',
      'main_service_url',
      'current_status',
      'service_ready_at',
      'estimated_stopping_at',
    ]);
    assert.equal(m.current_status, 'Starting');
    assert.equal(m.main_service_url, null);
    let ready: Record<string, string> = {};
    await eventually(async () => {
      ready = (await request(sim, 'GET', api(`/servers/${String(m.server_id)}`), undefined, bearer())).body as Record<string, string>;
      return ready.current_status === 'Ready';
    }, 'the machine is Ready');
    assert.equal(ready.main_service_url, `https://${String(m.server_id)}-comfyui.runcomfy.invalid`);
    assert.match(ready.service_ready_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(ready.estimated_stopping_at.slice(-8), ready.service_ready_at.slice(-8), 'ready + 400 s keeps the same microseconds');
  });

  it('accepts a JSON body sent without a JSON content type (the Postman curl)', async () => {
    const seeded = await sim.seedMachine();
    const r = await request(sim, 'POST', api(`/servers/${String(seeded.server_id)}/update-estimated-duration`), '{"update_estimated_duration": 900}', {
      ...bearer(),
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(r.status, 200);
    assert.equal((r.body as { estimated_duration: number }).estimated_duration, 900);
  });

  it('answers unknown routes like API Gateway: 403 with its message', async () => {
    const noAuth = await request(sim, 'GET', '/prod/v2/machines');
    assert.deepEqual(noAuth, { status: 403, headers: noAuth.headers, body: { message: 'Missing Authentication Token' } });
    const withAuth = await request(sim, 'PATCH', api('/servers'), undefined, bearer());
    assert.equal(withAuth.status, 403);
    assert.match((withAuth.body as { message: string }).message, /^Invalid key=value pair \(missing equal-sign\) in Authorization header \(hashed with SHA-256 and encoded with Base64\): '[A-Za-z0-9+/=]+'\.$/);
    assert.ok(!JSON.stringify(withAuth.body).includes(token1));
  });

  it('checks tokens: both of a user’s tokens work, others get 401, another user’s path 403', async () => {
    assert.equal((await request(sim, 'GET', api('/servers'), undefined, bearer(demoTokens[1]))).status, 200);
    assert.equal((await request(sim, 'GET', api('/servers'))).status, 401);
    assert.equal((await request(sim, 'GET', api('/servers'), undefined, bearer('made-up'))).status, 401);
    const foreign = await request(sim, 'GET', api('/servers'), undefined, bearer(otherTokens[0]));
    assert.deepEqual(foreign.body, { error_code: 403003, error_message: 'User is not authorized to access this resource with an explicit deny' });
  });

  it('validates launches with 422 and names the field', async () => {
    const cases: [unknown, RegExp][] = [
      ['not json', /must be a JSON object/],
      [{ server_type: 'large', estimated_duration: 60 }, /workflow_version_id is required/],
      [{ workflow_version_id: 'nope', server_type: 'large', estimated_duration: 60 }, /is not a version of any of your workflows/],
      [{ workflow_version_id: fluxV3, server_type: 'huge', estimated_duration: 60 }, /server_type must be one of medium, large, extra-large, 2x-large, 2xl-turbo/],
      [{ workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 0 }, /estimated_duration must be a whole number of seconds/],
    ];
    for (const [body, message] of cases) {
      const r = await request(sim, 'POST', api('/servers'), body, bearer());
      assert.equal(r.status, 422, JSON.stringify(body));
      assert.match((r.body as { error_message: string }).error_message, message);
    }
    assert.equal(sim.machines().length, 0);
  });

  it('auto-stops at estimated_stopping_at, then the machine is gone (404, off the list)', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 1, ready_seconds_ago: 0.8 });
    const id = String(seeded.server_id);
    await eventually(() => sim.machines()[0]?.current_status === 'Deleting', 'auto-stop');
    await eventually(() => sim.machines().length === 0, 'gone');
    assert.equal((await request(sim, 'GET', api(`/servers/${id}`), undefined, bearer())).status, 404);
    const [bill] = sim.billing().machines;
    assert.equal(bill.billed_seconds, 1, 'billed up to the planned stop, not to when the timer ran');
  });

  it('bills from Ready to the DELETE, at the type’s rate; Starting is free', async () => {
    const before = Date.now();
    const seeded = await sim.seedMachine({ server_type: '2xl-turbo', ready_seconds_ago: 3600 });
    await request(sim, 'DELETE', api(`/servers/${String(seeded.server_id)}`), undefined, bearer());
    const tookS = (Date.now() - before) / 1000;
    // This one must still be Starting at its DELETE, however long that takes to arrive.
    sim.configure({ bootMs: 24 * 3600_000 });
    const starting = await sim.seedMachine({ current_status: 'Starting' });
    await request(sim, 'DELETE', api(`/servers/${String(starting.server_id)}`), undefined, bearer());
    const billing = sim.billing();
    assert.equal(billing.machines.length, 1, 'a machine stopped while Starting never billed');
    const bill = billing.machines[0];
    assert.equal(bill.rate_per_hour, 7.49);
    assert.ok(bill.billed_seconds >= 3600 && bill.billed_seconds <= 3600 + tookS + 0.01, `billed ${bill.billed_seconds} s`);
    assert.ok(Math.abs(bill.cost - (7.49 * bill.billed_seconds) / 3600) < 0.01);
    // Proves a negative: on a slow machine the delay is longer, and billing must still not have moved.
    await delay(100);
    assert.equal(sim.billing().machines[0].billed_seconds, bill.billed_seconds, 'billing stopped at the DELETE');
  });

  it('calls the ComfyUI backend factory on Ready and closes the backend when the machine is gone', async () => {
    await sim.close();
    const events: string[] = [];
    sim = await startTestSimulator({
      bootMs: 50,
      deleteMs: 50,
      createComfyBackend: (serverId) => {
        events.push(`create ${serverId}`);
        return Promise.resolve({ url: `http://127.0.0.1:9/${serverId}`, close: () => Promise.resolve(void events.push(`close ${serverId}`)) });
      },
    });
    const launched = (await request(sim, 'POST', api('/servers'), { workflow_version_id: fluxV3, server_type: 'medium', estimated_duration: 60 }, bearer())).body as { server_id: string };
    await eventually(() => sim.machines()[0]?.current_status === 'Ready', 'Ready');
    assert.equal(sim.machines()[0].main_service_url, `http://127.0.0.1:9/${launched.server_id}`);
    await request(sim, 'DELETE', api(`/servers/${launched.server_id}`), undefined, bearer());
    await eventually(() => events.length === 2, 'backend closed');
    assert.deepEqual(events, [`create ${launched.server_id}`, `close ${launched.server_id}`]);
  });

  it('rate-limits per token with Retry-After, in either envelope', async () => {
    sim.configure({ rateLimit: { ratePerSecond: 1, burst: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(sim, 'GET', api('/servers'), undefined, bearer())).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    const other = await request(sim, 'GET', api('/servers'), undefined, bearer(demoTokens[1]));
    assert.equal(other.status, 200, 'the limit is per token');
    const limited = await request(sim, 'GET', api('/servers'), undefined, bearer());
    assert.equal(limited.headers['retry-after'], '1');
    assert.deepEqual(limited.body, { error_code: 'rate_limited', error_message: 'Rate limit exceeded: one request per second per account.' });
    sim.configure({ errorEnvelope: 'message', retryAfter: false, rateLimit: { ratePerSecond: 0.01, burst: 1 } });
    await request(sim, 'GET', api('/servers'), undefined, bearer());
    const gateway = await request(sim, 'GET', api('/servers'), undefined, bearer());
    assert.deepEqual(gateway.body, { message: 'Too Many Requests' });
    assert.equal(gateway.headers['retry-after'], undefined);
  });

  it('logs requests with token slots (never tokens), bodies, shapes and timing', async () => {
    await request(sim, 'POST', api('/servers'), { workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 60 }, { ...bearer(demoTokens[1]), accept: 'application/json' });
    await request(sim, 'GET', api('/servers/x%2Fy'), undefined, bearer());
    const log = sim.requests();
    assert.deepEqual(
      log.map((r) => [r.seq, r.method, r.route, r.status, r.tokenSlot]),
      [
        [1, 'POST', 'launch', 200, 2],
        [2, 'GET', 'getMachine', 404, 1],
      ],
    );
    assert.deepEqual(log[0].body, { workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 60 });
    assert.equal(log[0].contentType, 'application/json');
    assert.equal(log[0].accept, 'application/json');
    assert.equal(log[1].path, `/prod/api/users/${demoUserId}/servers/x%2Fy`);
    assert.equal(log[1].serverId, 'x/y');
    assert.ok(log[0].answeredAtMs >= log[0].timeMs);
    assert.ok(!JSON.stringify(log).includes('demo-token'), 'no token in the log');
    assert.deepEqual(
      sim.requests(1).map((r) => r.seq),
      [2],
    );
  });

  describe('admin routes under /__sim/ (for tests that run it as a process)', () => {
    it('reads the request log, seeds machines, reads billing and resets', async () => {
      const seeded = (await request(sim, 'POST', '/__sim/machines', { server_type: 'large', ready_seconds_ago: 60 })).body as Record<string, unknown>;
      assert.equal(seeded.current_status, 'Ready');
      await request(sim, 'GET', api('/servers'), undefined, bearer());
      const log = (await request(sim, 'GET', '/__sim/requests')).body as SimRequestLogEntry[];
      assert.deepEqual(
        log.map((r) => r.route),
        ['listMachines'],
        'admin calls are not logged',
      );
      const billing = (await request(sim, 'GET', '/__sim/billing')).body as { total: number; machines: SimBillingEntry[] };
      assert.equal(billing.machines[0].server_id, seeded.server_id);
      assert.ok(billing.total > 0);
      assert.deepEqual((await request(sim, 'GET', '/__sim/machines')).body, [seeded]);
      assert.deepEqual((await request(sim, 'POST', '/__sim/reset')).body, { reset: true });
      assert.deepEqual((await request(sim, 'GET', '/__sim/machines')).body, []);
      assert.deepEqual((await request(sim, 'GET', '/__sim/requests')).body, []);
      assert.deepEqual((await request(sim, 'GET', '/__sim/users')).body, [
        { user_id: demoUserId, token_slots: 2, workflows: 7 },
        { user_id: '00000000-0000-4000-8000-000000000002', token_slots: 2, workflows: 1 },
      ]);
    });

    it('injects faults and changes settings, refusing bad ones with a clear message', async () => {
      const added = await request(sim, 'POST', '/__sim/faults', [{ action: 'error', status: 502, route: 'listMachines', times: 2 }]);
      assert.equal(added.status, 200);
      assert.equal((await request(sim, 'GET', api('/servers'), undefined, bearer())).status, 502);
      assert.equal((await request(sim, 'GET', api('/workflows'), undefined, bearer())).status, 200, 'only the named route');
      assert.equal((await request(sim, 'GET', api('/servers'), undefined, bearer())).status, 502);
      assert.equal((await request(sim, 'GET', api('/servers'), undefined, bearer())).status, 200, 'used up after two');
      const badFault = await request(sim, 'POST', '/__sim/faults', { action: 'explode' });
      assert.equal(badFault.status, 400);
      assert.match((badFault.body as { message: string }).message, /Fault action must be one of error, drop, dropAfterHandling, delay, rateLimit, got "explode"/);
      const badRoute = await request(sim, 'POST', '/__sim/faults', { action: 'drop', route: 'servers' });
      assert.match((badRoute.body as { message: string }).message, /Fault route must be one or more of listWorkflows/);

      const config = await request(sim, 'POST', '/__sim/config', { bootMs: 10, errorEnvelope: 'message' });
      assert.equal((config.body as { bootMs: number }).bootMs, 10);
      assert.deepEqual((await request(sim, 'GET', api('/servers/nope'), undefined, bearer())).body, { message: 'Server nope not found.' });
      const badKey = await request(sim, 'POST', '/__sim/config', { bootSeconds: 3 });
      assert.equal(badKey.status, 400);
      assert.match((badKey.body as { message: string }).message, /Unknown simulator setting bootSeconds; known: bootMs, deleteMs/);
      const badValue = await request(sim, 'POST', '/__sim/config', { rateLimit: { ratePerSecond: 0 } });
      assert.match((badValue.body as { message: string }).message, /rateLimit must be null or/);
      const unknown = await request(sim, 'GET', '/__sim/nothing');
      assert.equal(unknown.status, 404);
      assert.match((unknown.body as { message: string }).message, /Routes: GET\|DELETE \/__sim\/requests/);
    });

    it('drops connections on request (before, or after doing the work)', async () => {
      await request(sim, 'POST', '/__sim/faults', { action: 'dropAfterHandling', route: 'launch' });
      await assert.rejects(request(sim, 'POST', api('/servers'), { workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 60 }, bearer()), /socket hang up|ECONNRESET/);
      assert.equal(sim.machines().length, 1, 'the machine was created before the connection dropped');
      assert.equal(sim.requests()[0].dropped, true);
      assert.equal(sim.requests()[0].status, 0);
    });
  });

  it('closes cleanly with machines and timers pending', async () => {
    await sim.seedMachine({ current_status: 'Starting' });
    await sim.seedMachine();
    await sim.close();
    await assert.rejects(request(sim, 'GET', '/__sim/machines'), /ECONNREFUSED/);
    // Same port again: closing released it.
    sim = await startTestSimulator({ port: Number(new URL(sim.url).port) });
  });
});
