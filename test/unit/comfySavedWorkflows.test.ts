import * as assert from 'node:assert';
import { ComfyClient, SavedWorkflowExistsError, savedWorkflowPathProblem } from '../../src/api/comfyClient';
import { InvalidRequestError, NotFoundError } from '../../src/api/errors';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';

/** The saved-workflow calls of ComfyClient against the ComfyUI simulator's `/userdata` (protocol reference §1.11), over real HTTP. */
describe('ComfyClient saved workflows (against the ComfyUI simulator)', () => {
  let sim: ComfySimulator;
  let client: ComfyClient;

  before(async () => {
    sim = await startComfySimulator();
    client = new ComfyClient({ baseUrl: sim.url, retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 10_000 });
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
  });

  const raw = (route: string, init?: RequestInit) => fetch(`${sim.url}${route}`, init);

  it('lists the seeded workflows with the query the web UI uses, subfolders included', async () => {
    const list = await client.listSavedWorkflows();
    assert.deepStrictEqual(
      list.workflows.map((w) => w.path),
      ['Blue square.json', 'exports/blue_square_api.json'],
    );
    assert.strictEqual(list.unsafeNames, 0);
    const first = list.workflows[0];
    assert.ok(first.size !== undefined && first.size > 0, 'size from full_info');
    assert.ok(first.modifiedMs !== undefined && Math.abs(first.modifiedMs - Date.now()) < 24 * 3600_000, `modified ${first.modifiedMs} is not a recent time in ms`);
    const listing = sim.requests().find((r) => r.path === '/userdata');
    assert.deepStrictEqual(listing?.query, { dir: 'workflows', recurse: 'true', split: 'false', full_info: 'true' });
  });

  it('reads one saved workflow exactly as stored, with the path as one %2F-encoded segment', async () => {
    const text = await client.readSavedWorkflow('Blue square.json');
    const json = JSON.parse(text) as { nodes: { type: string }[] };
    assert.deepStrictEqual(json.nodes.map((n) => n.type), ['EmptyImage', 'PreviewImage']);
    assert.ok(sim.requests().some((r) => r.method === 'GET' && r.path === '/userdata/workflows%2FBlue%20square.json' && r.status === 200));
    await assert.rejects(client.readSavedWorkflow('missing.json'), (e: unknown) => e instanceof NotFoundError && e.message.includes('no such saved workflow'));
  });

  it('saves a new workflow with overwrite=false, and it is then listed and readable', async () => {
    const body = JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } } });
    const saved = await client.saveWorkflow('mine/tiny.json', body, { overwrite: false });
    assert.strictEqual(saved, 'mine/tiny.json');
    const post = sim.requests().find((r) => r.method === 'POST');
    assert.strictEqual(post?.path, '/userdata/workflows%2Fmine%2Ftiny.json');
    assert.deepStrictEqual(post?.query, { overwrite: 'false' });
    assert.ok((await client.listSavedWorkflows()).workflows.some((w) => w.path === 'mine/tiny.json'));
    assert.strictEqual(await client.readSavedWorkflow('mine/tiny.json'), body);
  });

  it('answers an existing name with SavedWorkflowExistsError and replaces it only with overwrite=true', async () => {
    const err = await client.saveWorkflow('Blue square.json', '{"a":1}', { overwrite: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SavedWorkflowExistsError, `got ${String(err)}`);
    assert.strictEqual(err.path, 'Blue square.json');
    assert.strictEqual(err.status, 409);
    assert.notStrictEqual(await client.readSavedWorkflow('Blue square.json'), '{"a":1}', 'the conflict must not have written anything');
    await client.saveWorkflow('Blue square.json', '{"a":1}', { overwrite: true });
    assert.strictEqual(await client.readSavedWorkflow('Blue square.json'), '{"a":1}');
  });

  it('a server where nothing was saved yet lists no workflows, not an error', async () => {
    const fresh = await startComfySimulator({ noSavedWorkflows: true });
    try {
      const res = await fetch(`${fresh.url}/userdata?dir=workflows`);
      assert.strictEqual(res.status, 404);
      assert.strictEqual(await res.text(), 'Directory not found');
      const list = await new ComfyClient({ baseUrl: fresh.url }).listSavedWorkflows();
      assert.deepStrictEqual(list, { workflows: [], unsafeNames: 0 });
    } finally {
      await fresh.close();
    }
  });

  it('refuses unsafe names before sending anything', async () => {
    for (const bad of ['../../etc/passwd.json', '/etc/passwd', 'C:\\x.json', 'a\\..\\b.json', 'a//b.json', './a.json', 'x\u0007.json', 'evil\u202Egnp.json', '%2e%2e/x.json', '']) {
      assert.ok(savedWorkflowPathProblem(bad), `${JSON.stringify(bad)} passed the check`);
      sim.clearRequests();
      await assert.rejects(client.readSavedWorkflow(bad), (e: unknown) => e instanceof InvalidRequestError && e.message.includes('refused before sending'));
      await assert.rejects(client.saveWorkflow(bad, '{}', { overwrite: true }), InvalidRequestError);
      assert.deepStrictEqual(sim.requests(), [], `${JSON.stringify(bad)} reached the server`);
    }
    assert.strictEqual(savedWorkflowPathProblem('folder/My workflow (2).json'), undefined);
  });

  it('leaves out listed names it must not use, and counts them', async () => {
    for (const name of ['a\u001b[2Jb.json', 'ok.json']) {
      assert.strictEqual((await raw(`/userdata/${encodeURIComponent(`workflows/${name}`)}`, { method: 'POST', body: '{}' })).status, 200);
    }
    const list = await client.listSavedWorkflows();
    assert.ok(list.workflows.some((w) => w.path === 'ok.json'));
    assert.ok(!list.workflows.some((w) => w.path.includes('\u001b')));
    assert.strictEqual(list.unsafeNames, 1);
  });

  it('the simulator refuses paths that leave the user folder with an empty 403, as ComfyUI does', async () => {
    for (const route of ['/userdata/..%2F..%2Fetc%2Fpasswd', '/userdata/%2Fetc%2Fpasswd', '/userdata/..%252F..%252Fetc%252Fpasswd', '/api/userdata/..%2Fsecret.json']) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await raw(route, { method, body: method === 'POST' ? '{}' : undefined });
        assert.strictEqual(res.status, 403, `${method} ${route}`);
        assert.strictEqual(await res.text(), '');
      }
    }
    const list = await raw('/userdata?dir=..%2F..');
    assert.strictEqual(list.status, 403);
    assert.strictEqual(await list.text(), 'Invalid directory');
    assert.strictEqual((await raw('/userdata')).status, 400);
    // A file saved through a `..` that stays inside is fine, as on the real server.
    assert.strictEqual((await raw(`/userdata/${encodeURIComponent('workflows/../workflows/x.json')}`, { method: 'POST', body: '{}' })).status, 200);
  });

  it('the simulator answers the other §1.11 routes: full_info off, v2 listing, delete, move', async () => {
    const plain = (await (await raw('/userdata?dir=workflows&recurse=true&split=false')).json()) as unknown[];
    assert.deepStrictEqual(plain, ['Blue square.json', 'exports/blue_square_api.json']);
    const top = (await (await raw('/userdata?dir=workflows')).json()) as unknown[];
    assert.deepStrictEqual(top, ['Blue square.json']);
    const v2 = (await (await raw('/v2/userdata?path=workflows')).json()) as { name: string; path: string; type: string }[];
    assert.deepStrictEqual(
      v2.map((e) => [e.type, e.path]),
      [
        ['directory', 'workflows/exports'],
        ['file', 'workflows/Blue square.json'],
      ],
    );
    const got = await raw('/userdata/workflows%2FBlue%20square.json');
    assert.strictEqual(got.headers.get('content-type'), 'application/json');
    assert.ok(got.headers.get('etag'));
    const moved = await raw('/userdata/workflows%2FBlue%20square.json/move/workflows%2Fexports%2Fblue_square_api.json?overwrite=false', { method: 'POST' });
    assert.strictEqual(moved.status, 409);
    const renamed = await raw('/userdata/workflows%2FBlue%20square.json/move/workflows%2FRenamed.json', { method: 'POST' });
    assert.strictEqual(await renamed.json(), 'workflows/Renamed.json');
    assert.strictEqual((await raw('/userdata/workflows%2FRenamed.json', { method: 'DELETE' })).status, 204);
    assert.strictEqual((await raw('/userdata/workflows%2FRenamed.json')).status, 404);
  });
});
