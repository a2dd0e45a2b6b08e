import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { type AddressInfo } from 'node:net';
import { UnsafeUrlError } from '../../src/api/errors';
import { checkToken, type TokenCheckOptions } from '../../src/core/tokenCheck';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { otherTokens } from '../../src/simulator/runcomfy/demoSeed';
import { demoUserId, startTestSimulator, token1, unlimitedBucket } from './helpers/runcomfyTestKit';

describe('checkToken: one request decides whether sign-in keeps a token', () => {
  let sim: RunComfySimulator;
  beforeEach(async () => {
    sim = await startTestSimulator();
  });
  afterEach(async () => {
    await sim.close();
  });

  const options = (overrides: Partial<TokenCheckOptions> = {}): TokenCheckOptions => ({
    apiUrl: sim.url,
    apiUrlSource: 'the runcomfy.apiUrl setting',
    userId: demoUserId,
    token: token1,
    authAdvice: 'Sign in again.',
    client: { bucket: unlimitedBucket(), timeoutMs: 2000 },
    ...overrides,
  });

  it('accepts a token RunComfy answers with a machine list, after exactly one request', async () => {
    assert.deepEqual(await checkToken(options()), { kind: 'accepted' });
    assert.deepEqual(sim.requests().map((r) => [r.route, r.tokenSlot, r.status]), [['listMachines', 1, 200]]);
  });

  it('reports a 401 (unknown token) and a 403 (another user\'s token) as refused, worded for the caller', async () => {
    const unknown = await checkToken(options({ token: 'not-a-token-of-anyone' }));
    assert.equal(unknown.kind, 'refused');
    assert.equal(unknown.kind === 'refused' && unknown.error.status, 401);
    assert.match(unknown.kind === 'refused' ? unknown.error.message : '', /HTTP 401 Unauthorized\. Sign in again\.$/);
    assert.ok(!(unknown.kind === 'refused' && unknown.error.message.includes('RUNCOMFY_')));
    const someoneElses = await checkToken(options({ token: otherTokens[0] }));
    assert.equal(someoneElses.kind === 'refused' && someoneElses.error.status, 403);
    assert.equal(sim.requests().length, 2);
  });

  it('leaves the token unchecked, without retrying, when the connection drops or nothing listens', async () => {
    sim.addFault({ action: 'drop', route: 'listMachines', times: 'always' });
    const dropped = await checkToken(options());
    assert.equal(dropped.kind, 'unchecked');
    assert.equal(dropped.kind === 'unchecked' && dropped.error.kind, 'network');
    assert.equal(sim.requests().length, 1);

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refusedConnection = await checkToken(options({ apiUrl: `http://127.0.0.1:${port}` }));
    assert.equal(refusedConnection.kind === 'unchecked' && refusedConnection.error.kind, 'network');
  });

  it('never sends the token to a URL the token policy refuses', async () => {
    await assert.rejects(checkToken(options({ apiUrl: 'http://api.runcomfy.net' })), (e: unknown) => e instanceof UnsafeUrlError && e.message.includes('runcomfy.apiUrl setting'));
  });
});
