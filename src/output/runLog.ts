import type * as vscode from 'vscode';
import { type Clock, systemClock } from '../base/clock';
import { type Event } from '../base/event';
import { type Disposable } from '../base/lifecycle';
import { LogBatcher } from '../core/logBatcher';
import { type RunEvent } from '../core/runEvents';
import { RunLogFormatter, type LogLine, type RunHeader } from '../core/runLogFormat';

/**
 * The "RunComfy" log as runs see it: renders each run's events readably and writes them through one
 * batcher, so however fast a run streams, the channel gets at most 10 appends per second.
 */
export class RunLog implements Disposable {
  private readonly batcher: LogBatcher;

  constructor(
    channel: vscode.LogOutputChannel,
    private readonly clock: Clock = systemClock,
  ) {
    this.batcher = new LogBatcher((level, text) => channel[level](alignContinuationLines(level, text)), clock);
  }

  /** Writes lines that are not part of a run (launches, stops) in order with run lines. */
  write(lines: readonly LogLine[]): void {
    this.batcher.push(lines);
  }

  /** Streams a run into the log until its `finished` event. */
  attach(onEvent: Event<RunEvent>, header: RunHeader): Disposable {
    const formatter = new RunLogFormatter(header, this.clock);
    this.batcher.push(formatter.start());
    const sub = onEvent((e) => {
      this.batcher.push(formatter.format(e));
      if (e.type === 'finished') sub.dispose();
    });
    return sub;
  }

  dispose(): void {
    this.batcher.dispose();
  }
}

/**
 * A batch is one log entry, and VS Code prefixes only its first line (`2026-11-28 17:36:40.137 [info] `);
 * indenting the others by the same width keeps the run readable as one column.
 */
function alignContinuationLines(level: string, text: string): string {
  if (!text.includes('\n')) return text;
  const pad = ' '.repeat('2026-11-28 17:36:40.137 '.length + `[${level}] `.length);
  return text.replace(/\n/g, `\n${pad}`);
}
