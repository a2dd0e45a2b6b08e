import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, EXTENSION_ID, lensesOf, readLog, script, signIn, state, waitFor, workspaceFile } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  promptId: string | null;
  status: string;
  outputs: { node: string; filename: string; path: string }[];
  runDir?: string;
  error: { message: string } | null;
}

describe('queueing workflows from the editor', function () {
  this.timeout(90_000);
  let sim: SimulatorProcess;
  let serverId: string;
  const hello = () => workspaceFile('hello', 'workflow_api.json');

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    await signIn(sim.info.userId, sim.info.tokens[1]);
    await vscode.commands.executeCommand('runcomfy.machines.focus');
  });

  after(async () => {
    if (serverId) await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId }, { confirmed: true });
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('offers "Launch a machine and queue…" while no machine is Ready', async () => {
    await waitFor('the machine list', async () => (await state()).contextKeys['runcomfy.machinesLoaded'] === true);
    const titles = (await lensesOf(hello())).map((l) => l.command?.title);
    assert.deepStrictEqual(titles, ['▶ Launch a machine and queue…', 'Queue on…']);
  });

  it('follows machine state: "▶ Queue on RunComfy" once a machine is Ready', async () => {
    await script([{ pick: 'v1 first draft' }, { pick: 'Medium' }, { pick: '30 min' }, { confirm: true }]);
    serverId = (await vscode.commands.executeCommand<string>('runcomfy.launchMachine'))!;
    assert.ok(serverId);
    const short = serverId.split('-')[0];
    const lenses = await waitFor('the queue lens', async () => {
      const l = await lensesOf(hello());
      return l[0]?.command?.title === `▶ Queue on RunComfy (medium ${short})` ? l : undefined;
    });
    assert.strictEqual(lenses[0]?.command?.command, 'runcomfy.queueWorkflow');
  });

  it('shows which local files a node will upload', async () => {
    const lenses = await lensesOf(workspaceFile('invert-photo', 'workflow_api.json'));
    const upload = lenses.find((l) => l.command?.title.startsWith('↑'));
    assert.strictEqual(upload?.command?.title, '↑ uploads photo.png');
    assert.strictEqual(upload.range.start.line, 1, 'on the line of node "1"');
  });

  it('queues from the CodeLens, streams the run into the log and saves every output into the workspace', async () => {
    const [lens] = await lensesOf(hello());
    const args = (lens.command?.arguments ?? []) as unknown[];
    assert.strictEqual(lens.command?.command, 'runcomfy.queueWorkflow');
    const result = await vscode.commands.executeCommand<RunResult>(lens.command.command, ...args);
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const root = workspaceFile('runcomfy-outputs', 'hello').fsPath;
    assert.ok(result.runDir?.startsWith(root), `${result.runDir} is not under ${root}`);
    // hello saves two images (batch of 2), previews one and shows one text: three files and run.json.
    const saved = result.outputs.map((o) => path.relative(result.runDir!, o.path)).sort();
    assert.ok(saved.some((p) => /^hello[/\\]hello_0000\d_\.png$/.test(p)), saved.join(', '));
    for (const o of result.outputs) assert.ok(fs.statSync(o.path).size > 0, `${o.path} is empty`);
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { prompt_id?: string; promptId?: string; status: string };
    assert.strictEqual(record.prompt_id ?? record.promptId, result.promptId);
    assert.strictEqual(record.status, 'success');

    const s = await state();
    // This run's own end: earlier runs of the window (other suites' runs of hello) are in the log too.
    const log = await waitFor('the run in the log', () => {
      const text = readLog(s.logDirectory);
      const queued = text.indexOf(`Queued as prompt ${result.promptId}`);
      return queued >= 0 && text.includes('✔ Succeeded', queued) ? text : '';
    });
    assert.ok(log.includes(`▶ Run hello/workflow_api.json on medium machine ${serverId.split('-')[0]}`), 'no run header in the log');
    assert.ok(log.includes(`Queued as prompt ${result.promptId}`), 'no prompt id in the log');
    assert.ok(log.includes('▸ Node 4 SaveImage "Save image"'), 'no node line in the log');
    assert.ok(log.includes(`✔ Saved ${result.outputs[0].path}`), 'no saved path in the log');
    assert.ok(!log.includes(sim.info.tokens[1]), 'the token is in the log');
    const run = s.machinesTree.find((m) => m.label === serverId.split('-')[0])?.children?.find((c) => c.label === 'hello');
    assert.ok(run, 'the run is not listed under its machine');
    assert.match(String(run.description), /^succeeded in/);
  });

  it('opens the first image output, lists every file in run.json, and "Open Outputs" reveals the run folder in the Explorer', async () => {
    // Without the run panel (which shows the gallery instead: runPanel.test.ts), the run's first image opens in an editor.
    await vscode.workspace.getConfiguration('runcomfy').update('showRunPanel', 'never', vscode.ConfigurationTarget.Global);
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', hello()).then(
      (r) => vscode.workspace.getConfiguration('runcomfy').update('showRunPanel', undefined, vscode.ConfigurationTarget.Global).then(() => r),
    );
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const tabPaths = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => (t.input instanceof vscode.TabInputCustom || t.input instanceof vscode.TabInputText ? t.input.uri.fsPath : ''));
    const image = result.outputs.find((o) => o.path.endsWith('.png'));
    assert.ok(image, 'hello saves images');
    await waitFor('the first image output in an editor', () => tabPaths().includes(image.path));

    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { files: { path: string; node: string; kind: string; bytes: number }[] };
    assert.deepStrictEqual(
      record.files.map((f) => path.join(result.runDir!, ...f.path.split('/'))).sort(),
      result.outputs.map((o) => o.path).sort(),
    );
    for (const f of record.files) assert.strictEqual(fs.statSync(path.join(result.runDir!, ...f.path.split('/'))).size, f.bytes, f.path);

    const run = (await state()).runs.find((r) => r.promptId === result.promptId);
    assert.ok(run, 'the run is not listed');
    const before = tabPaths();
    const shown = await vscode.commands.executeCommand<{ folder: string; via: string }>('runcomfy.openRunOutputs', { kind: 'run', runId: run.id });
    assert.deepStrictEqual(shown, { folder: result.runDir, via: 'revealInExplorer' });
    assert.deepStrictEqual(tabPaths(), before, 'Open Outputs opened an editor instead of revealing the folder');
  });

  it('uploads local inputs and uses the uploaded name', async () => {
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', workspaceFile('invert-photo', 'workflow_api.json'));
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.strictEqual(result.outputs.length, 1);
    const uploads = (await fetch(`${await comfyUrl()}/__sim/requests`).then((r) => r.json())) as { method: string; path: string }[] | { requests: { method: string; path: string }[] };
    const list = Array.isArray(uploads) ? uploads : uploads.requests;
    assert.ok(list.some((r) => r.method === 'POST' && r.path === '/upload/image'), 'no upload reached ComfyUI');
  });

  it('shows the analysis problems of a broken workflow as diagnostics and refuses to queue it', async () => {
    const broken = workspaceFile('broken', 'workflow_api.json');
    await vscode.workspace.fs.writeFile(broken, Buffer.from(JSON.stringify({ '1': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x' } } }, null, 2)));
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(broken));
    const diagnostics = await waitFor('diagnostics', () => vscode.languages.getDiagnostics(broken).filter((d) => d.source?.startsWith('RunComfy')).length > 0 ? vscode.languages.getDiagnostics(broken) : undefined);
    assert.ok(diagnostics.some((d) => d.code === 'link_to_missing_node'), JSON.stringify(diagnostics.map((d) => d.code)));
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', broken)), /cannot be queued/);
  });

  it('analyses only documents that can be workflows: no other language, nothing huge', async () => {
    const broken = (extra: Record<string, string> = {}) => JSON.stringify({ '1': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x', ...extra } } }, null, 2);
    const plain = await vscode.workspace.openTextDocument({ language: 'plaintext', content: broken() });
    const huge = await vscode.workspace.openTextDocument({ language: 'json', content: broken({ note: 'x'.repeat(9 * 1024 * 1024) }) });
    // Opened last, so once its diagnostics are in, the two above have been looked at.
    const control = await vscode.workspace.openTextDocument({ language: 'json', content: broken() });
    const ours = (doc: vscode.TextDocument) => vscode.languages.getDiagnostics(doc.uri).filter((d) => d.source?.startsWith('RunComfy'));
    await waitFor('diagnostics of the JSON workflow', () => (ours(control).length > 0 ? true : undefined));
    assert.deepStrictEqual(ours(plain), [], 'a plain-text document was analysed');
    assert.deepStrictEqual(ours(huge), [], 'a 9 MB document was analysed');
  });

  it('never uploads a file outside the workspace folder: the CodeLens and the diagnostic say why before anything is sent, and nothing reaches ComfyUI', async function () {
    const folder = workspaceFile().fsPath;
    // A private key beside the workspace, and a workflow inside it that names the key two ways.
    const home = path.join(path.dirname(folder), `home-${Date.now()}`);
    const key = path.join(home, '.ssh', 'id_ed25519');
    fs.mkdirSync(path.dirname(key), { recursive: true });
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n');
    const flow = path.join(folder, 'leak');
    fs.mkdirSync(flow, { recursive: true });
    const linked = path.join(flow, 'photo.png');
    fs.rmSync(linked, { force: true });
    try {
      fs.symlinkSync(key, linked);
    } catch {
      this.skip();
    }
    const dotdot = path.relative(flow, key);
    const wf = vscode.Uri.file(path.join(flow, 'workflow_api.json'));
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: dotdot } },
      '2': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
      '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    await vscode.workspace.fs.writeFile(wf, Buffer.from(JSON.stringify(prompt, null, 2)));

    const diagnostics = await waitFor('the refusals as diagnostics', () => {
      void vscode.workspace.openTextDocument(wf).then((d) => vscode.window.showTextDocument(d));
      const found = vscode.languages.getDiagnostics(wf).filter((d) => d.code === 'input_not_allowed');
      return found.length === 2 ? found : undefined;
    });
    const rule = `is not uploaded: it is not inside the workspace folder ${folder} (it leads to ${fs.realpathSync(key)}). Only files inside the workspace folder are uploaded`;
    assert.ok(diagnostics[0].message.startsWith(`Node 1 (LoadImage), input "image": ${JSON.stringify(dotdot)} ${rule}`), diagnostics[0].message);
    assert.ok(diagnostics[1].message.startsWith(`Node 2 (LoadImage), input "image": "photo.png" ${rule}`), diagnostics[1].message);
    assert.strictEqual(diagnostics[0].severity, vscode.DiagnosticSeverity.Error);

    const lenses = await lensesOf(wf);
    const refusals = lenses.filter((l) => l.command?.title.startsWith('⊘'));
    assert.deepStrictEqual(
      refusals.map((l) => l.command?.title),
      ['⊘ will not upload id_ed25519: not inside the workspace folder', '⊘ will not upload photo.png: not inside the workspace folder'],
    );
    assert.ok(!lenses.some((l) => l.command?.title.startsWith('↑')), 'no upload is announced');

    const url = await comfyUrl();
    await fetch(`${url}/__sim/requests/clear`, { method: 'POST' });
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', wf)), (e: Error) => {
      assert.match(e.message, /leak\/workflow_api\.json cannot be queued: .*Node 1 \(LoadImage\), input "image": ".*id_ed25519" is not uploaded: it is not inside the workspace folder/);
      assert.match(e.message, /and 1 more problem/);
      return true;
    });
    const log = (await fetch(`${url}/__sim/requests`).then((r) => r.json())) as { requests: { method: string; path: string }[] };
    assert.deepStrictEqual(
      log.requests.filter((r) => r.path === '/upload/image' || r.path === '/prompt'),
      [],
      'nothing was uploaded or queued',
    );
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('asks before queueing what the machine\'s node list refuses, naming nodes by title and class: Cancel sends nothing, Queue Anyway queues, and the rejection reads in words', async () => {
    const folder = workspaceFile('heldout');
    const wf = vscode.Uri.joinPath(folder, 'workflow_api.json');
    await vscode.workspace.fs.copy(workspaceFile('invert-photo', 'photo.png'), vscode.Uri.joinPath(folder, 'photo.png'), { overwrite: true });
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
      '9': { class_type: 'SaveImage', inputs: { images: ['32', 0], filename_prefix: 'heldout' } },
      '32': { class_type: 'HeldoutNoSuchNode', inputs: { image: ['1', 0] }, _meta: { title: 'Load Model' } },
      '33': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'magic', width: 8, height: 8, crop: 'disabled' } },
      '34': { class_type: 'EmptyImage', inputs: { width: 0, height: 8, batch_size: 1, color: 0 } },
    };
    await vscode.workspace.fs.writeFile(wf, Buffer.from(JSON.stringify(prompt, null, 2)));
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(wf));
    // The diagnostics check the file against the Ready machine's node list; the question reuses what they found.
    await waitFor('the node-list diagnostics', () => vscode.languages.getDiagnostics(wf).some((d) => d.code === 'unknown_node_class'));

    const url = await comfyUrl();
    const sent = async () => {
      const log = (await fetch(`${url}/__sim/requests`).then((r) => r.json())) as { requests: { method: string; path: string }[] };
      return log.requests.filter((r) => r.method === 'POST').map((r) => r.path);
    };
    await fetch(`${url}/__sim/requests/clear`, { method: 'POST' });
    await script([{ confirm: false }]);
    assert.strictEqual(await vscode.commands.executeCommand('runcomfy.queueWorkflow', wf), undefined, 'Cancel ends the command quietly');
    const question = (await state()).prompts.find((p) => p.kind === 'confirm');
    assert.ok(question, 'no question was asked');
    assert.strictEqual(question.text, 'Node 32 “Load Model” (HeldoutNoSuchNode) is not installed on this machine (and 2 more problems). Queue anyway?');
    assert.deepStrictEqual(question.items, ['Queue Anyway', 'Show Problems']);
    assert.match(question.detail ?? '', /Node 33 \(ImageScale\), input "upscale_method": "magic" is not one of the allowed values/);
    assert.match(question.detail ?? '', /Node 34 \(EmptyImage\), input "width": 0 is below the minimum of 1/);
    assert.deepStrictEqual(await sent(), [], 'Cancel: no /upload/image, no /prompt');

    await script([{ confirm: true }]);
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', wf);
    // photo.png is uploaded unless an earlier test left the same bytes on the server (then HEAD /view finds it).
    assert.deepStrictEqual((await sent()).filter((p) => p !== '/upload/image'), ['/prompt'], 'Queue Anyway: queued');
    const words = 'ComfyUI rejected the workflow: node 32 “Load Model” (HeldoutNoSuchNode) is not installed on this server.';
    assert.strictEqual(result.status, 'error');
    assert.strictEqual(result.error?.message, words);
    const shown = (await state()).prompts.filter((p) => p.kind === 'notify').map((p) => p.text);
    assert.deepStrictEqual(shown, [words], 'the notification is the message, without a prefix');
    const s = await state();
    const log = await waitFor('the rejection in the log', () => {
      const text = readLog(s.logDirectory);
      return text.includes(`✖ Failed after`) && text.includes(words) ? text : '';
    });
    for (const raw of ["Node ID '#32'", '[invalid_prompt]', 'runcomfy.queueWorkflow failed']) assert.ok(!log.includes(raw), `the log shows ${raw} above debug level`);
  });

  it('offers the Queue lens and button on a UI-format workflow too, and says with "How to Export" why one that cannot be converted is not queued', async () => {
    const runButton = (vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { contributes: { menus: Record<string, { command: string; when?: string }[]> } }).contributes.menus['editor/title/run'];
    assert.deepStrictEqual(runButton.find((m) => m.command === 'runcomfy.queueWorkflow')?.when, 'runcomfy.editorIsWorkflow');
    const keys = async () => (await state()).contextKeys;

    // What ComfyUI's Save writes, broken (a node without a type): the lens and the button are there, the queue says why not.
    const ui = workspaceFile('ui-export', 'workflow_api.json');
    await vscode.workspace.fs.writeFile(ui, Buffer.from(JSON.stringify({ last_node_id: 2, nodes: [{ id: 1 }], links: [], version: 0.4 }, null, 2)));
    const notWorkflow = workspaceFile('ui-export', 'settings.json');
    await vscode.workspace.fs.writeFile(notWorkflow, Buffer.from(JSON.stringify({ editor: { tabSize: 2 } }, null, 2)));
    assert.deepStrictEqual(await lensesOf(notWorkflow), [], 'a lens on a JSON file that is no workflow');
    await waitFor('no button on a JSON file that is no workflow', async () => (await keys())['runcomfy.editorIsWorkflow'] === false);
    assert.ok((await lensesOf(ui)).length > 0, 'no lens on a UI-format workflow');
    await waitFor('the Queue and Export buttons on a UI workflow', async () => {
      const k = await keys();
      return k['runcomfy.editorIsWorkflow'] === true && k['runcomfy.editorIsUiWorkflow'] === true;
    });

    await script([]);
    const local = { kind: 'local', name: 'Sim', url: sim.info.localComfyUrl! };
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', ui, local)), (e: Error) => {
      assert.match(e.message, /^ui-export\/workflow_api\.json cannot be converted for .*: Node 1 at nodes\[0\] has no type\./);
      return true;
    });
    await vscode.commands.executeCommand('runcomfy.howToExport');
    const howTo = (await state()).prompts.filter((p) => p.kind === 'notify').at(-1);
    assert.match(howTo?.text ?? '', /Workflow → Export \(API\)/);
    const log = readLog((await state()).logDirectory);
    assert.ok(log.includes('has no type'), 'the error is not in the log');
    assert.ok(!log.includes('runcomfy.queueWorkflow failed'), 'the log names the command above debug level');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('queues on a local ComfyUI server added by URL, listed beside the machines', async () => {
    const url = sim.info.localComfyUrl!;
    assert.ok(await vscode.commands.executeCommand<boolean>('runcomfy.addLocalServer', { name: 'Desk GPU', url }));
    const node = await waitFor('the local server in the tree', async () => (await state()).machinesTree.find((m) => m.label === 'Desk GPU'));
    assert.strictEqual(node.contextValue, 'localServer openable');
    await script([{ pick: 'Desk GPU' }]);
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflowOn', hello());
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
  });

  /** The machine's ComfyUI URL in full, from the simulator: the extension only ever shows it masked. */
  async function comfyUrl(): Promise<string> {
    const machines = await sim.admin<{ server_id: string; main_service_url: string }[]>('machines');
    const m = machines.find((x) => x.server_id === serverId);
    assert.ok(m, `machine ${serverId} not in the simulator`);
    return m.main_service_url;
  }
});
