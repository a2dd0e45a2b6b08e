import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, readLog, script, signIn, state, waitFor, type TestState, type TreeItemState } from './helpers';
import { SimulatorProcess } from './simulator';

describe('machines against the RunComfy simulator', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;
  let serverId: string;

  before(async () => {
    await activateExtension();
    // Machines stay Starting until a test ends their boot (POST /__sim/machines/{id}/ready).
    sim = await SimulatorProcess.start(['--boot-seconds', '3600', '--delete-seconds', '1']);
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    await signIn(sim.info.userId, sim.info.tokens[0]);
    await vscode.commands.executeCommand('runcomfy.machines.focus');
    await vscode.commands.executeCommand('runcomfy.workflows.focus');
  });

  after(async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('ignores a workspace settings.json that points runcomfy.apiUrl at another server', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder);
    const workspaceSettings = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, '.vscode/settings.json'))).toString('utf8');
    assert.ok(workspaceSettings.includes('"runcomfy.apiUrl": "https://token-thief.invalid"'), 'the fixture workspace should try to redirect the token');
    const s = await waitFor('an account', async () => (await state()).account);
    assert.strictEqual(s.apiUrl, `${sim.info.runcomfyUrl}/`);
    const requests = await waitFor('a request with the token', async () => (await sim.requests()).filter((r) => r.tokenSlot === 1));
    assert.ok(requests.length > 0);
  });

  it('lists the account\'s workflows and versions after sign-in', async () => {
    const tree = await waitFor('workflows in the tree', async () => {
      const s = await state();
      return s.workflowsTree.length > 1 ? s.workflowsTree : undefined;
    });
    const portrait = tree.find((w) => w.label === 'Flux portrait');
    assert.ok(portrait, JSON.stringify(tree));
    assert.strictEqual(portrait.description, '3 versions');
    assert.deepStrictEqual(portrait.children?.map((v) => v.label), ['v3 face detailer', 'v2 softer light', 'v1 first draft']);
    assert.strictEqual(portrait.children?.[0]?.contextValue, 'version');
  });

  it('launches through the command with scripted answers, confirming the rate and the most it can cost', async () => {
    await script([{ pick: 'v3 face detailer' }, { pick: 'Large' }, { pick: '1 h' }, { confirm: true }]);
    const id = await vscode.commands.executeCommand<string>('runcomfy.launchMachine', { wait: false });
    assert.ok(id, 'launch returned no machine id');
    serverId = id;
    const s = await state();
    const confirm = s.prompts.find((p) => p.kind === 'confirm');
    assert.ok(confirm, JSON.stringify(s.prompts));
    assert.strictEqual(confirm.text, 'Launch a large machine for 1 h?');
    assert.match(confirm.detail ?? '', /Rate: ~\$1\.75\/h/);
    assert.match(confirm.detail ?? '', /at most ~\$1\.75 if it runs the full 1 h/);
    const launches = (await sim.requests()).filter((r) => r.route === 'launch');
    assert.strictEqual(launches.length, 1, 'exactly one launch request');
    assert.deepStrictEqual(launches[0]?.body, { workflow_version_id: 'a1b2c3d4-0003-4000-8000-000000000003', server_type: 'large', estimated_duration: 3600 });
  });

  it('shows the machine Starting, then Ready, in the tree and the status bar', async () => {
    const starting = await waitFor('the machine Starting in the tree', async () => (await state()).machinesTree.find((m) => m.contextValue?.includes('starting')));
    assert.strictEqual(starting.icon, 'loading~spin');
    await sim.admin(`machines/${serverId}/ready`, {});
    const ready = await waitFor('the machine Ready in the tree', async () => (await state()).machinesTree.find((m) => m.contextValue === 'machine ready extendable stoppable openable'));
    assert.strictEqual(ready.label, serverId.split('-')[0]);
    // What matters first, short enough for a default-width sidebar; the cost and the rest in the tooltip.
    assert.match(String(ready.description), /^Ready · (59|60) min left$/);
    const tip = tooltipText(ready);
    assert.match(tip, /^\| Cost so far \| (~\$0\.\d\d|<\$0\.01) \|$/m);
    assert.match(tip, /^\| Type \| large \(Large, A10G \/ A5000, 24 GB VRAM\) \|$/m);
    // Times are local (as this process writes them), with UTC beside them in the tooltip, labelled.
    const stop = Date.parse(machineOf(await state(), serverId).estimated_stopping_at!);
    const utc = `${new Date(stop).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    const local = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }).format(stop);
    const stopsAt = /^\| Stops at \| (.+) \((.+)\) \|$/m.exec(tip);
    assert.ok(stopsAt, tip);
    assert.ok(stopsAt[1].endsWith(local), `"${stopsAt[1]}" is not the local time ${local}`);
    assert.strictEqual(stopsAt[2], utc);
    const bar = await waitFor('the status bar', async () => ((await state()).statusBar.visible ? (await state()).statusBar : undefined));
    assert.match(bar.text, /^\$\(vm-running\) 1 · /);
    assert.strictEqual((await state()).contextKeys['runcomfy.hasMachines'], true);
  });

  it('prices the machine from runcomfy.pricing, and from the documented rates when that setting is invalid', async () => {
    const pricing = (value: unknown) => vscode.workspace.getConfiguration('runcomfy').update('pricing', value, vscode.ConfigurationTarget.Global);
    const cost = async () => {
      const m = (await state()).machinesTree.find((n) => n.label === serverId.split('-')[0]);
      return Number(/^\| Cost so far \| ~\$(\d+\.\d\d) \|$/m.exec(m ? tooltipText(m) : '')?.[1] ?? 0);
    };
    try {
      // $3,600 an hour is a dollar a second: the machine has been Ready for seconds, so dollars show.
      await pricing({ large: 3600 });
      await waitFor('the cost at $3,600/h', async () => ((await cost()) >= 1 ? true : undefined));
      await pricing({ large: 'expensive' });
      await waitFor('the cost at the documented $1.75/h', async () => ((await cost()) < 1 ? true : undefined));
    } finally {
      await pricing(undefined);
    }
  });

  it('extends by 30 minutes: a later stop time, sent as the new total', async () => {
    const before = machineOf(await state(), serverId);
    await script([{ pick: '+30 min' }]);
    const newStop = await vscode.commands.executeCommand<number>('runcomfy.extendMachine', { kind: 'machine', serverId });
    const after = await waitFor('the longer duration', async () => {
      const m = machineOf(await state(), serverId);
      return m.estimated_duration === 5400 ? m : undefined;
    });
    assert.ok(before.estimated_stopping_at && after.estimated_stopping_at);
    assert.strictEqual(Date.parse(after.estimated_stopping_at) - Date.parse(before.estimated_stopping_at), 1_800_000);
    assert.strictEqual(Math.round(newStop / 1000), Math.round(Date.parse(after.estimated_stopping_at) / 1000));
    const update = (await sim.requests()).filter((r) => r.route === 'updateDuration');
    assert.deepStrictEqual(update.map((r) => r.body), [{ update_estimated_duration: 5400 }]);
  });

  it('stops after a confirmation that names the cost so far, and the machine goes away', async () => {
    await script([{ confirm: true }]);
    await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId });
    const confirm = (await state()).prompts.find((p) => p.kind === 'confirm');
    assert.strictEqual(confirm?.text, `Stop RunComfy machine ${serverId.split('-')[0]}?`);
    assert.match(confirm?.detail ?? '', /Cost so far: (~\$\d+\.\d\d|<\$0\.01) \(estimate\)/);
    await waitFor('the machine gone from the tree', async () => !(await state()).machines.some((m) => m.server_id === serverId), 20_000);
    assert.strictEqual((await state()).statusBar.visible, false);
    const stops = (await sim.requests()).filter((r) => r.route === 'stop');
    assert.strictEqual(stops.length, 1);
  });

  it('keeps a confirmed stop going through 5xx answers while a runcomfy.* setting change rebuilds the account, until the machine stops', async () => {
    const seeded = await sim.admin<{ server_id: string }>('machines', { server_type: 'medium' });
    const id = seeded.server_id;
    const short = id.split('-')[0];
    await sim.admin('faults', { action: 'error', status: 503, message: 'try later', times: 'always', route: 'stop', retryAfter: '1' });
    const refused = async () => (await sim.requests()).filter((r) => r.route === 'stop' && r.serverId === id && r.status === 503).length;
    const poll = vscode.workspace.getConfiguration('runcomfy').inspect<number>('pollIntervalSeconds')?.globalValue;
    let stopping: Thenable<unknown> | undefined;
    try {
      stopping = vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId: id }, { confirmed: true });
      await waitFor('two refused DELETEs', async () => ((await refused()) >= 2 ? true : undefined), 20_000);
      // pollIntervalSeconds is part of what the account is built from: changing it rebuilds the account.
      await vscode.workspace.getConfiguration('runcomfy').update('pollIntervalSeconds', (poll ?? 30) + 7, vscode.ConfigurationTarget.Global);
      const before = await refused();
      await waitFor('more refused DELETEs after the setting change', async () => ((await refused()) >= before + 2 ? true : undefined), 20_000);
      const item = await waitFor('the machine shown as stopping in the tree', async () =>
        (await state()).machinesTree.find((m) => m.label === short && String(m.description).startsWith('stopping, retrying')),
      20_000);
      assert.ok(!item.contextValue?.includes('stoppable'), `a machine being stopped offers no second stop: ${item.contextValue}`);
    } finally {
      await sim.clearFaults();
      await vscode.workspace.getConfiguration('runcomfy').update('pollIntervalSeconds', poll, vscode.ConfigurationTarget.Global);
    }
    assert.strictEqual(await stopping, id);
    await waitFor(
      'the machine gone from the simulator',
      async () => ((await sim.admin<{ server_id: string }[]>('machines')).some((m) => m.server_id === id) ? undefined : true),
      30_000,
    );
  });

  describe('waiting for a launched machine', () => {
    const launchAnswers = [{ pick: 'v3 face detailer' }, { pick: 'Large' }, { pick: '1 h' }, { confirm: true }];
    const simMachines = () => sim.admin<{ server_id: string; current_status: string }[]>('machines');
    const notifications = async () => (await state()).prompts.filter((p) => p.kind === 'notify');
    const startingText = /^RunComfy machine (\w+) is starting; billing begins once it is Ready\.$/;
    const stopWaitingText = /^Stopped waiting for RunComfy machine (\w+)\. The machine keeps starting and bills once Ready\.$/;
    const launchedId = async (short: string) => {
      const m = (await simMachines()).find((x) => x.server_id.startsWith(`${short}-`));
      assert.ok(m, `machine ${short} not in the simulator`);
      return m.server_id;
    };
    const stopAndWaitGone = async (id: string) => {
      // Cleanup only: a machine something already stopped is left alone, so the test's own failure shows.
      if (!(await simMachines()).some((m) => m.server_id === id && m.current_status !== 'Deleting')) return;
      await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId: id }, { confirmed: true });
      await waitFor('the machine gone from the simulator', async () => ((await simMachines()).some((m) => m.server_id === id) ? undefined : true), 30_000);
    };

    it('waits until Ready behind one notification whose button says Stop Waiting', async () => {
      await script(launchAnswers);
      const launching = vscode.commands.executeCommand<string>('runcomfy.launchMachine');
      const starting = await waitFor('the Starting notification', async () => (await notifications()).find((p) => startingText.test(p.text)), 20_000);
      assert.deepStrictEqual(starting.items, ['Stop Waiting']);
      const id = await launchedId(startingText.exec(starting.text)![1]);
      assert.deepStrictEqual((await notifications()).map((p) => p.text), [starting.text], 'one notification while the machine starts');
      try {
        await sim.admin(`machines/${id}/ready`, {});
        assert.strictEqual(await launching, id);
        const shown = await notifications();
        assert.deepStrictEqual(shown.map((p) => p.text), [starting.text, `RunComfy machine ${id.split('-')[0]} is Ready. Billing has started.`]);
      } finally {
        await stopAndWaitGone(id);
      }
    });

    it('Stop Waiting says the machine keeps starting and offers Stop Machine, which stops it after the usual confirmation', async () => {
      await script([...launchAnswers, { action: 'Stop Waiting' }, { action: 'Stop Machine' }, { confirm: true }]);
      const id = await vscode.commands.executeCommand<string>('runcomfy.launchMachine');
      assert.ok(id, 'the launch returned no machine id');
      const short = id.split('-')[0];
      await waitFor('the machine gone from the simulator', async () => ((await simMachines()).some((m) => m.server_id === id) ? undefined : true), 30_000);
      const s = await state();
      const notified = s.prompts.filter((p) => p.kind === 'notify');
      assert.deepStrictEqual(
        notified.map((p) => [p.text, p.items]),
        [
          [`RunComfy machine ${short} is starting; billing begins once it is Ready.`, ['Stop Waiting']],
          [`Stopped waiting for RunComfy machine ${short}. The machine keeps starting and bills once Ready.`, ['Stop Machine']],
        ],
      );
      const confirm = s.prompts.find((p) => p.kind === 'confirm' && p.text.startsWith('Stop '));
      assert.strictEqual(confirm?.text, `Stop RunComfy machine ${short}?`);
      assert.strictEqual((await sim.requests()).filter((r) => r.route === 'stop' && r.serverId === id).length, 1);
    });

    it('Stop Waiting and then nothing leaves the machine starting', async () => {
      await script([...launchAnswers, { action: 'Stop Waiting' }]);
      const id = await vscode.commands.executeCommand<string>('runcomfy.launchMachine');
      assert.ok(id, 'the launch returned no machine id');
      try {
        const told = await waitFor('the Stopped waiting notification', async () => (await notifications()).find((p) => stopWaitingText.test(p.text)));
        assert.deepStrictEqual(told.items, ['Stop Machine']);
        assert.strictEqual((await simMachines()).find((x) => x.server_id === id)?.current_status, 'Starting');
        // It keeps starting: once its boot ends, the extension sees it Ready (a stop would have made it Deleting).
        await sim.admin(`machines/${id}/ready`, {});
        await waitFor('the machine Ready in the extension', async () => (await state()).machines.find((m) => m.server_id === id && m.current_status === 'Ready'), 20_000);
        assert.strictEqual((await sim.requests()).filter((r) => r.route === 'stop' && r.serverId === id).length, 0, 'nothing stopped the machine');
        assert.ok(!(await state()).prompts.some((p) => p.kind === 'confirm' && p.text.startsWith('Stop ')), 'no stop was asked for');
      } finally {
        await stopAndWaitGone(id);
      }
    });
  });

  it('never wrote the token to the log', async () => {
    const s = await state();
    const log = readLog(s.logDirectory);
    assert.ok(log.includes(`Launched large machine ${serverId}`), 'the launch was not logged');
    assert.ok(!log.includes(sim.info.tokens[0]), 'the token is in the log');
  });
});

function machineOf(s: TestState, id: string) {
  const m = s.machines.find((x) => x.server_id === id);
  assert.ok(m, `machine ${id} not in ${JSON.stringify(s.machines.map((x) => x.server_id))}`);
  return m;
}

/** A tree item's tooltip as the hover shows it: the Markdown source without its escapes. */
function tooltipText(item: TreeItemState): string {
  return (item.tooltip ?? '').replace(/\\(.)/g, '$1');
}
