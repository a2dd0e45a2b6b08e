import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, script, signIn, state, waitFor } from './helpers';
import { SimulatorProcess } from './simulator';

const USER_ID = '00000000-0000-4000-8000-000000000001';
const TOKEN = `host-test-token-${Math.random().toString(36).slice(2)}`;

/** Every regular file under `dir` (skipping huge ones), for grepping the token. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name))
    .filter((f) => fs.statSync(f).size < 20 * 1024 * 1024);
}

describe('sign-in and sign-out', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;

  before(async () => {
    await activateExtension();
    await vscode.commands.executeCommand('runcomfy.signOut');
    sim = await SimulatorProcess.start();
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('sign-in asks for the user id and the token, and sets runcomfy.signedIn', async () => {
    await signIn(USER_ID, TOKEN);
    // The context key follows the credentials' change event, after SecretStorage answered: wait for it.
    const s = await waitFor('runcomfy.signedIn true', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
    });
    assert.deepStrictEqual(s.account, { userId: USER_ID, apiUrl: `${sim.info.runcomfyUrl}/` });
    assert.deepStrictEqual(s.prompts.map((p) => `${p.kind}: ${p.text}`), ['input: Sign in to RunComfy (1/2): user id', 'input: Sign in to RunComfy (2/2): API token']);
  });

  it('after sign-in the token appears neither in the log nor in any setting or file', async () => {
    const s = await state();
    // The log is real: wait until the sign-in line reached the log file, then look for the token in it.
    const logText = await waitFor('the sign-in line in the log file', () => {
      const text = filesUnder(s.logDirectory).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      return text.includes(`Signed in as user ${USER_ID}`) ? text : '';
    });
    assert.ok(!logText.includes(TOKEN), 'token found in the log');

    const config = JSON.stringify(vscode.workspace.getConfiguration().get('runcomfy'));
    assert.ok(!config.includes(TOKEN), 'token found in settings');
    const places = [process.env.RUNCOMFY_TEST_USER_DATA ?? '', ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath)];
    const files = places.flatMap(filesUnder);
    assert.ok(files.length > 0, 'nothing to search: the user data folder was not found');
    const leaking = files.filter((f) => fs.readFileSync(f).includes(TOKEN));
    assert.deepStrictEqual(leaking, []);
  });

  it('the API receives the token that was typed (Token1, then Token2 after signing in again)', async () => {
    for (const slot of [1, 2]) {
      const since = (await sim.requests()).length;
      await signIn(sim.info.userId, sim.info.tokens[slot - 1]);
      await vscode.commands.executeCommand('runcomfy.refresh');
      // A list the previous account sent may still arrive; what counts is that this token got through.
      await waitFor(`a machine list sent with Token${slot} and answered 200`, async () =>
        (await sim.requests()).slice(since).some((r) => r.route === 'listMachines' && r.tokenSlot === slot && r.status === 200),
      );
    }
  });

  it('no runcomfy.test.* command returns, changes or removes the stored token', async () => {
    const token = sim.info.tokens[1];
    await signIn(sim.info.userId, token);
    const hooks = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('runcomfy.test.'));
    assert.ok(hooks.includes('runcomfy.test.state') && hooks.includes('runcomfy.test.script'), JSON.stringify(hooks));
    // Arguments a hook that reached SecretStorage would act on: read, delete, overwrite the credentials.
    const intruder = JSON.stringify({ userId: 'intruder', token: 'intruder-token' });
    const argumentSets: unknown[][] = [[], ['runcomfy.credentials'], ['runcomfy.credentials', undefined], ['runcomfy.credentials', intruder]];
    for (const id of hooks) {
      for (const args of argumentSets) {
        const result: unknown = await Promise.resolve(vscode.commands.executeCommand(id, ...args)).catch((e: unknown) => String(e));
        assert.ok(!JSON.stringify(result ?? null).includes(token), `${id}(${JSON.stringify(args)}) returned the token`);
      }
    }
    await script([]);

    // The secret is as the sign-in left it: same user, and the API still receives Token2.
    const s = await waitFor('runcomfy.signedIn true after the hooks ran', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
    });
    assert.strictEqual(s.account?.userId, sim.info.userId);
    const since = (await sim.requests()).length;
    await vscode.commands.executeCommand('runcomfy.refresh');
    const sent = await waitFor('a machine list after the hooks ran', async () => (await sim.requests()).slice(since).filter((r) => r.route === 'listMachines'));
    assert.deepStrictEqual(sent.map((r) => r.tokenSlot), sent.map(() => 2));
  });

  it('sign-out removes the credentials and clears runcomfy.signedIn', async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    const s = await waitFor('runcomfy.signedIn false', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === false ? st : undefined;
    });
    assert.strictEqual(s.account, null);
    assert.strictEqual(s.accountState, 'signedOut');
  });
});
