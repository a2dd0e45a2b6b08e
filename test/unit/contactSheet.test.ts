import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { contactSheetFromRecord, contactSheetView } from '../../src/core/contactSheet';
import { pendingRun, type SweepRunState } from '../../src/core/sweep/sweepDispatcher';
import { estimateSweep } from '../../src/core/sweep/sweepEstimate';
import { parseAxis, planSweep } from '../../src/core/sweep/sweepPlan';
import { sweepRecord } from '../../src/core/sweep/sweepRecord';
import { makeTempDir } from './helpers/workflowFixtures';

const prompt: ApiPrompt = {
  '3': { class_type: 'KSampler', inputs: { seed: 1, cfg: 7, model: ['4', 0] } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'hello', images: ['3', 0] } },
};

const noFile = (): string[] => {
  throw new Error('no file');
};

/** A planned sweep's runs as the dispatcher keeps them, each given a run folder under `sweepDir` like the engine makes. */
function runsOf(sweepDir: string, specs: string[], mode: 'product' | 'zip' = 'product'): SweepRunState[] {
  const plan = planSweep(prompt, specs.map((s) => parseAxis(s, noFile)), mode);
  return plan.runs.map((r) => ({ ...pendingRun(r), runDir: path.join(sweepDir, r.folder, `20261203-100000-p${r.index}`) }));
}

function saved(run: SweepRunState, files: string[]): void {
  run.status = 'success';
  run.outputs = files.map((f) => ({ node: '9', key: 'images', filename: path.basename(f), subfolder: '', type: 'output', path: path.isAbsolute(f) ? f : path.join(run.runDir!, f), bytes: 10, source: 'history' }));
}

/** The sweep.json the sweep writes, through the real writer's shape, parsed back as a reader gets it. */
function recordOf(runs: SweepRunState[], specs: string[]): unknown {
  const plan = planSweep(prompt, specs.map((s) => parseAxis(s, noFile)));
  const text = JSON.stringify(
    sweepRecord({
      status: 'partial',
      workflowFile: 'hello/workflow_api.json',
      axes: plan.axes,
      mode: plan.mode,
      runs,
      machinesLaunched: [],
      machinesStopped: [],
      machines: [],
      costUsd: 0,
      maxCostUsd: undefined,
      estimate: estimateSweep({ runs: runs.length, targets: 1, secondsPerRun: 10, source: 'flag' }),
      targets: ['http://127.0.0.1:8188'],
      warnings: [],
      startedAtMs: Date.UTC(2026, 11, 3),
    }),
  );
  return JSON.parse(text) as unknown;
}

describe('contact sheet view model', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => (tmp = makeTempDir()));
  afterEach(() => tmp.cleanup());

  it('lays out a two-axis sweep.json as rows × columns: labels by values, the first image of each run, a tile for every status', () => {
    const dir = path.join(tmp.dir, 'sweep-1');
    const specs = ['3.seed=1..3', '3.cfg=4,6'];
    const runs = runsOf(dir, specs);
    for (const r of runs) saved(r, ['hello_00001_.png', 'hello_00002_.png']);
    runs[1].outputs = [{ ...runs[1].outputs[0], filename: 'clip.mp4', path: path.join(runs[1].runDir!, 'clip.mp4') }, ...runs[1].outputs.slice(1)];
    runs[4] = { ...runs[4], status: 'error', outputs: [], error: { kind: 'server', type: 'execution_error', message: 'out of memory', details: '', nodeErrors: null } };
    runs[5] = { ...pendingRun(runs[5]), runDir: undefined };
    const sheet = contactSheetFromRecord(recordOf(runs, specs), dir);

    assert.equal(sheet.name, 'sweep-1');
    assert.equal(sheet.status, 'partial');
    assert.equal(sheet.workflow, 'hello/workflow_api.json');
    assert.deepEqual(sheet.axes, [
      { key: '3.seed', values: ['1', '2', '3'] },
      { key: '3.cfg', values: ['4', '6'] },
    ]);
    assert.deepEqual(
      sheet.tiles.map((t) => [t.label, t.status, t.image?.relativePath]),
      [
        ['3.seed=1 · 3.cfg=4', 'success', `${runs[0].folder}/20261203-100000-p0/hello_00001_.png`],
        ['3.seed=1 · 3.cfg=6', 'success', `${runs[1].folder}/20261203-100000-p1/hello_00002_.png`],
        ['3.seed=2 · 3.cfg=4', 'success', `${runs[2].folder}/20261203-100000-p2/hello_00001_.png`],
        ['3.seed=2 · 3.cfg=6', 'success', `${runs[3].folder}/20261203-100000-p3/hello_00001_.png`],
        ['3.seed=3 · 3.cfg=4', 'error', undefined],
        ['3.seed=3 · 3.cfg=6', 'pending', undefined],
      ],
    );
    assert.equal(sheet.tiles[4].error, 'out of memory');
    assert.equal(sheet.tiles[0].runDir, `${runs[0].folder}/20261203-100000-p0`);
    assert.equal(sheet.tiles[5].runDir, undefined);
    assert.deepEqual(sheet.grid, [
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    assert.deepEqual(sheet.counts, { success: 4, error: 1, pending: 1 });
    assert.deepEqual(sheet.warnings, []);
  });

  it('finds the runs of a sweep folder moved elsewhere through their folder names', () => {
    const written = path.join(tmp.dir, 'elsewhere', 'sweep-1');
    const specs = ['3.seed=1,2'];
    const runs = runsOf(written, specs);
    for (const r of runs) saved(r, ['hello_00001_.png']);
    const moved = path.join(tmp.dir, 'copy');
    const sheet = contactSheetFromRecord(recordOf(runs, specs), moved);
    assert.deepEqual(
      sheet.tiles.map((t) => t.image?.relativePath),
      runs.map((r) => `${r.folder}/20261203-100000-p${r.index}/hello_00001_.png`),
    );
    assert.equal(sheet.grid, undefined, 'one axis: a flat grid');
  });

  it('refuses paths that leave the sweep folder and escapes the values', () => {
    const dir = path.join(tmp.dir, 'sweep-2');
    const outside = path.join(tmp.dir, 'secret.png');
    fs.writeFileSync(outside, 'x');
    const hostile = [
      { index: 0, params: { '6.text': 'evil\u202e<img src=x onerror=alert(1)>' }, status: 'success', folder: '01', run_dir: path.join(dir, '01', 'r'), outputs: [{ path: outside }] },
      { index: 1, params: { '6.text': 'b' }, status: 'success', folder: '../..', run_dir: '/etc', outputs: [{ path: '/etc/passwd.png' }] },
      { index: 2, params: { '6.text': 'c' }, status: 'success', run_dir: '../../x', outputs: [{ path: '../../../secret.png' }] },
      { index: 3, params: { '6.text': 'd' }, status: 'success', run_dir: path.join(dir, '04', 'r'), outputs: [{ path: path.join(dir, '04', 'r', '..', '..', '..', 'secret.png') }, { path: 'C:\\Windows\\x.png' }] },
      { index: 4, params: { '6.text': 'x'.repeat(500) }, status: '<b>bold</b>', run_dir: path.join(dir, '05', 'r'), outputs: [{ path: path.join(dir, '05', 'r', 'ok.png') }] },
    ];
    const sheet = contactSheetView(hostile, dir);
    assert.deepEqual(
      sheet.tiles.map((t) => t.image?.relativePath),
      [undefined, undefined, undefined, undefined, '05/r/ok.png'],
    );
    assert.deepEqual(
      sheet.tiles.map((t) => t.runDir),
      ['01/r', undefined, undefined, '04/r', '05/r'],
    );
    assert.equal(sheet.tiles[0].label, '6.text="evil\\u202e<img src=x onerror=alert(1)>"', 'bidi controls escaped; markup stays text (the webview sets it as text)');
    assert.ok(sheet.tiles[4].label.length < 80 && sheet.tiles[4].label.endsWith('…'), sheet.tiles[4].label);
    assert.equal(sheet.tiles[4].status, 'error', 'an unknown status reads as error');
    assert.deepEqual(sheet.warnings, ['5 outputs are not shown: sweep.json names a path outside the sweep folder.']);
  });

  it('says what is wrong with a file that is no sweep record', () => {
    assert.throws(() => contactSheetFromRecord({ version: 2, runs: [] }, tmp.dir), /sweep\.json is not a RunComfy sweep record/);
    assert.throws(() => contactSheetFromRecord([], tmp.dir), /not a RunComfy sweep record/);
  });

  it('keeps a zipped sweep flat: its pairs are a diagonal, not a grid', () => {
    const dir = path.join(tmp.dir, 'sweep-3');
    const runs = runsOf(dir, ['3.seed=1..4', '3.cfg=4,5,6,7'], 'zip');
    const sheet = contactSheetView((recordOf(runs, ['3.seed=1..4']) as { runs: unknown[] }).runs, dir);
    assert.equal(sheet.tiles.length, 4);
    assert.equal(sheet.grid, undefined);
  });
});
