import * as assert from 'node:assert';
import { LogBatcher } from '../../src/core/logBatcher';
import { type RunEvent } from '../../src/core/runEvents';
import { RunLogFormatter, describeNodeErrors, type LogLevel } from '../../src/core/runLogFormat';
import { ManualClock } from './helpers/runcomfyTestKit';

const header = { workflow: 'hello/workflow_api.json', target: 'large machine 761af3a7', server: 'https://761a….runcomfy.com' };
const save = { id: '4', classType: 'SaveImage', title: 'Save image' };

describe('run log', () => {
  describe('RunLogFormatter', () => {
    it('renders a run readably: header, prompt id, one line per node, throttled steps, outputs, timing', async () => {
      const clock = new ManualClock();
      const f = new RunLogFormatter(header, clock, 1000);
      const text = (e: RunEvent) => f.format(e).map((l) => l.text);
      assert.deepStrictEqual(f.start().map((l) => l.text), ['▶ Run hello/workflow_api.json on large machine 761af3a7 (https://761a….runcomfy.com)']);
      assert.deepStrictEqual(text({ type: 'queued', promptId: 'p-1', number: 3, position: 2 }), ['  Queued as prompt p-1, position 2 in line']);
      assert.deepStrictEqual(text({ type: 'cached', nodes: [{ id: '1', classType: 'EmptyImage' }] }), ['  Cached, not run again: node 1 EmptyImage']);
      assert.deepStrictEqual(text({ type: 'executing', node: save }), ['  ▸ Node 4 SaveImage "Save image"']);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 1, max: 20 }), ['    step 1/20 (5%)']);
      await clock.advance(200);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 2, max: 20 }), [], 'a step 200 ms later is throttled');
      await clock.advance(900);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 9, max: 20 }), ['    step 9/20 (45%)']);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 20, max: 20 }), ['    step 20/20 (100%)'], 'the last step always prints');
      assert.deepStrictEqual(text({ type: 'preview', node: save, mime: 'image/png', image: Buffer.alloc(4) }), []);
      const output = { node: '4', key: 'images', filename: 'a.png', subfolder: '', type: 'output', path: '/w/out/a.png', bytes: 10, source: 'history' as const };
      assert.deepStrictEqual(text({ type: 'outputSaved', output }), ['  ✔ Saved /w/out/a.png']);
      const result = { promptId: 'p-1', status: 'success' as const, outputs: [output], warnings: [], error: null, runDir: '/w/out', elapsedMs: 4200 };
      assert.deepStrictEqual(text({ type: 'finished', result }), ['✔ Succeeded in 4 s: 1 output in /w/out']);
    });

    it('logs a failure with node, class and message, and the traceback at debug level', () => {
      const f = new RunLogFormatter(header, new ManualClock());
      const lines = f.format({ type: 'failed', node: save, exceptionType: 'Exception', message: 'Saving image outside the output folder is not allowed.', traceback: ['  File "x.py", line 1\n', 'Exception\n'] });
      assert.deepStrictEqual(lines.map((l) => l.level), ['error', 'debug']);
      assert.strictEqual(lines[0]?.text, '  ✖ Node 4 SaveImage "Save image" failed: Exception: Saving image outside the output folder is not allowed.');
      assert.ok(lines[1]?.text.includes('File "x.py", line 1'));
    });

    it('lists every node error of a rejected prompt', () => {
      const nodeErrors = { '7': { class_type: 'EmptyImage', dependent_outputs: ['9'], errors: [{ type: 'value_smaller_than_min', message: 'Value 0 smaller than min of 1', details: 'width' }] } };
      assert.deepStrictEqual(describeNodeErrors(nodeErrors), ['node 7 (EmptyImage): Value 0 smaller than min of 1 [width]']);
      assert.deepStrictEqual(describeNodeErrors([]), [], 'old servers send a list: nothing to list');
    });
  });

  describe('LogBatcher', () => {
    it('makes at most one sink call per 100 ms however fast lines arrive, keeping order and levels', async () => {
      const clock = new ManualClock();
      const calls: { at: number; level: LogLevel; text: string }[] = [];
      const batcher = new LogBatcher((level, text) => calls.push({ at: clock.now(), level, text }), clock, 100);
      const start = clock.now();
      for (let ms = 0; ms < 1000; ms++) {
        batcher.push([{ level: 'info', text: `line ${ms}` }]);
        if (ms === 500) batcher.push([{ level: 'error', text: 'boom' }]);
        await clock.advance(1);
      }
      await clock.advance(1000);
      batcher.dispose();
      const perSecond = calls.filter((c) => c.at - start < 1000).length;
      assert.ok(perSecond <= 10, `${perSecond} sink calls in the first second`);
      const lines = calls.flatMap((c) => c.text.split('\n').map((text) => ({ level: c.level, text })));
      assert.strictEqual(lines.length, 1001);
      assert.deepStrictEqual(lines.slice(0, 3).map((l) => l.text), ['line 0', 'line 1', 'line 2']);
      const boom = lines.findIndex((l) => l.text === 'boom');
      assert.strictEqual(lines[boom - 1]?.text, 'line 500');
      assert.strictEqual(lines[boom]?.level, 'error');
      assert.strictEqual(lines[boom + 1]?.text, 'line 501');
    });

    it('keeps to 10 sink calls in any second when timers fire early by the clock', async () => {
      const manual = new ManualClock();
      // Like libuv against Date.now(): a timer for 100 ms may run when the clock has moved 99.
      const early = { now: () => manual.now(), setTimeout: (fn: () => void, ms: number) => manual.setTimeout(fn, ms >= 2 ? ms - 1 : ms) };
      const at: number[] = [];
      const batcher = new LogBatcher(() => at.push(manual.now()), early, 100);
      for (let ms = 0; ms < 3000; ms++) {
        batcher.push([{ level: 'info', text: `line ${ms}` }]);
        await manual.advance(1);
      }
      await manual.advance(1000);
      batcher.dispose();
      const most = Math.max(...at.map((t) => at.filter((u) => u >= t && u < t + 1000).length));
      assert.ok(most <= 10, `${most} sink calls within one second`);
    });

    it('writes the first line after a quiet spell at once, and everything pending on dispose', async () => {
      const clock = new ManualClock();
      const calls: string[] = [];
      const batcher = new LogBatcher((_l, text) => calls.push(text), clock, 100);
      batcher.push([{ level: 'info', text: 'first' }]);
      await clock.advance(0);
      assert.deepStrictEqual(calls, ['first']);
      batcher.push([{ level: 'info', text: 'second' }, { level: 'warn', text: 'third' }]);
      batcher.dispose();
      assert.deepStrictEqual(calls, ['first', 'second', 'third']);
    });
  });
});
