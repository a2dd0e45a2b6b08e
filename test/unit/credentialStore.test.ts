import * as assert from 'node:assert/strict';
import { CredentialStore, type Credentials } from '../../src/auth/credentialStore';
import { Emitter } from '../../src/base/event';
import { eventually } from './helpers/runcomfyTestKit';

type SecretStorage = ConstructorParameters<typeof CredentialStore>[0];

/**
 * The OS keychain behind VS Code's SecretStorage, shared by every window of one extension. As in
 * VS Code, a change made through any window's SecretStorage fires `onDidChange` in every window,
 * the writing one included. The host tests cannot open a second window, and no test command may
 * write a secret, so the cross-window promise of CredentialStore is checked here, in plain Node.
 */
class Keychain {
  private readonly values = new Map<string, string>();
  private readonly windows: Emitter<{ key: string }>[] = [];

  window(): SecretStorage {
    const changed = new Emitter<{ key: string }>();
    this.windows.push(changed);
    return {
      get: (key) => Promise.resolve(this.values.get(key)),
      store: (key, value) => this.write(key, value),
      delete: (key) => this.write(key, undefined),
      onDidChange: changed.event,
    };
  }

  /** A write through the keychain itself, by another window or an older version of the extension. */
  async write(key: string, value: string | undefined): Promise<void> {
    await Promise.resolve();
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, value);
    for (const w of this.windows) w.fire({ key });
  }
}

describe('CredentialStore across windows (SecretStorage.onDidChange)', () => {
  const alice: Credentials = { userId: 'user-a', token: 'token-a' };
  let keychain: Keychain;
  let here: CredentialStore;
  let there: CredentialStore;
  let heard: (Credentials | undefined)[];
  let heardHere: (Credentials | undefined)[];

  beforeEach(async () => {
    keychain = new Keychain();
    here = new CredentialStore(keychain.window());
    there = new CredentialStore(keychain.window());
    assert.equal(await there.get(), undefined, 'the other window starts signed out (and caches that)');
    heard = [];
    heardHere = [];
    there.onDidChange((c) => heard.push(c));
    here.onDidChange((c) => heardHere.push(c));
  });
  afterEach(() => {
    here.dispose();
    there.dispose();
  });

  it('a sign-in in one window signs the other in, once', async () => {
    await here.set(alice);
    await eventually(() => heard.length > 0, 'the other window heard the sign-in');
    assert.deepEqual(await there.get(), alice);
    await here.get();
    assert.deepEqual(heard, [alice]);
    assert.deepEqual(heardHere, [alice], 'the writing window fires once, although SecretStorage echoes its own change');
  });

  it('a sign-out in one window signs the other out', async () => {
    await here.set(alice);
    await eventually(() => heard.length === 1, 'the sign-in reached the other window');
    await here.clear();
    await eventually(() => heard.length === 2, 'the sign-out reached the other window');
    assert.deepEqual(heard, [alice, undefined]);
    assert.equal(await there.get(), undefined);
  });

  it('reads an unreadable value written elsewhere as signed out, and ignores other keys', async () => {
    await here.set(alice);
    await eventually(() => heard.length === 1, 'the sign-in reached the other window');
    await keychain.write('someone.else', 'x');
    await keychain.write('runcomfy.credentials', '{"userId": 42');
    await eventually(() => heard.length === 2, 'the garbage reached the other window');
    assert.deepEqual(heard, [alice, undefined]);
    assert.equal(await there.get(), undefined);
  });
});
