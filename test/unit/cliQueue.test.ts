import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { HOSTILE_ENTRIES } from '../../src/simulator/comfy/promptExecutor';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { isInside, listFiles, spawnCli, tempDir } from './helpers/runHarness';
import { PRIVATE_KEY, writeFile } from './helpers/mediaSamples';
import { readRecording, recordingsDir } from './helpers/runRecordings';
import { cliEnv, cliPath, eventually, startTestSimulator, token1 } from './helpers/runcomfyTestKit';

interface QueueJson {
  prompt_id: string | null;
  status: 'success' | 'error' | 'interrupted';
  outputs: { node: string; filename: string; subfolder: string; type: string; path: string }[];
  warnings: string[];
  error: { type: string; message: string; details: string; node_errors: unknown } | null;
}

/** Exactly one JSON object on stdout, nothing else. */
function onlyJson(stdout: string): QueueJson {
  const parsed = JSON.parse(stdout) as QueueJson;
  assert.strictEqual(typeof parsed, 'object');
  return parsed;
}

const slowBlurs: ApiPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 9 } },
  '20': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1 } },
  '21': { class_type: 'ImageBlur', inputs: { image: ['20', 0], blur_radius: 3, sigma: 1 } },
  '22': { class_type: 'ImageBlur', inputs: { image: ['21', 0], blur_radius: 3, sigma: 1 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['22', 0], filename_prefix: 'slow/cli' } },
};

describe('runcomfy queue (node dist/cli.js against the ComfyUI simulator)', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let work: string;

  const write = (name: string, prompt: unknown): string => {
    const file = path.join(work, name);
    fs.writeFileSync(file, typeof prompt === 'string' ? prompt : JSON.stringify(prompt, null, 2));
    return file;
  };
  const queue = (args: readonly string[], env: Record<string, string | undefined> = {}) => spawnCli(cliPath, ['queue', ...args], { cwd: work, env });

  before(async function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
    sim = await startComfySimulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
    work = tempDir('runcomfy-cli-');
  });
  afterEach(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('runs a recorded workflow end to end: progress on stderr, saved paths on stdout', async () => {
    const wf = write('workflow_a_api.json', readRecording('workflow_a_api.json'));
    const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url]).done;
    assert.strictEqual(code, 0, stderr);
    const paths = stdout.trim().split('\n');
    assert.strictEqual(paths.length, 4);
    for (const p of paths) {
      assert.ok(path.isAbsolute(p) && fs.existsSync(p), p);
      assert.ok(isInside(path.join(work, 'runcomfy-outputs', 'workflow_a_api'), p), p);
    }
    assert.match(stderr, /^ *\+\d+\.\ds {2}Queued as prompt [0-9a-f-]+$/m);
    assert.match(stderr, /▸ Node 7 SaveImageWebsocket$/m);
    assert.match(stderr, /step 0\/2/);
    assert.match(stderr, /node 5 GetImageSize says: width: 128, height: 96\n +batch size: 2/);
    assert.match(stderr, /✔ Succeeded in .*: 4 outputs in /);
  });

  it('prints exactly one JSON object with --json: server names, absolute paths, no error', async () => {
    const dir = path.join(work, 'invert-photo');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), path.join(dir, 'photo.png'));
    const wf = path.join(dir, 'workflow_api.json');
    fs.writeFileSync(
      wf,
      JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'invert/inverted' } },
      }),
    );
    const out = path.join(work, 'elsewhere');
    const { code, stdout, stderr } = await queue(['--json', wf, '--comfy-url', sim.url, '--out', out]).done;
    assert.strictEqual(code, 0, stderr);
    const json = onlyJson(stdout);
    assert.deepStrictEqual(Object.keys(json), ['prompt_id', 'status', 'outputs', 'warnings', 'error']);
    assert.strictEqual(json.status, 'success');
    assert.strictEqual(json.error, null);
    assert.deepStrictEqual(json.warnings, []);
    assert.strictEqual(json.outputs.length, 1);
    const [o] = json.outputs;
    assert.deepStrictEqual([o.node, o.filename, o.subfolder, o.type], ['3', 'inverted_00001_.png', 'invert', 'output']);
    assert.ok(isInside(path.join(out, 'invert-photo'), o.path), o.path);
    assert.ok(fs.existsSync(path.join(path.dirname(path.dirname(o.path)), 'run.json')));
    assert.match(stderr, /Uploaded .*photo\.png as "photo-[0-9a-f]{12}\.png"/);
  });

  it('applies --set values as JSON when they parse, as text otherwise', async () => {
    const wf = write('wf.json', readRecording('workflow_a_api.json'));
    const args = ['--set', '1.width=32', '--set', '4.filename_prefix=cli/set test', '--set', '1.note_list=[1, "two"]', '--set', '1.note_quoted="true"', '--set', '1.note_flag=true'];
    const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url, '--json', ...args]).done;
    assert.strictEqual(code, 0, stderr);
    const json = onlyJson(stdout);
    const entry = await new ComfyClient({ baseUrl: sim.url }).getHistoryEntry(json.prompt_id!);
    // Declared inputs come back converted by the server's validation; undeclared ones come back exactly as sent.
    const sent = entry!.prompt[2];
    assert.strictEqual(sent['1'].inputs.width, 32);
    assert.deepStrictEqual(sent['1'].inputs.note_list, [1, 'two']);
    assert.strictEqual(sent['1'].inputs.note_quoted, 'true');
    assert.strictEqual(sent['1'].inputs.note_flag, true);
    assert.strictEqual(sent['4'].inputs.filename_prefix, 'cli/set test');
    assert.ok(json.outputs.some((o) => o.subfolder === 'cli' && o.filename.startsWith('set test_')));
  });

  it('exits 7 on a prompt the server rejects (--force), saying every node error in words; --json keeps ComfyUI\'s own fields', async () => {
    const recorded = readRecording<Record<string, { request: { prompt: ApiPrompt } }>>('invalid_prompts.json');
    const wf = write('bad.json', recorded.missing_required_input.request.prompt);
    const human = await queue([wf, '--comfy-url', sim.url, '--force']).done;
    assert.strictEqual(human.code, 7, human.stderr);
    assert.strictEqual(human.stdout, '');
    assert.match(human.stderr, /^runcomfy: ComfyUI rejected the workflow \(3 problems\): node 1 \(EmptyImage\): required input height is missing; /m);
    for (const input of ['height', 'color', 'batch_size']) assert.match(human.stderr, new RegExp(`node 1 \\(EmptyImage\\): required input ${input} is missing`));
    assert.doesNotMatch(human.stderr, /\[(required_input_missing|prompt_outputs_failed_validation)\]/);
    const wf2 = write('bad2.json', { '2': { class_type: 'SaveImage', inputs: { images: ['1', 0, 1], filename_prefix: 'x' } }, '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } } });
    const withDetails = await queue([wf2, '--comfy-url', sim.url, '--json', '--force']).done;
    assert.strictEqual(withDetails.code, 7, withDetails.stderr);
    const json = onlyJson(withDetails.stdout);
    assert.strictEqual(json.status, 'error');
    assert.strictEqual(json.prompt_id, null);
    assert.ok(json.error);
    assert.strictEqual(json.error.type, 'prompt_outputs_failed_validation');
    assert.match(json.error.details, /Bad linked input/);
    assert.ok(json.error.node_errors);
    assert.match(withDetails.stderr, /runcomfy: ComfyUI rejected the workflow: node 2 \(SaveImage\): images is a list, but a link must be \["<node id>", <output index>\]\.$/m);
  });

  it('refuses, with exit 7 and nothing uploaded or queued, a workflow the server\'s node list shows problems in; --force queues it', async () => {
    const dir = path.join(work, 'flow');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), path.join(dir, 'photo.png'));
    const wf = path.join(dir, 'workflow_api.json');
    fs.writeFileSync(
      wf,
      JSON.stringify(
        {
          '1': { class_type: 'LoadImage', inputs: { image: 'photo.png' } },
          '32': { class_type: 'HeldoutNoSuchNode', inputs: { image: ['1', 0] }, _meta: { title: 'Load Model' } },
          '33': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'magic', width: 8, height: 8, crop: 'disabled' } },
          '9': { class_type: 'SaveImage', inputs: { images: ['32', 0], filename_prefix: 'x' } },
        },
        null,
        2,
      ),
    );
    sim.clearRequests();
    const refused = await queue([wf, '--comfy-url', sim.url]).done;
    assert.strictEqual(refused.code, 7, refused.stderr);
    assert.strictEqual(refused.stdout, '');
    assert.match(refused.stderr, /^runcomfy: Node 32 “Load Model” \(HeldoutNoSuchNode\) is not installed on this server \(and 1 more problem\)\. Use --force to queue anyway\.$/m);
    assert.match(refused.stderr, /flow[/\\]workflow_api\.json:\d+:\d+: Node 33 \(ImageScale\), input "upscale_method": "magic" is not one of the allowed values\./);
    const sent = () => sim.requests().filter((r) => r.method === 'POST').map((r) => r.path);
    assert.deepStrictEqual(sent(), [], 'no /upload/image, no /prompt');

    const json = onlyJson((await queue([wf, '--comfy-url', sim.url, '--json']).done).stdout);
    assert.strictEqual(json.error?.type, 'node_list_check');
    assert.deepStrictEqual(sent(), []);

    const forced = await queue([wf, '--comfy-url', sim.url, '--force']).done;
    assert.strictEqual(forced.code, 7, forced.stderr);
    assert.deepStrictEqual(sent(), ['/upload/image', '/prompt'], 'uploaded and queued');
    assert.match(forced.stderr, /^runcomfy: ComfyUI rejected the workflow: node 32 “Load Model” \(HeldoutNoSuchNode\) is not installed on this server\.$/m);
  });

  it('exits 7 without contacting the server when local analysis refuses the workflow', async () => {
    sim.clearRequests();
    const wf = write('broken.json', '{"1": {"class_type": "SaveImage", "inputs": {"images": ["99", 0]}},}');
    const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url, '--json']).done;
    assert.strictEqual(code, 7, stderr);
    const json = onlyJson(stdout);
    assert.strictEqual(json.error?.type, 'local_analysis');
    assert.match(stderr, /broken\.json:1:\d+: /);
    assert.deepStrictEqual(sim.requests(), []);
  });

  describe('local inputs', () => {
    let elsewhere: string;
    beforeEach(() => {
      elsewhere = fs.realpathSync(tempDir('runcomfy-elsewhere-'));
    });
    afterEach(() => {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    });

    const loadImage = (...images: string[]) => ({
      ...Object.fromEntries(images.map((image, i) => [String(i + 1), { class_type: 'LoadImage', inputs: { image } }])),
      '9': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    });

    it('refuses to upload a private file, by ".." or through a symbolic link, with exit 7: nothing reaches the server', async function () {
      const key = writeFile(path.join(elsewhere, 'home', '.ssh', 'id_ed25519'), PRIVATE_KEY);
      const flow = path.join(work, 'project', 'flow');
      fs.mkdirSync(path.join(flow, 'inputs'), { recursive: true });
      try {
        fs.symlinkSync(key, path.join(flow, 'inputs', 'photo.png'));
      } catch {
        this.skip();
      }
      const dotdot = path.relative(flow, key);
      const wf = writeFile(path.join(flow, 'workflow_api.json'), JSON.stringify(loadImage(dotdot, 'inputs/photo.png'), null, 2));
      sim.clearRequests();
      const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url, '--json']).done;
      assert.strictEqual(code, 7, stderr);
      const json = onlyJson(stdout);
      assert.strictEqual(json.prompt_id, null);
      assert.strictEqual(json.error?.type, 'local_analysis');
      const rule = `is not uploaded: it is not inside the workflow's folder ${flow} or the current directory ${fs.realpathSync(work)}`;
      assert.ok(stderr.includes(`Node 1 (LoadImage), input "image": ${JSON.stringify(dotdot)} ${rule} (it leads to ${key}). Move the file there, or allow its folder with --allow-inputs-from <dir>.`), stderr);
      assert.ok(stderr.includes(`Node 2 (LoadImage), input "image": "inputs/photo.png" ${rule} (it leads to ${key}).`), stderr);
      assert.ok(!stderr.includes('BEGIN'), 'the key is not quoted');
      assert.deepStrictEqual(sim.requests(), [], 'no /upload/image, no /prompt: nothing at all');
    });

    it('--allow-inputs-from allows media from another folder (repeatable), never other files, and must name a folder', async () => {
      const shared = path.join(elsewhere, 'shared');
      const photo = path.join(shared, 'photo.png');
      fs.mkdirSync(shared, { recursive: true });
      fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), photo);
      const wf = write('workflow_api.json', loadImage(photo));

      sim.clearRequests();
      const refused = await queue([wf, '--comfy-url', sim.url]).done;
      assert.strictEqual(refused.code, 7, refused.stderr);
      assert.match(refused.stderr, /"[^"]*photo\.png" is not uploaded: it is not inside the workflow's folder .*--allow-inputs-from <dir>\./);
      assert.deepStrictEqual(sim.requests(), []);

      const allowed = await queue([wf, '--comfy-url', sim.url, '--allow-inputs-from', path.join(elsewhere, 'none-such'), '--json']).done;
      assert.strictEqual(allowed.code, 2, allowed.stderr);
      assert.match(allowed.stderr, /--allow-inputs-from .*none-such: no such folder/);

      const ok = await queue([wf, '--comfy-url', sim.url, '--allow-inputs-from', work, '--allow-inputs-from', shared, '--json']).done;
      assert.strictEqual(ok.code, 0, ok.stderr);
      assert.strictEqual(onlyJson(ok.stdout).status, 'success');
      assert.ok(sim.requests().some((r) => r.method === 'POST' && r.path === '/upload/image'));

      writeFile(path.join(shared, 'id_ed25519'), PRIVATE_KEY);
      writeFile(path.join(shared, 'key.png'), PRIVATE_KEY);
      sim.clearRequests();
      const notMedia = await queue([write('keys.json', loadImage(path.join(shared, 'id_ed25519'), path.join(shared, 'key.png'))), '--comfy-url', sim.url, '--allow-inputs-from', shared]).done;
      assert.strictEqual(notMedia.code, 7, notMedia.stderr);
      assert.match(notMedia.stderr, /id_ed25519" is not uploaded: it is not an image, video, audio or 3D file a ComfyUI loader takes \(its name has no extension\)/);
      assert.match(notMedia.stderr, /key\.png" is not uploaded: .*\(its name says PNG image, but its first bytes are plain text\)/);
      assert.deepStrictEqual(sim.requests(), []);
    });

    it('documents --allow-inputs-from in the help', async () => {
      const { code, stdout } = await queue(['--help']).done;
      assert.strictEqual(code, 0);
      assert.match(stdout, /\[--allow-inputs-from <dir>\]\.\.\./);
      assert.match(stdout, /--allow-inputs-from <dir> allows another folder/);
    });
  });

  it('exits 8 on an execution error', async () => {
    const wf = write('escape.json', {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: '../../escape' } },
    });
    const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url, '--json']).done;
    assert.strictEqual(code, 8, stderr);
    const json = onlyJson(stdout);
    assert.strictEqual(json.error?.type, 'Exception');
    assert.match(json.error.message, /node 2 \(SaveImage\)/);
    assert.match(stderr, /Node 2 SaveImage failed: Exception: \*\*\*\* ERROR: Saving image outside/);
  });

  it('interrupts our prompt on Ctrl-C and exits 9; a prompt queued behind it still runs', async () => {
    // Ours runs (held in node 20) until the CLI's interrupt arrived, so it cannot finish first.
    sim.stall({ atNode: '20', whileRunning: true });
    const wf = write('slow.json', slowBlurs);
    const run = queue([wf, '--comfy-url', sim.url, '--json']);
    await run.stderrIncludes('▸ Node 20 ImageBlur');
    const other = new ComfyClient({ baseUrl: sim.url });
    const theirs = await other.queuePrompt({ prompt: { ...slowBlurs, '9': { class_type: 'SaveImage', inputs: { images: ['22', 0], filename_prefix: 'theirs' } } }, clientId: 'other' });
    run.child.kill('SIGINT');
    await eventually(() => sim.requests().some((r) => r.method === 'POST' && r.path === '/interrupt'), 'the CLI sent its interrupt');
    sim.clearStall();
    const { code, stdout, stderr } = await run.done;
    assert.strictEqual(code, 9, stderr);
    const json = onlyJson(stdout);
    assert.strictEqual(json.status, 'interrupted');
    assert.strictEqual((await other.getHistoryEntry(json.prompt_id!))?.status?.status_str, 'error');
    await eventually(async () => (await other.getHistoryEntry(theirs.promptId)) !== undefined, 'their prompt finished', 20_000);
    assert.strictEqual((await other.getHistoryEntry(theirs.promptId))?.status?.status_str, 'success');
  });

  it('saves hostile names under safe names with warnings, exits 6 for files the server will not serve, and still lists what it saved', async () => {
    sim.configure({ hostile: true });
    const wf = write('wf.json', readRecording('workflow_a_api.json'));
    const out = path.join(work, 'out');
    const { code, stdout, stderr } = await queue([wf, '--comfy-url', sim.url, '--json', '--out', out]).done;
    assert.strictEqual(code, 6, stderr);
    const json = onlyJson(stdout);
    assert.strictEqual(json.error?.type, 'download_failed');
    const servable = HOSTILE_ENTRIES.filter((h) => h.servable);
    assert.ok(json.outputs.length >= servable.length, `${json.outputs.length} saved`);
    for (const o of json.outputs) assert.ok(isInside(out, o.path), o.path);
    for (const f of listFiles(out)) assert.ok(!f.startsWith('..'));
    assert.ok(json.warnings.some((w) => w.includes('was saved as')));
    // eslint-disable-next-line no-control-regex -- the hostile names carry BEL, ESC and a right-to-left override
    assert.doesNotMatch(stderr, /[\u0007\u001b\u202e]/, 'server text reaches the terminal escaped');
    assert.match(stderr, /bell\\u0007esc\\u001b\[31m\.png/);
    assert.ok(fs.readdirSync(work).every((f) => ['wf.json', 'out'].includes(f)), fs.readdirSync(work).join(', '));
  });

  it('prints no node text of prompts that are not ours', async () => {
    // Theirs runs (held in its blur) until ours is queued behind it, so the CLI listens while their text is sent.
    sim.stall({ atNode: '2', whileRunning: true });
    const other = new ComfyClient({ baseUrl: sim.url });
    await other.queuePrompt({
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 1 } },
        '5': { class_type: 'GetImageSize', inputs: { image: ['2', 0] } },
        '6': { class_type: 'PreviewAny', inputs: { source: ['5', 0] } },
      },
      clientId: 'someone-else',
    });
    const wf = write('mine.json', {
      '5': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '9': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'mine' } },
    });
    const run = queue([wf, '--comfy-url', sim.url]);
    await eventually(() => sim.state().pending.length === 1, 'ours is queued behind theirs');
    sim.clearStall();
    const { code, stderr } = await run.done;
    assert.strictEqual(code, 0, stderr);
    assert.doesNotMatch(stderr, /says:/);
  });

  it('refuses bad arguments with exit 2 and says what to do', async () => {
    const wf = write('wf.json', readRecording('workflow_a_api.json'));
    const neither = await queue([wf]).done;
    assert.strictEqual(neither.code, 2);
    assert.match(neither.stderr, /Give exactly one of --machine <server_id> .* or --comfy-url <url>/);
    const both = await queue([wf, '--comfy-url', sim.url, '--machine', 'x']).done;
    assert.strictEqual(both.code, 2);
    const missing = await queue(['nope.json', '--comfy-url', sim.url]).done;
    assert.strictEqual(missing.code, 2);
    assert.match(missing.stderr, /Cannot read the workflow nope\.json: the file does not exist\./);
    const badSet = await queue([wf, '--comfy-url', sim.url, '--set', 'width=3']).done;
    assert.strictEqual(badSet.code, 2);
    assert.match(badSet.stderr, /--set expects <node>\.<input>=<value>/);
    const badUrl = await queue([wf, '--comfy-url', 'ftp://host']).done;
    assert.strictEqual(badUrl.code, 2);
    assert.match(badUrl.stderr, /--comfy-url uses ftp:/);
  });

  it('warns once about plain http to a host that is not loopback', async function () {
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i?.family === 'IPv4' && !i.internal)?.address;
    if (!address) this.skip();
    const wf = write('wf.json', readRecording('workflow_a_api.json'));
    const { code, stderr } = await queue([wf, '--comfy-url', `http://${address}:1`]).done;
    assert.strictEqual(code, 6, stderr);
    assert.strictEqual(stderr.match(/is plain http/g)?.length, 1);
  });

  describe('--machine', () => {
    let runcomfy: RunComfySimulator;
    before(async () => {
      runcomfy = await startTestSimulator({ createComfyBackend: () => Promise.resolve({ url: sim.url, close: () => Promise.resolve() }) });
    });
    after(async () => {
      await runcomfy.close();
    });

    it('resolves a Ready machine to its ComfyUI and runs there, never printing the token or the URL unmasked', async () => {
      const machine = (await runcomfy.seedMachine({ current_status: 'Ready', server_type: '2x-large' })) as { server_id: string };
      const wf = write('wf.json', readRecording('workflow_a_api.json'));
      const { code, stdout, stderr } = await queue([wf, '--machine', machine.server_id], cliEnv(runcomfy)).done;
      assert.strictEqual(code, 0, stderr);
      assert.strictEqual(stdout.trim().split('\n').length, 4);
      // run.json names the machine's type: a sweep's estimate prefers earlier runs on the same type.
      const record = JSON.parse(fs.readFileSync(path.join(path.dirname(stdout.trim().split('\n')[0]), 'run.json'), 'utf8')) as { machineType?: string };
      assert.strictEqual(record.machineType, '2x-large');
      assert.match(stderr, new RegExp(`on machine ${machine.server_id}`));
      assert.ok(!stdout.includes(token1) && !stderr.includes(token1));
    });

    it('refuses a machine that is not Ready', async () => {
      runcomfy.configure({ bootMs: 60_000 });
      const machine = (await runcomfy.seedMachine({ current_status: 'Starting' })) as { server_id: string };
      const wf = write('wf.json', readRecording('workflow_a_api.json'));
      const { code, stderr } = await queue([wf, '--machine', machine.server_id], cliEnv(runcomfy)).done;
      assert.strictEqual(code, 1, stderr);
      assert.match(stderr, /is Starting, not Ready/);
    });

    it('exits 4 for an unknown machine', async () => {
      const wf = write('wf.json', readRecording('workflow_a_api.json'));
      const { code, stdout } = await queue([wf, '--machine', 'no-such-machine', '--json'], cliEnv(runcomfy)).done;
      assert.strictEqual(code, 4);
      assert.strictEqual(onlyJson(stdout).status, 'error');
    });
  });
});
