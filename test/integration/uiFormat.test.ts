import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, lensesOf, script, signIn, state, waitFor, workspaceFile } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  promptId: string | null;
  status: string;
  outputs: { node: string; filename: string; path: string }[];
  runDir?: string;
  error: { message: string } | null;
}

/**
 * The prompt ComfyUI's Export (API) makes of test/fixtures/workspace/ui-format/ui-hello.json against
 * the simulator's node list: widget values on their input names in the class's order, links as
 * `[origin, slot]`, the note left out, titles kept (the class's display name when none was given).
 */
const expectedPrompt = {
  '1': { inputs: { width: 256, height: 256, batch_size: 1, color: 16746496 }, class_type: 'EmptyImage', _meta: { title: 'Blank canvas' } },
  '2': { inputs: { upscale_method: 'bilinear', width: 128, height: 96, crop: 'disabled', image: ['1', 0] }, class_type: 'ImageScale', _meta: { title: 'Upscale Image' } },
  '3': { inputs: { filename_prefix: 'ui-hello/ui-hello', images: ['2', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
};

describe('UI-format workflows (what ComfyUI saves) in the editor', function () {
  this.timeout(90_000);
  let sim: SimulatorProcess;
  let serverId: string | undefined;
  const uiHello = () => workspaceFile('ui-format', 'ui-hello.json');
  const uiMissing = () => workspaceFile('ui-format', 'ui-missing-node.json');

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    await signIn(sim.info.userId, sim.info.tokens[1]);
    assert.ok(await vscode.commands.executeCommand<boolean>('runcomfy.addLocalServer', { name: 'Desk GPU', url: sim.info.localComfyUrl! }));
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (serverId) await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId }, { confirmed: true });
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('shows the Queue lenses on a UI-format file', async () => {
    const lenses = await lensesOf(uiHello());
    assert.deepStrictEqual(lenses.map((l) => l.command?.command), ['runcomfy.launchAndQueue', 'runcomfy.queueWorkflowOn']);
    assert.deepStrictEqual(lenses[1].command?.arguments?.map(String), [uiHello().toString()]);
  });

  it('shows which local files a UI-format file\'s loaders will upload, on the node', async () => {
    const uri = workspaceFile('invert-photo-ui', 'workflow.json');
    const lenses = await lensesOf(uri);
    const upload = lenses.find((l) => l.command?.title.startsWith('↑'));
    assert.strictEqual(upload?.command?.title, '↑ uploads photo.png');
    const doc = await vscode.workspace.openTextDocument(uri);
    assert.match(doc.lineAt(upload.range.start.line).text, /"type": "LoadImage"/, 'on the line of the LoadImage node\'s "type"');
  });

  it('with no machine Ready, shows a class the local server lacks as a diagnostic at that node', async () => {
    const doc = await vscode.workspace.openTextDocument(uiMissing());
    await vscode.window.showTextDocument(doc);
    const diagnostic = await waitFor('the missing-class diagnostic from the local server', () => vscode.languages.getDiagnostics(uiMissing()).find((d) => d.code === 'unknown_node_class'), 30_000);
    assert.strictEqual(diagnostic.severity, vscode.DiagnosticSeverity.Error);
    assert.match(diagnostic.message, /^Node 2 “Fancy upscale” \(FancyUpscaler\): this server has no node class "FancyUpscaler"\./);
    assert.strictEqual(doc.getText(diagnostic.range), '"FancyUpscaler"', 'not at the node\'s "type"');
    assert.match(diagnostic.source ?? '', /^RunComfy \(http:\/\/127\.0\.0\.1:\d+/);
  });

  it('queues it on a local server converted against that server, saves the outputs and leaves the file as it is', async () => {
    const url = sim.info.localComfyUrl!;
    const before = fs.readFileSync(uiHello().fsPath);
    await fetch(`${url}/__sim/requests/clear`, { method: 'POST' });
    await script([{ pick: 'Desk GPU' }]);
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflowOn', uiHello());
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));

    const log = (await fetch(`${url}/__sim/requests`).then((r) => r.json())) as { requests: { method: string; path: string }[] };
    assert.deepStrictEqual(log.requests.filter((r) => r.method === 'POST').map((r) => r.path), ['/prompt']);
    // What the server received, as it keeps it: the history entry's prompt is [number, id, prompt, extra data, outputs to execute].
    const history = (await fetch(`${url}/history/${result.promptId}`).then((r) => r.json())) as Record<string, { prompt: unknown[] }>;
    assert.deepStrictEqual(history[result.promptId!].prompt[2], expectedPrompt);

    const root = workspaceFile('runcomfy-outputs', 'ui-hello').fsPath;
    assert.ok(result.runDir?.startsWith(root), `${result.runDir} is not under ${root}`);
    assert.ok(result.outputs.length > 0, 'no outputs saved');
    for (const o of result.outputs) assert.ok(fs.statSync(o.path).size > 0, `${o.path} is empty`);
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as { convertedFrom?: string; workflowFile?: string };
    assert.strictEqual(record.convertedFrom, 'ui');
    assert.strictEqual(record.workflowFile, 'ui-format/ui-hello.json');
    assert.deepStrictEqual(fs.readFileSync(uiHello().fsPath), before, 'the UI-format file on disk changed');
  });

  it('shows a class the Ready machine lacks as a diagnostic at that node, and refuses to queue it there', async () => {
    await script([{ pick: 'v1 first draft' }, { pick: 'Medium' }, { pick: '30 min' }, { confirm: true }]);
    serverId = await vscode.commands.executeCommand<string>('runcomfy.launchMachine');
    assert.ok(serverId);
    const doc = await vscode.workspace.openTextDocument(uiMissing());
    await vscode.window.showTextDocument(doc);
    // The Ready machine takes over from the local server for a file never queued.
    const diagnostic = await waitFor(
      'the missing-class diagnostic from the machine',
      () => vscode.languages.getDiagnostics(uiMissing()).find((d) => d.code === 'unknown_node_class' && d.message.includes('this machine')),
      60_000,
    );
    assert.strictEqual(diagnostic.severity, vscode.DiagnosticSeverity.Error);
    assert.match(diagnostic.message, /^Node 2 “Fancy upscale” \(FancyUpscaler\): this machine has no node class "FancyUpscaler"\./);
    assert.strictEqual(doc.getText(diagnostic.range), '"FancyUpscaler"', 'not at the node\'s "type"');
    assert.ok(!vscode.languages.getDiagnostics(uiHello()).some((d) => d.source?.startsWith('RunComfy')), 'a convertible UI-format file has diagnostics');

    await script([]);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', uiMissing())), (e: Error) => {
      assert.match(e.message, /cannot be converted for .*: 1 node class unknown to .*:\n {2}FancyUpscaler: node 2 "Fancy upscale" at nodes\[1\]/);
      return true;
    });
  });

  it('Export API Format… writes <name>_api.json beside the file, equal to the conversion, and asks before replacing it', async () => {
    const out = workspaceFile('ui-format', 'ui-hello_api.json');
    await vscode.workspace.fs.delete(out).then(undefined, () => undefined);
    await script([{ pick: 'Desk GPU' }]);
    const written = await vscode.commands.executeCommand<vscode.Uri>('runcomfy.exportApiFormat', uiHello());
    assert.strictEqual(written.toString(), out.toString());
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(out.fsPath, 'utf8')), expectedPrompt);
    await waitFor('the exported file in the editor', () => vscode.window.activeTextEditor?.document.uri.toString() === out.toString());

    fs.writeFileSync(out.fsPath, '{"keep": "me"}');
    await script([{ pick: 'Desk GPU' }, { confirm: false }]);
    assert.strictEqual(await vscode.commands.executeCommand('runcomfy.exportApiFormat', uiHello()), undefined, 'Cancel ends quietly');
    assert.strictEqual(fs.readFileSync(out.fsPath, 'utf8'), '{"keep": "me"}', 'replaced without asking');
    const question = (await state()).prompts.filter((p) => p.kind === 'confirm').at(-1);
    assert.strictEqual(question?.text, 'ui-format/ui-hello_api.json already exists. Replace it?');

    await script([{ pick: 'Desk GPU' }, { confirm: true }]);
    await vscode.commands.executeCommand('runcomfy.exportApiFormat', uiHello());
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(out.fsPath, 'utf8')), expectedPrompt);
    assert.deepStrictEqual(fs.readdirSync(path.dirname(out.fsPath)).filter((f) => f.endsWith('.tmp')), [], 'a temp file was left behind');
  });
});
