import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Emitter } from '../../src/base/event';
import { type RunEvent, type RunResult } from '../../src/core/runEvents';
import { RunRegistry, isRunTarget, targetKey, type RunTarget } from '../../src/core/runRegistry';
import { prepareWorkflow, workflowDisplayName } from '../../src/core/workflowPreparation';
import { WorkflowCatalog } from '../../src/core/workflowCatalog';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { ManualClock, startTestSimulator, testClient } from './helpers/runcomfyTestKit';
import { mediaFile } from './helpers/mediaSamples';

const machine: RunTarget = { kind: 'machine', serverId: 's-1', label: 'large machine s' };
const result = (status: RunResult['status']): RunResult => ({ promptId: 'p', status, outputs: [], warnings: [], error: null, elapsedMs: 5 });

describe('RunRegistry', () => {
  it('follows a run from its events: queued, running with node and step, finished', async () => {
    const clock = new ManualClock();
    const runs = new RunRegistry(clock);
    const events = new Emitter<RunEvent>();
    let interrupted = 0;
    const r = runs.track({ workflowPath: '/w/a/workflow_api.json', workflowName: 'a', target: machine }, { onEvent: events.event, interrupt: () => Promise.resolve(void interrupted++), dispose: () => undefined });
    assert.equal(r.phase, 'preparing');
    events.fire({ type: 'queued', promptId: 'p-1', number: 3, position: 2 });
    assert.deepEqual([r.phase, r.promptId, r.queuePosition], ['queued', 'p-1', 2]);
    events.fire({ type: 'executing', node: { id: '4', classType: 'SaveImage' } });
    events.fire({ type: 'progress', node: { id: '4' }, value: 3, max: 20 });
    assert.deepEqual([r.phase, r.currentNode?.id, r.progress], ['running', '4', { value: 3, max: 20 }]);
    assert.deepEqual(runs.activeRuns, [r]);
    assert.equal(await runs.interrupt(r.id), true);
    assert.equal(interrupted, 1);
    await clock.advance(4000);
    events.fire({ type: 'finished', result: result('interrupted') });
    assert.equal(r.phase, 'interrupted');
    assert.equal(r.finishedAtMs! - r.startedAtMs, 4000);
    assert.deepEqual(runs.activeRuns, []);
    assert.equal(await runs.interrupt(r.id), false, 'a finished run cannot be interrupted');
    events.fire({ type: 'executing', node: { id: '9' } });
    assert.equal(r.currentNode, undefined, 'events after finished are ignored');
  });

  it('tells a run target from the other arguments commands receive (the explorer passes its selection)', () => {
    assert.equal(isRunTarget(machine), true);
    assert.equal(isRunTarget({ kind: 'local', name: 'n', url: 'http://127.0.0.1:8188' }), true);
    assert.equal(isRunTarget([{ scheme: 'file', path: '/w/workflow_api.json' }]), false);
    assert.equal(isRunTarget(undefined), false);
    assert.equal(isRunTarget({ kind: 'machine' }), false);
  });

  it('keeps the newest finished runs up to its limit, and every live one', () => {
    const runs = new RunRegistry(new ManualClock(), 2);
    const emitters = [0, 1, 2, 3].map(() => new Emitter<RunEvent>());
    const records = emitters.map((e, i) => runs.track({ workflowPath: `/w/${i}.api.json`, workflowName: String(i), target: machine }, { onEvent: e.event, interrupt: () => Promise.resolve(), dispose: () => undefined }));
    for (const i of [0, 1, 2]) emitters[i].fire({ type: 'finished', result: result('success') });
    assert.deepEqual(runs.runs.map((r) => r.workflowName), ['3', '2', '1']);
    assert.deepEqual(runs.forTarget(targetKey(machine)).map((r) => r.id), [records[3].id, records[2].id, records[1].id]);
  });
});

describe('WorkflowCatalog (against the RunComfy simulator)', () => {
  let sim: RunComfySimulator;
  beforeEach(async () => (sim = await startTestSimulator()));
  afterEach(() => sim.close());

  it('loads once for concurrent callers, groups versions, and finds a version by id', async () => {
    const catalog = new WorkflowCatalog(testClient(sim));
    let changes = 0;
    catalog.onDidChange(() => changes++);
    const [a, b] = await Promise.all([catalog.load(), catalog.ensureLoaded()]);
    assert.equal(a, b);
    assert.equal(sim.requests().filter((r) => r.route === 'listWorkflows').length, 1);
    assert.equal(changes, 1);
    const found = catalog.findVersion('a1b2c3d4-0002-4000-8000-000000000002');
    assert.equal(found?.workflow.name, 'Flux portrait');
    catalog.dispose();
  });

  it('keeps the error of a failed load for the view to show', async () => {
    sim.addFault({ action: 'error', route: 'listWorkflows', status: 401, message: 'Unauthorized', times: 'always' });
    const catalog = new WorkflowCatalog(testClient(sim));
    await assert.rejects(catalog.load());
    assert.equal(catalog.lastError?.kind, 'auth');
    assert.equal(catalog.workflows, undefined);
    catalog.dispose();
  });
});

describe('prepareWorkflow', () => {
  it('finds local inputs next to the file and locates problems as file:line:column', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prep-'));
    try {
      mediaFile(path.join(dir, 'in.png'), 'png');
      const file = path.join(dir, 'workflow_api.json');
      const ok = prepareWorkflow(JSON.stringify({ '1': { class_type: 'LoadImage', inputs: { image: 'in.png' } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } }), file, [], 'w/workflow_api.json');
      assert.deepEqual(ok.problems, []);
      assert.ok(ok.prompt);
      assert.deepEqual(ok.localInputs, [{ nodeId: '1', inputName: 'image', absPath: path.join(dir, 'in.png'), value: 'in.png' }]);
      const broken = prepareWorkflow('{\n  "1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}\n}', file, [], 'w/workflow_api.json');
      assert.equal(broken.prompt, undefined);
      assert.match(broken.problems[0], /^w\/workflow_api\.json:2:\d+: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names runs after the folder of a plain workflow_api.json, else after the file', () => {
    assert.equal(workflowDisplayName('/p/hello/workflow_api.json'), 'hello');
    assert.equal(workflowDisplayName('/p/portrait.api.json'), 'portrait');
    assert.equal(workflowDisplayName('/p/mine.json'), 'mine');
    assert.equal(workflowDisplayName('/p/invert-photo-ui/workflow.json'), 'invert-photo-ui');
  });
});
