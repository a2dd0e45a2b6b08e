import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertRealPathInside, OutputLocationError, resolveOutputLocation, type SettingSource } from '../../src/core/outputLocation';
import { OutputSaver } from '../../src/core/outputSaver';

describe('runcomfy.outputDirectory containment', () => {
  let tmp: string;
  let folder: string;
  let outside: string;
  const setting = (value: string, source: SettingSource) => ({ value, source, where: source === 'user' ? 'your user settings' : 'the folder settings of ws (.vscode/settings.json)' });

  beforeEach(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-outloc-')));
    folder = path.join(tmp, 'ws');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(folder);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('resolves relative values against the workspace folder, from any source', () => {
    for (const source of ['default', 'user', 'workspace', 'workspaceFolder'] as const) {
      assert.strictEqual(resolveOutputLocation(setting('out/runs', source), folder, '/unused').root, path.join(folder, 'out', 'runs'), source);
    }
    assert.deepStrictEqual(resolveOutputLocation(setting('', 'workspace'), folder, '/unused'), { root: path.join(folder, 'runcomfy-outputs'), within: folder });
    assert.strictEqual(resolveOutputLocation(setting('.', 'workspaceFolder'), folder, '/unused').root, folder);
  });

  it('uses the workflow folder outside every workspace folder', () => {
    assert.strictEqual(resolveOutputLocation(setting('runcomfy-outputs', 'default'), undefined, outside).root, path.join(outside, 'runcomfy-outputs'));
  });

  it('accepts an absolute or escaping path from user settings, with nothing to stay inside', () => {
    assert.deepStrictEqual(resolveOutputLocation(setting(outside, 'user'), folder, folder), { root: outside });
    assert.deepStrictEqual(resolveOutputLocation(setting('../outside', 'user'), folder, folder), { root: outside });
  });

  it('refuses an absolute or escaping path from workspace or folder settings, naming the setting and where it was set', () => {
    for (const [value, why] of [
      [outside, 'an absolute path'],
      ['../outside', 'which leaves the workspace folder'],
      ['out/../../outside', 'which leaves the workspace folder'],
      ['C:\\Users\\me', 'an absolute path'],
    ] as const) {
      for (const source of ['workspace', 'workspaceFolder'] as const) {
        assert.throws(
          () => resolveOutputLocation(setting(value, source), folder, folder),
          (e: Error) => {
            assert.ok(e instanceof OutputLocationError);
            assert.ok(e.message.startsWith(`runcomfy.outputDirectory is ${JSON.stringify(value)} in the folder settings of ws (.vscode/settings.json), ${why}.`), e.message);
            assert.match(e.message, /set a folder outside it in your user settings/);
            return true;
          },
        );
      }
    }
  });

  it('refuses a path that leaves the folder through a symbolic link, before and after the folders exist', async () => {
    fs.symlinkSync(outside, path.join(folder, 'linked'));
    await assert.rejects(assertRealPathInside(path.join(folder, 'linked', 'runs', 'x'), folder, 'The run folder'), (e: Error) => e instanceof OutputLocationError && e.message.includes(`(to ${path.join(outside, 'runs', 'x')})`));
    await assertRealPathInside(path.join(folder, 'not-yet', 'runs'), folder, 'The run folder');
    await assertRealPathInside(folder, folder, 'The run folder');
  });

  it('creates no run folder through a planted link when told to stay inside the workspace folder', async () => {
    fs.symlinkSync(outside, path.join(folder, 'runcomfy-outputs'));
    const root = path.join(folder, 'runcomfy-outputs');
    await assert.rejects(OutputSaver.create({ root, within: folder, workflowName: 'hello', promptId: 'abcdef123456', time: 0 }), OutputLocationError);
    assert.deepStrictEqual(fs.readdirSync(outside), [], 'something was created outside the workspace folder');
    const saver = await OutputSaver.create({ root, workflowName: 'hello', promptId: 'abcdef123456', time: 0 });
    assert.ok(saver.dir.startsWith(root), 'without `within` the user-chosen link is followed');
  });
});
