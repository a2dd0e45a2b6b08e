import * as assert from 'node:assert/strict';
import { AuthError } from '../../src/api/errors';
import { AccountManager } from '../../src/auth/accountManager';
import { type CredentialStore, type Credentials } from '../../src/auth/credentialStore';
import { Emitter } from '../../src/base/event';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { demoTokens } from '../../src/simulator/runcomfy/demoSeed';
import { type ConfigService } from '../../src/util/config';
import { demoUserId, eventually, fluxV3, startTestSimulator, token1, unlimitedBucket } from './helpers/runcomfyTestKit';

/**
 * The editor's two sources of account changes, as AccountManager sees them: SecretStorage behind
 * CredentialStore, and the `runcomfy.*` settings behind ConfigService. Firing them rebuilds the
 * account exactly as a sign-in, a sign-out or a settings change does in the window.
 */
class Inputs {
  private readonly credentialsChanged = new Emitter<Credentials | undefined>();
  private readonly configChanged = new Emitter<unknown>();
  private credentials: Credentials | undefined;
  private config: { apiUrl: string; pollIntervalSeconds: number };

  readonly credentialStore: CredentialStore;
  readonly configService: ConfigService;

  constructor(apiUrl: string) {
    this.credentials = { userId: demoUserId, token: token1 };
    this.config = { apiUrl, pollIntervalSeconds: 30 };
    const config = () => this.config;
    this.credentialStore = { get: () => Promise.resolve(this.credentials), onDidChange: this.credentialsChanged.event } as unknown as CredentialStore;
    this.configService = {
      get value() {
        return config();
      },
      onDidChange: this.configChanged.event,
    } as unknown as ConfigService;
  }

  setCredentials(c: Credentials | undefined): void {
    this.credentials = c;
    this.credentialsChanged.fire(c);
  }

  setConfig(patch: Partial<{ apiUrl: string; pollIntervalSeconds: number }>): void {
    this.config = { ...this.config, ...patch };
    this.configChanged.fire(this.config);
  }
}

describe('money operations outlive the account (AccountManager against the simulator)', () => {
  let sim: RunComfySimulator;
  const closers: (() => unknown)[] = [];

  beforeEach(async () => {
    sim = await startTestSimulator();
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await sim.close();
  });

  async function manager(apiUrl = sim.url): Promise<{ accounts: AccountManager; inputs: Inputs }> {
    const inputs = new Inputs(apiUrl);
    const accounts = new AccountManager(inputs.credentialStore, inputs.configService, () => undefined, {
      bucket: unlimitedBucket(),
      timeoutMs: 2000,
      retry: { baseDelayMs: 10, maxDelayMs: 40 },
      launchReconcile: { attempts: 5, intervalMs: 50 },
    });
    closers.push(() => accounts.dispose());
    await accounts.initialize();
    return { accounts, inputs };
  }

  const deletes = (s = sim) => s.requests().filter((r) => r.route === 'stop');

  async function gone(s: RunComfySimulator, serverId: string): Promise<void> {
    await eventually(() => !s.machines().some((m) => m.server_id === serverId), `machine ${serverId} is gone from the simulator`, 10_000);
  }

  it('a stop retried through 5xx goes on when a setting change rebuilds the account, and the machine stops', async () => {
    const { accounts, inputs } = await manager();
    const id = (await sim.seedMachine({ server_type: 'large' })).server_id as string;
    sim.addFault({ action: 'error', status: 503, times: 'always', route: 'stop' });
    const first = accounts.requireAccount();
    const stopping = first.machines.stop(id);
    await eventually(() => deletes().length >= 3, 'three refused DELETEs');

    inputs.setConfig({ pollIntervalSeconds: 60 });
    await eventually(() => accounts.accountOrUndefined !== first, 'the setting change rebuilt the account');
    assert.equal(accounts.money.stopping(id)?.kind, 'stop', 'the stop is still on record');
    const before = deletes().length;
    await eventually(() => deletes().length >= before + 3, 'more DELETEs after the rebuild');

    sim.clearFaults();
    const stopped = await stopping;
    assert.equal(stopped?.status, 'Deleting');
    assert.notEqual(sim.billing().machines[0]?.stopped_at, null, 'billing stopped');
    assert.equal(accounts.money.inFlight.length, 0, 'the record is empty once the stop landed');
    await gone(sim, id);
  });

  it('a stop goes on through a disposal of the whole manager (the window closing)', async () => {
    const { accounts } = await manager();
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 502, times: 'always', route: 'stop' });
    const stopping = accounts.requireAccount().machines.stop(id);
    await eventually(() => deletes().length >= 2, 'two refused DELETEs');
    accounts.dispose();
    const before = deletes().length;
    await eventually(() => deletes().length >= before + 2, 'more DELETEs after the disposal');
    sim.clearFaults();
    assert.equal((await stopping)?.status, 'Deleting');
    assert.equal(await accounts.money.whenIdle(1000), true);
    await gone(sim, id);
  });

  it('a stop survives a sign-out: it finishes with the token it started with, at the same origin', async () => {
    const { accounts, inputs } = await manager();
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 500, times: 'always', route: 'stop' });
    const stopping = accounts.requireAccount().machines.stop(id);
    await eventually(() => deletes().length >= 2, 'two refused DELETEs');
    inputs.setCredentials(undefined);
    assert.equal(accounts.state.kind, 'signedOut');
    const before = deletes().length;
    await eventually(() => deletes().length >= before + 2, 'more DELETEs after the sign-out');
    sim.clearFaults();
    assert.equal((await stopping)?.status, 'Deleting');
    assert.deepEqual([...new Set(deletes().map((r) => r.tokenSlot))], [1], 'every DELETE carried Token1');
  });

  it('a stop takes a rotated token of the same user at the same origin', async () => {
    const { accounts, inputs } = await manager();
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 503, times: 'always', route: 'stop' });
    const stopping = accounts.requireAccount().machines.stop(id);
    await eventually(() => deletes().length >= 2, 'two refused DELETEs');
    inputs.setCredentials({ userId: demoUserId, token: demoTokens[1] });
    await eventually(() => deletes().some((r) => r.tokenSlot === 2), 'a DELETE with the new token');
    sim.clearFaults();
    assert.equal((await stopping)?.status, 'Deleting');
  });

  it('a stop stays with the origin where the machine lives when runcomfy.apiUrl changes, and the new token never goes there', async () => {
    const other = await startTestSimulator();
    closers.push(() => other.close());
    const { accounts, inputs } = await manager();
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 503, times: 'always', route: 'stop' });
    const stopping = accounts.requireAccount().machines.stop(id);
    await eventually(() => deletes().length >= 2, 'two refused DELETEs');
    inputs.setConfig({ apiUrl: other.url });
    inputs.setCredentials({ userId: demoUserId, token: demoTokens[1] });
    await eventually(() => accounts.accountOrUndefined?.client.baseUrl.origin === new URL(other.url).origin, 'an account at the new origin');
    const before = deletes().length;
    await eventually(() => deletes().length >= before + 2, 'more DELETEs after the change');
    sim.clearFaults();
    assert.equal((await stopping)?.status, 'Deleting');
    assert.deepEqual([...new Set(deletes().map((r) => r.tokenSlot))], [1], 'only the token configured for this origin came here');
    assert.equal(deletes(other).length, 0, 'nothing about this machine went to the new origin');
    await gone(sim, id);
  });

  it('a stop whose token is refused ends with an error that says the machine may still bill', async () => {
    const { accounts } = await manager();
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 503, times: 2, route: 'stop' });
    sim.addFault({ action: 'error', status: 401, message: 'Unauthorized', route: 'stop' });
    await assert.rejects(accounts.requireAccount().machines.stop(id), (e: unknown) => {
      assert.ok(e instanceof AuthError);
      assert.match(e.message, /^Stop machine .* failed: HTTP 401 Unauthorized\. .*The machine was not stopped and may still be billing\.$/);
      return true;
    });
    assert.equal(accounts.money.inFlight.length, 0);
    assert.equal(sim.machines()[0]?.current_status, 'Ready');
  });

  it('a launch whose answer is lost while a setting change rebuilds the account is reconciled once, with no second launch', async () => {
    const { accounts, inputs } = await manager();
    sim.configure({ latencyMs: 300 });
    sim.addFault({ action: 'dropAfterHandling', route: 'launch' });
    const first = accounts.requireAccount();
    const launching = first.machines.launch({ workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 600 });
    // The second request to arrive is the POST; the simulator holds it for 300 ms, then drops the answer.
    await eventually(() => sim.lastSeq >= 2, 'the POST has arrived');
    inputs.setConfig({ pollIntervalSeconds: 90 });
    await eventually(() => accounts.accountOrUndefined !== first, 'the setting change rebuilt the account');
    const m = await launching;
    const posts = sim.requests().filter((r) => r.route === 'launch');
    assert.equal(posts.length, 1, 'exactly one POST: never a blind retry');
    assert.equal(posts[0]?.dropped, true);
    assert.equal(sim.machines().length, 1);
    assert.equal(m.serverId, sim.machines()[0]?.server_id, 'the machine the lost answer created was found in the list');
    assert.ok(
      sim.requests().some((r) => r.route === 'listMachines' && r.seq > posts[0].seq),
      'the list was read after the lost answer',
    );
  });

  it('a launch on an account replaced before it was sent launches nothing and says so', async () => {
    const { accounts, inputs } = await manager();
    const first = accounts.requireAccount();
    inputs.setConfig({ pollIntervalSeconds: 45 });
    await eventually(() => accounts.accountOrUndefined !== first, 'the setting change rebuilt the account');
    await assert.rejects(first.machines.launch({ workflow_version_id: fluxV3, server_type: 'large', estimated_duration: 600 }), /before the launch was sent; nothing was launched/);
    assert.equal(sim.requests().filter((r) => r.route === 'launch').length, 0);
  });
});
