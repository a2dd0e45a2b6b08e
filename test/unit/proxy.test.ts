import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { type AddressInfo } from 'node:net';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { ComfySocket } from '../../src/api/comfySocket';
import { ApiError } from '../../src/api/errors';
import { bypassesProxy, proxyConfigFromEnv, ProxyRouter, redactProxyUrl, type ProxyConfig } from '../../src/api/proxy';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { WebSocketServer } from 'ws';
import { spawnCli, tempDir } from './helpers/runHarness';
import { recordingsDir } from './helpers/runRecordings';
import { cliEnv, cliPath, runCliProcess, startTestSimulator, testClient, token1 } from './helpers/runcomfyTestKit';
import { startTestProxy, type TestProxy } from './helpers/testProxy';

/** Everything through `proxyUrl`, as `http.proxy` would configure it. */
function through(proxyUrl: string, extra: Partial<ProxyConfig> = {}): ProxyRouter {
  return new ProxyRouter({ httpProxy: proxyUrl, httpsProxy: proxyUrl, source: 'the test', noProxy: [], strictSSL: true, ...extra });
}

const hostOf = (url: string) => new URL(url).host;

/** A port nothing listens on (a proxy that is down). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('proxies: every request through a real CONNECT proxy (the `proxy` package) on 127.0.0.1', function () {
  this.timeout(30_000);
  let api: RunComfySimulator;
  let comfy: ComfySimulator;
  let proxy: TestProxy;
  const routers: ProxyRouter[] = [];
  const sockets: ComfySocket[] = [];
  const router = (proxyUrl: string, extra: Partial<ProxyConfig> = {}) => {
    const r = through(proxyUrl, extra);
    routers.push(r);
    return r;
  };

  before(async () => {
    api = await startTestSimulator();
    comfy = await startComfySimulator();
  });
  after(async () => {
    await api.close();
    await comfy.close();
  });
  beforeEach(async () => {
    proxy = await startTestProxy();
    comfy.clearRequests();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.dispose();
    await Promise.all(routers.splice(0).map((r) => r.close()));
    await proxy.close();
  });

  it('RunComfy API calls go through the proxy in a CONNECT tunnel: the proxy never sees the token', async () => {
    const since = api.requests().length;
    const client = testClient(api, { proxy: router(proxy.url) });
    await client.listMachines();
    await client.listWorkflows();
    assert.deepEqual(
      api.requests().slice(since).map((r) => r.route),
      ['listMachines', 'listWorkflows'],
    );
    const visits = proxy.visitsTo(hostOf(api.url));
    assert.ok(visits.length >= 1, `the proxy saw no tunnel to the API: ${JSON.stringify(proxy.visits)}`);
    assert.ok(visits.every((v) => v.method === 'CONNECT' && v.authorization === undefined));
    assert.ok(!JSON.stringify(proxy.visits).includes(token1), 'the token reached the proxy');
  });

  it('with the proxy down, RunComfy calls fail naming the proxy (they never go around it), and its credentials stay out of the error', async () => {
    const port = await closedPort();
    const since = api.requests().length;
    const client = testClient(api, { proxy: router(`http://someone:s3cret-pw@127.0.0.1:${port}`), retry: { maxRetries: 0 } });
    const e = await client.listMachines().then(
      () => assert.fail('listed machines without the proxy'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof ApiError && e.kind === 'network', String(e));
    assert.match(e.message, new RegExp(`^List machines failed: connection refused .*\\(via proxy 127\\.0\\.0\\.1:${port}\\)\\.$`));
    assert.ok(!e.message.includes('s3cret') && !e.message.includes('someone'), e.message);
    assert.equal(api.requests().length, since, 'the API heard from us directly');
    assert.equal(redactProxyUrl(`http://someone:s3cret-pw@127.0.0.1:${port}`), `http://127.0.0.1:${port}`);
  });

  it('ComfyUI calls, an upload, a download and the websocket go through the proxy', async () => {
    const r = router(proxy.url);
    const client = new ComfyClient({ baseUrl: comfy.url, proxy: r, retry: { maxRetries: 0 } });
    await client.getQueue();
    const uploaded = await client.uploadFile(path.join(recordingsDir, 'view_saveimage_output.png'));
    const made = await comfy.createOutputFile({ filename: 'through-proxy.bin', bytes: 300_000 });
    let received = 0;
    await client.download({ filename: made.filename, subfolder: '', type: 'output' }, async (body) => {
      for await (const chunk of body) received += (chunk as Buffer).length;
    });
    assert.equal(received, made.bytes);
    const httpTunnels = proxy.visitsTo(hostOf(comfy.url)).length;
    assert.ok(httpTunnels >= 1, `the proxy saw no ComfyUI HTTP: ${JSON.stringify(proxy.visits)}`);
    const socket = new ComfySocket({ baseUrl: comfy.url, clientId: 'proxy-test', proxy: r, pingIntervalMs: 0 });
    sockets.push(socket);
    await socket.connect();
    assert.equal(socket.state, 'open');
    assert.equal(proxy.visitsTo(hostOf(comfy.url)).length, httpTunnels + 1, 'the websocket did not open a tunnel of its own');

    const seen = comfy.requests().map((q) => `${q.method} ${q.path}`);
    for (const want of ['GET /queue', 'POST /upload/image', 'GET /view', 'GET /ws']) assert.ok(seen.includes(want), `ComfyUI did not see ${want}: ${seen.join(', ')}`);
    assert.ok(fs.existsSync(path.join(comfy.dataDir, 'input', uploaded.name)), 'the upload did not land');
    assert.ok(proxy.visitsTo(hostOf(comfy.url)).every((v) => v.method === 'CONNECT'));
  });

  it('a NO_PROXY entry with the port reaches that server directly, the rest still go through the proxy', async () => {
    const comfyHost = hostOf(comfy.url);
    const r = router(proxy.url, { noProxy: [comfyHost] });
    const client = new ComfyClient({ baseUrl: comfy.url, proxy: r });
    await client.getQueue();
    await client.uploadFile(path.join(recordingsDir, 'view_saveimage_output.png'));
    const socket = new ComfySocket({ baseUrl: comfy.url, clientId: 'no-proxy-test', proxy: r, pingIntervalMs: 0 });
    sockets.push(socket);
    await socket.connect();
    await testClient(api, { proxy: r }).listMachines();

    assert.deepEqual(proxy.visitsTo(comfyHost), [], 'the proxy saw the NO_PROXY host');
    const seen = comfy.requests().map((q) => `${q.method} ${q.path}`);
    for (const want of ['GET /queue', 'POST /upload/image', 'GET /ws']) assert.ok(seen.includes(want), `ComfyUI did not see ${want}`);
    assert.ok(proxy.visitsTo(hostOf(api.url)).length >= 1, 'the API (another port) did not go through the proxy');
  });

  it('a proxy that wants credentials refuses without them (HTTP 407, said so) and works with http.proxyAuthorization, which the servers never see', async () => {
    await proxy.close();
    const authorization = `Basic ${Buffer.from('alice:proxy-pass').toString('base64')}`;
    proxy = await startTestProxy({ authorization });

    const since = api.requests().length;
    const refused = await testClient(api, { proxy: router(proxy.url), retry: { maxRetries: 0 } })
      .listMachines()
      .then(() => assert.fail('the proxy let us through without credentials'), (e: unknown) => e);
    assert.ok(refused instanceof ApiError, String(refused));
    assert.match(refused.message, /the proxy asks for credentials \(HTTP 407 Proxy Authentication Required\) \(via proxy 127\.0\.0\.1:\d+\)/);
    assert.equal(api.requests().length, since);
    const wsRefused = new ComfySocket({ baseUrl: comfy.url, clientId: 'auth-refused', proxy: router(proxy.url), pingIntervalMs: 0 });
    sockets.push(wsRefused);
    await assert.rejects(wsRefused.connect(), /the proxy asks for credentials \(HTTP 407 Proxy Authentication Required\) \(via proxy 127\.0\.0\.1:\d+\)/);

    // A server that records every header: what the target of a tunnel receives.
    const heard: http.IncomingHttpHeaders[] = [];
    const target = http.createServer((req, res) => {
      heard.push(req.headers);
      res.end('{}');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    try {
      const r = router(proxy.url, { authorization });
      await testClient(api, { proxy: r }).listMachines();
      const socket = new ComfySocket({ baseUrl: comfy.url, clientId: 'auth-ok', proxy: r, pingIntervalMs: 0 });
      sockets.push(socket);
      await socket.connect();
      // Not a ComfyUI: the answer is refused, but the request reached it through the tunnel.
      await new ComfyClient({ baseUrl: `http://127.0.0.1:${(target.address() as AddressInfo).port}`, proxy: r, retry: { maxRetries: 0 } }).getQueue().catch(() => undefined);
      assert.equal(heard.length, 1, 'the recording server was not reached');
      assert.equal(heard[0]['proxy-authorization'], undefined, 'Proxy-Authorization reached the target');
      const accepted = proxy.visits.filter((v) => v.proxyAuthorization === authorization);
      assert.ok(accepted.some((v) => v.target === hostOf(api.url)) && accepted.some((v) => v.target === hostOf(comfy.url)), JSON.stringify(proxy.visits));
    } finally {
      await new Promise<void>((r) => target.close(() => r()));
    }
  });

  it('http.proxyStrictSSL false skips the certificate check of https and wss targets behind the proxy only', async () => {
    // A self-signed certificate for 127.0.0.1 (test/fixtures/tls, made once with openssl, valid until 2126): no CA vouches for it.
    const tls = path.resolve(__dirname, '../../../test/fixtures/tls');
    const server = https.createServer({ cert: fs.readFileSync(path.join(tls, 'cert.pem')), key: fs.readFileSync(path.join(tls, 'key.pem')) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ queue_running: [], queue_pending: [] }));
    });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket) => socket.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'tls-test' } })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const strict = router(proxy.url);
      await assert.rejects(new ComfyClient({ baseUrl: url, proxy: strict, retry: { maxRetries: 0 } }).getQueue(), /certificate|self.signed/i);

      const lax = router(proxy.url, { strictSSL: false });
      assert.deepEqual(await new ComfyClient({ baseUrl: url, proxy: lax }).getQueue(), { running: [], pending: [] });
      const socket = new ComfySocket({ baseUrl: url, clientId: 'tls-test', proxy: lax, pingIntervalMs: 0 });
      sockets.push(socket);
      await socket.connect();
      assert.ok(proxy.visitsTo(hostOf(url)).length >= 3, `the proxy saw ${JSON.stringify(proxy.visits)}`);

      // Direct requests keep the check: the setting is about the proxy's path.
      const direct = router(proxy.url, { strictSSL: false, noProxy: [hostOf(url)] });
      await assert.rejects(new ComfyClient({ baseUrl: url, proxy: direct, retry: { maxRetries: 0 } }).getQueue(), /certificate|self.signed/i);
    } finally {
      for (const s of sockets.splice(0)) s.dispose();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a loopback server is reached directly when the proxy is elsewhere: that proxy could not reach it, and must not read a plain-http token', async () => {
    // 192.0.2.1 is TEST-NET-1: nothing answers there, so a request sent to it would hang and fail.
    const since = api.requests().length;
    await testClient(api, { proxy: router('http://192.0.2.1:3128') }).listMachines();
    assert.equal(api.requests().length, since + 1);
  });

  it('an http.proxy that is no http(s) URL fails every request with a message naming the setting', async () => {
    const client = testClient(api, { proxy: router('socks5://127.0.0.1:1080', { source: 'the http.proxy setting' }) });
    await assert.rejects(client.listMachines(), /The proxy from the http\.proxy setting is a socks5 proxy; only http:\/\/ and https:\/\/ proxies are supported\./);
  });
});

describe('NO_PROXY matching and the environment (one matcher for undici and websockets)', () => {
  const u = (s: string) => new URL(s);

  it('matches hosts, ports, domains and wildcards as curl and undici do', () => {
    assert.equal(bypassesProxy(u('http://127.0.0.1:8188/x'), ['127.0.0.1']), true);
    assert.equal(bypassesProxy(u('http://127.0.0.1:8188/x'), ['127.0.0.1:8188']), true);
    assert.equal(bypassesProxy(u('http://127.0.0.1:8188/x'), ['127.0.0.1:9999']), false);
    assert.equal(bypassesProxy(u('https://api.runcomfy.net/'), ['api.runcomfy.net:443']), true);
    assert.equal(bypassesProxy(u('wss://x.runcomfy.com/ws'), ['.runcomfy.com']), true);
    assert.equal(bypassesProxy(u('wss://x.runcomfy.com/ws'), ['*.runcomfy.com']), true);
    assert.equal(bypassesProxy(u('https://runcomfy.com/'), ['.runcomfy.com']), true);
    assert.equal(bypassesProxy(u('https://notruncomfy.com/'), ['runcomfy.com']), false);
    assert.equal(bypassesProxy(u('HTTPS://API.RunComfy.NET/'), ['api.runcomfy.net']), true);
    assert.equal(bypassesProxy(u('http://[::1]:8188/'), ['[::1]:8188']), true);
    assert.equal(bypassesProxy(u('http://[::1]:8188/'), ['::1']), true);
    assert.equal(bypassesProxy(u('https://anything.example/'), ['*']), true);
    assert.equal(bypassesProxy(u('https://anything.example/'), []), false);
  });

  it('reads the environment like curl: lowercase first, https falls back to the http proxy, NO_PROXY split on commas and spaces', () => {
    const c = proxyConfigFromEnv({ HTTP_PROXY: 'http://upper:1', http_proxy: 'http://lower:2', NO_PROXY: 'a.example, b.example  c.example' });
    assert.deepEqual([c.httpProxy, c.httpsProxy, c.noProxy, c.source], ['http://lower:2', 'http://lower:2', ['a.example', 'b.example', 'c.example'], 'http_proxy']);
    const d = proxyConfigFromEnv({ HTTPS_PROXY: 'proxy.corp:8080' });
    assert.deepEqual([d.httpProxy, d.httpsProxy], [undefined, 'proxy.corp:8080']);
    assert.equal(new ProxyRouter(d).describe(u('https://api.runcomfy.net/')), 'via proxy proxy.corp:8080');
    assert.equal(new ProxyRouter(d).describe(u('http://comfy.example/')), undefined, 'HTTPS_PROXY alone does not proxy http');
  });
});

describe('the CLI honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY (node dist/cli.js through a real proxy)', function () {
  this.timeout(60_000);
  let api: RunComfySimulator;
  let comfy: ComfySimulator;
  let proxy: TestProxy;

  before(async function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
    api = await startTestSimulator();
    comfy = await startComfySimulator();
  });
  after(async () => {
    await api.close();
    await comfy.close();
  });
  beforeEach(async () => {
    proxy = await startTestProxy();
  });
  afterEach(async () => {
    await proxy.close();
  });

  it('RunComfy commands go through HTTP_PROXY to a plain-http API', async () => {
    const since = api.requests().length;
    const run = await runCliProcess(['machines', '--json'], cliEnv(api, { HTTP_PROXY: proxy.url }));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(api.requests().slice(since).map((r) => r.route), ['listMachines']);
    assert.ok(proxy.visitsTo(hostOf(api.url)).length >= 1, `the proxy saw ${JSON.stringify(proxy.visits)}`);
    assert.ok(!JSON.stringify(proxy.visits).includes(token1));
  });

  it('NO_PROXY makes the same command go direct', async () => {
    const since = api.requests().length;
    const direct = await runCliProcess(['machines', '--json'], cliEnv(api, { HTTP_PROXY: proxy.url, NO_PROXY: `localhost, ${hostOf(api.url)}` }));
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(api.requests().length, since + 1);
    assert.deepEqual(proxy.visits, [], 'the proxy saw a NO_PROXY host');
  });

  it('queue: ComfyUI calls, the upload, the websocket and the downloads go through HTTP_PROXY', async () => {
    const work = tempDir('runcomfy-cli-proxy-');
    try {
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), path.join(work, 'photo.png'));
      const wf = path.join(work, 'workflow_api.json');
      fs.writeFileSync(
        wf,
        JSON.stringify({
          '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
          '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
          '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'proxied/inverted' } },
        }),
      );
      comfy.clearRequests();
      const { code, stderr } = await spawnCli(cliPath, ['queue', wf, '--comfy-url', comfy.url], { cwd: work, env: { HTTP_PROXY: proxy.url } }).done;
      assert.equal(code, 0, stderr);
      const seen = comfy.requests().map((q) => `${q.method} ${q.path}`);
      for (const want of ['POST /upload/image', 'POST /prompt', 'GET /ws', 'GET /view']) assert.ok(seen.includes(want), `ComfyUI did not see ${want}: ${seen.join(', ')}`);
      const tunnels = proxy.visitsTo(hostOf(comfy.url));
      assert.ok(tunnels.length >= 2, `the proxy saw ${JSON.stringify(proxy.visits)}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
