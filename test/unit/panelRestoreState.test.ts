import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkRestoreState } from '../../src/panel/restoreState';
import { makeTempDir } from './helpers/workflowFixtures';

describe('run panel restore state (what a reloaded panel may reopen)', () => {
  let tmp: { dir: string; cleanup: () => void };
  let outputs: string;
  let run: string;
  let other: string;

  const runFolder = (dir: string) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ version: 1, files: [] }));
    return dir;
  };

  beforeEach(() => {
    tmp = makeTempDir();
    outputs = path.join(tmp.dir, 'workspace', 'runcomfy-outputs');
    run = runFolder(path.join(outputs, 'flow', '20261203-120000-aaaa'));
    other = runFolder(path.join(outputs, 'flow', '20261203-130000-bbbb'));
  });
  afterEach(() => tmp.cleanup());

  it('reopens a run folder under an output folder, and two compared', async () => {
    assert.deepEqual(await checkRestoreState({ runDir: run }, [outputs]), { runDir: run });
    assert.deepEqual(await checkRestoreState({ runDir: run, compareWith: other }, [outputs]), { runDir: run, compareWith: other });
  });

  it("reopens a sweep's contact sheet from its folder, and refuses one outside the output folders or without sweep.json", async () => {
    const sweep = path.join(outputs, 'flow', 'sweep-20261203-140000');
    fs.mkdirSync(sweep, { recursive: true });
    fs.writeFileSync(path.join(sweep, 'sweep.json'), JSON.stringify({ status: 'success', runs: [] }));
    assert.deepEqual(await checkRestoreState({ sweepDir: sweep }, [outputs]), { sweepDir: sweep });
    const outside = path.join(tmp.dir, 'elsewhere', 'sweep');
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'sweep.json'), '{}');
    const refused = await checkRestoreState({ sweepDir: outside }, [outputs]);
    assert.ok(refused && 'refusal' in refused && /not under an output folder.*sweep\.json/.test(refused.refusal), JSON.stringify(refused));
    const plain = await checkRestoreState({ sweepDir: run }, [outputs]);
    assert.ok(plain && 'refusal' in plain && plain.refusal.includes('no sweep folder any more: it has no sweep.json'), JSON.stringify(plain));
    const bad = await checkRestoreState({ sweepDir: 42 }, [outputs]);
    assert.ok(bad && 'refusal' in bad && bad.refusal.includes('no valid sweep folder'), JSON.stringify(bad));
  });

  it('has nothing to reopen when the state names no folder', async () => {
    assert.equal(await checkRestoreState(undefined, [outputs]), undefined);
    assert.equal(await checkRestoreState({}, [outputs]), undefined);
  });

  it('refuses a folder outside the output folders, naming them and what to do instead', async () => {
    const outside = runFolder(path.join(tmp.dir, 'elsewhere', 'run'));
    for (const state of [{ runDir: outside }, { runDir: run, compareWith: outside }, { runDir: '/' }, { runDir: outputs }]) {
      const r = await checkRestoreState(state, [outputs]);
      assert.ok(r && 'refusal' in r, JSON.stringify(state));
      assert.match(r.refusal, /not under an output folder/);
      assert.match(r.refusal, /the output folders are .*runcomfy-outputs/);
      assert.match(r.refusal, /Open Run/);
    }
    const none = await checkRestoreState({ runDir: outside }, []);
    assert.ok(none && 'refusal' in none && none.refusal.includes('no output folder is set up in this window'));
  });

  it('refuses a link inside an output folder that leads outside it', async () => {
    const outside = runFolder(path.join(tmp.dir, 'elsewhere', 'run'));
    const link = path.join(outputs, 'flow', 'linked');
    fs.symlinkSync(outside, link, 'dir');
    const r = await checkRestoreState({ runDir: link }, [outputs]);
    assert.ok(r && 'refusal' in r && r.refusal.includes('not under an output folder'), JSON.stringify(r));
  });

  it('says so when the folder is gone or holds no run.json', async () => {
    const gone = await checkRestoreState({ runDir: path.join(outputs, 'flow', 'deleted') }, [outputs]);
    assert.ok(gone && 'refusal' in gone && gone.refusal.includes('is gone: it was moved or deleted'), JSON.stringify(gone));
    fs.rmSync(path.join(run, 'run.json'));
    const empty = await checkRestoreState({ runDir: run }, [outputs]);
    assert.ok(empty && 'refusal' in empty && empty.refusal.includes('no run folder any more: it has no run.json'), JSON.stringify(empty));
  });

  it('refuses state of the wrong shape: relative paths, NULs, non-strings', async () => {
    for (const state of [{ runDir: 'runcomfy-outputs/flow/x' }, { runDir: `${run}\0` }, { runDir: 42 }, { runDir: run, compareWith: {} }]) {
      const r = await checkRestoreState(state, [outputs]);
      assert.ok(r && 'refusal' in r && r.refusal.includes('names no valid run folder'), JSON.stringify(state));
    }
  });
});
