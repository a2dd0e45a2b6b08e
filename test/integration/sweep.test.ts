import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, lensesOf, script, signIn, state, waitFor, workspaceFile, type TreeItemState } from './helpers';
import { SimulatorProcess } from './simulator';

interface EditorSweepResult {
  status: string;
  dir: string;
  runs: number;
  succeeded: number;
  machinesLaunched: string[];
  machinesStopped: string[];
}

interface SweepRecord {
  status: string;
  runs: { index: number; params: Record<string, unknown>; status: string; target: string | null; outputs: unknown[]; timings: { queued: string | null; ended: string | null } }[];
  machines_launched: string[];
  machines_stopped: string[];
  estimate: { seconds_per_run: number | null; seconds_per_run_from: string };
}

function readRecord(dir: string): SweepRecord {
  return JSON.parse(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8')) as SweepRecord;
}

/** The Runs view's newest sweep group labelled `label`, once listed. */
async function group(label: string): Promise<TreeItemState> {
  return waitFor(`the sweep group "${label}" with its runs`, async () => (await state()).runsTree.find((n) => n.label === label && n.contextValue === 'sweep'));
}

describe('sweeps in the editor', function () {
  this.timeout(120_000);
  let sim: SimulatorProcess;
  const hello = () => workspaceFile('hello', 'workflow_api.json');
  const sweepFile = () => workspaceFile('sweeps', 'widths.sweep.json');

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start();
    assert.ok(await vscode.commands.executeCommand<boolean>('runcomfy.addLocalServer', { name: 'Desk GPU', url: sim.info.localComfyUrl! }));
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.getConfiguration('runcomfy').update('localServers', undefined, vscode.ConfigurationTarget.Global);
    fs.rmSync(path.dirname(sweepFile().fsPath), { recursive: true, force: true });
    sim.stop();
  });

  it('Queue Sweep… picks an input with its value, confirms the estimate and runs 3 runs as a group with sweep.json', async () => {
    await script([{ pick: 'Desk GPU' }, { pick: '1.width = 256' }, { input: '64,96,128' }, { pick: 'Done' }, { input: '' }, { confirm: true }]);
    const result = await vscode.commands.executeCommand<EditorSweepResult>('runcomfy.queueSweep', hello());
    assert.strictEqual(result.status, 'success');
    assert.strictEqual(result.succeeded, 3);
    const seen = (await state()).prompts;
    const confirms = seen.filter((p) => p.kind === 'confirm');
    assert.strictEqual(confirms.length, 1);
    // Before the start, or after a probe run when no earlier run of hello is in the output folder yet.
    assert.match(confirms[0].text, /(^Run the sweep|Run the rest of the sweep)\? 3 runs, ~.+, at most /);
    const pickInputs = seen.find((p) => p.text === 'Which input should the sweep vary?');
    assert.ok(pickInputs?.items?.includes('1.width = 256'), JSON.stringify(pickInputs?.items));

    const record = readRecord(result.dir);
    assert.strictEqual(record.status, 'success');
    assert.deepStrictEqual(record.runs.map((r) => r.params['1.width']), [64, 96, 128]);
    for (const r of record.runs) {
      assert.strictEqual(r.status, 'success');
      assert.ok(r.outputs.length > 0);
    }
    const g = await group('Sweep: hello');
    assert.strictEqual(g.children?.length, 3);
    assert.deepStrictEqual(g.children.map((c) => c.label), ['1.width=64', '1.width=96', '1.width=128']);
    assert.match(String(g.description), /^success · 3 done$/);
  });

  it('a workflow with no earlier runs: the first run goes alone (the probe run), the one question comes after it with the measured time, then the rest', async () => {
    // A copy under a name never run before: no run.json of it anywhere in the output folder.
    const fresh = workspaceFile('sweeps', `probe${Date.now()}_api.json`);
    fs.mkdirSync(path.dirname(fresh.fsPath), { recursive: true });
    fs.copyFileSync(hello().fsPath, fresh.fsPath);
    await script([{ pick: 'Desk GPU' }, { pick: '1.width = 256' }, { input: '40,48,56' }, { pick: 'Done' }, { input: '' }, { confirm: true }]);
    const result = await vscode.commands.executeCommand<EditorSweepResult>('runcomfy.queueSweep', fresh);
    assert.strictEqual(result.status, 'success');
    const confirms = (await state()).prompts.filter((p) => p.kind === 'confirm');
    assert.strictEqual(confirms.length, 1, 'one question, after the probe run');
    assert.match(confirms[0].text, /^The probe run took ~.+\. Run the rest of the sweep\? 3 runs, ~\d.*, at most /);
    assert.match(confirms[0].detail ?? '', /measured by the probe run/);
    const record = readRecord(result.dir);
    assert.strictEqual(record.estimate.seconds_per_run_from, 'probe');
    // The probe run ended before the others were sent: they were queued only after the answer.
    const probeEnded = Date.parse(record.runs[0].timings.ended ?? '');
    for (const r of record.runs.slice(1)) assert.ok(Date.parse(r.timings.queued ?? '') >= probeEnded, JSON.stringify(record.runs.map((x) => x.timings)));
    assert.deepStrictEqual(record.runs.map((r) => [r.params['1.width'], r.status]), [[40, 'success'], [48, 'success'], [56, 'success']]);
  });

  it('a *.sweep.json file shows "Run sweep" with its run count and runs it', async () => {
    fs.mkdirSync(path.dirname(sweepFile().fsPath), { recursive: true });
    const spec = { workflow: '../hello/workflow_api.json', axes: { '1.height': [32, 48] }, targets: [sim.info.localComfyUrl], expectSeconds: 30 };
    fs.writeFileSync(sweepFile().fsPath, JSON.stringify(spec, null, 2));
    const lenses = await waitFor('the sweep lens', async () => {
      const l = await lensesOf(sweepFile());
      return l.length > 0 ? l : undefined;
    });
    assert.strictEqual(lenses.length, 1);
    assert.match(lenses[0].command?.title ?? '', /^▶ Run sweep: 2 runs, ~.+, at most /);
    assert.doesNotMatch(lenses[0].command?.title ?? '', /~\? min/, 'expectSeconds gives a wall time');
    assert.strictEqual(lenses[0].command?.command, 'runcomfy.runSweepFile');

    await script([{ confirm: true }]);
    const result = await vscode.commands.executeCommand<EditorSweepResult>(lenses[0].command.command, ...((lenses[0].command.arguments ?? []) as unknown[]));
    assert.strictEqual(result.status, 'success');
    assert.deepStrictEqual(readRecord(result.dir).runs.map((r) => r.params['1.height']), [32, 48]);
    const g = (await state()).runsTree.filter((n) => n.contextValue === 'sweep');
    assert.strictEqual(g.length, 3, 'every sweep of this window is listed (the two Queue Sweep… ones and this one)');
    assert.strictEqual(g[0].children?.length, 2);
  });

  it('Cancel Sweep interrupts its prompts and ends the group as interrupted', async () => {
    const comfy = sim.info.localComfyUrl!;
    const configure = async (runMs: number) => {
      const res = await fetch(`${comfy}/__sim/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runMs }) });
      assert.ok(res.ok, `POST /__sim/config answered ${res.status}`);
    };
    // Runs far longer than the test: only the cancel can end this sweep.
    await configure(600_000);
    try {
      await script([{ pick: 'Desk GPU' }, { pick: '1.width = 256' }, { input: '16,24,32' }, { pick: 'Done' }, { input: '' }, { confirm: true }]);
      const pending = vscode.commands.executeCommand<EditorSweepResult>('runcomfy.queueSweep', hello());
      await waitFor('a run of the new sweep running', async () => {
        const g = (await state()).runsTree.find((n) => n.contextValue === 'sweep liveSweep');
        return g?.children?.some((c) => String(c.description).startsWith('running'));
      }, 30_000);
      await vscode.commands.executeCommand('runcomfy.cancelSweep');
      const result = await pending;
      assert.strictEqual(result.status, 'interrupted');
      assert.strictEqual(result.succeeded, 0);
      const record = readRecord(result.dir);
      assert.strictEqual(record.status, 'interrupted');
      assert.ok(record.runs.some((r) => r.status === 'interrupted'), JSON.stringify(record.runs.map((r) => r.status)));
      const g = await group('Sweep: hello');
      assert.match(String(g.description), /^interrupted · /);
      const queue = (await (await fetch(`${comfy}/queue`)).json()) as { queue_running: unknown[]; queue_pending: unknown[] };
      assert.deepStrictEqual([queue.queue_running.length, queue.queue_pending.length], [0, 0], 'none of our prompts is left on the server');
    } finally {
      await configure(0);
    }
  });

  it('a *.sweep.json whose workflow leads outside the workspace says so instead of running', async () => {
    fs.writeFileSync(sweepFile().fsPath, JSON.stringify({ workflow: '../../../outside/workflow_api.json', axes: { '1.height': '1..2' } }));
    await waitFor('the lens saying the workflow is outside', async () => ((await lensesOf(sweepFile()))[0]?.command?.title ?? '').includes('leads outside the workspace folder'));
  });

  describe('with autoscale (signed in to the RunComfy simulator)', () => {
    before(async () => {
      await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
      await signIn(sim.info.userId, sim.info.tokens[0]);
    });
    after(async () => {
      await vscode.commands.executeCommand('runcomfy.signOut');
      await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    });

    it('Queue Sweep… offers autoscale: machine type with its rate, workflow version, most machines; the confirmation states the most it can cost', async () => {
      await script([
        { pick: 'Desk GPU' },
        { pick: '1.width = 256' },
        { input: '8,16' },
        { pick: 'Done' },
        { pick: 'Also launch machines as needed (autoscale)…' },
        { pick: 'Medium' },
        { pick: 'v3 face detailer' },
        { input: '2' },
        { input: '' },
        { confirm: false },
      ]);
      await vscode.commands.executeCommand('runcomfy.queueSweep', hello());
      const seen = (await state()).prompts;
      const types = seen.find((p) => p.kind === 'pick' && p.text.includes('machine type'));
      assert.ok(types?.items?.includes('Medium'), JSON.stringify(seen));
      const confirm = seen.find((p) => p.kind === 'confirm');
      // Before the start, or after a probe run when this test runs alone (no earlier runs of hello yet).
      assert.match(confirm?.text ?? '', /(^Run the sweep|Run the rest of the sweep)\? 2 runs, ~.+, at most ~\$\d+\.\d\d\.$/);
      assert.match(confirm?.detail ?? '', /It may launch up to 2 medium machines .*: at most ~\$\d+\.\d\d \(no budget set\)/);
      assert.deepStrictEqual((await sim.requests()).filter((r) => r.route === 'launch'), [], 'declined: nothing was launched');
    });

    it('a sweep file with autoscale launches a machine, runs there, stops it, and sweep.json lists it as launched and stopped', async () => {
      fs.mkdirSync(path.dirname(sweepFile().fsPath), { recursive: true });
      const spec = {
        workflow: '../hello/workflow_api.json',
        axes: { '1.height': [16, 24, 32] },
        targets: [],
        autoscale: { max: 1, type: 'medium', version: 'a1b2c3d4-0003-4000-8000-000000000003', idle: 0 },
        maxCost: 5,
        expectSeconds: 1,
      };
      fs.writeFileSync(sweepFile().fsPath, JSON.stringify(spec, null, 2));
      await waitFor('the sweep lens with the autoscale cost', async () => /^▶ Run sweep: 3 runs, ~.+, at most ~\$\d/.test((await lensesOf(sweepFile()))[0]?.command?.title ?? ''));
      await script([{ confirm: true }]);
      const result = await vscode.commands.executeCommand<EditorSweepResult>('runcomfy.runSweepFile', sweepFile());
      assert.strictEqual(result.status, 'success');
      assert.strictEqual(result.machinesLaunched.length, 1);
      assert.deepStrictEqual(result.machinesStopped, result.machinesLaunched);
      const record = readRecord(result.dir);
      assert.deepStrictEqual(record.machines_launched, result.machinesLaunched);
      assert.deepStrictEqual(record.machines_stopped, result.machinesLaunched);
      assert.ok(record.runs.every((r) => r.status === 'success' && r.target === result.machinesLaunched[0]), JSON.stringify(record.runs));
      const requests = await sim.requests();
      assert.strictEqual(requests.filter((r) => r.route === 'launch').length, 1);
      assert.ok(requests.some((r) => r.route === 'stop' && r.serverId === result.machinesLaunched[0] && r.status === 200), 'the stop landed');
      const g = await group('Sweep: hello');
      assert.match(String(g.description), /^success · 3 done · 1 machine launched, 1 stopped$/);
    });
  });
});
