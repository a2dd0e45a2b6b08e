// Runs only in the runner's `restricted` phase: the two-folder workspace of test/fixtures/multi-root,
// opened with Workspace Trust on and not trusted (Restricted Mode).
import * as assert from 'assert';
import * as fs from 'fs';
import * as vscode from 'vscode';
import { activateExtension, lensesOf, script, signIn, state, waitFor, workspaceFolderUri, type TestState } from './helpers';
import { SimulatorProcess } from './simulator';

interface ComfyRequest {
  method: string;
  path: string;
}

describe('Restricted Mode (an untrusted two-folder workspace)', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;
  let serverId: string;
  const alphaHello = () => vscode.Uri.joinPath(workspaceFolderUri('alpha'), 'hello', 'workflow_api.json');
  const alphaInvert = () => vscode.Uri.joinPath(workspaceFolderUri('alpha'), 'invert-photo', 'workflow_api.json');
  const betaHello = () => vscode.Uri.joinPath(workspaceFolderUri('beta'), 'hello', 'workflow_api.json');

  before(async function () {
    // Everything below means something only if this window really is in Restricted Mode.
    assert.strictEqual(vscode.workspace.isTrusted, false, 'the restricted phase must open an untrusted workspace');
    assert.deepStrictEqual(vscode.workspace.workspaceFolders?.map((f) => f.name), ['alpha', 'beta']);
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    await signIn(sim.info.userId, sim.info.tokens[0]);
    await vscode.commands.executeCommand('runcomfy.machines.focus');
    await vscode.commands.executeCommand('runcomfy.workflows.focus');
  });

  after(async () => {
    if (serverId) await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId }, { confirmed: true });
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('VS Code itself ignores the workspace values of our restrictedConfigurations here, and honours the others', () => {
    const alpha = vscode.workspace.getConfiguration('runcomfy', workspaceFolderUri('alpha'));
    const beta = vscode.workspace.getConfiguration('runcomfy', workspaceFolderUri('beta'));
    const workspaceSettings = fs.readFileSync(vscode.workspace.workspaceFile!.fsPath, 'utf8');
    assert.ok(workspaceSettings.includes('"runcomfy.defaultDurationMinutes": 1439'), 'the fixture should try to preselect a long launch');
    assert.strictEqual(alpha.get('outputDirectory'), 'runcomfy-outputs', 'the folder value of a restricted setting was used');
    assert.strictEqual(vscode.workspace.getConfiguration('runcomfy').get('defaultDurationMinutes'), 60, 'the workspace value of a restricted setting was used');
    assert.strictEqual(beta.get('codeLens.enabled'), false, 'a setting that is not restricted still applies per folder');
  });

  it('signs in against the user-level API URL, never the one the workspace names, and lists the views', async () => {
    const s = await waitFor('an account', async () => (await state()).account);
    assert.strictEqual(s.apiUrl, `${sim.info.runcomfyUrl}/`);
    const tree = await waitFor('workflows in the tree', async () => {
      const t = (await state()).workflowsTree;
      return t.length > 1 ? t : undefined;
    });
    assert.ok(tree.some((w) => w.label === 'Flux portrait'), JSON.stringify(tree));
    const machines = (await state()).machinesTree.map((m) => m.label);
    assert.ok(!machines.includes('Planted server'), `a workspace-set local server is listed: ${machines.join(', ')}`);
  });

  it('launches from the account (not from workspace files), with a running time the workspace cannot preselect', async () => {
    await script([{ pick: 'v1 first draft' }, { pick: 'Medium' }, { pick: '30 min' }, { confirm: true }]);
    serverId = (await vscode.commands.executeCommand<string>('runcomfy.launchMachine', { wait: false }))!;
    assert.ok(serverId, 'launch returned no machine id');
    const durations = (await state()).prompts.find((p) => p.kind === 'pick' && p.text.endsWith('running time'));
    assert.ok(durations?.items, JSON.stringify((await state()).prompts));
    assert.ok(!durations.items.includes('23 h 59 min'), `the workspace's 1439 minutes were offered: ${durations.items.join(', ')}`);
    await waitFor('the machine Ready', async () => (await state()).machines.find((m) => m.server_id === serverId && m.current_status === 'Ready'), 20_000);
  });

  it('refuses to queue or upload workspace files, says why and how to trust the folder, and reaches no ComfyUI', async () => {
    const comfy = await comfyUrl();
    await fetch(`${comfy}/__sim/requests/clear`, { method: 'POST' });
    const launchesBefore = (await sim.requests()).filter((r) => r.route === 'launch').length;
    const refused = (e: Error) => {
      assert.match(e.message, /^Queueing is off in Restricted Mode: it uploads files of this workspace .* you have not trusted this folder\. Trust the folder to queue from it/);
      return true;
    };
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', alphaInvert())), refused);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflow', alphaHello(), { kind: 'machine', serverId, label: 'm' })), refused);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.queueWorkflowOn', alphaHello())), refused);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.launchAndQueue', alphaHello())), refused);
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('runcomfy.saveToComfyUI', alphaHello(), { kind: 'machine', serverId, label: 'm' })), refused);
    const log = (await fetch(`${comfy}/__sim/requests`).then((r) => r.json())) as ComfyRequest[] | { requests: ComfyRequest[] };
    const requests = Array.isArray(log) ? log : log.requests;
    assert.deepStrictEqual(requests.filter((r) => r.path.startsWith('/upload') || r.path === '/prompt' || r.path.startsWith('/userdata/')), [], 'something was uploaded, saved or queued');
    assert.strictEqual((await sim.requests()).filter((r) => r.route === 'launch').length, launchesBefore, 'launch-and-queue launched a machine before refusing');
  });

  it('still lists the workflows saved in the machine\'s ComfyUI (reading is not gated)', async () => {
    const short = serverId.split('-')[0];
    const saved = await waitFor('the saved workflows under the machine', async () => {
      const s = await vscode.commands.executeCommand<TestState>('runcomfy.test.state', { machinesTreeDepth: 3 });
      const node = s.machinesTree.find((m) => m.label === short)?.children?.find((c) => c.label === 'Saved in ComfyUI');
      return node?.children?.length ? node.children : undefined;
    });
    assert.ok(saved.some((c) => c.label === 'Blue square'), JSON.stringify(saved.map((c) => c.label)));
  });

  it('shows one lens that says queueing needs a trusted folder and opens Manage Workspace Trust; none where lenses are off', async () => {
    const lenses = await waitFor('the restricted lens', async () => {
      const l = await lensesOf(alphaInvert());
      return l.length > 0 ? l : undefined;
    });
    assert.deepStrictEqual(
      lenses.map((l) => [l.command?.title, l.command?.command]),
      [['🛡 Queueing needs a trusted folder: Manage Workspace Trust', 'workbench.trust.manage']],
    );
    assert.ok((await vscode.commands.getCommands(true)).includes('workbench.trust.manage'), 'this VS Code has no workbench.trust.manage');
    assert.deepStrictEqual(await lensesOf(betaHello()), [], 'beta turns lenses off in its folder settings');
  });

  it('extends and stops a running machine', async () => {
    await script([{ pick: '+30 min' }]);
    await vscode.commands.executeCommand('runcomfy.extendMachine', { kind: 'machine', serverId });
    await waitFor('the longer duration', async () => (await state()).machines.find((m) => m.server_id === serverId && m.estimated_duration === 3600));
    assert.deepStrictEqual((await sim.requests()).filter((r) => r.route === 'updateDuration').map((r) => r.body), [{ update_estimated_duration: 3600 }]);
    await script([{ confirm: true }]);
    await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId });
    await waitFor('the machine gone', async () => !(await state()).machines.some((m) => m.server_id === serverId), 20_000);
    assert.strictEqual((await sim.requests()).filter((r) => r.route === 'stop').length, 1);
    serverId = '';
  });

  /** The machine's ComfyUI URL in full, from the simulator: the extension only ever shows it masked. */
  async function comfyUrl(): Promise<string> {
    const machines = await sim.admin<{ server_id: string; main_service_url: string }[]>('machines');
    const m = machines.find((x) => x.server_id === serverId);
    assert.ok(m, `machine ${serverId} not in the simulator`);
    return m.main_service_url;
  }
});
