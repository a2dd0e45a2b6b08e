import type * as vscode from 'vscode';
import { type Clock, systemClock } from '../base/clock';
import { type Event } from '../base/event';
import { type Disposable } from '../base/lifecycle';
import { type TimeZoneOptions } from '../base/timeFormat';
import { LogBatcher } from '../core/logBatcher';
import { type RunEvent } from '../core/runEvents';
import { RunLogFormatter, renderRunLine, type LogLevel, type LogLine, type RunHeader } from '../core/runLogFormat';

/**
 * The "RunComfy" log as runs see it: renders each run's events readably and writes them through one
 * batcher, so however fast a run streams, the channel gets at most 10 appends per second. Each line
 * carries its own elapsed time, taken when its event arrived, not when its batch was written.
 */
export class RunLog implements Disposable {
  private readonly batcher: LogBatcher;

  constructor(
    channel: Pick<vscode.LogOutputChannel, LogLevel>,
    private readonly clock: Clock = systemClock,
    batchIntervalMs = 100,
    private readonly zone: TimeZoneOptions = {},
  ) {
    this.batcher = new LogBatcher((level, text) => channel[level](alignToTextColumn(level, text)), clock, batchIntervalMs);
  }

  /** Streams a run into the log until its `finished` event. */
  attach(onEvent: Event<RunEvent>, header: RunHeader): Disposable {
    const formatter = new RunLogFormatter(header, this.clock, undefined, this.zone);
    const push = (lines: readonly LogLine[]) => this.batcher.push(lines.map((l) => ({ level: l.level, text: renderRunLine(l) })));
    push(formatter.start());
    const sub = onEvent((e) => {
      push(formatter.format(e));
      if (e.type === 'finished') sub.dispose();
    });
    return sub;
  }

  dispose(): void {
    this.batcher.dispose();
  }
}

/** The level words VS Code's log writes between brackets (spdlog's names: `warn` is written `warning`). */
const levelWords: Record<LogLevel, string> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warning', error: 'error' };

/** `2026-11-28 17:36:40.137 `: the time VS Code puts before each entry. */
const TIME_PREFIX_WIDTH = '2026-11-28 17:36:40.137 '.length;

/** `[warning] `, the widest level prefix. */
const LEVEL_PREFIX_WIDTH = Math.max(...Object.values(levelWords).map((w) => `[${w}] `.length));

/**
 * VS Code prefixes each entry with its time and `[level] `, whose width varies with the level; and a
 * batch is one entry, so only its first line gets the prefix. Padding the first line to the widest
 * level and indenting the others by the whole prefix puts every run line's text in one column,
 * whatever its level.
 */
export function alignToTextColumn(level: LogLevel, text: string): string {
  const first = ' '.repeat(LEVEL_PREFIX_WIDTH - `[${levelWords[level]}] `.length);
  return first + text.replace(/\n/g, `\n${' '.repeat(TIME_PREFIX_WIDTH + LEVEL_PREFIX_WIDTH)}`);
}
