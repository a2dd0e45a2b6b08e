import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, script, signIn, state, waitFor } from './helpers';
import { SimulatorProcess } from './simulator';

const WRONG_TOKEN = `wrong-token-${Math.random().toString(36).slice(2)}`;

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

  it('sign-in asks for the user id and the token, checks the token with RunComfy, and sets runcomfy.signedIn', async () => {
    const since = (await sim.requests()).length;
    await signIn(sim.info.userId, sim.info.tokens[0]);
    // The context key follows the credentials' change event, after SecretStorage answered: wait for it.
    const s = await waitFor('runcomfy.signedIn true', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
    });
    assert.deepStrictEqual(s.account, { userId: sim.info.userId, apiUrl: `${sim.info.runcomfyUrl}/` });
    assert.deepStrictEqual(s.prompts.map((p) => `${p.kind}: ${p.text}`), ['input: Sign in to RunComfy (1/2): user id', 'input: Sign in to RunComfy (2/2): API token']);
    // The check is the first request of the sign-in, with the typed token, before any account existed.
    const first = (await sim.requests()).slice(since)[0];
    assert.deepStrictEqual([first?.route, first?.tokenSlot, first?.status], ['listMachines', 1, 200]);
  });

  it('after sign-in the token appears neither in the log nor in any setting or file', async () => {
    const token = sim.info.tokens[0];
    const s = await state();
    // The log is real: wait until the sign-in line reached the log file, then look for the token in it.
    const logText = await waitFor('the sign-in line in the log file', () => {
      const text = filesUnder(s.logDirectory).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      return text.includes(`Signed in as user ${sim.info.userId}`) ? text : '';
    });
    assert.ok(!logText.includes(token), 'token found in the log');

    const config = JSON.stringify(vscode.workspace.getConfiguration().get('runcomfy'));
    assert.ok(!config.includes(token), 'token found in settings');
    const places = [process.env.RUNCOMFY_TEST_USER_DATA ?? '', ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath)];
    const files = places.flatMap(filesUnder);
    assert.ok(files.length > 0, 'nothing to search: the user data folder was not found');
    const leaking = files.filter((f) => fs.readFileSync(f).includes(token));
    assert.deepStrictEqual(leaking, []);
  });

  it('a token RunComfy refuses is not stored: the token box says so and lets the user type again or cancel', async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    await waitFor('signed out', async () => ((await state()).accountState === 'signedOut' ? true : undefined));
    const refusal = `RunComfy refused this token for user ${sim.info.userId} (HTTP 401). Check the token, or press Escape and check the user id.`;
    const tokenBox = 'Sign in to RunComfy (2/2): API token';

    // Cancel after the refusal: nothing is stored, the window stays signed out.
    await script([{ input: sim.info.userId }, { input: WRONG_TOKEN }, { dismiss: true }]);
    assert.strictEqual(await vscode.commands.executeCommand('runcomfy.signIn'), undefined);
    let s = await state();
    assert.deepStrictEqual(
      s.prompts.map((p) => [p.text, p.validationMessage ?? null]),
      [['Sign in to RunComfy (1/2): user id', null], [tokenBox, null], [tokenBox, refusal]],
    );
    assert.strictEqual(s.accountState, 'signedOut');
    assert.strictEqual(s.account, null);
    assert.strictEqual(s.contextKeys['runcomfy.signedIn'], false);
    const log = await waitFor('the refusal in the log file', () => {
      const text = filesUnder(s.logDirectory).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      return text.includes(refusal) ? text : '';
    });
    assert.ok(!log.includes(WRONG_TOKEN), 'the refused token is in the log');

    // Type the right token into the same box: that one is kept.
    await script([{ input: sim.info.userId }, { input: WRONG_TOKEN }, { input: sim.info.tokens[1] }]);
    assert.strictEqual(await vscode.commands.executeCommand('runcomfy.signIn'), true);
    s = await waitFor('signed in with the second token', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
    });
    assert.deepStrictEqual(s.prompts.map((p) => p.validationMessage ?? null), [null, null, refusal]);
    assert.strictEqual(s.account?.userId, sim.info.userId);
  });

  it('when RunComfy cannot be reached, the user decides whether to keep the unchecked token', async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    await waitFor('signed out', async () => ((await state()).accountState === 'signedOut' ? true : undefined));
    const keepQuestion = /^RunComfy could not be reached \(.+\)\. Keep this token anyway\?$/;

    // Every machine list is dropped while this test runs, whoever sends it.
    await sim.admin('faults', { action: 'drop', route: 'listMachines', times: 'always' });
    try {
      // "No": nothing is stored, after one request with the typed token (not retried).
      const since = (await sim.requests()).length;
      await script([{ input: sim.info.userId }, { input: sim.info.tokens[0] }, { confirm: false }]);
      assert.strictEqual(await vscode.commands.executeCommand('runcomfy.signIn'), false);
      let s = await state();
      const asked = s.prompts.find((p) => p.kind === 'confirm');
      assert.match(asked?.text ?? '', keepQuestion, JSON.stringify(s.prompts));
      assert.strictEqual(s.accountState, 'signedOut');
      assert.strictEqual(s.contextKeys['runcomfy.signedIn'], false);
      const checks = (await sim.requests()).slice(since).filter((r) => r.tokenSlot === 1);
      assert.deepStrictEqual(checks.map((r) => [r.route, r.dropped]), [['listMachines', true]]);

      // "Keep Token": stored unchecked.
      await script([{ input: sim.info.userId }, { input: sim.info.tokens[0] }, { confirm: true }]);
      assert.strictEqual(await vscode.commands.executeCommand('runcomfy.signIn'), true);
      s = await waitFor('signed in with the kept token', async () => {
        const st = await state();
        return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
      });
      assert.match(s.prompts.find((p) => p.kind === 'confirm')?.text ?? '', keepQuestion);
      assert.strictEqual(s.account?.userId, sim.info.userId);
    } finally {
      await sim.clearFaults();
    }
  });

  it('a token refused later reads the same in both views, with Sign In, and never names CLI variables', async () => {
    await signIn(sim.info.userId, sim.info.tokens[0]);
    await sim.admin('faults', { action: 'error', status: 401, message: 'Unauthorized', route: ['listMachines', 'listWorkflows'], times: 'always' });
    try {
      await Promise.resolve(vscode.commands.executeCommand('runcomfy.refresh')).catch(() => undefined);
      const expected = { label: `RunComfy refused the token for user ${sim.info.userId}. Sign in again.`, description: 'Sign In', icon: 'error' };
      const s = await waitFor('the refusal in both views', async () => {
        const st = await state();
        return st.machinesTree[0]?.label === expected.label && st.workflowsTree[0]?.label === expected.label ? st : undefined;
      });
      for (const row of [s.machinesTree[0], s.workflowsTree[0]]) {
        assert.deepStrictEqual({ label: row.label, description: row.description, icon: row.icon }, expected);
      }
      assert.ok(!JSON.stringify([s.machinesTree, s.workflowsTree]).includes('RUNCOMFY_'), 'a view names a CLI variable');
    } finally {
      await sim.clearFaults();
    }
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
