import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { OutputSaver, type RunRecord } from '../../src/core/outputSaver';
import { type RunEvent } from '../../src/core/runEvents';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';
import { listFiles, recordedWorkflow, runEngine, tempDir } from './helpers/runHarness';
import { eventually } from './helpers/runcomfyTestKit';

async function* bytesOf(text: string): AsyncGenerator<Uint8Array> {
  await Promise.resolve();
  yield Buffer.from(text);
}

/** An image batch of `n` saved by one SaveImage: one `executed` message listing `n` files. */
function batchPrompt(n: number): ApiPrompt {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 32, height: 32, batch_size: n, color: 255 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'batch/frame' } },
  };
}

describe('outputs are downloaded while the run goes on, a few at a time', function () {
  this.timeout(30_000);
  let sim: ComfySimulator;
  let out: string;

  before(async () => (sim = await startComfySimulator()));
  after(async () => sim.close());
  beforeEach(async () => {
    await sim.reset();
    out = tempDir('runcomfy-downloads-');
  });
  afterEach(() => {
    sim.clearStall();
    fs.rmSync(out, { recursive: true, force: true });
  });

  /**
   * Runs workflow_a (nodes run 1, 2, 7, 3, 4, 5, 6) held inside node `at` (5 or 6), after nodes 3
   * and 4 announced their four files; `whileHeld` acts then, and the run is released when it
   * returns (or throws).
   */
  function heldRun(at: '5' | '6', whileHeld: (events: readonly RunEvent[], interrupt: () => Promise<void>) => Promise<void>) {
    sim.stall({ atNode: at, whileRunning: true });
    let acting: Promise<void> | undefined;
    const run = runEngine({ prompt: recordedWorkflow('workflow_a_api.json'), comfyUrl: sim.url, outputRoot: out, workflowName: 'workflow_a' }, (engine, e, events) => {
      if (e.type === 'executing' && e.node.id === at) acting = whileHeld(events, () => engine.interrupt()).finally(() => sim.clearStall());
    });
    return run.then(async (finished) => {
      await acting;
      return finished;
    });
  }

  it('saves the files of an executed node before the prompt ends', async () => {
    const { result, events } = await heldRun('6', async (events) => {
      await eventually(() => events.filter((e) => e.type === 'outputSaved').length === 4, 'the four announced files saved while node 6 runs', 10_000);
    });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const types = events.map((e) => e.type);
    assert.ok(types.lastIndexOf('outputSaved') < types.indexOf('succeeded'), `every file was saved before the prompt ended: ${types.join(', ')}`);
    assert.deepStrictEqual(
      result.outputs.map((o) => [o.node, o.type, o.subfolder, o.source]),
      [
        ['3', 'temp', '', 'history'],
        ['3', 'temp', '', 'history'],
        ['4', 'output', 'research', 'history'],
        ['4', 'output', 'research', 'history'],
      ],
      'in the order announced, and the history lists them all',
    );
    const views = sim.requests().filter((r) => r.path === '/view');
    assert.strictEqual(views.length, 4, 'each file downloaded once, although history listed them again');
  });

  it('keeps what was saved when the run is interrupted, and says so', async () => {
    // Held in node 5, the interrupt stops the prompt before node 6.
    const { result } = await heldRun('5', async (events, interrupt) => {
      await eventually(() => events.filter((e) => e.type === 'outputSaved').length === 4, 'the four announced files saved', 10_000);
      await interrupt();
    });
    assert.strictEqual(result.status, 'interrupted');
    assert.strictEqual(result.outputs.length, 4);
    for (const o of result.outputs) assert.ok(fs.existsSync(o.path), o.path);
    assert.ok(result.runDir);
    assert.ok(
      result.warnings.some((w) => w === `The run did not succeed; the 4 outputs saved before it ended are kept in ${result.runDir}.`),
      result.warnings.join('\n'),
    );
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir, 'run.json'), 'utf8')) as RunRecord;
    assert.strictEqual(record.status, 'interrupted');
    assert.strictEqual(record.outputs.length, 4);
  });

  it('saves each of many outputs exactly once, at most four at a time, named and listed in the order announced', async () => {
    const n = 16;
    const { result, events } = await runEngine({ prompt: batchPrompt(n), comfyUrl: sim.url, outputRoot: out, workflowName: 'batch' });
    assert.strictEqual(result.status, 'success', JSON.stringify(result.error));
    const expected = Array.from({ length: n }, (_, i) => `frame_${String(i + 1).padStart(5, '0')}_.png`);
    assert.deepStrictEqual(result.outputs.map((o) => o.filename), expected);
    assert.strictEqual(events.filter((e) => e.type === 'outputSaved').length, n);
    assert.deepStrictEqual(listFiles(result.runDir!), [...expected.map((f) => path.join('batch', f)), 'run.json'].sort());
    const record = JSON.parse(fs.readFileSync(path.join(result.runDir!, 'run.json'), 'utf8')) as RunRecord;
    assert.deepStrictEqual(record.outputs.map((o) => o.path), expected.map((f) => `batch/${f}`));
    const views = sim.requests().filter((r) => r.path === '/view');
    assert.strictEqual(views.length, n);
    // However fast each answer came, no more than four were ever being served at once.
    const overlap = Math.max(...views.map((v) => views.filter((w) => w.time <= v.time && w.time + w.durationMs > v.time).length));
    assert.ok(overlap <= 4, `${overlap} downloads at once`);
  });
});

describe('OutputSaver slots', () => {
  let root: string;
  beforeEach(() => (root = tempDir('runcomfy-slots-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('names and lists files by the order of reservation, whichever is saved first', async () => {
    const saver = await OutputSaver.create({ root, workflowName: 'w', promptId: 'p', time: 0 });
    const first = saver.reserve({ filename: 'same.png', nodeId: '1' });
    const second = saver.reserve({ filename: 'same.png', nodeId: '2' });
    const b = await saver.saveStream({ filename: 'same.png', nodeId: '2' }, bytesOf('second'), undefined, second);
    const a = await saver.saveStream({ filename: 'same.png', nodeId: '1' }, bytesOf('first'), undefined, first);
    assert.deepStrictEqual([a.relativePath, b.relativePath], ['same.png', 'same (1).png']);
    assert.strictEqual(fs.readFileSync(a.path, 'utf8'), 'first');
    assert.deepStrictEqual(saver.saved.map((s) => s.relativePath), ['same.png', 'same (1).png']);
    const record = JSON.parse(fs.readFileSync(await saver.writeRunRecord({ promptId: 'p', serverUrl: 'http://127.0.0.1:1', prompt: {}, status: 'success' }), 'utf8')) as RunRecord;
    assert.deepStrictEqual(record.outputs.map((o) => [o.node, o.path]), [['1', 'same.png'], ['2', 'same (1).png']]);
  });
});
