import { PyError, pyEquals } from './pyFormat';
import { PyFloat, pyDeepCopy, type PyDict, type PyObject, type PyValue } from './pyJson';

/**
 * ComfyUI's `PromptQueue`: a Python `heapq` of `(number, prompt_id, prompt, extra_data,
 * outputs_to_execute, sensitive)` tuples (so `/queue` shows the raw heap array, not a sorted list),
 * the running items, and the in-memory history with its paging quirks.
 */

/** The queue number: the server's counter (an int) or the client's `number` through `float()`. */
export type QueueNumber = number | PyFloat;

export interface QueueItem {
  readonly number: QueueNumber;
  readonly promptId: string;
  readonly prompt: PyDict;
  readonly extraData: PyDict;
  readonly outputs: readonly string[];
  /** Sensitive extra_data keys (API tokens): kept out of /queue and history. */
  readonly sensitive: PyDict;
}

/** The 5-array `[number, prompt_id, prompt, extra_data, outputs_to_execute]` clients see. */
export function publicItem(item: QueueItem): PyValue[] {
  return [item.number, item.promptId, item.prompt, item.extraData, [...item.outputs]];
}

const numberValue = (n: QueueNumber) => (n instanceof PyFloat ? n.value : n);

/** Python's `a < b` for two queue tuples. */
function less(a: QueueItem, b: QueueItem): boolean {
  const na = numberValue(a.number);
  const nb = numberValue(b.number);
  if (na !== nb) return na < nb;
  if (a.promptId !== b.promptId) return a.promptId < b.promptId;
  if (!pyEquals(a.prompt, b.prompt) || !pyEquals(a.extraData, b.extraData)) throw new PyError('TypeError', "'<' not supported between instances of 'dict' and 'dict'");
  for (let i = 0; i < Math.min(a.outputs.length, b.outputs.length); i++) if (a.outputs[i] !== b.outputs[i]) return a.outputs[i] < b.outputs[i];
  return a.outputs.length < b.outputs.length;
}

/** One history entry (`prompt`, `outputs`, `status`, `meta`, in that key order). */
export interface HistoryEntry extends PyObject {
  prompt: PyValue[];
  outputs: PyDict;
  status: PyObject | null;
  meta: PyDict;
}

/** ComfyUI drops the oldest entry beyond this many. */
const MAXIMUM_HISTORY_SIZE = 10000;

export class PromptQueue {
  private heap: QueueItem[] = [];
  private readonly running = new Map<number, QueueItem>();
  private readonly history = new Map<string, HistoryEntry>();
  private taskCounter = 0;
  private waiters: (() => void)[] = [];

  /** Called after every change that `queue_updated()` follows in ComfyUI (a `status` broadcast). */
  constructor(private readonly onChange: () => void) {}

  /** Items waiting plus items running (`exec_info.queue_remaining`). */
  get remaining(): number {
    return this.heap.length + this.running.size;
  }

  /** `heapq.heappush` then a status broadcast. Throws like Python when two tuples cannot be ordered. */
  put(item: QueueItem): void {
    this.heap.push(item);
    this.siftDown(0, this.heap.length - 1);
    this.onChange();
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when an item can be taken (the worker's `get()`), unless `signal` aborts. */
  async next(signal: AbortSignal): Promise<{ item: QueueItem; taskId: number } | undefined> {
    while (this.heap.length === 0) {
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        // Each idle spell adds a listener to the simulator's lifetime signal: it must go when the
        // wait ends, or a long-lived simulator collects one per prompt it ran.
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    if (signal.aborted) return undefined;
    const item = this.pop();
    const taskId = this.taskCounter++;
    this.running.set(taskId, { ...item, prompt: pyDeepCopy(item.prompt), extraData: pyDeepCopy(item.extraData), sensitive: pyDeepCopy(item.sensitive) });
    this.onChange();
    return { item, taskId };
  }

  /** `task_done`: moves the running item into history (without sensitive data), then a status broadcast. */
  taskDone(taskId: number, result: { outputs: PyDict; meta: PyDict }, status: PyObject): void {
    const item = this.running.get(taskId);
    if (!item) return;
    this.running.delete(taskId);
    if (this.history.size > MAXIMUM_HISTORY_SIZE) this.history.delete(this.history.keys().next().value!);
    this.history.set(item.promptId, { prompt: publicItem(item), outputs: result.outputs, status: pyDeepCopy(status), meta: result.meta });
    this.onChange();
  }

  /** `[running, pending]` as /queue shows them (pending in heap order). */
  current(): { running: QueueItem[]; pending: QueueItem[] } {
    return { running: [...this.running.values()], pending: [...this.heap] };
  }

  /** True when `promptId` is among the running items (targeted /interrupt). */
  isRunning(promptId: string): boolean {
    return [...this.running.values()].some((i) => i.promptId === promptId);
  }

  /** `delete_queue_item`: removes the first pending match, re-heapifies, broadcasts. */
  delete(promptId: PyValue): boolean {
    const i = this.heap.findIndex((item) => pyEquals(item.promptId, promptId));
    if (i < 0) return false;
    if (this.heap.length === 1) this.heap = [];
    else {
      this.heap.splice(i, 1);
      for (let k = (this.heap.length >> 1) - 1; k >= 0; k--) this.siftUp(k);
    }
    this.onChange();
    return true;
  }

  /** `wipe_queue`: drops every pending item (broadcasts even when it was empty). */
  clear(): void {
    this.heap = [];
    this.onChange();
  }

  /** `get_history(max_items, offset)` or `get_history(prompt_id)`. */
  getHistory(query: { promptId?: string; maxItems?: number; offset?: number }): Map<string, HistoryEntry> {
    if (query.promptId !== undefined) {
      const entry = this.history.get(query.promptId);
      return entry ? new Map<string, HistoryEntry>([[query.promptId, pyDeepCopy(entry)]]) : new Map<string, HistoryEntry>();
    }
    const out = new Map<string, HistoryEntry>();
    const maxItems = query.maxItems;
    let offset = query.offset ?? -1;
    if (offset < 0 && maxItems !== undefined) offset = this.history.size - maxItems;
    let i = 0;
    for (const [k, v] of this.history) {
      if (i >= offset) {
        out.set(k, v);
        if (maxItems !== undefined && out.size >= maxItems) break;
      }
      i++;
    }
    return out;
  }

  /** `delete_history_item`: unknown ids are ignored. */
  deleteHistory(promptId: PyValue): void {
    if (typeof promptId === 'string') this.history.delete(promptId);
  }

  /** `wipe_history`. */
  wipeHistory(): void {
    this.history.clear();
  }

  /** Forgets everything (the simulator's reset); running items finish into a history that was just wiped. */
  reset(): void {
    this.heap = [];
    this.history.clear();
  }

  private pop(): QueueItem {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return last;
    const top = this.heap[0];
    this.heap[0] = last;
    this.siftUp(0);
    return top;
  }

  private siftDown(start: number, pos: number): void {
    const item = this.heap[pos];
    while (pos > start) {
      const parentPos = (pos - 1) >> 1;
      const parent = this.heap[parentPos];
      if (!less(item, parent)) break;
      this.heap[pos] = parent;
      pos = parentPos;
    }
    this.heap[pos] = item;
  }

  private siftUp(pos: number): void {
    const end = this.heap.length;
    const start = pos;
    const item = this.heap[pos];
    let child = 2 * pos + 1;
    while (child < end) {
      const right = child + 1;
      if (right < end && !less(this.heap[child], this.heap[right])) child = right;
      this.heap[pos] = this.heap[child]!;
      pos = child;
      child = 2 * pos + 1;
    }
    this.heap[pos] = item;
    this.siftDown(start, pos);
  }
}
