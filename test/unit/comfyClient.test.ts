import * as assert from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ComfyClient, WorkflowRejectedError, contentDerivedName, hasScopedInterrupt, parseComfyUrl } from '../../src/api/comfyClient';
import { ApiError, AuthError, ConfigError, InvalidRequestError, NetworkError, ServerError } from '../../src/api/errors';
import { createMultipartBody } from '../../src/api/multipart';
import { readRecording, recordingsDir } from './helpers/runRecordings';
import { startReplayServer, type ReceivedRequest, type ReplayAnswer, type ReplayServer } from './helpers/runReplayServer';

interface RecordedExchange {
  request: unknown;
  status: number;
  body: unknown;
}

const prompt = { '1': { class_type: 'EmptyImage', inputs: {} } };
const fastRetry = { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 };

describe('ComfyClient (HTTP against a replaying server)', () => {
  let server: ReplayServer | undefined;
  let tmp: string;
  let handler: (req: ReceivedRequest) => ReplayAnswer = () => ({ status: 404 });

  before(async () => {
    server = await startReplayServer((req) => handler(req));
  });
  after(async () => {
    await server?.close();
  });
  beforeEach(() => {
    server!.requests.length = 0;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-client-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const client = () => new ComfyClient({ baseUrl: server!.url, retry: fastRetry, timeoutMs: 5000 });

  it('turns every recorded 400 into a WorkflowRejectedError with type, message, details and each node error', async () => {
    const recorded = readRecording<Record<string, RecordedExchange>>('invalid_prompts.json');
    const cases = Object.entries(recorded).filter(([, r]) => r.status === 400);
    assert.ok(cases.length >= 10);
    for (const [name, r] of cases) {
      handler = () => ({ status: r.status, body: r.body });
      const err = await client()
        .queuePrompt({ prompt, clientId: 'c1' })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WorkflowRejectedError, `${name}: ${String(err)}`);
      const body = r.body as { error: { type: string; message: string; details: string }; node_errors: Record<string, { class_type: string; errors: { message: string; details: string }[] }> };
      assert.strictEqual(err.kind, 'workflowRejected');
      assert.strictEqual(err.errorType, body.error.type, name);
      assert.strictEqual(err.errorMessage, body.error.message, name);
      assert.strictEqual(err.details, body.error.details, name);
      assert.deepStrictEqual(err.rawNodeErrors, body.node_errors, name);
      assert.ok(err.message.includes(body.error.message), name);
      if (body.error.details) assert.ok(err.message.includes(body.error.details), `${name}: details missing from the message`);
      const expected = Object.entries(body.node_errors).flatMap(([id, n]) => n.errors.map((e) => ({ id, classType: n.class_type, ...e })));
      assert.strictEqual(err.nodeErrors.flatMap((n) => n.errors).length, expected.length, name);
      for (const e of expected) {
        assert.ok(err.message.includes(`node ${e.id} (${e.classType}): ${e.message}`), `${name}: ${e.message} missing`);
        if (e.details) assert.ok(err.message.includes(e.details), `${name}: ${e.details} missing`);
      }
    }
  });

  it('accepts node_errors as a list (servers before 2025-04)', async () => {
    const old = readRecording<Record<string, [number, unknown]>>('old-2024-12/summary_old.json').unknown_class;
    handler = () => ({ status: old[0], body: old[1] });
    const err = await client()
      .queuePrompt({ prompt, clientId: 'c1' })
      .catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowRejectedError);
    assert.strictEqual(err.errorType, 'invalid_prompt');
    assert.deepStrictEqual(err.rawNodeErrors, []);
    assert.match(err.message, /Cannot execute because node Nope does not exist\. \(Node ID '#1'\)/);
  });

  it('sends client_id with every prompt and turns a 200 with node_errors into warnings', async () => {
    const r = readRecording<Record<string, RecordedExchange>>('invalid_prompts.json').one_good_one_bad_output;
    handler = () => ({ status: 200, body: r.body });
    const queued = await client().queuePrompt({ prompt, clientId: 'client-7', promptId: 'mine-1' });
    const sent = JSON.parse(server!.requests[0].body.toString()) as Record<string, unknown>;
    assert.strictEqual(sent.client_id, 'client-7');
    assert.strictEqual(sent.prompt_id, 'mine-1');
    assert.deepStrictEqual(sent.prompt, prompt);
    assert.strictEqual(queued.promptId, '646e80f2-5069-4cdb-bae4-44c52835b804');
    assert.strictEqual(queued.number, 18);
    assert.strictEqual(queued.warnings.length, 1);
    assert.match(queued.warnings[0], /Output node 3 \(SaveImage\) was dropped: Required input is missing: filename_prefix/);
  });

  it('shows the text of a 500 and of a 413', async () => {
    const recorded = readRecording<Record<string, RecordedExchange>>('invalid_prompts.json').invalid_json_body;
    handler = () => ({ status: 500, body: recorded.body });
    const e500 = await client()
      .queuePrompt({ prompt, clientId: 'c' })
      .catch((e: unknown) => e);
    assert.ok(e500 instanceof ServerError);
    assert.match(e500.message, /HTTP 500 500 Internal Server Error Server got itself in trouble/);
    const limits = readRecording<Record<string, { status: number; body: string }>>('limits_and_cors.json')['post_prompt_1.5MB_json'];
    handler = () => ({ status: limits.status, body: limits.body });
    const e413 = await client()
      .queuePrompt({ prompt, clientId: 'c' })
      .catch((e: unknown) => e);
    assert.ok(e413 instanceof WorkflowRejectedError);
    assert.match(e413.message, /Maximum request body size 1048576 exceeded, actual body size 1176576/);
  });

  it('never retries POST /prompt, and retries an idempotent GET through boot-time 502s', async () => {
    let calls = 0;
    handler = (req) => {
      calls++;
      if (req.path === '/prompt') return { status: 502, body: 'Bad Gateway' };
      return calls < 3 ? { status: 502, body: 'Bad Gateway' } : { status: 200, body: { queue_running: [], queue_pending: [] } };
    };
    await assert.rejects(client().queuePrompt({ prompt, clientId: 'c' }), ServerError);
    assert.strictEqual(calls, 1);
    calls = 0;
    assert.deepStrictEqual(await client().getQueue(), { running: [], pending: [] });
    assert.strictEqual(calls, 3);
    server!.requests.length = 0;
    handler = () => ({ status: 403, body: '' });
    await assert.rejects(client().getQueue(), AuthError);
    assert.strictEqual(server!.requests.length, 1 + fastRetry.maxRetries);
  });

  it('sorts the pending heap and reads each item’s client id (recorded /queue)', async () => {
    const recorded = readRecording<unknown>('queue_while_running.json');
    handler = () => ({ status: 200, body: recorded });
    const q = await client().getQueue();
    assert.deepStrictEqual(q.running.map((i) => i.number), [21]);
    assert.deepStrictEqual(q.pending.map((i) => i.number), [-24, 0.5, 22, 23]);
    assert.strictEqual(q.pending[1].promptId, 'my-own-id-0001');
    assert.strictEqual(q.running[0].clientId, 'a0829add-43e6-4887-ac10-0c9bcc81c0d9');
  });

  it('reads a history entry, and {} as "no entry yet"', async () => {
    const recorded = readRecording<{ body: Record<string, unknown> }>('history_interrupted.json').body;
    const id = Object.keys(recorded)[0];
    handler = (req) => ({ status: 200, body: req.path === `/history/${id}` ? recorded : {} });
    const entry = await client().getHistoryEntry(id);
    assert.strictEqual(entry?.status?.status_str, 'error');
    assert.strictEqual(await client().getHistoryEntry('unknown-id'), undefined);
  });

  it('takes only known versions for servers whose /interrupt honours prompt_id; unknown counts as old', () => {
    for (const v of ['0.3.64', '0.3.65', '0.4.0', '1.0.0', 'v0.3.70']) assert.strictEqual(hasScopedInterrupt(v), true, v);
    for (const v of ['0.3.63', '0.3.10', '0.2.99', 'unknown', '', undefined, 'nightly']) assert.strictEqual(hasScopedInterrupt(v), false, String(v));
  });

  it('fetches /object_info once per client, and again on refresh', async () => {
    handler = () => ({ status: 200, body: readRecording('object_info_SaveImage.json') });
    const c = client();
    const a = await c.getObjectInfo();
    const b = await c.getObjectInfo();
    assert.strictEqual(a, b);
    assert.strictEqual(server!.requests.filter((r) => r.path === '/object_info').length, 1);
    await c.getObjectInfo({ refresh: true });
    assert.strictEqual(server!.requests.filter((r) => r.path === '/object_info').length, 2);
  });

  it('uploads a file as streamed multipart under a content-derived name and uses the name the server returns', async () => {
    const file = path.join(tmp, 'my photo (final).png');
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), file);
    const hash = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    let form: FormData | undefined;
    handler = (req) => {
      form = undefined;
      void new Response(req.body, { headers: { 'content-type': String(req.headers['content-type']) } }).formData().then((f) => (form = f));
      return { status: 200, body: { name: `my_photo_final_-${hash.slice(0, 12)} (1).png`, subfolder: 'runs', type: 'input' } };
    };
    const uploaded = await client().uploadFile(file, { subfolder: 'runs' });
    const req = server!.requests[0];
    assert.strictEqual(req.path, '/upload/image');
    assert.strictEqual(Number(req.headers['content-length']), req.body.length);
    assert.strictEqual(req.headers['transfer-encoding'], undefined);
    await new Promise((r) => setImmediate(r));
    assert.ok(form);
    assert.strictEqual(form.get('type'), 'input');
    assert.strictEqual(form.get('subfolder'), 'runs');
    assert.strictEqual(form.get('overwrite'), null);
    const part = form.get('image') as File;
    assert.strictEqual(part.name, `my_photo_final_-${hash.slice(0, 12)}.png`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(fs.readFileSync(file)));
    assert.deepStrictEqual(uploaded, {
      name: `my_photo_final_-${hash.slice(0, 12)} (1).png`,
      subfolder: 'runs',
      type: 'input',
      reference: `runs/my_photo_final_-${hash.slice(0, 12)} (1).png`,
    });
  });

  it('says which local file is missing, and shows a 413 upload limit', async () => {
    await assert.rejects(client().uploadFile(path.join(tmp, 'nope.png')), (e: unknown) => e instanceof InvalidRequestError && e.message.includes('nope.png: the file does not exist'));
    const file = path.join(tmp, 'big.bin');
    fs.writeFileSync(file, Buffer.alloc(2048));
    const recorded = readRecording<Record<string, { status: number; body: string }>>('limits_and_cors.json').upload_2MB_with_max_upload_size_1;
    handler = () => ({ status: recorded.status, body: recorded.body });
    await assert.rejects(client().uploadFile(file), (e: unknown) => e instanceof InvalidRequestError && e.message.includes('HTTP 413): Maximum request body size 1048576 exceeded'));
  });

  it('streams /view into a sink with the entry’s own type and subfolder', async () => {
    const png = fs.readFileSync(path.join(recordingsDir, 'view_saveimage_output.png'));
    handler = (req) => (req.path === '/view' && req.query.get('type') === 'temp' ? { status: 200, body: png, headers: { 'content-type': 'image/png' } } : { status: 404 });
    const got = await client().download({ filename: 'ComfyUI_temp_x_00001_.png', subfolder: 'a/b', type: 'temp' }, async (body, info) => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      return { bytes: Buffer.concat(chunks), info };
    });
    assert.ok(got.bytes.equals(png));
    assert.strictEqual(got.info.contentLength, png.length);
    assert.strictEqual(server!.requests[0].query.get('subfolder'), 'a/b');
    assert.strictEqual(server!.requests[0].query.get('filename'), 'ComfyUI_temp_x_00001_.png');
    await assert.rejects(client().download({ filename: 'x.png', type: 'output' }, () => Promise.resolve(1)), (e: unknown) => e instanceof ApiError && e.kind === 'notFound');
  });

  it('masks a non-loopback server in messages and maps a refused connection', async () => {
    const c = new ComfyClient({ baseUrl: 'http://127.0.0.1:1', retry: { maxRetries: 0 } });
    await assert.rejects(c.getQueue(), (e: unknown) => e instanceof NetworkError && e.message.includes('connection refused'));
    assert.throws(() => parseComfyUrl('ftp://x'), ConfigError);
    assert.throws(() => parseComfyUrl('http://u:p@x'), ConfigError);
    assert.strictEqual(parseComfyUrl('https://abcdef-comfyui.runcomfy.com/').href, 'https://abcdef-comfyui.runcomfy.com/');
    const remote = new ComfyClient({ baseUrl: 'https://761af3a7-5ac3-comfyui.example.invalid', retry: { maxRetries: 0 }, timeoutMs: 2000 });
    const err = await remote.getQueue().then(
      () => assert.fail('resolved'),
      (e: unknown) => e as Error,
    );
    assert.ok(!err.message.includes('761af3a7-5ac3'), err.message);
  });
});

describe('upload names and the multipart body', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-mp-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('derives names from content: same bytes same name, safe characters only', () => {
    const h = 'ab'.repeat(32);
    assert.strictEqual(contentDerivedName('/x/cat.png', h), `cat-${h.slice(0, 12)}.png`);
    assert.strictEqual(contentDerivedName('/x/../"evil"\r\n.png', h), `evil_-${h.slice(0, 12)}.png`);
    assert.strictEqual(contentDerivedName('/x/.hidden', h), `hidden-${h.slice(0, 12)}`);
  });

  it('declares exactly the length it streams, and fails if the file changes size meanwhile', async () => {
    const file = path.join(tmp, 'a.bin');
    fs.writeFileSync(file, crypto.randomBytes(700_000));
    const body = await createMultipartBody([{ name: 'type', value: 'input' }], [{ name: 'image', filename: 'a "q".bin', path: file }]);
    const chunks: Buffer[] = [];
    for await (const c of body.stream()) chunks.push(c as Buffer);
    const all = Buffer.concat(chunks);
    assert.strictEqual(all.length, body.length);
    const form = await new Response(all, { headers: { 'content-type': body.contentType } }).formData();
    assert.strictEqual((form.get('image') as File).size, 700_000);
    assert.strictEqual((form.get('image') as File).name, 'a "q".bin');
    fs.appendFileSync(file, 'more');
    const again = body.stream();
    await assert.rejects(
      (async () => {
        for await (const _ of again) void _;
      })(),
      /changed size while it was being uploaded/,
    );
  });
});
