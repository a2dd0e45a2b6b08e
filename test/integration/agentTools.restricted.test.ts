// Runs only in the runner's `restricted` phase: the two-folder workspace, not trusted (Restricted Mode).
import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, script, state } from './helpers';
import { SimulatorProcess } from './simulator';

describe('agent tools in Restricted Mode', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;

  before(async () => {
    assert.strictEqual(vscode.workspace.isTrusted, false, 'the restricted phase must open an untrusted workspace');
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', [{ name: 'desk', url: sim.info.localComfyUrl }], vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  async function invoke(name: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await vscode.lm.invokeTool(`runcomfy_${name}`, { input, toolInvocationToken: undefined });
    return JSON.parse((result.content[0] as vscode.LanguageModelTextPart).value) as Record<string, unknown>;
  }

  it('refuses to queue a workspace workflow (it would upload workspace files), but checks it', async () => {
    await script([]);
    const queued = await invoke('queue_workflow', { workflow_path: 'alpha/hello/workflow_api.json', local_server: 'desk' });
    assert.strictEqual((queued.error as { code: string } | undefined)?.code, 'untrusted_workspace', JSON.stringify(queued));
    assert.deepStrictEqual((await state()).prompts, [], 'refused before any question');
    const log = (await (await fetch(`${sim.info.localComfyUrl}/__sim/requests`)).json()) as { method: string }[] | { requests: { method: string }[] };
    assert.ok(!(Array.isArray(log) ? log : log.requests).some((r) => r.method === 'POST'), 'nothing was uploaded or queued');
    const checked = await invoke('check_workflow', { workflow_path: 'hello/workflow_api.json', local_server: 'desk' });
    assert.strictEqual(checked.ok, true, JSON.stringify(checked));
  });
});
