import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { activateExtension, script, signIn, state, waitFor, workspaceFile } from './helpers';
import { SimulatorProcess } from './simulator';

type Json = Record<string, unknown>;

describe('agent tools through vscode.lm.invokeTool (no chat: scripted confirmations)', function () {
  this.timeout(90_000);
  let sim: SimulatorProcess;
  let serverId: string | undefined;
  /** Every result text, to check that the token is in none. */
  const seen: string[] = [];

  /** Invokes a tool as another extension or an agent outside a chat would, and parses its one JSON part. */
  async function invoke(name: string, input: Json = {}): Promise<Json> {
    const result = await vscode.lm.invokeTool(`runcomfy_${name}`, { input, toolInvocationToken: undefined });
    assert.strictEqual(result.content.length, 1);
    const part = result.content[0];
    assert.ok(part instanceof vscode.LanguageModelTextPart, 'a text part');
    seen.push(part.value);
    return JSON.parse(part.value) as Json;
  }

  /** A failure is `{ "error": { code, message } }` and nothing else (a run's own `error` sits beside its status). */
  const failed = (r: Json) => Object.keys(r).length === 1 && typeof r.error === 'object' && r.error !== null;

  async function ok(name: string, input: Json = {}): Promise<Json> {
    const r = await invoke(name, input);
    assert.ok(!failed(r), `${name} failed: ${JSON.stringify(r)}`);
    return r;
  }

  async function error(name: string, input: Json = {}): Promise<{ code: string; message: string }> {
    const r = await invoke(name, input);
    assert.ok(failed(r), `${name} should have failed: ${JSON.stringify(r)}`);
    return r.error as { code: string; message: string };
  }

  const confirms = async () => (await state()).prompts.filter((p) => p.kind === 'confirm');
  const routes = async (route: string) => (await sim.requests()).filter((r) => r.route === route);

  before(async () => {
    await activateExtension();
    // Launched machines stay Starting until a test ends their boot (POST /__sim/machines/{id}/ready).
    sim = await SimulatorProcess.start(['--boot-seconds', '3600', '--delete-seconds', '1']);
    const config = vscode.workspace.getConfiguration('runcomfy');
    await config.update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
    await config.update('localServers', [{ name: 'desk', url: sim.info.localComfyUrl }], vscode.ConfigurationTarget.Global);
    await signIn(sim.info.userId, sim.info.tokens[0]);
  });

  after(async () => {
    if (serverId) await vscode.commands.executeCommand('runcomfy.stopMachine', { kind: 'machine', serverId }, { confirmed: true });
    await vscode.commands.executeCommand('runcomfy.signOut');
    const config = vscode.workspace.getConfiguration('runcomfy');
    await config.update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    await config.update('localServers', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
    for (const text of seen) assert.ok(!text.includes(sim.info.tokens[0]), 'the token leaked into a tool result');
  });

  it('registers every tool of the manifest with VS Code, without Copilot', () => {
    const manifest = (vscode.extensions.getExtension('runcomfy-tools.runcomfy')!.packageJSON as { contributes: { languageModelTools: { name: string; modelDescription: string; tags: string[] }[] } }).contributes.languageModelTools;
    const ours = vscode.lm.tools.filter((t) => t.name.startsWith('runcomfy_'));
    assert.deepStrictEqual(ours.map((t) => t.name).sort(), manifest.map((t) => t.name).sort());
    for (const m of manifest) {
      const t = ours.find((x) => x.name === m.name)!;
      assert.strictEqual(t.description, m.modelDescription);
      assert.deepStrictEqual([...t.tags], m.tags);
    }
  });

  it('lists workflows and machines', async () => {
    const workflows = (await ok('list_workflows')).workflows as { name: string; versions: { version_id: string }[] }[];
    assert.ok(workflows.some((w) => w.name === 'Flux portrait' && w.versions.length === 3), JSON.stringify(workflows));
    const machines = await ok('list_machines');
    assert.deepStrictEqual(machines.machines, []);
    assert.deepStrictEqual(machines.local_servers, [{ name: 'desk', url: sim.info.localComfyUrl?.replace(/\/$/, '') }]);
  });

  it('launches only after the user confirms the rate and the most it can cost, in the palette\'s words', async () => {
    const launch = { version_id: 'a1b2c3d4-0003-4000-8000-000000000003', server_type: 'large', duration_minutes: 30 };
    await script([{ confirm: false }]);
    assert.strictEqual((await error('launch_machine', launch)).code, 'declined');
    assert.strictEqual((await routes('launch')).length, 0, 'declined: nothing launched');

    await script([{ confirm: true }]);
    const launched = await ok('launch_machine', launch);
    const [question] = await confirms();
    assert.strictEqual(question?.text, 'Launch a large machine for 30 min?');
    assert.match(question.detail ?? '', /^Workflow: Flux portrait \(v3 face detailer\)$/m);
    assert.match(question.detail ?? '', /Rate: ~\$1\.75\/h/);
    assert.match(question.detail ?? '', /at most ~\$0\.88 if it runs the full 30 min/);
    serverId = String((launched.machine as Json).server_id);
    assert.strictEqual((launched.machine as Json).status, 'Starting');
    assert.strictEqual(launched.max_cost_usd, 0.875);
    const launches = await routes('launch');
    assert.strictEqual(launches.length, 1, 'exactly one launch request');
    assert.deepStrictEqual(launches[0]?.body, { workflow_version_id: launch.version_id, server_type: 'large', estimated_duration: 1800 });
  });

  it('says a Starting machine cannot be used yet, then extends it once Ready', async () => {
    await script([]);
    const early = await error('extend_machine', { server_id: serverId, minutes: 15 });
    assert.strictEqual(early.code, 'machine_not_ready');
    assert.match(early.message, /is Starting, so it cannot be extended; try again when it is Ready/);
    assert.deepStrictEqual(await confirms(), [], 'nothing to confirm for a machine that cannot be extended');

    await sim.admin(`machines/${serverId}/ready`, {});
    await waitFor('the machine Ready', async () => ((await ok('list_machines')).machines as Json[])[0]?.status === 'Ready', 20_000);
    await script([{ confirm: true }]);
    const extended = await ok('extend_machine', { server_id: serverId!.slice(0, 8), minutes: 15 });
    assert.strictEqual(extended.added_cost_max_usd, 0.4375);
    const [question] = await confirms();
    assert.strictEqual(question?.text, `Extend machine ${serverId!.split('-')[0]} by 15 min?`);
    assert.match(question.detail ?? '', /~\$0\.44 more at most/);
    assert.deepStrictEqual((await routes('updateDuration')).map((r) => r.body), [{ update_estimated_duration: 1800 + 900 }]);
  });

  it('checks and queues a workspace workflow on the machine (confirmed) and on a local server (no question), with outputs in the workspace', async () => {
    await script([]);
    const check = await ok('check_workflow', { workflow_path: 'hello/workflow_api.json', server_id: serverId });
    assert.deepStrictEqual({ ok: check.ok, problems: check.problems }, { ok: true, problems: [] });

    await script([{ confirm: true }]);
    const run = await ok('queue_workflow', { workflow_path: 'hello/workflow_api.json', server_id: serverId, wait_seconds: 60 });
    assert.strictEqual(run.status, 'success', JSON.stringify(run));
    const [question] = await confirms();
    assert.match(question?.text ?? '', /^Queue hello[/\\]workflow_api\.json on RunComfy machine [0-9a-f]{8}\?$/);
    assert.match(question?.detail ?? '', /at ~\$1\.75\/h \(estimate\)/);
    const folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
    const outputs = run.outputs as string[];
    assert.ok(outputs.length > 0);
    for (const o of outputs) assert.ok(fs.existsSync(o) && o.startsWith(path.join(fs.realpathSync(folder), 'runcomfy-outputs')), o);
    const status = await ok('run_status', { run_id: String(run.run_id) });
    assert.deepStrictEqual(status.outputs, outputs);
    assert.ok((await state()).runs.some((r) => r.promptId === run.prompt_id), 'the run is in the Runs view');

    await script([]);
    const local = await ok('queue_workflow', { workflow_path: 'hello/workflow_api.json', local_server: 'desk', wait_seconds: 60 });
    assert.strictEqual(local.status, 'success', JSON.stringify(local));
    assert.strictEqual(local.target, 'desk');
    assert.deepStrictEqual(await confirms(), [], 'a local server costs nothing: no question');
  });

  it('estimates a sweep of a workspace file, free: no question, nothing sent, time per run from the runs just saved', async () => {
    await script([]);
    const posts = async () => (await sim.requests()).filter((r) => r.method !== 'GET').length;
    const postsBefore = await posts();
    const axes = { '2.width': '64,96,128', '2.upscale_method': ['bilinear', 'nearest-exact'] };
    const estimate = await ok('estimate_sweep', { workflow_path: 'hello/workflow_api.json', axes, targets: 2, server_type: 'large', max_cost_usd: 0.05 });
    assert.strictEqual(estimate.runs, 6);
    assert.deepStrictEqual((estimate.first_runs as Json[])[1], { run: 2, params: { '2.width': 64, '2.upscale_method': 'nearest-exact' } });
    assert.strictEqual(estimate.seconds_per_run_from, 'earlier_runs', 'the queue test above saved runs of this file');
    assert.ok(typeof estimate.wall_seconds === 'number' && estimate.wall_seconds >= 60, 'a launched machine boots first');
    assert.ok(typeof estimate.max_cost_usd === 'number' && estimate.max_cost_usd > 0 && estimate.max_cost_usd <= 0.05, JSON.stringify(estimate));
    assert.deepStrictEqual(await confirms(), [], 'an estimate asks nothing');

    assert.strictEqual((await error('estimate_sweep', { workflow_path: 'invert-photo-ui/workflow.json', axes: { '3.filename_prefix': ['a/x', 'b/y'] } })).code, 'target_needed');
    const ui = await ok('estimate_sweep', { workflow_path: 'invert-photo-ui/workflow.json', axes: { '3.filename_prefix': ['a/x', 'b/y'] }, local_server: 'desk' });
    assert.deepStrictEqual({ format: ui.format, runs: ui.runs, cost: ui.max_cost_usd }, { format: 'ui', runs: 2, cost: 0 });
    assert.strictEqual((await error('estimate_sweep', { workflow_path: 'hello/workflow_api.json', axes: { '2.width': '@../../etc/passwd' } })).code, 'invalid_axes');
    assert.strictEqual(await posts(), postsBefore, 'nothing was launched, extended or stopped');
  });

  it('reads workflow files only inside the workspace', async () => {
    const outside = await error('check_workflow', { workflow_path: '../../etc/passwd.json', local_server: 'desk' });
    assert.ok(['outside_workspace', 'not_found'].includes(outside.code), JSON.stringify(outside));
    assert.strictEqual((await error('check_workflow', { workflow_path: workspaceFile('hello', 'workflow_api.json').fsPath.replace(/\.json$/, '.txt'), local_server: 'desk' })).code, 'not_a_workflow');
  });

  it('stops the machine after the user confirms, with the cost so far', async () => {
    await script([{ confirm: true }]);
    const stopped = await ok('stop_machine', { server_id: serverId });
    assert.strictEqual(stopped.status, 'Deleting');
    const [question] = await confirms();
    assert.strictEqual(question?.text, `Stop RunComfy machine ${serverId!.split('-')[0]}?`);
    assert.match(question.detail ?? '', /Cost so far: (~\$\d+\.\d\d|<\$0\.01) \(estimate\)/);
    assert.strictEqual((await routes('stop')).length, 1);
    serverId = undefined;
  });
});
