import { Emitter, type Event } from '../base/event';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { type Clock, systemClock } from '../base/clock';
import { type NodeRef, type RunEvent, type RunResult, type SavedOutput } from './runEvents';

/** Where a run goes: a RunComfy machine, or a ComfyUI server the user added by URL. */
export type RunTarget =
  | { readonly kind: 'machine'; readonly serverId: string; readonly label: string }
  | { readonly kind: 'local'; readonly name: string; readonly url: string };

/** True for a RunTarget (commands get `unknown` arguments: the explorer passes the selected URIs instead). */
export function isRunTarget(v: unknown): v is RunTarget {
  const t = v as Partial<Record<string, unknown>> | null;
  return (t?.kind === 'machine' && typeof t.serverId === 'string') || (t?.kind === 'local' && typeof t.url === 'string');
}

/** A stable key for a target, to group runs under it. */
export function targetKey(t: RunTarget): string {
  return t.kind === 'machine' ? `machine:${t.serverId}` : `local:${t.url}`;
}

/** A human name for a target: "large machine 761af3a7", "Desktop GPU". */
export function targetLabel(t: RunTarget): string {
  return t.kind === 'machine' ? t.label : t.name;
}

export type RunPhase = 'preparing' | 'queued' | 'running' | 'success' | 'error' | 'interrupted';

/** One run, as the Runs view and the Machines view show it. */
export interface RunRecord {
  readonly id: string;
  /** Absolute path of the workflow file. */
  readonly workflowPath: string;
  /** What the run is called in lists: the workflow's folder name or file name. */
  readonly workflowName: string;
  readonly target: RunTarget;
  readonly startedAtMs: number;
  phase: RunPhase;
  promptId?: string;
  queuePosition?: number;
  currentNode?: NodeRef;
  progress?: { readonly value: number; readonly max: number };
  readonly outputs: SavedOutput[];
  finishedAtMs?: number;
  result?: RunResult;
}

/** What the registry needs of a live run. */
export interface TrackedRun {
  readonly onEvent: Event<RunEvent>;
  /** Interrupts the run (deletes it from the queue or interrupts it on the server). */
  interrupt(): Promise<void>;
  /** Ends the run here (connections, timers, transfers); called for live runs when the registry is disposed. */
  dispose(): void;
}

/**
 * Recent runs of this window, newest first: the live ones with their phase, node and step, and
 * the last `keep` finished ones with their results. Fires `onDidChange` on every update; views
 * throttle their own refreshes.
 */
export class RunRegistry extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<RunRecord>());
  readonly onDidChange: Event<RunRecord> = this._onDidChange.event;
  private readonly _onDidRunEvent = this._register(new Emitter<{ readonly record: RunRecord; readonly event: RunEvent }>());
  /** Every event of every live run, after its record was updated (the run panel follows previews through it). */
  readonly onDidRunEvent: Event<{ readonly record: RunRecord; readonly event: RunEvent }> = this._onDidRunEvent.event;
  private readonly records: RunRecord[] = [];
  private readonly live = new Map<string, { run: TrackedRun; sub: Disposable }>();
  private seq = 0;

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly keep = 30,
  ) {
    super();
    // Live runs end with the window: nothing may keep a socket, a timer or a download going after it.
    this._register({
      dispose: () => {
        const live = [...this.live.values()];
        this.live.clear();
        for (const l of live) {
          l.sub.dispose();
          l.run.dispose();
        }
      },
    });
  }

  /** Newest first. */
  get runs(): readonly RunRecord[] {
    return this.records;
  }

  get activeRuns(): readonly RunRecord[] {
    return this.records.filter((r) => this.live.has(r.id));
  }

  get(id: string): RunRecord | undefined {
    return this.records.find((r) => r.id === id);
  }

  /** Runs on one target (see `targetKey`), newest first. */
  forTarget(key: string): readonly RunRecord[] {
    return this.records.filter((r) => targetKey(r.target) === key);
  }

  /** Starts following a run; its record is updated from its events until `finished`. */
  track(info: { workflowPath: string; workflowName: string; target: RunTarget }, run: TrackedRun): RunRecord {
    const record: RunRecord = { id: `run-${++this.seq}`, ...info, startedAtMs: this.clock.now(), phase: 'preparing', outputs: [] };
    this.records.unshift(record);
    const sub = run.onEvent((e) => {
      this.apply(record, e);
      this._onDidRunEvent.fire({ record, event: e });
    });
    this.live.set(record.id, { run, sub });
    this.trim();
    this._onDidChange.fire(record);
    return record;
  }

  /** Interrupts a live run; false when it already finished. */
  async interrupt(id: string): Promise<boolean> {
    const l = this.live.get(id);
    if (!l) return false;
    await l.run.interrupt();
    return true;
  }

  private apply(r: RunRecord, e: RunEvent): void {
    switch (e.type) {
      case 'queued':
        r.promptId = e.promptId;
        r.queuePosition = e.position;
        if (r.phase === 'preparing') r.phase = 'queued';
        break;
      case 'started':
        r.phase = 'running';
        r.queuePosition = 0;
        break;
      case 'executing':
        r.phase = 'running';
        r.currentNode = e.node;
        r.progress = undefined;
        break;
      case 'progress':
        r.progress = { value: e.value, max: e.max };
        break;
      case 'outputSaved':
        r.outputs.push(e.output);
        break;
      case 'finished':
        r.phase = e.result.status;
        r.result = e.result;
        r.promptId = e.result.promptId ?? r.promptId;
        r.finishedAtMs = this.clock.now();
        r.currentNode = undefined;
        r.progress = undefined;
        this.live.get(r.id)?.sub.dispose();
        this.live.delete(r.id);
        this.trim();
        break;
      default:
        return;
    }
    this._onDidChange.fire(r);
  }

  /** Drops the oldest finished runs beyond `keep`; live runs always stay. */
  private trim(): void {
    let finished = 0;
    for (let i = 0; i < this.records.length; i++) {
      const r = this.records[i];
      if (this.live.has(r.id)) continue;
      if (++finished > this.keep) this.records.splice(i--, 1);
    }
  }
}
