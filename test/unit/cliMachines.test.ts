import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { cliEnv, cliPath, demoUserId, eventually, fluxV3, freshCacheDir, runCliProcess, startTestSimulator, token1, type CliRun } from './helpers/runcomfyTestKit';

/** Runs the CLI against `sim` and checks that the token shows up nowhere in what it printed. */
async function cli(sim: RunComfySimulator, args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const run = await runCliProcess(args, cliEnv(sim, env));
  for (const token of [token1, env.RUNCOMFY_TOKEN]) {
    if (token) assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token), `the token leaked in: ${run.stdout}${run.stderr}`);
  }
  return run;
}

function json<T>(run: CliRun): T {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

/** One line on stderr that starts with "runcomfy: " and matches `message`. */
function failsWith(run: CliRun, code: number, message: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  const last = lines.at(-1)!;
  assert.match(last, /^runcomfy: /);
  assert.match(last, message);
  assert.equal(run.stdout, '', 'nothing on stdout on failure');
}

type WireMachine = Record<string, unknown> & { server_id: string; current_status: string; estimated_duration: number; main_service_url: string | null };

const launchArgs = ['launch', '--version', fluxV3, '--type', 'large', '--duration', '600'];

describe('runcomfy CLI machine commands (node dist/cli.js against the simulator)', function () {
  let sim: RunComfySimulator;

  before(function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
  });
  beforeEach(async () => {
    sim = await startTestSimulator({ bootMs: 400, deleteMs: 200 });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('launch --wait, extend, stop --wait: end to end, with progress on stderr', async () => {
    const launched = await cli(sim, [...launchArgs, '--wait', '--json']);
    const ready = json<WireMachine>(launched);
    assert.equal(ready.current_status, 'Ready');
    assert.match(launched.stderr, /^Launched machine [0-9a-f-]+ \(large, 600 s from Ready; up to ~\$0\.29 at pay-as-you-go prices\)\.$/m);
    assert.match(launched.stderr, /: Starting… \d+ s$/m);
    assert.match(launched.stderr, /: Ready after \d+ s$/m);
    assert.deepEqual(ready, sim.machines()[0], '--json prints the wire object verbatim');

    const extended = json<WireMachine>(await cli(sim, ['extend', ready.server_id, '--by', '300', '--json']));
    assert.equal(extended.estimated_duration, 900);
    assert.deepEqual(sim.requests().find((r) => r.route === 'updateDuration')!.body, { update_estimated_duration: 900 });

    const stopped = await cli(sim, ['stop', ready.server_id, '--wait', '--json']);
    assert.equal(json<WireMachine>(stopped).current_status, 'Deleting', 'stop --json prints the DELETE response');
    assert.match(stopped.stderr, /billing has stopped/);
    assert.match(stopped.stderr, /is gone\.$/m);
    const human = await cli(sim, ['stop', (await sim.seedMachine()).server_id as string]);
    assert.match(human.stdout, /^Stops at: +stopping now \(billing has ended\)$/m);
    // Without --wait the CLI returns once the DELETE lands; the machine goes away on the server's time.
    await eventually(() => sim.machines().length === 0, 'the stopped machine is gone from the list');
    failsWith(await cli(sim, ['status', ready.server_id]), 4, /HTTP 404/);
  });

  it('prints the API objects verbatim with --json, before or after the command', async () => {
    await sim.seedMachine({ server_type: 'medium', ready_seconds_ago: 90 });
    const after = json<WireMachine[]>(await cli(sim, ['machines', '--json']));
    const before = json<WireMachine[]>(await cli(sim, ['--json', 'machines']));
    assert.deepEqual(after, sim.machines());
    assert.deepEqual(before, after);
    assert.match(after[0].main_service_url!, /^https:\/\/[0-9a-f-]{36}-comfyui\.runcomfy\.invalid$/, 'the URL in full: the user asked for it');
    const workflows = json<Record<string, unknown>[]>(await cli(sim, ['workflows', '--json']));
    assert.equal(workflows.length, 7);
    assert.deepEqual(Object.keys(workflows[0]), ['workflow_id', 'workflow_name', 'version_id', 'version_name', 'created_at', 'updated_at']);
    const status = json<WireMachine>(await cli(sim, ['--json', 'status', after[0].server_id]));
    assert.deepEqual(status, after[0]);
  });

  it('prints human tables that mask the ComfyUI URL and show costs as estimates', async () => {
    const seeded = await sim.seedMachine({ server_type: '2xl-turbo', estimated_duration: 7200, ready_seconds_ago: 1800 });
    const url = String(seeded.main_service_url);
    const list = await cli(sim, ['machines']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^SERVER ID +TYPE +STATUS +TIME LEFT +COST SO FAR +MAX COST +COMFYUI$/m);
    assert.match(list.stdout, /2xl-turbo +Ready +1 h 29 min +~\$3\.7\d +~\$14\.98 +https:\/\/[0-9a-f]{4}…\.runcomfy\.invalid/);
    assert.match(list.stdout, /Costs are estimates/);
    assert.ok(!list.stdout.includes(url));
    const status = await cli(sim, ['status', String(seeded.server_id)]);
    assert.match(status.stdout, /^Type: +2xl-turbo \(2X-Large Plus, H100, 80 GB VRAM\)$/m);
    assert.match(status.stdout, /^Cost so far: +~\$3\.7\d \(estimate at \$7\.49\/h\)$/m);
    assert.ok(!status.stdout.includes(url));
    // Times are the user's local time in their locale: 2025-07-12 10:22:19 UTC in Kolkata, in British English.
    const workflows = await cli(sim, ['workflows'], { TZ: 'Asia/Kolkata', LANG: 'en_GB.UTF-8' });
    assert.match(workflows.stdout, /^Flux portrait +v3 face detailer +a1b2c3d4-0003-4000-8000-000000000003 +12 Jul 2025, 15:52$/m);
  });

  it('set-duration sends the total as given', async () => {
    const seeded = await sim.seedMachine({ estimated_duration: 600 });
    const m = json<WireMachine>(await cli(sim, ['set-duration', String(seeded.server_id), '1800', '--json']));
    assert.equal(m.estimated_duration, 1800);
    assert.deepEqual(sim.requests().at(-1)!.body, { update_estimated_duration: 1800 });
  });

  it('flags override the environment', async () => {
    const viaFlags = await runCliProcess(['machines', '--json', '--api-url', sim.url, '--user-id', demoUserId], {
      RUNCOMFY_TOKEN: token1,
      RUNCOMFY_USER_ID: 'someone-else',
      RUNCOMFY_API_URL: 'http://127.0.0.1:1',
      RUNCOMFY_CACHE_DIR: freshCacheDir(),
    });
    assert.deepEqual(json(viaFlags), []);
    assert.equal(sim.requests()[0].userId, demoUserId);
  });

  describe('environment and usage errors exit 2 and name what is wrong', () => {
    it('a missing RUNCOMFY_TOKEN or RUNCOMFY_USER_ID', async () => {
      failsWith(await cli(sim, ['machines'], { RUNCOMFY_TOKEN: '' }), 2, /RUNCOMFY_TOKEN is not set/);
      failsWith(await cli(sim, ['machines'], { RUNCOMFY_USER_ID: undefined }), 2, /RUNCOMFY_USER_ID is not set \(or pass --user-id ID\)/);
      assert.equal(sim.requests().length, 0);
    });

    it('an API URL that would send the token over plain http to another host', async () => {
      failsWith(await cli(sim, ['machines'], { RUNCOMFY_API_URL: 'http://api.runcomfy.net' }), 2, /plain http to http:\/\/api\.runcomfy\.net \(RUNCOMFY_API_URL\): plain http is allowed only for loopback hosts/);
      failsWith(await cli(sim, ['machines', '--api-url', 'http://192.0.2.1:8080']), 2, /\(--api-url\)/);
    });

    it('bad arguments', async () => {
      failsWith(await cli(sim, ['launch', '--type', 'large', '--duration', '60']), 2, /--version is required \(the version_id from "runcomfy workflows"\)/);
      failsWith(await cli(sim, ['launch', '--version', fluxV3, '--type', 'huge', '--duration', '60']), 2, /--type must be one of medium, large, extra-large, 2x-large, 2xl-turbo; got "huge"/);
      failsWith(await cli(sim, ['launch', '--version', fluxV3, '--type', 'large', '--duration', '1h']), 2, /--duration must be a positive whole number of seconds, got "1h"/);
      failsWith(await cli(sim, ['extend', 'abc']), 2, /--by is required/);
      failsWith(await cli(sim, ['stop']), 2, /stop takes exactly one machine id/);
      failsWith(await cli(sim, ['machines', '--nope']), 2, /Unknown option '--nope'/);
      failsWith(await cli(sim, ['machines'], { RUNCOMFY_POLL_INTERVAL: 'fast' }), 2, /RUNCOMFY_POLL_INTERVAL must be a number of seconds/);
      assert.equal(sim.requests().length, 0);
    });
  });

  describe('exit codes of API failures', () => {
    it('3 for a refused token, 4 for an unknown machine (stop included)', async () => {
      failsWith(await cli(sim, ['machines'], { RUNCOMFY_TOKEN: 'not-a-valid-token' }), 3, /^runcomfy: List machines failed: HTTP 401 Unauthorized\. Check the API token and the user id \(RUNCOMFY_TOKEN, and RUNCOMFY_USER_ID or --user-id\)\.$/);
      failsWith(await cli(sim, ['status', 'nope']), 4, /^runcomfy: Get status of machine nope failed: HTTP 404 Server nope not found\. The machine may have stopped already, or the id is wrong\.$/);
      failsWith(await cli(sim, ['stop', 'nope']), 4, /Stop machine nope failed: HTTP 404/);
    });

    it('5 when launch --wait times out, saying the machine is still starting and will bill', async () => {
      sim.configure({ bootMs: 60_000 });
      const run = await cli(sim, [...launchArgs, '--wait', '--timeout', '1']);
      failsWith(run, 5, /^runcomfy: Machine [0-9a-f-]+ is still starting after 1 s \(gave up waiting\); it keeps starting and bills once Ready\. Check it with "runcomfy status [0-9a-f-]+", or stop it with "runcomfy stop [0-9a-f-]+"\.$/);
      assert.equal(sim.machines()[0].current_status, 'Starting');
    });

    it('6 for a server error, 1 for a rejected request', async () => {
      sim.addFault({ action: 'error', status: 503, retryAfter: '0', times: 'always', route: 'listMachines' });
      failsWith(await cli(sim, ['machines']), 6, /List machines failed: HTTP 503 Internal server error\. RunComfy had a problem; try again later\./);
      sim.clearFaults();
      failsWith(await cli(sim, ['launch', '--version', 'not-a-version', '--type', 'large', '--duration', '60']), 1, /HTTP 422 workflow_version_id not-a-version is not a version/);
    });
  });

  it('a launch whose response was lost prints the machine that was created, once', async () => {
    sim.addFault({ action: 'dropAfterHandling', route: 'launch' });
    const m = json<WireMachine>(await cli(sim, [...launchArgs, '--json']));
    assert.equal(sim.requests().filter((r) => r.route === 'launch').length, 1);
    assert.deepEqual(
      sim.machines().map((x) => x.server_id),
      [m.server_id],
    );
  });

  it('stop is retried through server errors until it lands', async () => {
    const seeded = await sim.seedMachine();
    sim.addFault({ action: 'error', status: 502, retryAfter: '0', times: 5, route: 'stop' });
    const run = await cli(sim, ['stop', String(seeded.server_id), '--json']);
    assert.equal(json<WireMachine>(run).current_status, 'Deleting');
    assert.deepEqual(
      sim.requests().map((r) => r.status),
      [502, 502, 502, 502, 502, 200],
      'more attempts than a GET gets: a stop is retried until it lands',
    );
  });

  it('never prints the token, even when the server echoes it back', async () => {
    sim.addFault({ action: 'error', status: 400, message: `Authorization: Bearer ${token1} is malformed`, route: 'listMachines' });
    const run = await cli(sim, ['machines']);
    failsWith(run, 1, /Bearer \*\*\* is malformed/);
    assert.ok(!JSON.stringify(sim.requests()).includes(token1), 'nor does the simulator log it');
  });

  it('Ctrl-C during a stop being retried ends the process and says the machine may still bill', async () => {
    const id = (await sim.seedMachine()).server_id as string;
    sim.addFault({ action: 'error', status: 503, times: 'always', retryAfter: '0.05', route: 'stop' });
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    for (const [k, v] of Object.entries(cliEnv(sim))) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [cliPath, 'stop', id], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await eventually(() => sim.requests().filter((r) => r.route === 'stop').length >= 2, 'two refused DELETEs', 10_000);
    child.kill('SIGINT');
    assert.equal(await exited, 9, stderr);
    assert.match(
      stderr.trim().split('\n').at(-1)!,
      new RegExp(`^runcomfy: Stop machine ${id} was interrupted before RunComfy confirmed it \\(\\d+ attempts, last: HTTP 503 .*\\): the machine may still be running and billing\\. Run "runcomfy stop ${id}" again; "runcomfy status ${id}" shows whether it still runs\\.$`),
    );
    assert.equal(sim.machines()[0]?.current_status, 'Ready', 'the machine was not stopped, as the message says');
  });
});
