import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { type FolderPaths } from './folderPaths';
import { formatValue, type NodeClass, type NodeContext, type NodeValue } from './nodeClass';
import { PreviewFormat, type ComfyWebSocketHub } from './comfyWebSocketHub';
import { encodeJpeg } from '../../base/jpegEncoder';
import { imagePng, imageRgba } from './nodeHelpers';
import { hiddenKind } from './objectInfo';
import { encodePng } from '../../base/png';
import { PyError, pyRepr, pyStr } from './pyFormat';
import { PyFloat, pyDumps, type PyDict, type PyObject, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { PySet, type PyStrHasher } from './pySet';
import { solidImage } from './simImage';

/** Run-time knobs the executor reads on every prompt (so `/__sim/config` applies to the next node). */
export interface ExecutionSettings {
  /** Default time a node "works" (ms). */
  nodeDelayMs: number;
  /** Per-class work time (ms), e.g. `{ ImageBlur: 40 }`. */
  classDelayMs: Record<string, number>;
  /** Per-class progress ticks during the work (ComfyUI samplers tick; these let any class do so). */
  progressSteps: Record<string, number>;
  /** Time of one step of a class the simulator only imitates that has a `steps` input (a sampler), in ms. */
  stepDelayMs: number;
  /**
   * Extra work time (ms) of each prompt, spent in its first node that is not cached, as a sampler
   * spends most of a real run: a machine's "time per run" for pool and budget demos. Ticks progress
   * every 250 ms so an interrupt lands within one tick. 0: none.
   */
  runMs: number;
  /** Behave like the Dec-2024 server: no progress_state, previews always type 1. */
  oldServer: boolean;
  /** Report hostile file names instead of the real ones (see `HOSTILE_ENTRIES`). */
  hostile: boolean;
}

/** One-shot faults the executor consumes. */
export interface ExecutionFaults {
  /** Terminate every socket after this many messages of the next prompt, or when `atNode` starts. */
  drop?: { afterMessages?: number; atNode?: string };
  /**
   * Hold the next prompt silently at a node boundary (or before `atNode`) for `ms`, or until cleared;
   * `whileRunning`: inside the node instead, after it was announced and before its work ends.
   */
  stall?: { ms?: number; atNode?: string; whileRunning?: boolean };
  /** Next prompt: `messages` progress messages and `previews` binary previews of `previewBytes` each, as fast as possible. */
  flood?: { messages: number; previews: number; previewBytes: number };
}

/** What the executor needs from the server around it. */
export interface ExecutorHost {
  readonly folders: FolderPaths;
  readonly hub: ComfyWebSocketHub;
  readonly classes: ReadonlyMap<string, NodeClass>;
  readonly hasher: PyStrHasher;
  settings(): ExecutionSettings;
  /** Multiplies the node delays (`simTimeScale`): 1 plays them as configured. */
  readonly timeScale: number;
  readonly faults: ExecutionFaults;
  /** Takes the armed stall without `ms` (now held) and resolves when it is cleared. */
  stallCleared(): Promise<void>;
  /** Aborted when the simulator closes. */
  readonly signal: AbortSignal;
  /** Called when a one-shot fault takes effect on a prompt. */
  onFault(kind: string, promptId: string): void;
}

/**
 * File names the hostile mode reports, and what /view answers for each (as ComfyUI would):
 * `servable` ones exist on disk in the output folder under exactly that name.
 */
export const HOSTILE_ENTRIES: readonly { filename: string; subfolder: string; type: string; servable: boolean; why: string }[] = [
  { filename: '../../x.png', subfolder: '', type: 'output', servable: false, why: 'traversal in filename: /view 400' },
  { filename: 'x.png', subfolder: '../../', type: 'output', servable: false, why: 'traversal in subfolder: /view 403' },
  { filename: '/tmp/x.png', subfolder: '', type: 'output', servable: false, why: 'absolute filename: /view 400' },
  { filename: 'x.png', subfolder: '/etc', type: 'output', servable: false, why: 'absolute subfolder: /view 403' },
  { filename: 'x.png', subfolder: '', type: 'bogus', servable: false, why: 'unknown type: /view 400' },
  { filename: 'C:\\x.png', subfolder: '', type: 'output', servable: true, why: 'Windows path: a plain file name on the server' },
  { filename: 'bell\u0007esc\u001b[31m.png', subfolder: '', type: 'output', servable: true, why: 'control characters' },
  { filename: 'CON', subfolder: '', type: 'output', servable: true, why: 'reserved device name on Windows' },
  { filename: 'nul.txt', subfolder: '', type: 'output', servable: true, why: 'reserved device name with extension' },
  { filename: 'trailing dot. ', subfolder: '', type: 'output', servable: true, why: 'Windows strips trailing dots and spaces' },
  { filename: 'evil\u202egnp.exe', subfolder: '', type: 'output', servable: true, why: 'right-to-left override' },
];

class InterruptProcessing extends Error {}

/** Traceback frames of ComfyUI 0.3.64's execution path (recorded), ending in the failing node's frame. */
const EXECUTION_TRACEBACK = [
  "  File \"/opt/ComfyUI/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n                                                              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
  "  File \"/opt/ComfyUI/execution.py\", line 315, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
  "  File \"/opt/ComfyUI/execution.py\", line 289, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n",
  "  File \"/opt/ComfyUI/execution.py\", line 277, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n",
];

interface CacheEntry {
  outputs: NodeValue[];
  ui?: PyDict;
}

function isLink(v: PyValue | undefined): v is [string, number] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && (typeof v[1] === 'number' || v[1] instanceof PyFloat);
}

function linkSlot(v: [string, number | PyFloat]): number {
  return v[1] instanceof PyFloat ? Math.trunc(v[1].value) : v[1];
}

/** `comfy_execution.graph.ExecutionList`: which node runs next, output nodes as early as possible. */
class ExecutionList {
  private readonly pending = new Map<string, true>();
  private readonly blockCount = new Map<string, number>();
  private readonly blocking = new Map<string, Map<string, Set<number>>>();

  constructor(
    private readonly prompt: PyDict,
    private readonly isCached: (id: string) => boolean,
    private readonly isOutput: (id: string) => boolean,
  ) {}

  get empty(): boolean {
    return this.pending.size === 0;
  }

  addNode(id: string): void {
    const stack = [id];
    const links: [string, number, string][] = [];
    while (stack.length > 0) {
      const current = stack.pop()!;
      if (this.pending.has(current)) continue;
      this.pending.set(current, true);
      this.blockCount.set(current, 0);
      this.blocking.set(current, new Map());
      const inputs = (this.prompt.get(current) as PyDict | undefined)?.get('inputs');
      if (!(inputs instanceof Map)) continue;
      for (const value of inputs.values()) {
        if (!isLink(value)) continue;
        const from = value[0];
        if (!this.prompt.has(from)) continue;
        if (!this.isCached(from)) stack.push(from);
        links.push([from, linkSlot(value), current]);
      }
    }
    for (const [from, slot, to] of links) {
      if (this.isCached(from)) continue;
      this.addNode(from);
      const blocked = this.blocking.get(from)!;
      if (!blocked.has(to)) {
        blocked.set(to, new Set());
        this.blockCount.set(to, this.blockCount.get(to)! + 1);
      }
      blocked.get(to)!.add(slot);
    }
  }

  /** The next node, or a cycle error when nothing is ready. */
  stage(): { id: string } | { cycle: string } {
    const ready = [...this.pending.keys()].filter((id) => this.blockCount.get(id) === 0);
    if (ready.length === 0) return { cycle: [...this.pending.keys()][0] };
    const pick =
      ready.find((id) => this.isOutput(id)) ??
      ready.find((id) => [...this.blocking.get(id)!.keys()].some((b) => this.isOutput(b))) ??
      ready.find((id) => [...this.blocking.get(id)!.keys()].some((b) => [...(this.blocking.get(b)?.keys() ?? [])].some((c) => this.isOutput(c)))) ??
      ready[0];
    return { id: pick };
  }

  complete(id: string): void {
    this.pending.delete(id);
    for (const blocked of this.blocking.get(id)!.keys()) this.blockCount.set(blocked, this.blockCount.get(blocked)! - 1);
    this.blocking.delete(id);
  }
}

interface ProgressEntry {
  value: number | PyFloat;
  max: number | PyFloat;
  state: 'pending' | 'running' | 'finished';
}

/** The outcome `task_done` stores. */
export interface ExecutionOutcome {
  success: boolean;
  messages: [string, PyObject][];
  outputs: PyDict;
  meta: PyDict;
}

/** `PromptExecutor` plus the parts of `PromptServer` it drives (client id, last node, interrupt flag). */
export class PromptExecutor {
  private readonly outputCache = new Map<string, CacheEntry>();
  private readonly objects = new Map<string, Map<string, unknown>>();
  private uniqueToken = 0;

  /** `server.client_id`: the current (or last) prompt's `client_id`, the routing target. */
  clientId: PyValue = null;
  /** `server.last_node_id`: set while a prompt with a client runs. */
  lastNodeId: string | null = null;
  private interruptFlag = false;

  constructor(private readonly host: ExecutorHost) {}

  /** `nodes.interrupt_processing()`: takes effect at the next node start or progress tick. */
  interrupt(): void {
    this.interruptFlag = true;
  }

  /** Forgets cached outputs and node objects (the simulator's reset). */
  resetCaches(): void {
    this.outputCache.clear();
    this.objects.clear();
  }

  /** Runs one prompt to its end (success, error or interrupt) and returns what history records. */
  async execute(prompt: PyDict, promptId: string, extraData: PyDict, outputsToExecute: readonly string[]): Promise<ExecutionOutcome> {
    const host = this.host;
    const settings = host.settings();
    const faults = { drop: host.faults.drop, stall: host.faults.stall, flood: host.faults.flood };
    host.faults.drop = undefined;
    host.faults.stall = undefined;
    host.faults.flood = undefined;
    this.interruptFlag = false;
    this.clientId = extraData.has('client_id') ? (extraData.get('client_id') ?? null) : null;
    const clientId = this.clientId;
    const messages: [string, PyObject][] = [];
    let sent = 0;
    const counted = () => {
      sent++;
      if (faults.drop?.afterMessages !== undefined && sent >= faults.drop.afterMessages) {
        faults.drop = undefined;
        host.hub.terminateAll(true);
        host.onFault('drop', promptId);
      }
    };
    const send = (event: string, data: PyValue, sid: PyValue) => {
      host.hub.sendJson(event, data, sid);
      counted();
    };
    const addMessage = (event: string, data: PyObject, broadcast: boolean) => {
      const full: PyObject = { ...data, timestamp: Date.now() };
      messages.push([event, full]);
      if (clientId !== null || broadcast) send(event, full, clientId);
    };

    addMessage('execution_start', { prompt_id: promptId }, false);

    const progress = new Map<string, ProgressEntry>();
    const sendProgressState = () => {
      if (settings.oldServer) return;
      const nodes = new Map<string, PyValue>();
      for (const [id, p] of progress) {
        if (p.state === 'pending') continue;
        nodes.set(id, { value: p.value, max: p.max, state: p.state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id });
      }
      send('progress_state', { prompt_id: promptId, nodes }, clientId);
    };
    const entry = (id: string) => {
      let p = progress.get(id);
      if (!p) {
        p = { value: 0, max: 1, state: 'pending' };
        progress.set(id, p);
      }
      return p;
    };

    const sigs = await this.signatures(prompt);
    for (const key of [...this.outputCache.keys()]) if (![...sigs.values()].includes(key)) this.outputCache.delete(key);
    const objectKeys = new Set([...prompt].map(([id, n]) => `${id}\0${pyStr((n as PyDict).get('class_type'))}`));
    for (const key of [...this.objects.keys()]) if (!objectKeys.has(key)) this.objects.delete(key);
    const cachedEntry = (id: string) => this.outputCache.get(sigs.get(id) ?? '');
    addMessage('execution_cached', { nodes: [...prompt.keys()].filter((id) => cachedEntry(id) !== undefined), prompt_id: promptId }, false);

    const classOf = (id: string) => host.classes.get((prompt.get(id) as PyDict).get('class_type') as string)!;
    const list = new ExecutionList(prompt, (id) => cachedEntry(id) !== undefined, (id) => prompt.has(id) && classOf(id).outputNode);
    for (const o of outputsToExecute) list.addNode(o);
    const currentOutputs = [...PySet.of(host.hasher, prompt.keys())];
    const executed = new PySet(host.hasher);
    const results = new Map<string, NodeValue[]>();
    const uiOutputs = new Map<string, PyDict>();
    let failure: PyObject | undefined;
    let interruptedAt: string | undefined;

    const checkInterrupt = () => {
      if (this.interruptFlag) {
        this.interruptFlag = false;
        throw new InterruptProcessing();
      }
    };
    const outputOf = (id: string): NodeValue[] | undefined => results.get(id) ?? cachedEntry(id)?.outputs;
    let runWorkMs = settings.runMs * host.timeScale;

    const flood = async (id: string) => {
      const f = faults.flood;
      if (!f) return;
      faults.flood = undefined;
      host.onFault('flood', promptId);
      for (let i = 0; i < f.messages; i++) {
        send('progress', { value: i + 1, max: f.messages, prompt_id: promptId, node: id }, clientId);
        if (i % 256 === 255) await host.hub.waitForCapacity();
      }
      const base = await encodePng({ width: 8, height: 8, channels: 3, row: () => Buffer.alloc(24, 0x80) }, { compressLevel: 1 });
      const padding = Math.max(0, f.previewBytes - base.length - 12);
      const image = padding > 0 ? await encodePng({ width: 8, height: 8, channels: 3, row: () => Buffer.alloc(24, 0x80) }, { compressLevel: 1, padding }) : base;
      for (let i = 0; i < f.previews; i++) {
        this.sendPreview(image, id, promptId, settings);
        counted();
        await host.hub.waitForCapacity();
      }
    };

    const holdIfStalled = async (id: string, running: boolean) => {
      const s = faults.stall;
      if (!s || (s.atNode !== undefined && s.atNode !== id) || (s.whileRunning ?? false) !== running) return;
      faults.stall = undefined;
      host.onFault('stall', promptId);
      await abortable(s.ms !== undefined ? delay(s.ms) : host.stallCleared(), host.signal);
    };

    while (!list.empty) {
      const staged = list.stage();
      if ('cycle' in staged) {
        failure = { node_id: staged.cycle, exception_message: 'Dependency cycle detected\n', exception_type: 'graph.DependencyCycleError', traceback: [], current_inputs: [] };
        break;
      }
      const id = staged.id;
      await holdIfStalled(id, false);
      if (host.signal.aborted) return { success: false, messages, outputs: new Map(), meta: new Map() };
      if (faults.drop?.atNode === id) {
        faults.drop = undefined;
        host.hub.terminateAll(true);
        host.onFault('drop', promptId);
      }
      const node = prompt.get(id) as PyDict;
      const cls = classOf(id);
      const cached = cachedEntry(id);
      if (cached) {
        if (clientId !== null) send('executed', { node: id, display_node: id, output: cached.ui ?? null, prompt_id: promptId }, clientId);
        if (cached.ui) uiOutputs.set(id, cached.ui);
        const p = entry(id);
        p.state = 'finished';
        p.value = p.max;
        sendProgressState();
        results.set(id, cached.outputs);
        list.complete(id);
        continue;
      }

      const p = entry(id);
      p.state = 'running';
      p.value = new PyFloat(0);
      p.max = new PyFloat(1);
      sendProgressState();
      const inputs = this.inputData(node, cls, id, prompt, extraData, outputOf);
      if (clientId !== null) {
        this.lastNodeId = id;
        send('executing', { node: id, display_node: id, prompt_id: promptId }, clientId);
      }
      let state = this.objects.get(`${id}\0${cls.name}`);
      if (!state) {
        state = new Map();
        this.objects.set(`${id}\0${cls.name}`, state);
      }
      const ctx: NodeContext = {
        nodeId: id,
        folders: host.folders,
        state,
        progress: async (value, total, preview, previewFormat = 'png') => {
          checkInterrupt();
          p.state = 'running';
          p.value = value;
          p.max = total;
          sendProgressState();
          const jpeg = previewFormat === 'jpeg';
          const image = preview ? (jpeg ? encodeJpeg(preview.width, preview.height, imageRgba(preview), 95) : await imagePng(preview, 1)) : undefined;
          const meta = image !== undefined && !settings.oldServer && host.hub.supportsPreviewMetadata(clientId);
          if (image && meta) {
            host.hub.sendPreviewWithMetadata(image, this.previewMetadata(id, promptId, jpeg ? 'image/jpeg' : 'image/png'), clientId);
            counted();
          }
          send('progress', { value, max: total, prompt_id: promptId, node: id }, clientId);
          if (image && !meta) {
            host.hub.sendPreview(image, clientId, jpeg ? PreviewFormat.jpeg : PreviewFormat.png);
            counted();
          }
        },
        step: () => {
          const ms = settings.stepDelayMs * host.timeScale;
          return ms > 0 ? abortable(delay(ms), host.signal) : Promise.resolve();
        },
        sendText: (text) => {
          if (settings.oldServer) return;
          host.hub.sendText(id, text);
          counted();
        },
      };
      try {
        checkInterrupt();
        await flood(id);
        await holdIfStalled(id, true);
        await this.runWork(runWorkMs, ctx);
        runWorkMs = 0;
        await this.work(cls.name, settings, ctx);
        const result = await cls.run(inputs, ctx);
        let ui = result.ui && result.ui.size > 0 ? result.ui : undefined;
        if (ui && settings.hostile) ui = await this.hostile(ui);
        if (ui) {
          uiOutputs.set(id, ui);
          if (clientId !== null) send('executed', { node: id, display_node: id, output: ui, prompt_id: promptId }, clientId);
        }
        results.set(id, result.outputs);
        this.outputCache.set(sigs.get(id)!, { outputs: result.outputs, ui });
        p.state = 'finished';
        p.value = p.max;
        sendProgressState();
        executed.add(id);
        list.complete(id);
      } catch (e) {
        if (host.signal.aborted) return { success: false, messages, outputs: new Map(), meta: new Map() };
        if (e instanceof InterruptProcessing) {
          interruptedAt = id;
          break;
        }
        const err = e instanceof PyError ? e : new PyError(e instanceof Error ? e.name : 'Exception', e instanceof Error ? e.message : String(e));
        const formatted: PyObject = {};
        for (const [name, v] of Object.entries(inputs)) formatted[name] = [formatValue(v)];
        failure = {
          node_id: id,
          exception_message: `${err.message}\n`,
          exception_type: err.pyType,
          traceback: [...EXECUTION_TRACEBACK, ...(err.frames ?? [`  File "/opt/ComfyUI/nodes.py", line 1, in ${cls.name}\n    raise ${err.pyType}(${pyRepr(err.message)})\n`])],
          current_inputs: formatted,
        };
        break;
      }
    }

    if (interruptedAt !== undefined) {
      addMessage('execution_interrupted', { prompt_id: promptId, node_id: interruptedAt, node_type: classOf(interruptedAt).name, executed: [...executed] }, true);
    } else if (failure) {
      const nodeId = failure.node_id as string;
      addMessage(
        'execution_error',
        {
          prompt_id: promptId,
          node_id: nodeId,
          node_type: classOf(nodeId).name,
          executed: [...executed],
          exception_message: failure.exception_message,
          exception_type: failure.exception_type,
          traceback: failure.traceback,
          current_inputs: failure.current_inputs,
          current_outputs: currentOutputs,
        },
        false,
      );
    } else {
      addMessage('execution_success', { prompt_id: promptId }, false);
    }

    const outputs = new Map<string, PyValue>();
    const meta = new Map<string, PyValue>();
    for (const id of PySet.of(host.hasher, prompt.keys())) {
      const ui = uiOutputs.get(id);
      if (!ui) continue;
      outputs.set(id, ui);
      meta.set(id, { node_id: id, display_node: id, parent_node: null, real_node_id: id });
    }
    this.lastNodeId = null;
    return { success: interruptedAt === undefined && failure === undefined, messages, outputs, meta };
  }

  /** Sends a preview of the running prompt's node to its client (or everyone without one). */
  private sendPreview(png: Buffer, nodeId: string, promptId: string, settings: ExecutionSettings): void {
    if (!settings.oldServer && this.host.hub.supportsPreviewMetadata(this.clientId)) this.host.hub.sendPreviewWithMetadata(png, this.previewMetadata(nodeId, promptId), this.clientId);
    else this.host.hub.sendPreview(png, this.clientId);
  }

  private previewMetadata(nodeId: string, promptId: string, imageType = 'image/png'): PyObject {
    return { node_id: nodeId, prompt_id: promptId, display_node_id: nodeId, parent_node_id: null, real_node_id: nodeId, image_type: imageType };
  }

  /** The prompt's own work time (`runMs`), in progress ticks of at most 250 ms that an interrupt stops. */
  private async runWork(ms: number, ctx: NodeContext): Promise<void> {
    if (ms <= 0) return;
    const ticks = Math.ceil(ms / 250);
    for (let tick = 1; tick <= ticks; tick++) {
      await abortable(delay(ms / ticks), this.host.signal);
      await ctx.progress(tick, ticks);
    }
  }

  /** The node's work time, with progress ticks when configured for its class. */
  private async work(className: string, settings: ExecutionSettings, ctx: NodeContext): Promise<void> {
    const ms = (settings.classDelayMs[className] ?? settings.nodeDelayMs) * this.host.timeScale;
    const steps = settings.progressSteps[className] ?? 0;
    if (steps <= 0) {
      if (ms > 0) await abortable(delay(ms), this.host.signal);
      return;
    }
    for (let step = 1; step <= steps; step++) {
      if (ms > 0) await abortable(delay(ms / steps), this.host.signal);
      await ctx.progress(step, steps);
    }
  }

  /** `get_input_data`: links from upstream outputs (None when missing), declared literals, hidden inputs. */
  private inputData(node: PyDict, cls: NodeClass, id: string, prompt: PyDict, extraData: PyDict, outputOf: (id: string) => NodeValue[] | undefined): Record<string, NodeValue> {
    const types = cls.objectInfo(this.host.folders).input;
    const declared = (name: string) => name in (types.required ?? {}) || name in (types.optional ?? {});
    const out: Record<string, NodeValue> = {};
    const inputs = node.get('inputs');
    if (inputs instanceof Map) {
      for (const [name, value] of inputs) {
        if (isLink(value)) {
          const upstream = outputOf(value[0]);
          const slot = linkSlot(value);
          out[name] = upstream && slot < upstream.length ? upstream[slot]! : null;
        } else if (declared(name)) {
          out[name] = value;
        }
      }
    }
    for (const [name, hidden] of Object.entries(types.hidden ?? {})) {
      const kind = hiddenKind(hidden);
      if (kind === 'PROMPT') out[name] = prompt;
      else if (kind === 'EXTRA_PNGINFO') out[name] = extraData.get('extra_pnginfo') ?? null;
      else if (kind === 'UNIQUE_ID') out[name] = id;
    }
    return out;
  }

  /** Cache keys (`CacheKeySetInputSignature`): class, IS_CHANGED value, literal inputs and the ancestors' keys. */
  private async signatures(prompt: PyDict): Promise<Map<string, string>> {
    const isChanged = new Map<string, string>();
    for (const [id, node] of prompt) {
      const n = node as PyDict;
      const cls = this.host.classes.get(n.get('class_type') as string)!;
      if (!cls.isChanged) {
        isChanged.set(id, 'false');
        continue;
      }
      if (!n.has('is_changed')) {
        const literals: Record<string, NodeValue> = {};
        const inputs = n.get('inputs');
        if (inputs instanceof Map) for (const [k, v] of inputs) literals[k] = isLink(v) ? null : v;
        try {
          n.set('is_changed', [await cls.isChanged(literals, this.host.folders)]);
        } catch {
          n.set('is_changed', new PyFloat(NaN));
        }
      }
      const value = n.get('is_changed') ?? null;
      // NaN never equals itself in Python, so such a node is never a cache hit.
      isChanged.set(id, value instanceof PyFloat && Number.isNaN(value.value) ? `nan${this.uniqueToken++}` : pyDumps(value));
    }
    const sigs = new Map<string, string>();
    const visiting = new Set<string>();
    const sig = (id: string): string => {
      const known = sigs.get(id);
      if (known !== undefined) return known;
      const node = prompt.get(id);
      if (!(node instanceof Map) || visiting.has(id)) return `unique${this.uniqueToken++}`;
      visiting.add(id);
      const cls = this.host.classes.get(node.get('class_type') as string)!;
      const inputs = node.get('inputs');
      const parts: PyValue[] = [cls.name, isChanged.get(id) ?? 'false'];
      if (cls.usesUniqueId) parts.push(id);
      if (inputs instanceof Map) {
        for (const key of [...inputs.keys()].sort()) {
          const v = inputs.get(key) ?? null;
          parts.push([key, isLink(v) ? ['ANCESTOR', sig(v[0]), linkSlot(v)] : v]);
        }
      }
      visiting.delete(id);
      // A digest, not the text: a parent embeds its ancestors' keys, and text nested in text is
      // escaped again at every level, so a chain of 40 nodes made keys of gigabytes.
      const s = createHash('sha256').update(pyDumps(parts)).digest('hex');
      sigs.set(id, s);
      return s;
    };
    for (const id of prompt.keys()) sig(id);
    return sigs;
  }

  /** Writes the servable hostile files (a copy of the node's first output) and reports the hostile list. */
  private async hostile(ui: PyDict): Promise<PyDict> {
    const out = new Map(ui);
    for (const [key, value] of ui) {
      if (!Array.isArray(value) || !value.some((v) => v instanceof Map && v.has('filename'))) continue;
      const first = value.find((v): v is PyDict => v instanceof Map && v.has('filename'))!;
      const dir = this.host.folders.directoryByType(pyStr(first.get('type')));
      let content: Buffer;
      try {
        content = await fs.promises.readFile(pypath.join(dir ?? this.host.folders.output, pyStr(first.get('subfolder') ?? ''), pyStr(first.get('filename'))));
      } catch {
        content = await imagePng(solidImage(8, 8, 0xff0000), 1);
      }
      for (const h of HOSTILE_ENTRIES) if (h.servable) await fs.promises.writeFile(pypath.join(this.host.folders.output, h.filename), content);
      out.set(
        key,
        HOSTILE_ENTRIES.map(
          (h) =>
            new Map<string, PyValue>([
              ['filename', h.filename],
              ['subfolder', h.subfolder],
              ['type', h.type],
            ]),
        ),
      );
    }
    return out;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `p`, or as soon as `signal` aborts (the simulator is closing). */
function abortable(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    p.then(done, done);
  });
}
