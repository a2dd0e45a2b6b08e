import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, script, signIn, state, waitFor, workspaceFile, simPost } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  status: string;
  promptId: string | null;
  outputs: unknown[];
}

describe('runs, interrupts and money safety', function () {
  this.timeout(90_000);
  let sim: SimulatorProcess;
  let serverId: string;
  let comfyUrl: string;

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start(['--boot-seconds', '1', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    // A machine launched elsewhere (another window, the web app), Ready for a minute, 5 minutes left.
    const seeded = await sim.admin<{ server_id: string; main_service_url: string }>('machines', { server_type: 'extra-large', estimated_duration: 360, ready_seconds_ago: 60 });
    serverId = seeded.server_id;
    comfyUrl = seeded.main_service_url;
    await script([]);
    // The RunComfy views stay closed: the machine must show up without anyone opening them.
    await vscode.commands.executeCommand('workbench.view.explorer');
    await signIn(sim.info.userId, sim.info.tokens[0]);
  });

  after(async () => {
    await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId }, { confirmed: true }).then(undefined, () => undefined);
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('shows a machine launched elsewhere at sign-in, views closed, with a warning before it stops that offers "Extend 30 min"', async () => {
    const s = await waitFor('the seeded machine and its warning', async () => {
      const st = await state();
      return st.machines.some((m) => m.server_id === serverId) && st.prompts.some((p) => p.kind === 'notify' && p.items?.includes('Extend 30 min')) ? st : undefined;
    });
    const warning = s.prompts.find((p) => p.kind === 'notify' && p.items?.includes('Extend 30 min'));
    assert.match(warning?.text ?? '', new RegExp(`^RunComfy machine ${serverId.split('-')[0]} stops in [45] min`));
    assert.strictEqual(s.statusBar.warning, true, 'the status bar is not in the warning colour');
    assert.match(s.statusBar.text, /^\$\(vm-running\) 1 · ~\$0\.\d\d$/);
  });

  it('interrupts a running workflow through the command, stopping only our prompt', async () => {
    // The prompt is held before its second node until our interrupt arrived, so it cannot finish first.
    await simPost(comfyUrl, 'stall', { atNode: '2' });
    const pending = vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', workspaceFile('hello', 'workflow_api.json'), { kind: 'machine', serverId, label: 'xl' });
    const run = await waitFor('the run to be running', async () => (await state()).runs.find((r) => r.live && r.phase === 'running'));
    const interrupting = vscode.commands.executeCommand<boolean>('runcomfy.interruptRun', { kind: 'run', runId: run.id });
    await waitFor('the interrupt at the server', async () => {
      const log = (await (await fetch(`${comfyUrl}/__sim/requests`)).json()) as { requests: { method: string; path: string }[] };
      return log.requests.some((r) => r.method === 'POST' && r.path === '/interrupt');
    });
    await simPost(comfyUrl, 'stall/clear', {});
    assert.strictEqual(await interrupting, true);
    const result = await pending;
    assert.strictEqual(result.status, 'interrupted');
    const after = (await state()).runs.find((r) => r.id === run.id);
    assert.strictEqual(after?.phase, 'interrupted');
    assert.strictEqual((await state()).contextKeys['runcomfy.runActive'], false);
  });

  it('runs a finished run again on the same target from the Runs list', async () => {
    const previous = (await state()).runs[0];
    assert.ok(previous && !previous.live);
    const result = await vscode.commands.executeCommand<RunResult>('runcomfy.rerun', { kind: 'run', runId: previous.id });
    assert.strictEqual(result.status, 'success');
    const s = await state();
    assert.strictEqual(s.runs[0]?.workflowName, 'hello');
    assert.strictEqual(s.runs[0]?.phase, 'success');
    assert.notStrictEqual(s.runs[0]?.promptId, previous.promptId);
  });

  it('extends by 30 minutes from the warning\'s action, and the status bar leaves the warning colour', async () => {
    // A shorter total brings the stop time close again: a new warning, answered with its action.
    await script([{ input: '7' }, { action: 'Extend 30 min' }]);
    await vscode.commands.executeCommand('runcomfy.setMachineDuration', { kind: 'machine', serverId });
    const m = await waitFor('the machine extended by the warning\'s action', async () => (await state()).machines.find((x) => x.server_id === serverId && x.estimated_duration === 7 * 60 + 1800));
    assert.ok(m.estimated_stopping_at);
    const warnings = (await state()).prompts.filter((p) => p.kind === 'notify' && p.items?.includes('Extend 30 min'));
    assert.strictEqual(warnings.length, 1, 'one warning for the new stop time');
    await waitFor('the status bar back to normal', async () => (await state()).statusBar.warning === false);
  });
});
