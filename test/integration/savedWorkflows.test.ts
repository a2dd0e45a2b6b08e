import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, script, state, waitFor, type TestState, type TreeItemState } from './helpers';
import { SimulatorProcess } from './simulator';

interface ComfyRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

interface RunResult {
  promptId: string | null;
  status: string;
  outputs: unknown[];
  error: { message: string } | null;
}

/** The workflows saved in a ComfyUI's web UI (`/userdata`), under a local server in the Machines view, against the ComfyUI simulator. */
describe('workflows saved in ComfyUI', function () {
  this.timeout(90_000);
  let sim: SimulatorProcess;
  let comfy: string;
  const serverName = 'Studio';
  const target = () => ({ kind: 'local', name: serverName, url: comfy });
  const savedNode = (rel: string) => ({ kind: 'savedWorkflow', target: target(), path: rel });
  const folder = () => {
    const f = vscode.workspace.workspaceFolders?.[0];
    assert.ok(f, 'no workspace folder');
    return f.uri;
  };
  const comfyRequests = async () => ((await fetch(`${comfy}/__sim/requests`).then((r) => r.json())) as { requests: ComfyRequest[] }).requests;
  const savedText = async (rel: string) => fetch(`${comfy}/userdata/${encodeURIComponent(`workflows/${rel}`)}`).then((r) => r.text());

  /** The "Saved in ComfyUI" node under the local server, with its children (the state hook reads them as the tree would on expand). */
  async function savedFolder(): Promise<TreeItemState | undefined> {
    const s = await vscode.commands.executeCommand<TestState>('runcomfy.test.state', { machinesTreeDepth: 3 });
    return s.machinesTree.find((m) => m.label === serverName)?.children?.find((c) => c.label === 'Saved in ComfyUI');
  }

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    comfy = sim.info.localComfyUrl!;
    assert.ok(comfy, 'the simulator started no local ComfyUI');
    await fetch(`${comfy}/__sim/reset`, { method: 'POST' });
    assert.ok(await vscode.commands.executeCommand<boolean>('runcomfy.addLocalServer', { name: serverName, url: comfy }));
    await vscode.commands.executeCommand('runcomfy.machines.focus');
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('lists the server\'s saved workflows under "Saved in ComfyUI", read when expanded', async () => {
    const node = await waitFor('the saved workflows under the local server', async () => {
      const f = await savedFolder();
      return f?.children?.length ? f : undefined;
    });
    assert.strictEqual(node.contextValue, 'savedWorkflows');
    assert.deepStrictEqual(
      node.children?.map((c) => [c.label, c.contextValue, c.icon]),
      [
        ['Blue square', 'savedWorkflow', 'json'],
        ['exports/blue_square_api', 'savedWorkflow', 'json'],
      ],
    );
    const listing = (await comfyRequests()).filter((r) => r.path === '/userdata');
    assert.ok(listing.length >= 1, 'the list was not read from the server');
    assert.deepStrictEqual(listing[0].query, { dir: 'workflows', recurse: 'true', split: 'false', full_info: 'true' });
  });

  it('Open shows the saved workflow read-only, titled with the server and not its URL', async () => {
    const opened = await vscode.commands.executeCommand<string>('runcomfy.savedWorkflow.open', savedNode('Blue square.json'));
    const editor = await waitFor('the saved workflow in the editor', () => (vscode.window.activeTextEditor?.document.uri.toString() === opened ? vscode.window.activeTextEditor : undefined));
    const doc = editor.document;
    assert.strictEqual(doc.uri.scheme, 'runcomfy-saved');
    assert.strictEqual(doc.languageId, 'json');
    assert.strictEqual(path.posix.basename(doc.uri.path), `Blue square (${serverName}).json`);
    const named = [doc.uri.path, ...new URLSearchParams(doc.uri.query).values()].join(' ');
    assert.ok(!named.includes(new URL(comfy).host), `the document's URI names the server's address: ${named}`);
    assert.strictEqual(doc.getText(), await savedText('Blue square.json'));
    // Read-only: an edit does not take, and there is nothing to save back to the server.
    await editor.edit((e) => e.insert(new vscode.Position(0, 0), 'x'));
    assert.strictEqual(doc.getText(), await savedText('Blue square.json'), 'the saved workflow view took an edit');
    assert.strictEqual(doc.isDirty, false);
    assert.strictEqual(await doc.save(), false, 'the saved workflow view could be saved');
  });

  it('Save to Workspace writes the saved workflow into the file the dialog chose, starting in the workspace folder', async () => {
    const file = vscode.Uri.joinPath(folder(), 'saved-from-comfy', 'Blue square.json');
    await script([{ save: file.fsPath }]);
    const written = await vscode.commands.executeCommand<string>('runcomfy.savedWorkflow.saveToWorkspace', savedNode('Blue square.json'));
    assert.strictEqual(written, file.fsPath);
    assert.strictEqual(fs.readFileSync(file.fsPath, 'utf8'), await savedText('Blue square.json'));
    const asked = (await state()).prompts.find((p) => p.kind === 'save');
    assert.strictEqual(asked?.detail, path.join(folder().fsPath, 'Blue square.json'), 'the dialog did not start in the workspace folder');
  });

  it('Save to ComfyUI… puts a workspace file into the list with overwrite=false, and asks before replacing it', async () => {
    const file = vscode.Uri.joinPath(folder(), 'hello', 'workflow_api.json');
    await fetch(`${comfy}/__sim/requests/clear`, { method: 'POST' });
    await script([{ input: 'mine/hello' }]);
    assert.strictEqual(await vscode.commands.executeCommand<string>('runcomfy.saveToComfyUI', file), 'mine/hello.json');
    const first = (await comfyRequests()).filter((r) => r.method === 'POST');
    assert.deepStrictEqual(
      first.map((r) => [r.path, r.query, r.status]),
      [['/userdata/workflows%2Fmine%2Fhello.json', { overwrite: 'false' }, 200]],
    );
    assert.strictEqual(await savedText('mine/hello.json'), fs.readFileSync(file.fsPath, 'utf8'));
    await waitFor('the new saved workflow in the tree', async () => (await savedFolder())?.children?.some((c) => c.label === 'mine/hello'));

    // The name is taken now: declining the question leaves the saved one alone.
    await fetch(`${comfy}/__sim/requests/clear`, { method: 'POST' });
    await script([{ input: 'Blue square.json' }, { confirm: false }]);
    const before = await savedText('Blue square.json');
    assert.strictEqual(await vscode.commands.executeCommand('runcomfy.saveToComfyUI', file), undefined);
    assert.ok((await state()).prompts.some((p) => p.kind === 'confirm' && p.text === `Replace "Blue square.json" on ${serverName}?`));
    assert.deepStrictEqual(
      (await comfyRequests()).filter((r) => r.method === 'POST').map((r) => [r.query, r.status]),
      [[{ overwrite: 'false' }, 409]],
    );
    assert.strictEqual(await savedText('Blue square.json'), before);

    // Confirming replaces it, and an open view of it follows.
    const view = await vscode.workspace.openTextDocument(vscode.Uri.parse(await vscode.commands.executeCommand<string>('runcomfy.savedWorkflow.open', savedNode('Blue square.json'))));
    assert.strictEqual(view.getText(), before);
    await script([{ input: 'Blue square.json' }, { confirm: true }]);
    assert.strictEqual(await vscode.commands.executeCommand<string>('runcomfy.saveToComfyUI', file), 'Blue square.json');
    const replaced = fs.readFileSync(file.fsPath, 'utf8');
    assert.strictEqual(await savedText('Blue square.json'), replaced);
    await waitFor('the open view to show the replaced workflow', () => view.getText() === replaced);
  });

  it('Queue runs a saved workflow on its server: an API-format one as it is, a UI-format one converted against its node list', async () => {
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.savedWorkflow.queue', savedNode('exports/blue_square_api.json'));
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.ok(result.outputs.length > 0, 'no outputs saved');
    await fetch(`${comfy}/__sim/reset`, { method: 'POST' });
    const ui = await vscode.commands.executeCommand<RunResult>('runcomfy.savedWorkflow.queue', savedNode('Blue square.json'));
    assert.strictEqual(ui.status, 'success', JSON.stringify(ui.error));
    assert.ok(ui.promptId, 'no prompt id');
    // What the server received, as it keeps it: the history entry's prompt is [number, id, prompt, extra data, outputs to execute].
    const history = (await fetch(`${comfy}/history/${ui.promptId}`).then((r) => r.json())) as Record<string, { prompt: unknown[] }>;
    const sent = history[ui.promptId].prompt[2] as Record<string, { class_type: string; inputs: unknown }>;
    assert.deepStrictEqual(Object.fromEntries(Object.entries(sent).map(([id, n]) => [id, { class_type: n.class_type, inputs: n.inputs }])), {
      '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 3368652 } },
      '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    });
  });
});
