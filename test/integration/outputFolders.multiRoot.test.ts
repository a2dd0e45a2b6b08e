// Runs only in the runner's `multiRoot` phase: the trusted two-folder workspace of test/fixtures/multi-root,
// where alpha and beta set their own runcomfy.outputDirectory and runcomfy.codeLens.enabled.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, lensesOf, workspaceFolderUri } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  status: string;
  runDir?: string;
  outputs: { path: string }[];
  error: { message: string } | null;
}

describe('a two-folder workspace: settings read for the workflow\'s own folder', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;
  let outside: string;
  const hello = (folder: string) => vscode.Uri.joinPath(workspaceFolderUri(folder), 'hello', 'workflow_api.json');
  const betaConfig = () => vscode.workspace.getConfiguration('runcomfy', workspaceFolderUri('beta'));
  const queueLocal = (uri: vscode.Uri) => Promise.resolve(vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', uri, { kind: 'local', name: 'Sim', url: sim.info.localComfyUrl }));
  const comfyRequests = async () => ((await fetch(`${sim.info.localComfyUrl}/__sim/requests`).then((r) => r.json())) as { path: string }[] | { requests: { path: string }[] });
  const prompts = async () => {
    const r = await comfyRequests();
    return (Array.isArray(r) ? r : r.requests).filter((x) => x.path === '/prompt').length;
  };

  before(async () => {
    assert.strictEqual(vscode.workspace.isTrusted, true, 'the multiRoot phase runs trusted');
    assert.deepStrictEqual(vscode.workspace.workspaceFolders?.map((f) => f.name), ['alpha', 'beta']);
    await activateExtension();
    sim = await SimulatorProcess.start();
    assert.ok(sim.info.localComfyUrl, 'the simulator runs no local ComfyUI');
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-outside-'));
    fs.rmdirSync(outside);
  });

  after(() => {
    sim.stop();
    fs.rmSync(outside, { recursive: true, force: true });
  });

  afterEach(async () => {
    await betaConfig().update('outputDirectory', 'beta-outputs', vscode.ConfigurationTarget.WorkspaceFolder);
    await vscode.workspace.getConfiguration('runcomfy').update('outputDirectory', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.workspace.getConfiguration('runcomfy').update('outputDirectory', undefined, vscode.ConfigurationTarget.Global);
  });

  it('shows the lenses in alpha and none in beta, whose folder settings turn them off', async () => {
    assert.deepStrictEqual((await lensesOf(hello('alpha'))).map((l) => l.command?.title), ['▶ Launch a machine and queue…', 'Queue on…']);
    assert.deepStrictEqual(await lensesOf(hello('beta')), []);
  });

  it('saves a workflow queued in beta into beta\'s output directory, and one in alpha into alpha\'s', async () => {
    const beta = await queueLocal(hello('beta'));
    assert.strictEqual(beta.status, 'success', JSON.stringify(beta.error));
    const betaRoot = path.join(workspaceFolderUri('beta').fsPath, 'beta-outputs', 'hello') + path.sep;
    assert.ok(beta.runDir?.startsWith(betaRoot), `${beta.runDir} is not under ${betaRoot}`);
    assert.ok(beta.outputs.length > 0 && beta.outputs.every((o) => o.path.startsWith(betaRoot) && fs.existsSync(o.path)));
    const alpha = await queueLocal(hello('alpha'));
    const alphaRoot = path.join(workspaceFolderUri('alpha').fsPath, 'alpha-outputs', 'hello') + path.sep;
    assert.ok(alpha.runDir?.startsWith(alphaRoot), `${alpha.runDir} is not under ${alphaRoot}`);
  });

  it('refuses a folder or workspace outputDirectory that is absolute or leaves the folder, naming the setting and where it was set, before anything is sent', async () => {
    const before = await prompts();
    const betaFolder = workspaceFolderUri('beta').fsPath;
    const cases: [vscode.ConfigurationTarget, string, string][] = [
      [vscode.ConfigurationTarget.WorkspaceFolder, outside, `runcomfy.outputDirectory is ${JSON.stringify(outside)} in the folder settings of beta (.vscode/settings.json), an absolute path.`],
      [vscode.ConfigurationTarget.WorkspaceFolder, '../escaped', 'runcomfy.outputDirectory is "../escaped" in the folder settings of beta (.vscode/settings.json), which leaves the workspace folder.'],
      [vscode.ConfigurationTarget.Workspace, '../escaped', 'runcomfy.outputDirectory is "../escaped" in the workspace settings (runcomfy.code-workspace), which leaves the workspace folder.'],
    ];
    for (const [target, value, message] of cases) {
      if (target === vscode.ConfigurationTarget.Workspace) await betaConfig().update('outputDirectory', undefined, vscode.ConfigurationTarget.WorkspaceFolder);
      await vscode.workspace.getConfiguration('runcomfy', workspaceFolderUri('beta')).update('outputDirectory', value, target);
      await assert.rejects(queueLocal(hello('beta')), (e: Error) => {
        assert.ok(e.message.startsWith(message), e.message);
        assert.ok(e.message.includes(`must stay inside its folder ${betaFolder}`), e.message);
        return true;
      });
    }
    assert.strictEqual(await prompts(), before, 'a refused run reached ComfyUI');
    assert.ok(!fs.existsSync(outside), 'something was written outside the workspace');
    assert.ok(!fs.existsSync(path.join(betaFolder, '..', 'escaped')), 'something was written outside the workspace');
  });

  it('refuses a folder outputDirectory that leads outside through a symbolic link', async () => {
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(workspaceFolderUri('beta').fsPath, 'linked-outputs'));
    await betaConfig().update('outputDirectory', 'linked-outputs/runs', vscode.ConfigurationTarget.WorkspaceFolder);
    const before = await prompts();
    await assert.rejects(queueLocal(hello('beta')), /runcomfy\.outputDirectory \("linked-outputs\/runs" in the folder settings of beta \(\.vscode\/settings\.json\)\) leads to .* outside the workspace folder .* through a symbolic link/);
    assert.strictEqual(await prompts(), before, 'a refused run reached ComfyUI');
    assert.deepStrictEqual(fs.readdirSync(outside), [], 'something was written through the link');
  });

  it('accepts an output directory outside the workspace from user settings', async () => {
    fs.rmSync(outside, { recursive: true, force: true });
    await betaConfig().update('outputDirectory', undefined, vscode.ConfigurationTarget.WorkspaceFolder);
    await vscode.workspace.getConfiguration('runcomfy').update('outputDirectory', outside, vscode.ConfigurationTarget.Global);
    const result = await queueLocal(hello('beta'));
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    assert.ok(result.runDir?.startsWith(path.join(outside, 'hello') + path.sep), `${result.runDir} is not under ${outside}`);
  });
});
