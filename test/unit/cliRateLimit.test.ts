import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accountBucketFile } from '../../src/api/fileTokenBucket';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { spawnCli, tempDir } from './helpers/runHarness';
import { readRecording } from './helpers/runRecordings';
import { cliEnv, cliPath, demoUserId, fluxV3, freshCacheDir, runCliProcess, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

/**
 * The account's rate limit as the CLI lives with it: processes of one user share one bucket (a file
 * in RUNCOMFY_CACHE_DIR), 429s are retried within a time budget (60 s, or the command's --timeout)
 * honouring Retry-After, and every retry is told on stderr. Outcomes and the simulator's request
 * log are asserted, never elapsed time.
 */
describe('runcomfy CLI under the account rate limit (node dist/cli.js against the simulator)', function () {
  this.timeout(90_000);
  let sim: RunComfySimulator | undefined;
  let comfy: ComfySimulator | undefined;

  before(function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
  });
  afterEach(async () => {
    await sim?.close();
    await comfy?.close();
    sim = comfy = undefined;
  });

  const statuses = (s: RunComfySimulator) => s.requests().map((r) => r.status);

  it('eight `runcomfy machines` started at once share one bucket: no 429, and each finishes', async () => {
    // §9's mock rule: one request per second per token, a burst of 3 to 5. The top of that range: the
    // clients pace their sends one a second, but a process starved of CPU sends its turn late, so turns
    // can reach the server bunched; a burst of 5 absorbs a few seconds of that, while eight unpaced
    // processes (each with a bucket of its own, as before the shared file) still overrun it.
    sim = await startTestSimulator({ rateLimit: { ratePerSecond: 1, burst: 5 } });
    await sim.seedMachine();
    const shared = freshCacheDir();
    const env = cliEnv(sim, { RUNCOMFY_CACHE_DIR: shared });
    const runs = await Promise.all(Array.from({ length: 8 }, () => runCliProcess(['machines', '--json'], env)));
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal((JSON.parse(run.stdout) as unknown[]).length, 1);
      assert.doesNotMatch(run.stderr, /rate limiting/, `nobody had to retry; this one said: ${run.stderr}; the server saw: ${JSON.stringify(sim.requests().map((r) => [r.seq, r.status]))}`);
    }
    assert.deepEqual(statuses(sim), new Array<number>(8).fill(200), JSON.stringify(sim.requests().map((r) => [r.seq, r.status])));

    const files = fs.readdirSync(shared);
    assert.deepEqual(
      files.filter((f) => !f.endsWith('.lock')),
      [files.find((f) => /^ratelimit-[0-9a-f]{32}\.json$/.test(f))],
      `one state file named by a hash, no temp files left: ${files.join(', ')}`,
    );
    assert.equal(path.join(shared, files[0]), accountBucketFile(shared, new URL(sim.url).origin, demoUserId), "the same file as the extension's account");
    const state = fs.readFileSync(path.join(shared, files[0]), 'utf8');
    for (const secret of [token1, demoUserId, sim.url, new URL(sim.url).host]) {
      assert.ok(!files[0].includes(secret) && !state.includes(secret), `the state names neither token, user nor origin: ${files[0]} ${state}`);
    }
  });

  it('`machines` gets through six 429s in a row, honouring Retry-After (seconds and HTTP date), and says so', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '1', times: 3, route: 'listMachines' });
    sim.addFault({ action: 'error', status: 429, retryAfter: new Date(Date.now() + 1000).toUTCString(), times: 3, route: 'listMachines' });
    const run = await runCliProcess(['machines', '--json'], cliEnv(sim));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), []);
    assert.deepEqual(statuses(sim), [429, 429, 429, 429, 429, 429, 200]);
    assert.equal(run.stderr.match(/^List machines: RunComfy is rate limiting; retrying in \d+ s…$/gm)?.length, 6, run.stderr);
  });

  it('gives up after the budget (a small --timeout) with a clear message and exit 5, not forever', async () => {
    sim = await startTestSimulator();
    sim.addFault({ action: 'rateLimit', retryAfter: '1', times: 'always' });
    const run = await runCliProcess(['launch', '--version', fluxV3, '--type', 'large', '--duration', '600', '--wait', '--timeout', '3'], cliEnv(sim));
    assert.equal(run.code, 5, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr.trim().split('\n').at(-1)!,
      /^runcomfy: List machines failed: HTTP 429 Rate limit exceeded: one request per second per account \(rate limited\)\. Gave up: (still rate limited after [\d.]+ s of retries|RunComfy asked to wait [\d.]+ s, more than the [\d.]+ s left of the 3\.0 s retry budget); wait a minute and try again\.$/,
    );
    const log = sim.requests();
    assert.ok(log.length >= 2, 'retried within the budget');
    assert.ok(
      log.every((r) => r.route === 'listMachines' && r.status === 429),
      'never got as far as the launch',
    );
    assert.equal(sim.machines().length, 0);
  });

  it('`queue --machine` builds its client like every command: its retries are told on stderr', async () => {
    comfy = await startComfySimulator();
    const comfyUrl = comfy.url;
    sim = await startTestSimulator({ createComfyBackend: () => Promise.resolve({ url: comfyUrl, close: () => Promise.resolve() }) });
    const machine = (await sim.seedMachine({ current_status: 'Ready' })) as { server_id: string };
    sim.addFault({ action: 'rateLimit', retryAfter: '1', times: 2, route: 'getMachine' });
    const work = tempDir('runcomfy-cli-');
    const wf = path.join(work, 'wf.json');
    fs.writeFileSync(wf, JSON.stringify(readRecording('workflow_a_api.json')));
    const { code, stderr } = await spawnCli(cliPath, ['queue', wf, '--machine', machine.server_id], { cwd: work, env: cliEnv(sim) }).done.finally(() =>
      fs.rmSync(work, { recursive: true, force: true }),
    );
    assert.equal(code, 0, stderr);
    const told = stderr.match(new RegExp(`^Get status of machine ${machine.server_id}: RunComfy is rate limiting; retrying in \\d+ s…$`, 'gm'));
    assert.equal(told?.length, 2, stderr);
    assert.deepEqual(statuses(sim), [429, 429, 200]);
  });
});
