import * as assert from 'node:assert';
import { LogBatcher } from '../../src/core/logBatcher';
import { type RunEvent } from '../../src/core/runEvents';
import { RunLogFormatter, describeNodeErrors, renderRunLine, type LogLevel } from '../../src/core/runLogFormat';
import { Emitter } from '../../src/base/event';
import { RunLog } from '../../src/output/runLog';
import { ManualClock } from './helpers/runcomfyTestKit';

const header = { workflow: 'hello/workflow_api.json', target: 'large machine 761af3a7', server: 'https://761a….runcomfy.com' };
const save = { id: '4', classType: 'SaveImage', title: 'Save image' };

describe('run log', () => {
  describe('RunLogFormatter', () => {
    it('renders a run readably: header, prompt id, one line per node, throttled steps, outputs, timing', async () => {
      const clock = new ManualClock(Date.UTC(2026, 10, 28, 10, 10, 12));
      const f = new RunLogFormatter(header, clock, 1000, { locale: 'en-GB', timeZone: 'Asia/Kolkata' });
      const text = (e: RunEvent) => f.format(e).map((l) => l.text);
      assert.deepStrictEqual(f.start(), [{ level: 'info', text: '▶ Run hello/workflow_api.json on large machine 761af3a7 (https://761a….runcomfy.com) at 15:40:12' }], 'local start time, no elapsed time');
      assert.deepStrictEqual(text({ type: 'queued', promptId: 'p-1', number: 3, position: 2 }), ['Queued as prompt p-1, position 2 in line']);
      assert.deepStrictEqual(text({ type: 'cached', nodes: [{ id: '1', classType: 'EmptyImage' }] }), ['Cached, not run again: node 1 EmptyImage']);
      assert.deepStrictEqual(text({ type: 'executing', node: save }), ['▸ Node 4 SaveImage "Save image"']);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 1, max: 20 }), ['  step 1/20 (5%)']);
      await clock.advance(200);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 2, max: 20 }), [], 'a step 200 ms later is throttled');
      await clock.advance(900);
      assert.deepStrictEqual(f.format({ type: 'progress', node: save, value: 9, max: 20 }), [{ level: 'info', text: '  step 9/20 (45%)', elapsedMs: 1100 }]);
      assert.deepStrictEqual(text({ type: 'progress', node: save, value: 20, max: 20 }), ['  step 20/20 (100%)'], 'the last step always prints');
      assert.deepStrictEqual(text({ type: 'preview', node: save, mime: 'image/png', image: Buffer.alloc(4) }), []);
      const output = { node: '4', key: 'images', filename: 'a.png', subfolder: '', type: 'output', path: '/w/out/a.png', bytes: 10, source: 'history' as const };
      assert.deepStrictEqual(text({ type: 'outputSaved', output }), ['✔ Saved /w/out/a.png']);
      const result = { promptId: 'p-1', status: 'success' as const, outputs: [output], warnings: [], error: null, runDir: '/w/out', elapsedMs: 4200 };
      assert.deepStrictEqual(text({ type: 'finished', result }), ['✔ Succeeded in 4.2s: 1 output in /w/out']);
    });

    it('puts each line\'s elapsed time in a fixed column, continuation lines under the text', () => {
      assert.strictEqual(renderRunLine({ level: 'info', text: '▸ Node 3 KSampler', elapsedMs: 12_400 }), ' +12.4s  ▸ Node 3 KSampler');
      assert.strictEqual(renderRunLine({ level: 'error', text: '✖ Failed after 0.4s: boom', elapsedMs: 400 }), '  +0.4s  ✖ Failed after 0.4s: boom');
      assert.strictEqual(renderRunLine({ level: 'debug', text: '  Traceback:\n  File "x.py"', elapsedMs: 400 }), '  +0.4s    Traceback:\n           File "x.py"');
      assert.strictEqual(renderRunLine({ level: 'info', text: '▶ Run x' }), '▶ Run x', 'the header starts where the column starts');
    });

    it('logs a failure with node, class and message, and the traceback at debug level', () => {
      const f = new RunLogFormatter(header, new ManualClock());
      const lines = f.format({ type: 'failed', node: save, exceptionType: 'Exception', message: 'Saving image outside the output folder is not allowed.', traceback: ['  File "x.py", line 1\n', 'Exception\n'] });
      assert.deepStrictEqual(lines.map((l) => l.level), ['error', 'debug']);
      assert.strictEqual(lines[0]?.text, '✖ Node 4 SaveImage "Save image" failed: Exception: Saving image outside the output folder is not allowed.');
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

  describe('RunLog', () => {
    /** The channel as VS Code writes it: each append one entry, `<time> [<level word>] ` before its first line. */
    function fakeChannel(clock: ManualClock) {
      const entries: { at: number; text: string }[] = [];
      const word = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warning', error: 'error' } as const;
      const append = (level: LogLevel) => (text: string) => entries.push({ at: clock.now(), text: `2026-11-28 15:40:12.000 [${word[level]}] ${text}` });
      const channel = { trace: append('trace'), debug: append('debug'), info: append('info'), warn: append('warn'), error: append('error') };
      return { channel, entries, lines: () => entries.flatMap((e) => e.text.split('\n')) };
    }
    const textColumn = (line: string) => /^.*?\+\d+(\.\d|m\d\d)s {2}/.exec(line)?.[0].length;

    it('keeps each batched line\'s own elapsed time, not the time its batch was written', async () => {
      const clock = new ManualClock(Date.UTC(2026, 10, 28, 10, 10, 12));
      const { channel, entries } = fakeChannel(clock);
      // Batches of up to 2 s: the later lines below wait for one append together.
      const log = new RunLog(channel, clock, 2000, { locale: 'en-GB', timeZone: 'Asia/Kolkata' });
      const events = new Emitter<RunEvent>();
      log.attach(events.event, header);
      await clock.advance(0);
      assert.strictEqual(entries.length, 1, 'the header goes out at once');
      await clock.advance(300);
      events.fire({ type: 'executing', node: save });
      await clock.advance(900);
      events.fire({ type: 'executing', node: { id: '5', classType: 'PreviewImage' } });
      assert.strictEqual(entries.length, 1, 'both lines wait for the batch');
      await clock.advance(2000);
      assert.strictEqual(entries.length, 2, 'one append for both');
      assert.ok(entries[1].at - entries[0].at > 2000, 'written after more than 2 s');
      assert.deepStrictEqual(entries[1].text.split('\n').map((l) => /\+(\S+)s/.exec(l)?.[1]), ['0.3', '1.2'], 'the times the events arrived');
      log.dispose();
    });

    it('aligns the text of every run line, success and failure too, whatever the level', async () => {
      const clock = new ManualClock();
      const { channel, lines } = fakeChannel(clock);
      const log = new RunLog(channel, clock);
      const events = new Emitter<RunEvent>();
      log.attach(events.event, header);
      const output = { node: '4', key: 'images', filename: 'a.png', subfolder: '', type: 'output', path: '/w/out/a.png', bytes: 10, source: 'history' as const };
      events.fire({ type: 'queued', promptId: 'p-1', number: 3, position: 0 });
      events.fire({ type: 'executing', node: save });
      events.fire({ type: 'warning', message: 'a preview was dropped' });
      events.fire({ type: 'failed', node: save, exceptionType: 'Exception', message: 'boom', traceback: [] });
      events.fire({ type: 'outputSaved', output });
      await clock.advance(5000);
      events.fire({ type: 'finished', result: { promptId: 'p-1', status: 'error', outputs: [output], warnings: [], error: { kind: 'server', type: 'execution_error', message: 'boom', details: '', nodeErrors: null }, runDir: '/w/out', elapsedMs: 5000 } });
      // A second run, which succeeds.
      const again = new Emitter<RunEvent>();
      log.attach(again.event, header);
      again.fire({ type: 'finished', result: { promptId: 'p-2', status: 'success', outputs: [output], warnings: [], error: null, runDir: '/w/out', elapsedMs: 5000 } });
      log.dispose();
      const all = lines();
      assert.match(all[0], /\[info\] {4}▶ Run /, 'the header starts at the column of the times');
      const run = all.filter((l) => !l.includes('▶ Run'));
      for (const want of ['Queued as prompt', '▸ Node 4', '⚠ a preview', '✖ Node 4', '✔ Saved', '✖ Failed after 5.0s', '✔ Succeeded in 5.0s']) {
        assert.ok(run.some((l) => l.includes(want)), `no line with ${want}: ${run.join('\n')}`);
      }
      const columns = new Set(run.map(textColumn));
      assert.deepStrictEqual([...columns], [textColumn(run[0])], `text starts in different columns:\n${all.join('\n')}`);
      assert.ok(run.some((l) => l.includes('[warning]')) && run.some((l) => l.includes('[error]')) && run.some((l) => l.includes('[info]')));
    });
  });
});
