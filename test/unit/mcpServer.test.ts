import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { runcomfyTools } from '../../src/core/tools/runcomfyTools';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { tempDir } from './helpers/runHarness';
import { readRecording } from './helpers/runRecordings';
import { cliEnv, cliPath, eventually, fluxV3, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

interface CallResult {
  readonly isError?: boolean;
  readonly content: { type: string; text?: string }[];
  readonly structuredContent?: Record<string, unknown>;
}

/** One `runcomfy mcp` process and the SDK's own client talking to it over stdio. */
class McpProcess {
  private constructor(
    readonly client: Client,
    private readonly transport: StdioClientTransport,
    readonly stderr: () => string,
  ) {}

  /** Every result and the server's stderr so far: what must never hold the token or a full ComfyUI URL. */
  readonly seen: string[] = [];

  static async start(sim: RunComfySimulator, cwd: string, args: readonly string[] = [], env: Record<string, string | undefined> = {}): Promise<McpProcess> {
    const clean: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const [k, v] of Object.entries({ ...cliEnv(sim), ...env })) if (v !== undefined) clean[k] = v;
    const transport = new StdioClientTransport({ command: process.execPath, args: [cliPath, 'mcp', ...args], env: clean, cwd, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const client = new Client({ name: 'runcomfy-test', version: '1.0.0' });
    await client.connect(transport);
    return new McpProcess(client, transport, () => stderr);
  }

  async call(name: string, args: Record<string, unknown> = {}): Promise<CallResult> {
    const result = (await this.client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as CallResult;
    this.seen.push(JSON.stringify(result));
    // Text and structured content say the same, so a client that reads only one misses nothing.
    const text = result.content[0]?.text ?? '';
    if (!result.isError) assert.deepEqual(JSON.parse(text), result.structuredContent, `${name}: text and structuredContent differ`);
    return result;
  }

  async ok(name: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const r = await this.call(name, args);
    assert.ok(!r.isError, `${name} failed: ${r.content[0]?.text}`);
    return r.structuredContent!;
  }

  async error(name: string, args: Record<string, unknown> = {}): Promise<{ code: string; message: string }> {
    const r = await this.call(name, args);
    assert.equal(r.isError, true, `${name} should have failed: ${r.content[0]?.text}`);
    const body = JSON.parse(r.content[0].text!) as { error: { code: string; message: string } };
    assert.doesNotMatch(body.error.message, /\n\s+at /, 'no stack trace');
    return body.error;
  }

  /** Asserts that no result and no stderr line held `secrets`, then ends the server. */
  async close(secrets: readonly string[]): Promise<void> {
    await this.transport.close();
    const all = [...this.seen, this.stderr()].join('\n');
    for (const s of secrets) assert.ok(!all.includes(s), `${s.slice(0, 12)}… leaked into a result or stderr`);
  }
}

const slowBlurs: ApiPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 9 } },
  '20': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['20', 0], filename_prefix: 'mcp/blur' } },
};

describe('runcomfy mcp (node dist/cli.js mcp, through the MCP SDK client, against the simulators)', function () {
  this.timeout(60_000);
  let sim: RunComfySimulator;
  let comfy: ComfySimulator;
  let work: string;
  let mcp: McpProcess | undefined;

  const write = (name: string, content: unknown): string => {
    const file = path.join(work, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  };

  before(async function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
    comfy = await startComfySimulator();
  });
  after(async () => {
    await comfy.close();
  });
  beforeEach(async () => {
    await comfy.reset();
    sim = await startTestSimulator({ bootMs: 300 });
    work = tempDir('runcomfy-mcp-');
  });
  afterEach(async () => {
    await mcp?.close([token1]);
    mcp = undefined;
    await sim.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists every core tool with its description and input and output schemas', async () => {
    mcp = await McpProcess.start(sim, work);
    const { tools } = await mcp.client.listTools();
    assert.deepEqual(tools.map((t) => t.name), runcomfyTools.map((t) => t.name));
    for (const def of runcomfyTools) {
      const t = tools.find((x) => x.name === def.name)!;
      assert.equal(t.description, def.modelDescription);
      assert.equal(t.title, def.title);
      assert.deepEqual(Object.keys(t.inputSchema.properties ?? {}), Object.keys(def.inputSchema.properties));
      assert.deepEqual(t.inputSchema.required ?? [], def.inputSchema.required ?? []);
      assert.deepEqual(Object.keys(t.outputSchema?.properties ?? {}), Object.keys(def.outputSchema.properties));
      assert.equal(t.annotations?.readOnlyHint, def.readOnly);
    }
    assert.match(mcp.stderr(), /spending tools refused \(no --allow-spend\)/);
  });

  it('reads workflows and machines, masks the ComfyUI URL, refuses to spend without --allow-spend, and always stops', async () => {
    const seeded = await sim.seedMachine({ server_type: 'large', estimated_duration: 3600, ready_seconds_ago: 360 });
    const url = String(seeded.main_service_url);
    mcp = await McpProcess.start(sim, work);

    const workflows = (await mcp.ok('list_workflows')).workflows as { name: string; versions: { version_id: string }[] }[];
    assert.ok(workflows.some((w) => w.versions.some((v) => v.version_id === fluxV3)));

    const listed = await mcp.ok('list_machines');
    const [m] = listed.machines as Record<string, unknown>[];
    assert.equal(m.server_id, seeded.server_id);
    assert.equal(m.status, 'Ready');
    assert.equal(m.hourly_rate_usd, 1.75);
    assert.ok(typeof m.cost_so_far_usd === 'number' && m.cost_so_far_usd >= 0.17, `cost so far ${String(m.cost_so_far_usd)}`);
    assert.ok(typeof m.time_left_seconds === 'number' && m.time_left_seconds <= 3240);
    assert.match(String(m.comfyui), /^https:\/\/[0-9a-f]{4}…\.runcomfy\.invalid$/);

    const refused = await mcp.error('launch_machine', { version_id: fluxV3, server_type: 'medium', duration_minutes: 30 });
    assert.equal(refused.code, 'spending_not_allowed');
    assert.match(refused.message, /--allow-spend/);
    const extend = await mcp.error('extend_machine', { server_id: seeded.server_id, minutes: 10 });
    assert.equal(extend.code, 'spending_not_allowed');
    assert.deepEqual(sim.requests().filter((r) => r.route === 'launch' || r.route === 'updateDuration'), [], 'nothing was spent');

    // Stop needs no permission, and the model may name the machine by its short id.
    const stopped = await mcp.ok('stop_machine', { server_id: String(seeded.server_id).slice(0, 8) });
    assert.equal(stopped.status, 'Deleting');
    assert.equal(sim.requests().filter((r) => r.route === 'stop').length, 1);
    await mcp.close([token1, url]);
    mcp = undefined;
  });

  it('holds the --max-cost budget across launches and extensions', async () => {
    // The machine boots only when the test says so (finishBoot), so "Starting" is a state, not a race.
    sim.configure({ bootMs: 3_600_000 });
    mcp = await McpProcess.start(sim, work, ['--allow-spend', '--max-cost', '1']);
    // large at ~$1.75/h for 30 min: ~$0.875 of the $1 cap.
    const launched = await mcp.ok('launch_machine', { version_id: fluxV3, server_type: 'large', duration_minutes: 30 });
    const id = String((launched.machine as Record<string, unknown>).server_id);
    assert.equal(launched.max_cost_usd, 0.875);
    assert.match(String(launched.next), /list_machines/);

    const second = await mcp.error('launch_machine', { version_id: fluxV3, server_type: 'medium', duration_minutes: 10 });
    assert.equal(second.code, 'over_budget');
    assert.match(second.message, /~\$0\.17.*~\$0\.88 of its \$1\.00 cap/);

    const starting = await mcp.error('extend_machine', { server_id: id, minutes: 5 });
    assert.equal(starting.code, 'machine_not_ready');
    assert.match(starting.message, /is Starting.*try again when it is Ready/);
    await sim.finishBoot(id);
    await eventually(async () => ((await mcp!.ok('list_machines')).machines as { status: string }[])[0]?.status === 'Ready', 'the machine is Ready', 20_000);

    assert.equal((await mcp.error('extend_machine', { server_id: id, minutes: 10 })).code, 'over_budget');
    const extended = await mcp.ok('extend_machine', { server_id: id, minutes: 4 });
    assert.equal((extended.machine as Record<string, unknown>).server_id, id);
    assert.equal((await mcp.error('extend_machine', { server_id: id, minutes: 1 })).code, 'over_budget', '0.875 + 0.1167 leaves less than a minute of large');

    assert.equal(sim.requests().filter((r) => r.route === 'launch').length, 1, 'one launch reached RunComfy');
    assert.deepEqual(sim.requests().filter((r) => r.route === 'updateDuration').map((r) => r.body), [{ update_estimated_duration: 1800 + 240 }]);
    await mcp.ok('stop_machine', { server_id: id });
  });

  it('checks and queues a workflow file on a local ComfyUI, reports the run, and keeps to the current directory', async () => {
    write('flows/workflow_a_api.json', readRecording('workflow_a_api.json'));
    write('flows/broken.api.json', { ...slowBlurs, '20': { class_type: 'NoSuchBlur', inputs: { image: ['1', 0] } } });
    const outside = path.join(tempDir('runcomfy-mcp-outside-'), 'secret.json');
    fs.writeFileSync(outside, JSON.stringify(slowBlurs));
    fs.symlinkSync(outside, path.join(work, 'link.json'));
    mcp = await McpProcess.start(sim, work, ['--local-server', `desk=${comfy.url}`]);

    const good = await mcp.ok('check_workflow', { workflow_path: 'flows/workflow_a_api.json', local_server: 'desk' });
    assert.deepEqual({ ok: good.ok, problems: good.problems, target: good.target }, { ok: true, problems: [], target: 'desk' });
    const bad = await mcp.ok('check_workflow', { workflow_path: 'flows/broken.api.json', local_server: 'desk' });
    assert.equal(bad.ok, false);
    assert.match((bad.problems as string[]).join('\n'), /Node 20 \(NoSuchBlur\) is not installed on desk/);
    assert.equal(comfy.requests().filter((r) => r.path === '/prompt' && r.method === 'POST').length, 0, 'a check runs nothing');

    const refusedQueue = await mcp.error('queue_workflow', { workflow_path: 'flows/broken.api.json', local_server: 'desk' });
    assert.equal(refusedQueue.code, 'known_problems');
    assert.match(refusedQueue.message, /NoSuchBlur.*force: true/s);

    const run = await mcp.ok('queue_workflow', { workflow_path: 'flows/workflow_a_api.json', local_server: 'desk', wait_seconds: 50 });
    assert.equal(run.status, 'success', JSON.stringify(run));
    assert.match(String(run.prompt_id), /^[0-9a-f-]{36}$/);
    const outputs = run.outputs as string[];
    assert.equal(outputs.length, 4);
    for (const o of outputs) assert.ok(o.startsWith(path.join(fs.realpathSync(work), 'runcomfy-outputs')) && fs.existsSync(o), o);
    const status = await mcp.ok('run_status', { run_id: String(run.prompt_id) });
    assert.equal(status.run_id, run.run_id);
    assert.deepEqual(status.outputs, outputs);
    assert.equal(((await mcp.ok('run_status')).runs as unknown[]).length, 1);
    assert.equal((await mcp.error('run_status', { run_id: 'run-99' })).code, 'run_not_found');

    // Forced past the check, ComfyUI itself refuses: the result names each node error.
    write('flows/zero.api.json', { ...slowBlurs, '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 64, batch_size: 1, color: 9 } } });
    assert.equal((await mcp.error('queue_workflow', { workflow_path: 'flows/zero.api.json', local_server: 'desk' })).code, 'known_problems');
    const rejected = await mcp.ok('queue_workflow', { workflow_path: 'flows/zero.api.json', local_server: 'desk', force: true, wait_seconds: 50 });
    assert.equal(rejected.status, 'error');
    const rejection = rejected.error as { type: string; node_errors: string[] };
    assert.match(rejection.node_errors.join('\n'), /^node 1 \(EmptyImage\): Value 0 smaller than min of 1 \[width\]$/m);

    assert.equal((await mcp.error('check_workflow', { workflow_path: '../elsewhere.json', local_server: 'desk' })).code, 'not_found');
    assert.equal((await mcp.error('check_workflow', { workflow_path: outside, local_server: 'desk' })).code, 'outside_workspace');
    assert.equal((await mcp.error('queue_workflow', { workflow_path: 'link.json', local_server: 'desk' })).code, 'outside_workspace', 'a symbolic link out is followed, then refused');
    assert.equal((await mcp.error('queue_workflow', { workflow_path: 'flows/workflow_a_api.json' })).code, 'invalid_input', 'a target is required');
    assert.equal((await mcp.error('queue_workflow', { workflow_path: 'flows/workflow_a_api.json', local_server: 'nope' })).code, 'unknown_local_server');
  });

  it('estimates a sweep without sending anything: runs, params, time per run from earlier runs, wall time and the most it can cost', async () => {
    write('blur.api.json', slowBlurs);
    fs.writeFileSync(path.join(work, 'prompts.txt'), 'a\nb\n');
    mcp = await McpProcess.start(sim, work, ['--local-server', `desk=${comfy.url}`]);
    const sent = () => sim.requests().length + comfy.requests().length;
    const before = sent();
    const axes = { '1.width': '64..66', '20.blur_radius': [1, '2'] };

    const blind = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes });
    assert.equal(blind.runs, 6);
    assert.equal(blind.mode, 'product');
    assert.deepEqual(blind.axes, [{ key: '1.width', values: 3 }, { key: '20.blur_radius', values: 2 }]);
    assert.deepEqual(blind.first_runs, [
      { run: 1, params: { '1.width': 64, '20.blur_radius': 1 } },
      { run: 2, params: { '1.width': 64, '20.blur_radius': 2 } },
      { run: 3, params: { '1.width': 65, '20.blur_radius': 1 } },
      { run: 4, params: { '1.width': 65, '20.blur_radius': 2 } },
      { run: 5, params: { '1.width': 66, '20.blur_radius': 1 } },
    ]);
    assert.deepEqual({ s: blind.seconds_per_run, from: blind.seconds_per_run_from, wall: blind.wall_seconds, cost: blind.max_cost_usd }, { s: null, from: 'unknown', wall: null, cost: 0 });
    assert.match((blind.warnings as string[]).join('\n'), /expect_seconds/);

    // Two large machines launched for it: a minute of boot, then 3 rounds of 30 s; each billed for the wall time and a minute idle.
    const priced = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes, zip: false, targets: 2, server_type: 'large', expect_seconds: 30 });
    assert.deepEqual({ s: priced.seconds_per_run, from: priced.seconds_per_run_from, pool: priced.pool_size, wall: priced.wall_seconds }, { s: 30, from: 'expect_seconds', pool: 2, wall: 150 });
    assert.equal(priced.max_cost_usd, 0.2042, '2 × $1.75/h × 210 s');
    assert.match(String(priced.cost_basis), /2 large machines .*~\$1\.75\/h/);
    const capped = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes, targets: 2, server_type: 'large', expect_seconds: 30, max_cost_usd: 0.1 });
    assert.equal(capped.max_cost_usd, 0.1);
    const zipped = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes: { '1.width': '64,65', '20.blur_radius': '1..2' }, zip: true });
    assert.deepEqual({ runs: zipped.runs, mode: zipped.mode, last: (zipped.first_runs as unknown[])[1] }, { runs: 2, mode: 'zip', last: { run: 2, params: { '1.width': 65, '20.blur_radius': 2 } } });

    const refusals: [Record<string, unknown>, string, RegExp][] = [
      [{ '6.text': '@prompts.txt' }, 'invalid_axes', /not read by this tool; give them as an array/],
      [{ '99.seed': '1..3' }, 'invalid_axes', /axis 99\.seed: there is no node 99/],
      [{ '1.width': 'big' }, 'invalid_axes', /"big" is not a number/],
      [{ width: '1,2' }, 'invalid_axes', /not NODE\.INPUT/],
      [{}, 'invalid_axes', /at least one axis/],
    ];
    for (const [bad, code, message] of refusals) {
      const e = await mcp.error('estimate_sweep', { workflow_path: 'blur.api.json', axes: bad });
      assert.equal(e.code, code, JSON.stringify(bad));
      assert.match(e.message, message);
    }
    assert.match((await mcp.error('estimate_sweep', { workflow_path: 'blur.api.json', axes: { '1.width': '1,2', '1.height': '1..3' }, zip: true })).message, /zip pairs the axes/);
    assert.equal((await mcp.error('estimate_sweep', { workflow_path: '../blur.api.json', axes })).code, 'not_found');
    // The SDK checks the input schema first: axes is an object, not a --vary string.
    const notObject = await mcp.call('estimate_sweep', { workflow_path: 'blur.api.json', axes: '1.width=1,2' });
    assert.equal(notObject.isError, true);
    assert.match(String(notObject.content[0]?.text), /expected object.*axes/);
    assert.equal(sent(), before, 'an estimate sends nothing to RunComfy or ComfyUI');

    // A run of the same file saves its timings; the next estimate takes its time per run from them.
    const run = await mcp.ok('queue_workflow', { workflow_path: 'blur.api.json', local_server: 'desk', wait_seconds: 50 });
    assert.equal(run.status, 'success', JSON.stringify(run));
    const record = JSON.parse(fs.readFileSync(path.join(String(run.output_folder), 'run.json'), 'utf8')) as { timings: { phases: { execute: number } } };
    const learned = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes, expect_seconds: 1000 });
    assert.equal(learned.seconds_per_run_from, 'earlier_runs');
    assert.equal(learned.seconds_per_run, Math.round(record.timings.phases.execute / 100) / 10);
    assert.match((learned.warnings as string[]).join('\n'), /expect_seconds \(1000\) was not used/);

    // Runs on another machine type say nothing of this one's time: a run recorded on a medium does not price a large.
    const recordFile = path.join(String(run.output_folder), 'run.json');
    fs.writeFileSync(recordFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(recordFile, 'utf8')), machineType: 'medium' }));
    const otherType = await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes, server_type: 'large', expect_seconds: 1000 });
    assert.equal(otherType.seconds_per_run_from, 'expect_seconds');
    assert.equal((await mcp.ok('estimate_sweep', { workflow_path: 'blur.api.json', axes, server_type: 'medium' })).seconds_per_run_from, 'earlier_runs');
  });

  it('queues on a Ready machine only with --allow-spend, and says when a machine is not Ready', async () => {
    await sim.close();
    sim = await startTestSimulator({ bootMs: 60_000, createComfyBackend: () => Promise.resolve({ url: comfy.url, close: () => Promise.resolve() }) });
    const ready = await sim.seedMachine({ current_status: 'Ready' });
    const starting = await sim.seedMachine({ current_status: 'Starting' });
    write('workflow_api.json', slowBlurs);

    mcp = await McpProcess.start(sim, work);
    assert.equal((await mcp.error('queue_workflow', { workflow_path: 'workflow_api.json', server_id: ready.server_id })).code, 'spending_not_allowed');
    assert.equal(comfy.requests().filter((r) => r.method === 'POST').length, 0);
    const checked = await mcp.ok('check_workflow', { workflow_path: 'workflow_api.json', server_id: ready.server_id });
    assert.equal(checked.ok, true, 'checking is free');
    await mcp.close([token1]);

    mcp = await McpProcess.start(sim, work, ['--allow-spend']);
    const notReady = await mcp.error('queue_workflow', { workflow_path: 'workflow_api.json', server_id: starting.server_id });
    assert.equal(notReady.code, 'machine_not_ready');
    assert.match(notReady.message, new RegExp(`^Machine ${String(starting.server_id).slice(0, 8)}… is Starting, so it cannot be used; try again when it is Ready`));
    const run = await mcp.ok('queue_workflow', { workflow_path: 'workflow_api.json', server_id: ready.server_id, wait_seconds: 50 });
    assert.equal(run.status, 'success', JSON.stringify(run));
    assert.match(String(run.target), /^medium machine [0-9a-f]{8}$/);
    assert.equal((run.outputs as string[]).length, 1);
  });

  it('writes nothing but JSON-RPC messages on stdout', async () => {
    write('workflow_api.json', slowBlurs);
    const child = spawn(process.execPath, [cliPath, 'mcp', '--local-server', `desk=${comfy.url}`], { cwd: work, env: { PATH: process.env.PATH ?? '', ...cliEnv(sim) }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const send = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'queue_workflow', arguments: { workflow_path: 'workflow_api.json', local_server: 'desk', wait_seconds: 50 } } });
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'list_machines', arguments: {} } });
    await eventually(() => stdout.includes('"id":2') && stdout.includes('"id":3'), 'both answers', 30_000);
    child.stdin.end();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, 'the server ends when its client closes stdin');
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.equal((JSON.parse(line) as { jsonrpc: string }).jsonrpc, '2.0', line);
    assert.ok(!stdout.includes(token1));
  });

  it('answers with a next step when RUNCOMFY_TOKEN is missing, and local servers still work', async () => {
    write('workflow_api.json', slowBlurs);
    mcp = await McpProcess.start(sim, work, ['--local-server', `desk=${comfy.url}`], { RUNCOMFY_TOKEN: undefined });
    const e = await mcp.error('list_machines');
    assert.equal(e.code, 'not_signed_in');
    assert.match(e.message, /RUNCOMFY_TOKEN is not set/);
    assert.equal((await mcp.ok('check_workflow', { workflow_path: 'workflow_api.json', local_server: 'desk' })).ok, true);
  });
});
