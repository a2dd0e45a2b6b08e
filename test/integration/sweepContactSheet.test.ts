// Named to run after sweep.test.ts: that file counts the sweep groups of the window, and this one adds one.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, lensesOf, script, state, waitFor, workspaceFile, simPost } from './helpers';
import { SimulatorProcess } from './simulator';

interface EditorSweepResult {
  status: string;
  dir: string;
  runs: number;
  succeeded: number;
}

interface SheetTile {
  index: number;
  label: string;
  values: string[];
  status: string;
  error?: string;
  runDir?: string;
  image?: { relativePath: string; fileName: string; kind: string };
}

interface SheetView {
  name: string;
  sweepDir: string;
  status: string;
  axes: { key: string; values: string[] }[];
  tiles: SheetTile[];
  grid?: (number | null)[][];
  counts: Record<string, number>;
  warnings: string[];
}

type PanelView =
  | { kind: 'sheet'; sheet: SheetView; thumbs: { thumb?: string; loading?: boolean }[] }
  | { kind: 'run'; run: { status: string; runDir?: string; outputs: unknown[] }; fromSheet?: string }
  | { kind: 'compare' };

interface PanelSnapshot {
  open: boolean;
  showing?: { kind: string; runDir?: string; sweepDir?: string };
  view?: PanelView;
  rendered?: { type: 'sheetRendered'; sweep: string; status: string; tiles: number; images: number; labels: string[] } | { type: 'rendered'; view: string; status: string; outputs: number };
}

/** The webview is a browser page in a busy machine: its waits get a longer deadline than the default. */
const PANEL_WAIT_MS = 30_000;

const panel = () => Promise.resolve(vscode.commands.executeCommand<PanelSnapshot>('runcomfy.test.panel'));
const fromWebview = (message: unknown) => Promise.resolve(vscode.commands.executeCommand('runcomfy.test.panelMessage', message));

/** The sheet the panel shows once its webview drew `tiles` tiles of which `images` with a picture, with the sweep `status`. */
async function sheetDrawn(what: string, check: (view: SheetView, drawn: { sweep: string; tiles: number; images: number; labels: string[]; status: string }) => boolean): Promise<{ view: SheetView; snapshot: PanelSnapshot; labels: string[] }> {
  let last: PanelSnapshot | undefined;
  try {
    return await waitFor(
      what,
      async () => {
        const p = (last = await panel());
        const r = p.rendered;
        if (p.view?.kind !== 'sheet' || r?.type !== 'sheetRendered') return undefined;
        return r.sweep === p.view.sheet.name && check(p.view.sheet, r) ? { view: p.view.sheet, snapshot: p, labels: r.labels } : undefined;
      },
      PANEL_WAIT_MS,
    );
  } catch (e) {
    const v = last?.view;
    const shown = v?.kind === 'sheet' ? { sweepDir: v.sheet.sweepDir, status: v.sheet.status, thumbs: v.thumbs } : v?.kind;
    throw new Error(`${(e as Error).message}; the panel: ${JSON.stringify({ open: last?.open, showing: last?.showing, view: shown, rendered: last?.rendered })}`, { cause: e });
  }
}

/**
 * A blank image saved: EmptyImage's width is the first axis (0 is below its minimum, so ComfyUI
 * refuses those prompts: failed runs), its height the second.
 */
const workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 24, batch_size: 1, color: 3355443 }, _meta: { title: 'Canvas' } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sheet' }, _meta: { title: 'Save' } },
};

describe('the contact sheet of a sweep', function () {
  this.timeout(180_000);
  let sim: SimulatorProcess;
  const flow = () => workspaceFile('sheet-flow', 'workflow_api.json');
  const sweepFile = () => workspaceFile('sheet-flow', 'grid.sweep.json');
  let result: EditorSweepResult | undefined;

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start();
    fs.mkdirSync(path.dirname(flow().fsPath), { recursive: true });
    fs.writeFileSync(flow().fsPath, JSON.stringify(workflow, null, 2));
    const spec = { workflow: 'workflow_api.json', axes: { '1.width': [16, 0], '1.height': [24, 32] }, targets: [sim.info.localComfyUrl], expectSeconds: 5 };
    fs.writeFileSync(sweepFile().fsPath, JSON.stringify(spec, null, 2));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitFor('no run panel', async () => !(await panel()).open);
  });

  after(async () => {
    await simPost(sim.info.localComfyUrl!, 'stall/clear', {}).catch(() => undefined);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(path.dirname(flow().fsPath), { recursive: true, force: true });
    sim.stop();
  });

  it('follows a running sweep from its Runs view row, then shows every run by its values: images, failures, rows × columns', async () => {
    // The first run is held at its save: the sheet opens while the sweep runs.
    await simPost(sim.info.localComfyUrl!, 'stall', { atNode: '2' });
    const lens = await waitFor('the sweep lens', async () => (await lensesOf(sweepFile()))[0]);
    await script([{ confirm: true }]);
    const pending = Promise.resolve(vscode.commands.executeCommand<EditorSweepResult>(lens.command!.command, ...((lens.command!.arguments ?? []) as unknown[])));
    const row = await waitFor('the running sweep in the Runs view', async () => (await state()).runsTree.find((n) => n.label === 'Sweep: sheet-flow' && n.contextValue === 'sweep liveSweep' && n.children?.some((c) => String(c.description).startsWith('running'))), 30_000);
    await vscode.commands.executeCommand('runcomfy.openContactSheet', row.node);
    const live = await sheetDrawn('the sheet of the running sweep', (v, d) => v.status === 'running' && d.tiles === 4);
    assert.ok(live.view.tiles.some((t) => t.status === 'running'), JSON.stringify(live.view.tiles.map((t) => t.status)));
    assert.ok(live.view.tiles.every((t) => t.status !== 'success'), 'the held run has not ended');

    await simPost(sim.info.localComfyUrl!, 'stall/clear', {});
    result = await pending;
    assert.strictEqual(result.status, 'partial');
    // The same panel, never reopened, follows the sweep to its end.
    const done = await sheetDrawn('the sheet with the ended sweep', (v, d) => v.status === 'partial' && d.images === 2);
    const sheet = done.view;
    assert.strictEqual(path.resolve(sheet.sweepDir), path.resolve(result.dir));
    assert.deepStrictEqual(sheet.axes, [
      { key: '1.width', values: ['16', '0'] },
      { key: '1.height', values: ['24', '32'] },
    ]);
    assert.deepStrictEqual(done.labels, ['1.width=16 · 1.height=24', '1.width=16 · 1.height=32', '1.width=0 · 1.height=24', '1.width=0 · 1.height=32'], 'the webview drew a labelled tile per run');
    assert.deepStrictEqual(sheet.grid, [
      [0, 1],
      [2, 3],
    ]);
    assert.deepStrictEqual(
      sheet.tiles.map((t) => [t.status, t.image?.kind]),
      [
        ['success', 'image'],
        ['success', 'image'],
        ['error', undefined],
        ['error', undefined],
      ],
    );
    assert.ok(sheet.tiles[2].error, 'a failed run says why');
    const view = done.snapshot.view as Extract<PanelView, { kind: 'sheet' }>;
    assert.ok(view.thumbs.slice(0, 2).every((m) => m.thumb?.startsWith('https://') || m.thumb?.startsWith('vscode-')), JSON.stringify(view.thumbs));
  });

  it('opens the run of a tile in the panel, and goes back to the sheet', async () => {
    assert.ok(result, 'the first test ran the sweep');
    const p = await panel();
    const sheet = (p.view as Extract<PanelView, { kind: 'sheet' }>).sheet;
    await fromWebview({ type: 'openSheetRun', index: 1 });
    const run = await waitFor('the run of the second tile drawn', async () => {
      const s = await panel();
      return s.view?.kind === 'run' && s.rendered?.type === 'rendered' && s.rendered.outputs === 1 ? s : undefined;
    }, PANEL_WAIT_MS);
    assert.strictEqual(path.resolve(run.showing!.runDir!), path.join(path.resolve(result.dir), ...sheet.tiles[1].runDir!.split('/')));
    assert.strictEqual((run.view as Extract<PanelView, { kind: 'run' }>).fromSheet, path.basename(result.dir));

    await fromWebview({ type: 'openSheet' });
    await sheetDrawn('the sheet again', (_v, d) => d.tiles === 4 && d.images === 2);
  });

  it('opens a copied sweep folder from its sweep.json (Explorer, Open Run, the palette pick), and refuses a huge one', async () => {
    assert.ok(result, 'the first test ran the sweep');
    // Another folder than the one the sweep wrote: what sweep.json says (absolute paths) must still lead inside the copy.
    const copy = path.join(path.dirname(result.dir), 'sweep-copied');
    fs.cpSync(result.dir, copy, { recursive: true });
    try {
      await vscode.commands.executeCommand('runcomfy.openContactSheet', vscode.Uri.file(path.join(copy, 'sweep.json')));
      const fromFile = await sheetDrawn('the copy drawn from its sweep.json', (v, d) => path.resolve(v.sweepDir) === path.resolve(copy) && d.images === 2);
      const thumbs = (fromFile.snapshot.view as Extract<PanelView, { kind: 'sheet' }>).thumbs.slice(0, 2).map((m) => decodeURIComponent(m.thumb ?? ''));
      assert.ok(thumbs.every((t) => t.includes('/sweep-copied/')), `the pictures come from the copy: ${JSON.stringify(thumbs)}`);

      await script([{ pick: 'Sweep: sheet-flow' }]);
      await vscode.commands.executeCommand('runcomfy.openRun');
      await sheetDrawn('the sweep picked in Open Run', (v, d) => path.resolve(v.sweepDir) === path.resolve(result!.dir) && d.tiles === 4);
      const asked = (await state()).prompts.filter((q) => q.kind === 'pick' && q.text === 'Open which run?').pop();
      assert.ok(asked?.items?.some((i) => i === 'Sweep: sheet-flow'), `sweeps are offered: ${JSON.stringify(asked?.items)}`);

      await vscode.commands.executeCommand('runcomfy.openRun', vscode.Uri.file(copy));
      await sheetDrawn('Open Run on a sweep folder: its sheet', (v, d) => path.resolve(v.sweepDir) === path.resolve(copy) && d.tiles === 4);

      fs.writeFileSync(path.join(copy, 'sweep.json'), Buffer.alloc(33 * 1024 * 1024, 0x20));
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.openContactSheet', vscode.Uri.file(copy))), /sweep\.json is 33 MiB; a contact sheet reads at most 32 MiB/);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
