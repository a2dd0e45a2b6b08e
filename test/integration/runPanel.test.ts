import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, script, state, waitFor, workspaceFile, simPost } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  status: string;
  promptId: string | null;
  runDir?: string;
  outputs: { path: string }[];
}

interface OutputView {
  node: string;
  nodeTitle?: string;
  kind: string;
  relativePath: string;
  fileName: string;
}

interface RunViewState {
  source: 'live' | 'record';
  name: string;
  target?: string;
  status: string;
  node?: { id: string; title?: string; classType?: string };
  progress?: { value: number; max: number };
  outputs: OutputView[];
  overrides: { node: string; input: string; before?: string; after?: string }[];
  runDir?: string;
}

type PanelView =
  | { kind: 'run'; run: RunViewState; media: { src: string; thumb?: string }[]; cancellable: boolean }
  | { kind: 'compare'; comparison: { left: RunViewState; right: RunViewState; inputs: { node: string; input: string; before?: string; after?: string }[]; imagePairs: unknown[] } }
  | { kind: 'notice'; title: string; message: string };

/** What `runcomfy.test.panel` returns: the panel's last posted state and what its webview reported drawing. */
interface PanelSnapshot {
  open: boolean;
  showing?: { kind: string; runId?: string; runDir?: string };
  view?: PanelView;
  previewsPosted: number;
  lastPreviewBytes: number;
  rendered?: { type: 'rendered'; view: string; status: string; outputs: number; preview: boolean; progress?: string; animated?: number };
  received: string[];
}

/** The webview is a browser page in a busy machine: its waits get a longer deadline than the default. */
const PANEL_WAIT_MS = 30_000;

const panel = () => Promise.resolve(vscode.commands.executeCommand<PanelSnapshot>('runcomfy.test.panel'));
const fromWebview = (message: unknown) => Promise.resolve(vscode.commands.executeCommand('runcomfy.test.panelMessage', message));

/**
 * A blank image streamed through SaveImageWebsocket (two preview frames with step progress), then
 * scaled and saved. The simulator runs node 2 before node 3 (output nodes first, as ComfyUI's
 * ExecutionList does), so a stall at node 3 holds the run with its previews sent.
 */
function workflow(width: number): unknown {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width, height: 48, batch_size: 2, color: 3355443 }, _meta: { title: 'Canvas' } },
    '2': { class_type: 'SaveImageWebsocket', inputs: { images: ['1', 0] }, _meta: { title: 'Stream' } },
    '3': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'nearest-exact', width: 32, height: 24, crop: 'disabled' }, _meta: { title: 'Shrink' } },
    '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'panel' }, _meta: { title: 'Save' } },
  };
}

describe('the run panel', function () {
  this.timeout(120_000);
  let sim: SimulatorProcess;
  const flow = () => workspaceFile('panel-flow', 'workflow_api.json');
  const target = () => ({ kind: 'local', name: 'Panel GPU', url: sim.info.localComfyUrl! });
  /** Writes the workflow and waits until its document shows it (queueing reads the document, which follows the disk a moment later). */
  const write = async (width: number) => {
    await vscode.workspace.fs.writeFile(flow(), Buffer.from(JSON.stringify(workflow(width), null, 2)));
    await waitFor(`the workflow document with width ${width}`, async () => (await vscode.workspace.openTextDocument(flow())).getText().includes(`"width": ${width},`));
  };
  const queue = () => Promise.resolve(vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', flow(), target()));
  let first: RunResult | undefined;
  let second: RunResult | undefined;

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start();
    await vscode.workspace.getConfiguration('runcomfy').update('showRunPanel', 'always', vscode.ConfigurationTarget.Global);
    // A run of an earlier test file may have opened the panel (onFirstRun): start from none.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitFor('no run panel', async () => !(await panel()).open);
    await write(64);
  });

  after(async () => {
    await simPost(sim.info.localComfyUrl!, 'stall/clear', {}).catch(() => undefined);
    await vscode.workspace.getConfiguration('runcomfy').update('showRunPanel', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(vscode.Uri.joinPath(flow(), '..'), { recursive: true });
    sim.stop();
  });

  it('opens as a run starts and shows the node, its steps and a preview while the run is held, then the gallery', async () => {
    await simPost(sim.info.localComfyUrl!, 'stall', { atNode: '3' });
    const pending = queue();
    const live = await waitFor('the panel with a preview drawn, the run held at node 3', async () => {
      const p = await panel();
      return p.open && p.view?.kind === 'run' && p.view.run.node?.id === '2' && p.view.run.progress?.max === 2 && p.rendered?.preview === true ? p : undefined;
    }, PANEL_WAIT_MS);
    const view = live.view as Extract<PanelView, { kind: 'run' }>;
    assert.strictEqual(view.run.source, 'live');
    assert.strictEqual(view.run.name, 'panel-flow');
    assert.strictEqual(view.run.target, 'Panel GPU');
    assert.deepStrictEqual(view.run.node, { id: '2', title: 'Stream', classType: 'SaveImageWebsocket' });
    assert.strictEqual(view.cancellable, true);
    assert.ok(live.previewsPosted >= 1 && live.lastPreviewBytes > 0, 'a preview frame reached the webview');
    assert.ok(live.received.includes('ready'), 'the webview started and asked for its state');
    await waitFor('the webview to draw the node', async () => (await panel()).rendered?.progress?.includes('Stream'), PANEL_WAIT_MS);

    await simPost(sim.info.localComfyUrl!, 'stall/clear', {});
    first = await pending;
    assert.strictEqual(first.status, 'success');
    const done = await waitFor('the gallery drawn', async () => {
      const p = await panel();
      return p.view?.kind === 'run' && p.view.run.status === 'success' && p.rendered?.status === 'success' && p.rendered.outputs > 0 ? p : undefined;
    }, PANEL_WAIT_MS);
    const gallery = done.view as Extract<PanelView, { kind: 'run' }>;
    assert.strictEqual(gallery.cancellable, false);
    assert.deepStrictEqual(
      gallery.run.outputs.map((o) => [o.node, o.nodeTitle, o.kind]),
      [
        ['4', 'Save', 'image'],
        ['4', 'Save', 'image'],
      ],
    );
    assert.strictEqual(done.rendered?.outputs, 2, 'the webview drew a tile per output');
    assert.ok(gallery.media.every((m) => m.thumb?.startsWith('https://') || m.thumb?.startsWith('vscode-')), JSON.stringify(gallery.media));
    assert.strictEqual(path.resolve(gallery.run.runDir!), path.resolve(first.runDir!));
    // The gallery is the view of the run's images: the first image is not opened over the panel (which would hide it).
    // The run's end issued that open before the gallery above was drawn (several round trips later).
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    const opened = tabs.filter((t) => t.input instanceof vscode.TabInputCustom || t.input instanceof vscode.TabInputText).map((t) => (t.input as vscode.TabInputText).uri.fsPath);
    assert.ok(!first.outputs.some((o) => opened.includes(o.path)), `an output opened over the panel: ${opened.join(', ')}`);
    assert.ok(tabs.some((t) => t.isActive && t.input instanceof vscode.TabInputWebview), 'the run panel is the active tab of its group');
  });

  it('interrupts our prompt when Cancel is pressed in the panel', async () => {
    // Another width: the same prompt again would come from ComfyUI's cache, and node 3 would never be staged (or stalled).
    await write(72);
    await simPost(sim.info.localComfyUrl!, 'stall', { atNode: '3' });
    const pending = queue();
    const run = await waitFor('the panel following the new run, held', async () => {
      const p = await panel();
      const runs = (await state()).runs;
      return p.view?.kind === 'run' && p.view.cancellable && p.view.run.node?.id === '2' && p.showing?.runId === runs[0]?.id ? runs[0] : undefined;
    }, PANEL_WAIT_MS);
    await fromWebview({ type: 'cancel' });
    await waitFor('the interrupt at the server', async () => {
      const log = (await (await fetch(`${sim.info.localComfyUrl}/__sim/requests`)).json()) as { requests: { method: string; path: string }[] };
      return log.requests.some((r) => r.method === 'POST' && r.path === '/interrupt');
    });
    await simPost(sim.info.localComfyUrl!, 'stall/clear', {});
    const result = await pending;
    assert.strictEqual(result.status, 'interrupted');
    await waitFor('the panel showing the interrupted run', async () => {
      const p = await panel();
      return p.view?.kind === 'run' && p.view.run.status === 'interrupted' && p.rendered?.status === 'interrupted';
    }, PANEL_WAIT_MS);
    assert.strictEqual((await state()).runs.find((r) => r.id === run.id)?.phase, 'interrupted');
  });

  it('opens a past run from its run.json, with the inputs that differ from the workflow on disk', async () => {
    assert.ok(first?.runDir, 'the first test saved a run');
    await write(80);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitFor('the panel closed', async () => !(await panel()).open);
    await vscode.commands.executeCommand('runcomfy.openRun', vscode.Uri.file(path.join(first.runDir, 'run.json')));
    const p = await waitFor('the past run drawn', async () => {
      const s = await panel();
      return s.open && s.view?.kind === 'run' && s.view.run.source === 'record' && s.rendered?.outputs === 2 ? s : undefined;
    }, PANEL_WAIT_MS);
    const view = p.view as Extract<PanelView, { kind: 'run' }>;
    assert.strictEqual(view.run.status, 'success');
    assert.deepStrictEqual(view.run.overrides, [{ node: '1', nodeTitle: 'Canvas', input: 'width', before: '80', after: '64' }]);
    assert.deepStrictEqual(
      view.run.outputs.map((o) => o.nodeTitle),
      ['Save', 'Save'],
      'node titles come from the prompt run.json records',
    );
  });

  it('compares two runs of one workflow: the inputs that differed and the images side by side', async () => {
    second = await queue();
    assert.strictEqual(second.status, 'success');
    await vscode.commands.executeCommand('runcomfy.compareRuns', first!.runDir, second.runDir);
    const p = await waitFor('the comparison drawn', async () => {
      const s = await panel();
      return s.view?.kind === 'compare' && s.rendered?.view === 'compare' ? s : undefined;
    }, PANEL_WAIT_MS);
    const view = p.view as Extract<PanelView, { kind: 'compare' }>;
    assert.deepStrictEqual(view.comparison.inputs, [{ node: '1', nodeTitle: 'Canvas', input: 'width', before: '64', after: '80' }]);
    assert.strictEqual(view.comparison.imagePairs.length, 2);
  });

  it('offers runs of earlier sessions, found under the output folder, in Open Run', async () => {
    // A run folder no run of this window made: what a previous session left under runcomfy-outputs.
    const outputs = path.dirname(path.dirname(first!.runDir!));
    const old = vscode.Uri.file(path.join(outputs, 'older-flow', '20250101-000000-deadbeef'));
    await vscode.workspace.fs.copy(vscode.Uri.file(first!.runDir!), old, { overwrite: true });
    try {
      await script([{ pick: 'older-flow' }]);
      await vscode.commands.executeCommand('runcomfy.openRun');
      const p = await waitFor('the older run drawn', async () => {
        const s = await panel();
        return s.view?.kind === 'run' && s.view.run.name === 'older-flow' && s.rendered?.outputs === 2 ? s : undefined;
      }, PANEL_WAIT_MS);
      assert.strictEqual(path.resolve(p.showing?.runDir ?? ''), path.resolve(old.fsPath));
      const asked = (await state()).prompts.filter((q) => q.kind === 'pick' && q.text === 'Open which run?').pop();
      assert.ok(asked?.items?.includes('panel-flow'), `the runs of this window are offered too: ${JSON.stringify(asked?.items)}`);
      // The folder goes while the panel shows it; the webview, shown again, asks for its state: the panel says why it has none.
      await vscode.workspace.fs.delete(vscode.Uri.joinPath(old, '..'), { recursive: true });
      await fromWebview({ type: 'ready' });
      const gone = await waitFor('the notice that the run is gone', async () => {
        const s = await panel();
        return s.view?.kind === 'notice' ? s.view : undefined;
      }, PANEL_WAIT_MS);
      assert.match(gone.message, /20250101-000000-deadbeef is no run folder/);
    } finally {
      await vscode.workspace.fs.delete(vscode.Uri.joinPath(old, '..'), { recursive: true, useTrash: false }).then(undefined, () => undefined);
    }
  });

  it('lists runs of earlier sessions in the Runs view under "Earlier runs", escaped, opening in the panel, refreshed when a run ends', async () => {
    const outputs = path.dirname(path.dirname(first!.runDir!));
    const earlier = (tree: { label?: string; contextValue?: string; children?: { label?: string; description?: string | boolean; contextValue?: string }[] }[]) => tree.find((n) => n.contextValue === 'earlierRuns')?.children ?? [];
    // What a previous session left, and a run.json someone else wrote: a name with a bidi override, a path out of its folder.
    const old = path.join(outputs, 'older-flow', '20250101-000000-deadbeef');
    const evil = path.join(outputs, 'evil\u202eflow', '20240101-000000-cafebabe');
    await vscode.workspace.fs.copy(vscode.Uri.file(first!.runDir!), vscode.Uri.file(old), { overwrite: true });
    await vscode.workspace.fs.writeFile(vscode.Uri.file(path.join(evil, 'run.json')), Buffer.from(JSON.stringify({ version: 1, status: 'success', files: [{ path: '../../../../etc/passwd', node: '1', kind: 'images', bytes: 1 }], outputs: [], warnings: [], timings: { phases: {} } })));
    const later = path.join(outputs, 'older-flow', '20250102-000000-feedface');
    try {
      // The group was read by an earlier test's look at the tree: it reads again once a run ends.
      await write(88);
      assert.strictEqual((await queue()).status, 'success');
      const rows = await waitFor('the earlier runs read again after the run ended', async () => {
        const r = earlier((await state()).runsTree);
        return r.some((x) => x.label === 'evil\\u202eflow') ? r : undefined;
      }, PANEL_WAIT_MS);
      assert.deepStrictEqual(
        rows.filter((r) => r.contextValue === 'pastRun').map((r) => [r.label, r.description]),
        [
          ['older-flow', '20250101-000000-deadbeef · done · 2 outputs'],
          ['evil\\u202eflow', '20240101-000000-cafebabe · done'],
        ],
        'newest first, names escaped, no run of this window, the refused path not counted',
      );
      await vscode.commands.executeCommand('runcomfy.openRun', { kind: 'pastRun', runDir: evil });
      const p = await waitFor('the hostile earlier run drawn', async () => {
        const snap = await panel();
        return snap.view?.kind === 'run' && snap.showing?.runDir && path.resolve(snap.showing.runDir) === path.resolve(evil) && snap.rendered?.status === 'success' ? snap : undefined;
      }, PANEL_WAIT_MS);
      const view = p.view as Extract<PanelView, { kind: 'run' }>;
      assert.deepStrictEqual(view.run.outputs, []);

      // A run folder appears after the group was read: listed once a run of this window ends, not before.
      await vscode.workspace.fs.copy(vscode.Uri.file(old), vscode.Uri.file(later), { overwrite: true });
      assert.ok(!earlier((await state()).runsTree).some((r) => r.description?.toString().startsWith('20250102')), 'read once, not on every refresh');
      await write(96);
      assert.strictEqual((await queue()).status, 'success');
      await waitFor('the new earlier run listed after the run ended', async () => earlier((await state()).runsTree)[0]?.description?.toString().startsWith('20250102-000000-feedface'));
    } finally {
      for (const d of [old, evil, later]) await vscode.workspace.fs.delete(vscode.Uri.file(path.dirname(d)), { recursive: true }).then(undefined, () => undefined);
    }
  });

  it('shows an animated PNG (images + animated) as an animation in the gallery, live and from its run.json', async () => {
    const animFlow = workspaceFile('panel-anim', 'workflow_api.json');
    const anim = {
      '1': { class_type: 'EmptyImage', inputs: { width: 40, height: 40, batch_size: 3, color: 3355443 }, _meta: { title: 'Frames' } },
      '2': { class_type: 'SaveAnimatedPNG', inputs: { images: ['1', 0], filename_prefix: 'panel_loop', fps: 4, compress_level: 4 }, _meta: { title: 'Loop' } },
      '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'panel_still' }, _meta: { title: 'Still' } },
    };
    await vscode.workspace.fs.writeFile(animFlow, Buffer.from(JSON.stringify(anim, null, 2)));
    try {
      // Held until the panel's webview is up: a run this short would end while it loads, and the image a finished run
      // opens beside the editor could cover the panel before it drew anything.
      await simPost(sim.info.localComfyUrl!, 'stall', { atNode: '3' });
      const pending = Promise.resolve(vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', animFlow, target()));
      await waitFor('the panel following the animated run', async () => {
        const p = await panel();
        return p.showing?.kind === 'live' && p.view?.kind === 'run' && p.view.run.name === 'panel-anim' && p.rendered?.status === 'running';
      }, PANEL_WAIT_MS);
      await simPost(sim.info.localComfyUrl!, 'stall/clear', {});
      const run = await pending;
      assert.strictEqual(run.status, 'success');
      // Sorted: the order of the two nodes' files is the server's, not what this test is about.
      const kinds = (v: PanelView | undefined) => (v?.kind === 'run' ? v.run.outputs.map((o) => [o.nodeTitle, o.kind]).sort() : []);
      const expected = [['Loop', 'animated'], ['Still', 'image'], ['Still', 'image'], ['Still', 'image']];
      const live = await waitFor('the gallery of the animated run drawn', async () => {
        const p = await panel();
        return p.view?.kind === 'run' && p.view.run.runDir && path.resolve(p.view.run.runDir) === path.resolve(run.runDir!) && p.rendered?.outputs === 4 ? p : undefined;
      }, PANEL_WAIT_MS);
      assert.deepStrictEqual(kinds(live.view), expected);
      assert.strictEqual(live.rendered?.animated, 1, 'the webview marked one tile as animated');
      const liveRun = live.view as Extract<PanelView, { kind: 'run' }>;
      const media = liveRun.media[liveRun.run.outputs.findIndex((o) => o.kind === 'animated')];
      assert.strictEqual(media.thumb, media.src, 'a small animation is its own thumbnail: it plays in the tile');

      // Open Run on the folder: the panel draws the run again from its run.json (its webview reports a new drawing).
      const drawn = (await panel()).received.filter((t) => t === 'rendered').length;
      await vscode.commands.executeCommand('runcomfy.openRun', vscode.Uri.file(run.runDir!));
      const past = await waitFor('the past animated run drawn again', async () => {
        const p = await panel();
        return p.view?.kind === 'run' && p.view.run.source === 'record' && p.received.filter((t) => t === 'rendered').length > drawn && p.rendered?.outputs === 4 ? p : undefined;
      }, PANEL_WAIT_MS);
      assert.deepStrictEqual(kinds(past.view), expected);
      assert.strictEqual(past.rendered?.animated, 1);
    } finally {
      await vscode.workspace.fs.delete(vscode.Uri.joinPath(animFlow, '..'), { recursive: true });
    }
  });

  it('refuses a folder that holds no run, saying what to pick', async () => {
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.openRun', vscode.Uri.joinPath(flow(), '..'))), /is no run folder: it has no run\.json/);
  });
});
