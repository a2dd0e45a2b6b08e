import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { type AddressInfo } from 'node:net';
import * as os from 'node:os';
import { UnsafeUrlError } from '../../src/api/errors';
import { RunComfyClient } from '../../src/api/runcomfyClient';
import { assertTokenDestination, parseApiBaseUrl } from '../../src/api/tokenPolicy';
import { demoUserId, token1, unlimitedBucket } from './helpers/runcomfyTestKit';

function refuses(raw: string, message: RegExp): void {
  assert.throws(
    () => parseApiBaseUrl(raw, 'RUNCOMFY_API_URL'),
    (e: unknown) => {
      assert.ok(e instanceof UnsafeUrlError, String(e));
      assert.match(e.message, message);
      return true;
    },
    raw,
  );
}

/** An IPv4 address of this machine that is not loopback, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('token policy: where the RunComfy token may go', () => {
  it('accepts https anywhere and plain http to loopback hosts only', () => {
    for (const ok of ['https://api.runcomfy.net', 'https://beta-api.runcomfy.net/', 'http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:9', 'http://127.1.2.3']) {
      assert.doesNotThrow(() => parseApiBaseUrl(ok), ok);
    }
  });

  it('refuses plain http to any other host, naming the rule and the source', () => {
    refuses('http://api.runcomfy.net', /^Refusing to send the RunComfy token over plain http to http:\/\/api\.runcomfy\.net \(RUNCOMFY_API_URL\): plain http is allowed only for loopback hosts/);
    refuses('http://10.0.0.5:8080', /plain http to http:\/\/10\.0\.0\.5:8080/);
    refuses('http://localhost.evil.com', /plain http/);
    refuses('http://127.0.0.1.nip.io', /plain http/);
  });

  it('refuses other schemes, embedded credentials and garbage', () => {
    refuses('ftp://api.runcomfy.net', /uses ftp:/);
    refuses('https://user:pw@api.runcomfy.net', /must not contain a user name or password/);
    refuses('not a url', /is not a valid URL/);
  });

  it('sends the token only to the configured origin', () => {
    const base = new URL('https://api.runcomfy.net');
    assert.doesNotThrow(() => assertTokenDestination(new URL('https://api.runcomfy.net/prod/api/users/u/servers'), base));
    assert.throws(() => assertTokenDestination(new URL('https://evil.example/prod'), base), /goes only to the configured API origin https:\/\/api\.runcomfy\.net/);
    assert.throws(() => assertTokenDestination(new URL('http://api.runcomfy.net/prod'), base), UnsafeUrlError);
  });

  it('a client for http to a non-loopback host is refused before anything connects', async function () {
    const address = nonLoopbackAddress();
    if (!address) this.skip();
    let connections = 0;
    const server = http.createServer((_req, res) => res.end('[]'));
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    try {
      const url = `http://${address}:${(server.address() as AddressInfo).port}`;
      assert.throws(
        () => new RunComfyClient({ baseUrl: url, userId: demoUserId, getToken: () => Promise.resolve(token1), bucket: unlimitedBucket() }),
        /Refusing to send the RunComfy token over plain http/,
      );
      // The same server over loopback is fine, which shows the refusal is about the host.
      const local = new RunComfyClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        userId: demoUserId,
        getToken: () => Promise.resolve(token1),
        bucket: unlimitedBucket(),
      });
      await local.listMachines();
      assert.equal(connections, 1, 'only the loopback client connected');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
