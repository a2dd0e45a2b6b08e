import { type Clock, systemClock } from '../base/clock';
import { type Disposable } from '../base/lifecycle';
import { type LogLevel, type LogLine } from './runLogFormat';

/** Receives one batch: lines of one level joined with newlines. */
export type LogSink = (level: LogLevel, text: string) => void;

/**
 * Buffers log lines and hands them to the sink in batches, at most one sink call per `intervalMs`
 * (10 per second by default) however fast lines arrive: a run streaming thousands of events must not
 * turn the output channel into the bottleneck. Each call carries the oldest pending lines up to the
 * first change of level, so order and levels are kept. The first line after a quiet spell goes out at once.
 */
export class LogBatcher implements Disposable {
  private pending: LogLine[] = [];
  private timer: Disposable | undefined;
  private lastFlushAtMs = -Infinity;
  private disposed = false;

  constructor(
    private readonly sink: LogSink,
    private readonly clock: Clock = systemClock,
    private readonly intervalMs = 100,
  ) {}

  push(lines: readonly LogLine[]): void {
    if (lines.length === 0 || this.disposed) return;
    for (const l of lines) this.pending.push(l);
    this.schedule();
  }

  /** Writes everything still pending (one call per level run) and stops. */
  dispose(): void {
    this.timer?.dispose();
    this.timer = undefined;
    while (this.pending.length > 0) this.flushOne();
    this.disposed = true;
  }

  /**
   * Flushes only once strictly more than `intervalMs` has passed on the clock. A timer can fire a
   * fraction of a millisecond early by the wall clock (libuv counts whole milliseconds from the
   * start of a loop turn), and appends 99.x ms apart put 11 in one second: the benchmark saw that.
   */
  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastFlushAtMs + this.intervalMs + 1 - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.clock.now() - this.lastFlushAtMs <= this.intervalMs) {
        this.schedule();
        return;
      }
      this.flushOne();
      if (this.pending.length > 0) this.schedule();
    }, wait);
  }

  private flushOne(): void {
    const first = this.pending[0];
    if (!first) return;
    let end = 1;
    while (end < this.pending.length && this.pending[end]?.level === first.level) end++;
    const batch = this.pending.splice(0, end);
    this.lastFlushAtMs = this.clock.now();
    this.sink(first.level, batch.map((l) => l.text).join('\n'));
  }
}
