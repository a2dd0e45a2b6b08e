import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, state, waitFor } from './helpers';

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

describe('sign-in and sign-out', () => {
  before(async () => {
    await activateExtension();
    await vscode.commands.executeCommand('runcomfy.signOut');
  });

  it('sign-in through the command stores the credentials in SecretStorage and sets runcomfy.signedIn', async () => {
    const ok = await vscode.commands.executeCommand<boolean>('runcomfy.signIn', { userId: USER_ID, token: TOKEN });
    assert.strictEqual(ok, true);
    const s = await state();
    assert.deepStrictEqual(s.credentials, { userId: USER_ID, token: TOKEN });
    assert.strictEqual(s.contextKeys['runcomfy.signedIn'], true);
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

  it('follows a change made by another window (SecretStorage.onDidChange)', async () => {
    await vscode.commands.executeCommand('runcomfy.test.storeSecret', 'runcomfy.credentials', undefined);
    await waitFor('signedIn false after the secret was deleted elsewhere', async () => (await state()).contextKeys['runcomfy.signedIn'] === false);
    await vscode.commands.executeCommand('runcomfy.test.storeSecret', 'runcomfy.credentials', JSON.stringify({ userId: 'other-user', token: TOKEN }));
    const s = await waitFor('signedIn true after the secret was stored elsewhere', async () => {
      const st = await state();
      return st.contextKeys['runcomfy.signedIn'] === true ? st : undefined;
    });
    assert.strictEqual(s.credentials?.userId, 'other-user');
  });

  it('sign-out removes the credentials and clears runcomfy.signedIn', async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    const s = await state();
    assert.strictEqual(s.credentials, null);
    assert.strictEqual(s.contextKeys['runcomfy.signedIn'], false);
  });
});
