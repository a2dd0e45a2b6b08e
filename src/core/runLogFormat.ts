import { type Clock, systemClock } from '../base/clock';
import { formatElapsed, formatLocalTime, type TimeZoneOptions } from '../base/timeFormat';
import { type NodeRef, type RunEvent, type RunResult } from './runEvents';

/** A log level, matching the methods of a VS Code LogOutputChannel. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** One line for the log. */
export interface LogLine {
  readonly level: LogLevel;
  readonly text: string;
  /**
   * Time since the run started when this line's event arrived. Kept with the line because the log
   * writes lines in batches: the channel's own timestamp is when a batch was written, not when its
   * events happened.
   */
  readonly elapsedMs?: number;
}

/** Width of the elapsed-time column: `+59.9s` and `+59m59s` fit; longer runs push their line right. */
const STAMP_WIDTH = 7;

/**
 * `  +12.4s  ▸ Node 3 KSampler`: a run's line with its elapsed time right-aligned in a fixed column, so
 * every line of a run (success and failure too) starts its text at the same place; continuation lines
 * (a traceback, a node's text) are indented under it. A line without a time (the header) starts where
 * the column starts.
 */
export function renderRunLine(line: LogLine): string {
  if (line.elapsedMs === undefined) return line.text;
  const stamp = `${`+${formatElapsed(line.elapsedMs)}`.padStart(STAMP_WIDTH)}  `;
  return stamp + line.text.replace(/\n/g, `\n${' '.repeat(stamp.length)}`);
}

/** What the header of a run says. Never a full ComfyUI URL: callers pass a masked one. */
export interface RunHeader {
  /** The workflow file, relative to the workspace when possible. */
  readonly workflow: string;
  /** Where it runs: "large machine 761af3a7" or "Local ComfyUI". */
  readonly target: string;
  /** The masked ComfyUI URL. */
  readonly server: string;
}

/** `7 SaveImage "Save image"` (the parts the run knows). */
export function nodeLabel(node: NodeRef | undefined): string {
  if (!node) return 'an unknown node';
  const cls = node.classType ? ` ${node.classType}` : '';
  const title = node.title && node.title !== node.classType ? ` "${node.title}"` : '';
  return `node ${node.id}${cls}${title}`;
}

/**
 * Renders a run's events as readable log lines: a header with the local start time, one line per node
 * started, step progress at most once per `progressIntervalMs` per node (and always the last step),
 * cached nodes, errors with node, class and message (the traceback at debug level), saved outputs with
 * their paths, timings. Every line but the header carries its time since the start
 * ({@link LogLine.elapsedMs}), taken when its event arrives; {@link renderRunLine} shows it.
 * Stateful only for progress throttling and elapsed time.
 */
export class RunLogFormatter {
  private readonly startedAtMs: number;
  private lastProgressAtMs = -Infinity;
  private lastProgressNode: string | undefined;

  constructor(
    private readonly header: RunHeader,
    private readonly clock: Clock = systemClock,
    private readonly progressIntervalMs = 1000,
    private readonly zone: TimeZoneOptions = {},
  ) {
    this.startedAtMs = clock.now();
  }

  /** The header, printed when the run starts. */
  start(): LogLine[] {
    const at = formatLocalTime(this.startedAtMs, { ...this.zone, seconds: true, nowMs: this.startedAtMs });
    return [{ level: 'info', text: `▶ Run ${this.header.workflow} on ${this.header.target} (${this.header.server}) at ${at}` }];
  }

  /** Lines for one event (often none: previews and throttled progress print nothing). */
  format(event: RunEvent): LogLine[] {
    const elapsedMs = this.clock.now() - this.startedAtMs;
    return this.lines(event).map((l) => ({ ...l, elapsedMs }));
  }

  private lines(event: RunEvent): Omit<LogLine, 'elapsedMs'>[] {
    const info = (text: string) => [{ level: 'info' as const, text }];
    switch (event.type) {
      case 'uploading':
        return info(`↑ Uploading ${event.localPath} for ${nodeLabel(event.node)}, input "${event.input}"`);
      case 'uploaded':
        return info(event.alreadyOnServer ? `↑ Already on the server: ${event.localPath} as "${event.reference}", not uploaded again` : `↑ Uploaded ${event.localPath} as "${event.reference}"`);
      case 'queued':
        return info(event.position === 0 ? `Queued as prompt ${event.promptId}` : `Queued as prompt ${event.promptId}, position ${event.position} in line`);
      case 'started':
        return info('Started on the server');
      case 'cached':
        return event.nodes.length === 0 ? [] : info(`Cached, not run again: ${event.nodes.map(nodeLabel).join(', ')}`);
      case 'executing':
        this.lastProgressNode = undefined;
        return info(`▸ ${capitalise(nodeLabel(event.node))}`);
      case 'progress':
        return this.progress(event.node, event.value, event.max);
      case 'preview':
        return [];
      case 'text':
        return [{ level: 'debug', text: `  ${nodeLabel(event.node)} says: ${event.text}` }];
      case 'executed':
        return [];
      case 'succeeded':
        return info('Finished on the server');
      case 'failed': {
        const lines: Omit<LogLine, 'elapsedMs'>[] = [{ level: 'error', text: `✖ ${capitalise(nodeLabel(event.node))} failed: ${event.exceptionType}: ${event.message.trim()}` }];
        if (event.traceback.length > 0) lines.push({ level: 'debug', text: `  Traceback:\n${event.traceback.join('').trimEnd()}` });
        return lines;
      }
      case 'interrupted':
        return [{ level: 'warn', text: `■ Interrupted${event.node ? ` before ${nodeLabel(event.node)}` : ''}` }];
      case 'connection':
        return event.state === 'lost'
          ? [{ level: 'warn', text: `Connection to ComfyUI lost${event.reason ? ` (${event.reason})` : ''}; reconnecting` }]
          : info('Connection restored; catching up with the queue and history');
      case 'warning':
        return [{ level: 'warn', text: `⚠ ${event.message}` }];
      case 'outputSaved':
        return info(`✔ Saved ${event.output.path}`);
      case 'finished':
        return finishedLines(event.result);
    }
  }

  private progress(node: NodeRef | undefined, value: number, max: number): Omit<LogLine, 'elapsedMs'>[] {
    const now = this.clock.now();
    const last = value >= max;
    const sameNode = node?.id === this.lastProgressNode;
    if (!last && sameNode && now - this.lastProgressAtMs < this.progressIntervalMs) return [];
    this.lastProgressAtMs = now;
    this.lastProgressNode = node?.id;
    const pct = max > 0 ? Math.floor((value / max) * 100) : 0;
    return [{ level: 'info', text: `  step ${value}/${max} (${pct}%)` }];
  }
}

function finishedLines(result: RunResult): Omit<LogLine, 'elapsedMs'>[] {
  const took = formatElapsed(result.elapsedMs);
  const outputs = `${result.outputs.length} output${result.outputs.length === 1 ? '' : 's'}`;
  const where = result.runDir ? ` in ${result.runDir}` : '';
  switch (result.status) {
    case 'success':
      return [{ level: 'info', text: `✔ Succeeded in ${took}: ${outputs}${where}` }];
    case 'interrupted':
      return [{ level: 'warn', text: `■ Interrupted after ${took}; ${outputs} saved${where}` }];
    case 'error': {
      const lines: Omit<LogLine, 'elapsedMs'>[] = [{ level: 'error', text: `✖ Failed after ${took}: ${result.error?.message ?? 'unknown error'}` }];
      // A rejection's message already says every problem in words; ComfyUI's own wording (error types, "Node ID '#32'") is for debugging.
      const raw: LogLevel = result.error?.kind === 'workflowRejected' ? 'debug' : 'error';
      if (result.error?.details) lines.push({ level: raw, text: `  ${result.error.details}` });
      for (const line of describeNodeErrors(result.error?.nodeErrors)) lines.push({ level: raw, text: `  ${line}` });
      if (result.outputs.length > 0) lines.push({ level: 'info', text: `  ${outputs} saved${where}` });
      return lines;
    }
  }
}

/** One line per node error of a rejected prompt: `node 7 (EmptyImage): Value 0 smaller than min of 1 [width]`. */
export function describeNodeErrors(nodeErrors: unknown): string[] {
  if (typeof nodeErrors !== 'object' || nodeErrors === null || Array.isArray(nodeErrors)) return [];
  const lines: string[] = [];
  for (const [id, entry] of Object.entries(nodeErrors as Record<string, { class_type?: string; errors?: { message?: string; details?: string }[] }>)) {
    for (const e of entry.errors ?? []) {
      const details = e.details ? ` [${e.details}]` : '';
      lines.push(`node ${id} (${entry.class_type ?? 'unknown class'}): ${e.message ?? 'invalid'}${details}`);
    }
  }
  return lines;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
