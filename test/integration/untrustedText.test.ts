import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, signIn, state, waitFor, type TreeItemState } from './helpers';
import { SimulatorProcess } from './simulator';

// What a hostile server puts in a name: a command link, a remote image (a tracking pixel), HTML and
// a bare URL that Markdown would turn into a link.
const hostile = 'Evil [click](command:runcomfy.stopMachine) ![img](http://127.0.0.1:9/pixel.png) <img src=x onerror=alert(1)> https://evil.test';

/** The Markdown a tooltip holds must show `hostile` as text: each piece escaped, none left raw. */
function assertShownAsText(md: string | undefined, where: string): void {
  assert.ok(md, `${where} has no tooltip`);
  // What Markdown would still parse once every backslash escape is taken out.
  const live = md.replace(/\\./g, '');
  for (const raw of ['[click](command:', '![img](http', '<img', 'https://evil']) {
    assert.ok(!live.includes(raw), `${where} holds "${raw}" unescaped: ${md}`);
  }
  for (const escaped of ['\\[click\\]\\(command\\:runcomfy\\.stopMachine\\)', '\\!\\[img\\]\\(http\\:\\/\\/127\\.0\\.0\\.1', '\\<img src\\=x', 'https\\:\\/\\/evil\\.test']) {
    assert.ok(md.includes(escaped), `${where} does not show "${escaped}": ${md}`);
  }
}

function flatten(items: TreeItemState[]): TreeItemState[] {
  return items.flatMap((i) => [i, ...flatten(i.children ?? [])]);
}

describe('server text in tooltips renders as plain text', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start();
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    // A Ready machine whose type is hostile (it shows in the status bar too), and one whose status is.
    await sim.admin('machines', { server_type: hostile, ready_seconds_ago: 30 });
    await sim.admin('machines', { current_status: hostile });
    const entry = { workflow_id: 'wf-evil', workflow_name: hostile, version_id: 'ver-evil', version_name: hostile, created_at: '2025-06-02T09:14:05.120331Z', updated_at: '2025-06-02T09:14:05.120331Z' };
    await sim.admin('faults', { action: 'error', status: 200, body: [entry], route: 'listWorkflows', times: 'always' });
    await signIn(sim.info.userId, sim.info.tokens[0]);
    await vscode.commands.executeCommand('runcomfy.machines.focus');
    await vscode.commands.executeCommand('runcomfy.workflows.focus');
  });

  after(async () => {
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
  });

  it('in the Machines view', async () => {
    const machines = await waitFor('both machines in the tree', async () => {
      const items = (await state()).machinesTree.filter((i) => i.contextValue?.startsWith('machine'));
      return items.length === 2 ? items : undefined;
    });
    for (const m of machines) assertShownAsText(m.tooltip, `machine ${m.label}`);
  });

  it('in the Workflows view, for the workflow and its version', async () => {
    await vscode.commands.executeCommand('runcomfy.refresh');
    const items = await waitFor('the hostile workflow and its version in the tree', async () => {
      const all = flatten((await state()).workflowsTree).filter((i) => i.contextValue === 'workflow' || i.contextValue === 'version');
      return all.length === 2 ? all : undefined;
    });
    for (const i of items) assertShownAsText(i.tooltip, `${i.contextValue} item`);
  });

  it('in the status bar', async () => {
    const bar = await waitFor('the status bar showing the billing machine', async () => {
      const s = (await state()).statusBar;
      return s.visible ? s : undefined;
    });
    assertShownAsText(bar.tooltip, 'the status bar');
  });
});
