import * as assert from 'node:assert';
import * as http from 'node:http';
import { type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { ComfyClient } from '../../src/api/comfyClient';
import { ComfySocket, type ComfyMessage } from '../../src/api/comfySocket';
import { ApiError } from '../../src/api/errors';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type Clock } from '../../src/base/clock';
import { recordedWorkflow } from './helpers/runHarness';
import { ManualClock, eventually } from './helpers/runcomfyTestKit';

function nextEvent<T>(subscribe: (listener: (e: T) => void) => { dispose(): void }): Promise<T> {
  return new Promise((resolve) => {
    const sub = subscribe((e) => {
      sub.dispose();
      resolve(e);
    });
  });
}

const waitFor = (check: () => boolean, what: string) => eventually(check, what);

describe('ComfySocket against the ComfyUI simulator', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  const sockets: ComfySocket[] = [];
  let n = 0;

  const open = (options: Partial<ConstructorParameters<typeof ComfySocket>[0]> = {}) => {
    const s = new ComfySocket({ baseUrl: sim.url, clientId: `socket-test-${++n}`, reconnect: { baseDelayMs: 20, maxDelayMs: 80 }, pingIntervalMs: 0, ...options });
    sockets.push(s);
    return s;
  };

  before(async () => {
    sim = await startComfySimulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.dispose();
  });

  it('opens /ws?clientId= without an Origin header and ws:// for http', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const urls: string[] = [];
    const server = http.createServer();
    server.on('upgrade', (req, socket) => {
      seen.push(req.headers);
      urls.push(req.url ?? '');
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix`;
    const s = new ComfySocket({ baseUrl: url, clientId: 'a b&c' });
    sockets.push(s);
    try {
      await assert.rejects(s.connect(), (e: unknown) => e instanceof ApiError && e.kind === 'notFound' && e.message.includes('no websocket at /ws'));
      assert.strictEqual(seen.length, 1);
      assert.strictEqual(seen[0].origin, undefined);
      assert.strictEqual(seen[0].upgrade, 'websocket');
      assert.strictEqual(urls[0], '/prefix/ws?clientId=a+b%26c');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('sends the feature_flags handshake first and gets the server flags (none from an old server)', async () => {
    const s = open();
    const first = nextEvent<ComfyMessage>(s.onMessage);
    await s.connect();
    assert.deepStrictEqual(await first, { type: 'status', queueRemaining: 0, sid: `socket-test-${n}` });
    await waitFor(() => s.featureFlags !== undefined, 'feature flags');
    assert.deepStrictEqual(s.featureFlags, { supports_preview_metadata: true, max_upload_size: 104857600 });

    sim.configure({ oldServer: true });
    const old = open();
    await old.connect();
    // Proves a negative: on a slow machine the wait is longer, and flags the old server sent would still show.
    await new Promise((r) => setTimeout(r, 50));
    assert.strictEqual(old.featureFlags, undefined);
  });

  it('waits out a booting server (403 on /ws) with backoff instead of a storm', async () => {
    sim.boot(3_600_000);
    sim.clearRequests();
    const s = open({ reconnect: { baseDelayMs: 40, maxDelayMs: 2000 } });
    const connecting = s.connect();
    const refused = () => sim.requests().filter((r) => r.path === '/ws' && r.status === 403);
    await eventually(() => refused().length >= 4, 'four refused attempts');
    sim.boot(0);
    await connecting;
    assert.strictEqual(s.state, 'open');
    // Each retry waits at least half its doubling backoff (jitter stays in the upper half): 20, 40, 80 ms.
    // A slower machine only waits longer.
    const times = refused().map((r) => r.time);
    for (let i = 1; i < 4; i++) assert.ok(times[i] - times[i - 1] >= 20 * 2 ** (i - 1) - 2, `retry ${i} came ${times[i] - times[i - 1]} ms after the one before`);
    assert.strictEqual(sim.requests().filter((r) => r.path === '/ws').at(-1)?.status, 101);
  });

  it('gives up connecting after its deadline with a clear message', async () => {
    sim.boot(3_600_000);
    try {
      const s = open({ connectDeadlineMs: 300 });
      await assert.rejects(s.connect(), (e: unknown) => e instanceof ApiError && e.kind === 'network' && /Could not open the ComfyUI websocket .* HTTP 403/.test(e.message));
    } finally {
      sim.boot(0);
    }
  });

  it('after a drop, closes the old socket, reconnects once with the same id and still hears its prompt', async () => {
    const s = open();
    await s.connect();
    const disconnected = nextEvent(s.onDidDisconnect);
    const reconnected = nextEvent<void>(s.onDidReconnect);
    assert.strictEqual(sim.dropSocketsNow(), 1);
    await disconnected;
    await reconnected;
    assert.strictEqual(s.state, 'open');
    assert.strictEqual(sim.state().sockets, 1);
    const seen: ComfyMessage[] = [];
    s.onMessage((m) => seen.push(m));
    const client = new ComfyClient({ baseUrl: sim.url });
    const queued = await client.queuePrompt({ prompt: recordedWorkflow('workflow_a_api.json'), clientId: `socket-test-${n}` });
    await waitFor(() => seen.some((m) => m.type === 'executing' && m.node === null && m.promptId === queued.promptId), 'the end of the prompt');
    assert.ok(seen.some((m) => m.type === 'execution_start' && m.promptId === queued.promptId));
    assert.ok(seen.some((m) => m.type === 'preview' && m.promptId === queued.promptId), 'type-4 previews after the reconnect');
  });

  it('keeps the connection alive with pings that the server answers', async () => {
    const s = open({ pingIntervalMs: 20 });
    await s.connect();
    // Proves a negative (no drop for want of pongs): a slower machine waits longer, and a drop would still show.
    await new Promise((r) => setTimeout(r, 200));
    assert.strictEqual(s.state, 'open');
    assert.strictEqual(sim.state().sockets, 1);
  });

  it('holds one keep-alive timer however many pings a long connection sends', async () => {
    // A bare websocket server that answers each ping with a status message, so the test can tell when the pong is in.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    let pings = 0;
    wss.on('connection', (ws) => {
      const status = () => ws.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'keep-alive' } }));
      status();
      ws.on('ping', () => {
        pings++;
        status();
      });
    });
    const manual = new ManualClock();
    let disposed = 0;
    const clock: Clock = {
      now: () => manual.now(),
      setTimeout: (fn, ms) => {
        const t = manual.setTimeout(fn, ms);
        return { dispose: () => (disposed++, t.dispose()) };
      },
    };
    const s = open({ baseUrl: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, clientId: 'keep-alive', clock, pingIntervalMs: 1000 });
    try {
      let messages = 0;
      s.onMessage(() => messages++);
      await s.connect();
      const before = messages;
      for (let i = 1; i <= 100; i++) {
        await manual.advance(1000);
        await waitFor(() => messages >= before + i, `the answer to ping ${i}`);
      }
      assert.strictEqual(pings, 100);
      assert.strictEqual(s.state, 'open');
      assert.strictEqual(manual.pendingTimers, 1, 'one pending keep-alive tick');
      disposed = 0;
      s.dispose();
      assert.ok(disposed <= 1, `closing cancelled ${disposed} timers: the ticks that fired were still held`);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it('refuses a second socket for the same server and clientId, and closes on dispose', async () => {
    const a = open({ clientId: 'dup' });
    await a.connect();
    const b = new ComfySocket({ baseUrl: sim.url, clientId: 'dup' });
    await assert.rejects(b.connect(), /already open/);
    b.dispose();
    a.dispose();
    await waitFor(() => sim.state().sockets === 0, 'the socket to close');
    const c = open({ clientId: 'dup' });
    await c.connect();
    assert.strictEqual(sim.state().sockets, 1);
  });
});
