import { randomUUID } from 'node:crypto';
import { sleep, systemClock, type Clock } from '../base/clock';
import { Emitter, type Event } from '../base/event';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import * as path from 'node:path';
import { ComfyClient, WorkflowRejectedError, contentDerivedName, hasScopedInterrupt } from '../api/comfyClient';
import { LocalFileChangedError } from '../api/multipart';
import { ComfySocket, type ComfyMessage } from '../api/comfySocket';
import { type ApiPrompt, type HistoryEntry, type NodeOutput, type OutputFileRef } from '../api/comfyTypes';
import { type DynamicPromptText } from './convert/convertUiWorkflow';
import { ApiError, CancelledError, InvalidRequestError, isCancellation } from '../api/errors';
import { sharedInputHashCache, type InputHash, type InputHashCache } from './inputHashCache';
import { InputRefusedError, inputLabel, openInput, refusalMessage, type InputPolicy, type OpenedInput } from './inputPolicy';
import { nodeInSentence, rejectionMessage, serverNodeErrorText, type NodeNaming } from './workflowMessages';
import { OutputSaver, listOutputFiles, type OutputFile, type OutputRef, type OutputSlot, type OutputsSource } from './outputSaver';
import { type NodeRef, type RunEvent, type RunFailure, type RunResult, type RunStatus, type SavedOutput } from './runEvents';
import { backoffDelayMs } from '../base/backoff';

/** A file input of the workflow that names a local file: uploaded first, then replaced by the server's name. */
export interface RunLocalInput {
  readonly nodeId: string;
  readonly inputName: string;
  readonly absPath: string;
  /** The value as the workflow wrote it, for messages; default `absPath`. */
  readonly value?: string;
}

/** What a run needs. Everything that varies is injected, so tests run real servers with short timers. */
export interface RunEngineOptions {
  /** The prompt to queue, after local analysis and overrides. The engine does not modify it. */
  readonly prompt: ApiPrompt;
  /** Local files to upload first. */
  readonly localInputs?: readonly RunLocalInput[];
  /**
   * Which local files may be uploaded. Every file is checked again as it is opened, before anything
   * is sent, and the bytes uploaded are read from that opened file; one refused file refuses the
   * run. Without a policy no local file is uploaded.
   */
  readonly inputPolicy?: InputPolicy;
  /** Warnings found before the run (local analysis), reported first and kept in the result. */
  readonly warnings?: readonly string[];
  /** For a prompt converted from the UI format: the dynamic-prompt choices made, recorded in run.json. */
  readonly dynamicPrompts?: readonly DynamicPromptText[];
  readonly comfyUrl: string;
  /** The folder the run's folder is created under (`<root>/<workflow name>/<time>-<prompt id>/`). */
  readonly outputRoot: string;
  /** The folder the run folder must stay inside after symlinks (see `OutputLocation.within`). */
  readonly outputWithin?: string;
  /** Names the run's parent folder; usually the workflow file name without `.json`. */
  readonly workflowName: string;
  /** The workflow file as the user knows it, for run.json. */
  readonly workflowFile?: string;
  /** The RunComfy machine type the run goes to, for run.json (the sweep estimate reads it back). */
  readonly machineType?: string;
  /** `ui` when the prompt was converted from a UI-format file; recorded in run.json. */
  readonly convertedFrom?: 'ui';
  /** Aborting it interrupts the run (a pending prompt is removed, a running one interrupted) and the run then ends as interrupted. */
  readonly signal?: AbortSignal;
  /** Default: a fresh uuid per run, so no other run's socket shares it. */
  readonly clientId?: string;
  readonly clock?: Clock;
  readonly createClient?: (comfyUrl: string) => ComfyClient;
  readonly createSocket?: (comfyUrl: string, clientId: string) => ComfySocket;
  /** No message about our prompt for this long: ask /queue and /history what happened. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Consecutive failed reconciliations (server unreachable) before the run gives up. Default 10. */
  readonly maxReconcileFailures?: number;
  /** `GET /history/{id}` answers `{}` for a moment after the end: how many such answers are waited out. Default 5. */
  readonly historyAttempts?: number;
  /** First pause between history reads, doubled per retry (up to 5 s). Default 300 ms. */
  readonly historyRetryDelayMs?: number;
  /**
   * How long a history that fails (5xx, timeouts, a dropped connection) is retried before the run
   * falls back to the outputs its `executed` messages announced. Default 60 s.
   */
  readonly historyTimeoutMs?: number;
  /** Where the sha256 of local inputs is remembered between runs; default the process's, in the cache folder (`sharedInputHashCache`). */
  readonly hashCache?: InputHashCache;
  /** Outputs downloaded at once, as the run announces them. Default 4. */
  readonly downloadConcurrency?: number;
  /** Tries per output download. Default 3. */
  readonly downloadAttempts?: number;
  readonly downloadRetryDelayMs?: number;
  /** How long a server answering 403/502-504 (a machine's ComfyUI still booting behind its proxy) is waited for. Default 60 s. */
  readonly readyTimeoutMs?: number;
}

type Phase = 'preparing' | 'queued' | 'running' | 'finishing' | 'done';

/** A read of our history entry: the entry; none (`{}` on every try); or the error that outlasted the retries. */
type HistoryRead = { readonly entry: HistoryEntry } | { readonly entry: undefined; readonly error?: Error };

/** Terminal outcome as the server reported it. */
interface Outcome {
  readonly status: RunStatus;
  readonly failure?: RunFailure;
}

/** While the prompt id is unknown, the held messages are compacted each time they reach this many. */
const compactBufferAt = 1024;
/** Node text frames (sent to every socket, often other users') held at most while the prompt id is unknown. */
const maxHeldTexts = 100;

/**
 * One run of a prompt on a ComfyUI server: upload local inputs, queue, follow the websocket,
 * download every output exactly once, write run.json. Reports through `onEvent` (see
 * {@link RunEvent}); `run()` resolves with the result and never rejects for a failure of the run
 * itself (rejection, execution error, lost prompt, failed download): those are in the result.
 *
 * The message path is kept lean (a map lookup and one event per message, only the latest preview
 * referenced) because a sampler can send thousands of progress messages and previews.
 */
export class RunEngine extends DisposableObject {
  private readonly _onEvent = this._register(new Emitter<RunEvent>());
  /** Every event of the run, in order; `finished` is last. */
  readonly onEvent: Event<RunEvent> = this._onEvent.event;

  private readonly clock: Clock;
  private readonly clientId: string;
  private readonly client: ComfyClient;
  private readonly socket: ComfySocket;
  private readonly nodes = new Map<string, NodeRef>();
  private readonly warnings: string[] = [];
  /** Warnings run.json lists besides the saver's own. */
  private readonly recordWarnings: string[] = [];
  private readonly uploads: { localPath: string; serverName: string }[] = [];
  /** Saved outputs with the order of their slots (announcement order), whatever order they finished in. */
  private readonly saved: { readonly output: SavedOutput; readonly seq: number }[] = [];
  /** Every download started, by file: each file is saved once, whether announced live, by history, or both. */
  private readonly downloads = new Map<string, Promise<void>>();
  private readonly downloadSlots: Slots;
  /** The files of the final list (history's, or the live messages' when history is unreadable), once known. */
  private listed: Set<string> | undefined;
  /** Output files listed by `executed` messages, a fallback when history cannot be read. */
  private readonly executedOutputs = new Map<string, NodeOutput>();
  private readonly lifetime = new AbortController();
  /** Aborted by an interrupt before the prompt is queued. */
  private readonly preparation = new AbortController();
  private readonly idleTimeoutMs: number;

  private phase: Phase = 'preparing';
  private promptId: string | undefined;
  private promptNumber = Number.NaN;
  private position = -1;
  private buffered: ComfyMessage[] | undefined = [];
  private compactAt = compactBufferAt;
  private outcome: Outcome | undefined;
  private outcomeReported = false;
  private activity = 0;
  private watchdog: Disposable | undefined;
  private reconcileFailures = 0;
  private reconciling: Promise<void> | undefined;
  private finishing: Promise<void> | undefined;
  private interruptRequested = false;
  private interrupting: Promise<void> | undefined;
  private resolveEnd!: () => void;
  private readonly ended = new Promise<void>((resolve) => (this.resolveEnd = resolve));
  private fatal: RunFailure | undefined;
  private started = false;
  private _latestPreview: { readonly mime: string; readonly image: Buffer } | undefined;
  private runPromise: Promise<RunResult> | undefined;
  /** The prompt as queued (with uploaded names), for run.json. */
  private sentPrompt: ApiPrompt | undefined;
  private saver: Promise<OutputSaver> | undefined;
  private queuedAt = 0;
  private serverStartedAt: number | undefined;
  private serverFinishedAt: number | undefined;
  private outputsFrom: OutputsSource | undefined;
  /** `system_stats.comfyui_version`, read by the readiness probe. */
  private serverVersion: string | undefined;
  /** The server honours `POST /interrupt {prompt_id}`; unknown until the probe answered, and then only for known versions. */
  private scopedInterrupts = false;

  constructor(private readonly options: RunEngineOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.clientId = options.clientId ?? randomUUID();
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.downloadSlots = new Slots(Math.max(1, options.downloadConcurrency ?? 4));
    this.client = options.createClient?.(options.comfyUrl) ?? new ComfyClient({ baseUrl: options.comfyUrl, clock: this.clock });
    this.socket = this._register(
      options.createSocket?.(options.comfyUrl, this.clientId) ?? new ComfySocket({ baseUrl: options.comfyUrl, clientId: this.clientId, clock: this.clock }),
    );
    for (const [id, node] of Object.entries(options.prompt)) {
      this.nodes.set(id, { id, classType: node.class_type, title: node._meta?.title });
    }
  }

  /** The server's id of our prompt, once queued. */
  get currentPromptId(): string | undefined {
    return this.promptId;
  }

  /** The most recent preview image (only that one is kept). */
  get latestPreview(): { readonly mime: string; readonly image: Buffer } | undefined {
    return this._latestPreview;
  }

  /** True once the prompt ended and the run is collecting outputs or done. */
  private get over(): boolean {
    return this.phase === 'done' || this.phase === 'finishing';
  }

  /** Runs once; later calls return the same promise. */
  run(): Promise<RunResult> {
    this.runPromise ??= this.execute();
    return this.runPromise;
  }

  /**
   * Stops our prompt, and only ours: a pending prompt is deleted from the queue; a running one
   * gets `POST /interrupt {prompt_id}`, sent only after `/queue` shows it is the running one
   * (older servers ignore the id and would stop whatever runs). The run then ends as interrupted.
   * When that cannot be done safely, nothing is interrupted and a `warning` event says why.
   */
  interrupt(): Promise<void> {
    this.interruptRequested = true;
    if (this.promptId === undefined) {
      // Not queued yet: stop a connection attempt or an upload in flight; queueing is skipped.
      this.preparation.abort();
      return Promise.resolve();
    }
    if (this.over) return Promise.resolve();
    this.interrupting ??= this.interruptQueued().finally(() => (this.interrupting = undefined));
    return this.interrupting;
  }

  /**
   * Ends a run in progress here (its socket, timers and transfers) without interrupting it on the
   * server: a window that reloads should not cost the user a long render. `run()` then resolves.
   */
  override dispose(): void {
    if (this.runPromise !== undefined && this.phase !== 'done') {
      this.fatal ??= {
        kind: 'cancelled',
        type: 'abandoned',
        message: `The run was left when its window closed${this.promptId === undefined ? ', before the prompt was queued' : `; prompt ${this.promptId} may still run on the server, and its outputs stay there`}.`,
        details: '',
        nodeErrors: null,
      };
    }
    this.lifetime.abort();
    this.watchdog?.dispose();
    this.resolveEnd();
    super.dispose();
  }

  private async execute(): Promise<RunResult> {
    const startedAt = this.clock.now();
    const onAbort = () => void this.interrupt();
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.options.signal?.aborted) onAbort();
    try {
      await this.prepareAndQueue();
      if (this.fatal === undefined && this.outcome?.status !== 'interrupted') {
        this.armWatchdog();
        await this.ended;
      }
    } catch (e) {
      this.fatal ??= failureOf(e, (id) => this.nodes.get(id));
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
      this.watchdog?.dispose();
    }
    return this.conclude(startedAt);
  }

  private async prepareAndQueue(): Promise<void> {
    for (const w of this.options.warnings ?? []) this.warn(w);
    this._register(this.socket.onMessage((m) => this.onMessage(m)));
    this._register(
      this.socket.onDidDisconnect(({ reason }) => {
        if (this.phase !== 'done') this.emit({ type: 'connection', state: 'lost', reason });
      }),
    );
    this._register(
      this.socket.onDidReconnect(() => {
        if (this.phase === 'done') return;
        this.emit({ type: 'connection', state: 'restored' });
        void this.reconcile();
      }),
    );
    const prep = AbortSignal.any([this.preparation.signal, this.lifetime.signal]);
    // Before the server hears from us: a refused input means nothing at all is sent.
    const files = await this.openInputs();
    let prompt: ApiPrompt;
    try {
      await this.waitUntilReady(prep);
      await this.socket.connect(prep);
      prompt = await this.uploadInputs(files, prep);
    } finally {
      await Promise.all(files.map((f) => f.opened.handle.close().catch(() => undefined)));
    }
    if (this.interruptRequested) {
      this.report({ status: 'interrupted', failure: interruptedFailure(undefined) });
      return;
    }
    this.queuedAt = this.clock.now();
    const queued = await this.client.queuePrompt({ prompt, clientId: this.clientId, promptId: randomUUID() }, this.lifetime.signal);
    this.promptId = queued.promptId;
    this.promptNumber = queued.number;
    this.phase = 'queued';
    // ComfyUI queued the outputs that passed its checks and dropped the others; said in words, like a rejection.
    for (const n of queued.nodeErrors) {
      const node = this.nodes.get(n.nodeId);
      const label = nodeInSentence(n.nodeId, node?.classType ?? n.classType, node?.title);
      for (const e of n.errors) this.warn(`ComfyUI dropped an output: ${label}: ${serverNodeErrorText(e)}.`);
    }
    this.sentPrompt = prompt;
    // A prompt that already started needs no /queue round trip (which a busy server answers late).
    const started = this.buffered?.some((m) => (m.type === 'execution_start' || m.type === 'executing') && m.promptId === queued.promptId);
    const position = started ? 0 : await this.positionOf().catch(() => 1);
    this.position = position;
    this.emit({ type: 'queued', promptId: queued.promptId, number: queued.number, position });
    const buffered = this.buffered ?? [];
    this.buffered = undefined;
    for (const m of buffered) this.onMessage(m);
    if (this.interruptRequested && !this.over) await this.interrupt();
  }

  /**
   * Opens every local input through the input policy. All are checked before any is sent; when one
   * is refused, the others are closed and the run ends with every refusal.
   */
  private async openInputs(): Promise<{ input: RunLocalInput; opened: OpenedInput }[]> {
    const policy = this.options.inputPolicy ?? noUploads;
    const files: { input: RunLocalInput; opened: OpenedInput }[] = [];
    const refusals: string[] = [];
    for (const input of this.options.localInputs ?? []) {
      const result = await openInput(input.absPath, policy);
      if ('handle' in result) files.push({ input, opened: result });
      else {
        const node = this.nodeRef(input.nodeId);
        refusals.push(refusalMessage(inputLabel(node.id, node.classType, input.inputName), input.value ?? input.absPath, result.verdict));
      }
    }
    if (refusals.length > 0) {
      await Promise.all(files.map((f) => f.opened.handle.close().catch(() => undefined)));
      throw new InputRefusedError(refusals);
    }
    return files;
  }

  /**
   * Puts every local input on the server under its content-derived name, unless the server has it
   * already (`HEAD /view`, see `ComfyClient.hasInput`): hashes come from the hash cache when the
   * file is unchanged, so a second run neither reads nor sends an unchanged file. The bytes sent
   * are read from the opened, policy-checked handle, and the body is left unfinished (the server
   * saves nothing) if the file changed since it was hashed.
   */
  private async uploadInputs(files: readonly { input: RunLocalInput; opened: OpenedInput }[], signal: AbortSignal): Promise<ApiPrompt> {
    if (files.length === 0) return this.options.prompt;
    const prompt: ApiPrompt = {};
    for (const [id, node] of Object.entries(this.options.prompt)) prompt[id] = { ...node, inputs: { ...node.inputs } };
    const cache = this.options.hashCache ?? sharedInputHashCache();
    const placed = new Map<string, string>();
    try {
      for (const { input, opened } of files) {
        const node = this.nodeRef(input.nodeId);
        const hashed = await cache.hash(input.absPath, opened.handle, signal).catch((e: unknown) => {
          throw signal.aborted ? new CancelledError(`Upload ${path.basename(input.absPath)}: cancelled.`, { cause: e }) : new InvalidRequestError(`Cannot upload ${input.absPath}: ${(e as Error).message}.`, { cause: e });
        });
        const name = contentDerivedName(input.absPath, hashed.sha256);
        let reference = placed.get(name);
        let sent = false;
        if (reference === undefined) {
          const put = await this.place(input, opened, hashed, name, signal);
          reference = put.reference;
          sent = put.sent;
          placed.set(name, reference);
        }
        const target = prompt[input.nodeId];
        if (target) target.inputs[input.inputName] = reference;
        this.uploads.push({ localPath: input.absPath, serverName: reference });
        this.emit({ type: 'uploaded', node, input: input.inputName, localPath: input.absPath, reference, alreadyOnServer: !sent, bytes: sent ? Number(hashed.stats.size) : 0 });
      }
    } finally {
      await cache.save();
    }
    return prompt;
  }

  /**
   * One input onto this server: nothing when the server has its name, else an upload, shared with
   * any run of this process putting the same name on the same server at the same moment.
   * @returns the reference for the prompt, and whether this run sent the file.
   */
  private async place(input: RunLocalInput, opened: OpenedInput, hashed: InputHash, name: string, signal: AbortSignal): Promise<{ reference: string; sent: boolean }> {
    const key = `${this.client.baseUrl.href}\u0000${name}`;
    const elsewhere = placementsInFlight.get(key);
    if (elsewhere) {
      try {
        return { reference: await elsewhere, sent: false };
      } catch {
        // That run's placement failed (cancelled, say): this run tries its own.
      }
    }
    let sent = false;
    const placing = (async () => {
      if (await this.client.hasInput(name, { size: Number(hashed.stats.size) }, signal)) return name;
      sent = true;
      this.emit({ type: 'uploading', node: this.nodeRef(input.nodeId), input: input.inputName, localPath: input.absPath });
      const beforeEnd = async () => {
        const now = await opened.handle.stat({ bigint: true });
        if (now.size !== hashed.stats.size || now.mtimeNs !== hashed.stats.mtimeNs) {
          throw new LocalFileChangedError(`${input.absPath} changed while it was being uploaded; the server kept nothing of it. Run again once the file is no longer being written.`);
        }
      };
      return (await this.client.uploadFile(input.absPath, { file: opened.handle, sha256: hashed.sha256, verifySha256: hashed.racy, beforeEnd }, signal)).reference;
    })();
    placementsInFlight.set(key, placing);
    try {
      return { reference: await placing, sent };
    } finally {
      if (placementsInFlight.get(key) === placing) placementsInFlight.delete(key);
    }
  }

  /**
   * The readiness probe (`/system_stats`). A server that answers like a proxy in front of a booting
   * ComfyUI (403, 502-504) is waited for, with backoff, up to `readyTimeoutMs`; anything else (a
   * refused connection, a 404) fails fast, because it usually means a wrong URL.
   */
  private async waitUntilReady(signal: AbortSignal): Promise<void> {
    const deadline = this.clock.now() + (this.options.readyTimeoutMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        const stats = await this.client.getSystemStats(signal);
        this.serverVersion = typeof stats.system.comfyui_version === 'string' ? stats.system.comfyui_version : undefined;
        this.scopedInterrupts = hasScopedInterrupt(this.serverVersion);
        return;
      } catch (e) {
        const booting = e instanceof ApiError && e.status !== undefined && [403, 502, 503, 504].includes(e.status);
        const delay = backoffDelayMs(attempt + 1, { baseDelayMs: 500, maxDelayMs: 5000 });
        if (!booting || this.clock.now() + delay > deadline) throw e;
        if (attempt === 0) this.warn(`ComfyUI is not ready yet (HTTP ${e.status}); waiting for it.`);
        await sleep(delay, signal, this.clock);
      }
    }
  }

  /** 0 = running (or already done), n = n-th in line. */
  private async positionOf(): Promise<number> {
    const q = await this.client.getQueue(this.lifetime.signal);
    if (q.running.some((i) => i.promptId === this.promptId)) return 0;
    const index = q.pending.findIndex((i) => i.promptId === this.promptId);
    return index < 0 ? 0 : index + 1;
  }

  /** The hot path: route one message. Only messages about our prompt (or, without ids, while ours runs) pass. */
  private onMessage(m: ComfyMessage): void {
    if (this.buffered !== undefined) {
      this.hold(this.buffered, m);
      return;
    }
    if (this.over) return;
    switch (m.type) {
      case 'progress':
        if (m.promptId !== undefined ? m.promptId !== this.promptId : this.phase !== 'running') return;
        this.activity++;
        this.emit({ type: 'progress', node: m.node === undefined ? undefined : this.nodeRef(m.node), value: m.value, max: m.max });
        return;
      case 'executing':
        if (m.promptId !== undefined ? m.promptId !== this.promptId : this.phase !== 'running') return;
        this.activity++;
        if (m.node === null) {
          void this.finish();
          return;
        }
        this.markStarted();
        this.emit({ type: 'executing', node: this.nodeRef(m.node, m.displayNode) });
        return;
      case 'preview':
        if (m.promptId !== undefined ? m.promptId !== this.promptId : this.phase !== 'running') return;
        this.activity++;
        this._latestPreview = { mime: m.mime, image: m.image };
        this.emit({ type: 'preview', node: m.nodeId === undefined ? undefined : this.nodeRef(m.nodeId, m.displayNodeId), mime: m.mime, image: m.image });
        return;
      case 'progress_state':
        if (m.promptId === this.promptId) this.activity++;
        return;
      case 'text': {
        const node = this.nodes.get(m.nodeId);
        if (node && this.phase === 'running') this.emit({ type: 'text', node, text: m.text });
        return;
      }
      case 'execution_start':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.markStarted();
        return;
      case 'execution_cached':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.markStarted();
        this.emit({ type: 'cached', nodes: m.nodes.map((id) => this.nodeRef(id)) });
        return;
      case 'executed':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.executedOutputs.set(m.node, m.output);
        this.emit({ type: 'executed', node: this.nodeRef(m.node, m.displayNode), output: m.output });
        // Saved while the run goes on; history, read at the end, adds what the socket missed.
        this.download(listOutputFiles({ [m.node]: m.output }));
        return;
      case 'execution_success':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.report({ status: 'success' });
        return;
      case 'execution_error':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.report(executionFailure(m.nodeId === undefined ? undefined : this.nodeRef(m.nodeId), m.exceptionType, m.exceptionMessage, m.traceback));
        return;
      case 'execution_interrupted':
        if (m.promptId !== this.promptId) return;
        this.activity++;
        this.report({ status: 'interrupted', failure: interruptedFailure(m.nodeId === undefined ? undefined : this.nodeRef(m.nodeId)) });
        return;
      default:
        return;
    }
  }

  /**
   * Keeps a message that arrived before we knew our prompt id (the server may start, and even
   * finish, the prompt before POST /prompt answers). Step progress and previews only matter as
   * their latest value, so a flood of them is compacted away; every other message is kept.
   */
  private hold(buffer: ComfyMessage[], m: ComfyMessage): void {
    if (m.type === 'status' || m.type === 'logs' || m.type === 'feature_flags' || m.type === 'progress_state' || m.type === 'display_component') return;
    buffer.push(m);
    if (buffer.length < this.compactAt) return;
    let lastProgress = -1;
    let lastPreview = -1;
    for (let i = buffer.length - 1; i >= 0 && (lastProgress < 0 || lastPreview < 0); i--) {
      const type = buffer[i].type;
      if (type === 'progress' && lastProgress < 0) lastProgress = i;
      if (type === 'preview' && lastPreview < 0) lastPreview = i;
    }
    let texts = 0;
    const kept = buffer.filter((x, i) => {
      if (x.type === 'progress') return i === lastProgress;
      if (x.type === 'preview') return i === lastPreview;
      if (x.type === 'text') return ++texts <= maxHeldTexts;
      return true;
    });
    buffer.length = 0;
    buffer.push(...kept);
    // A graph with thousands of nodes keeps thousands of messages: compact again only after as many more.
    this.compactAt = Math.max(compactBufferAt, kept.length * 2);
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.serverStartedAt = this.clock.now();
    this.phase = 'running';
    this.emit({ type: 'started' });
  }

  /** Records the server's verdict and tells listeners, once. */
  private report(outcome: Outcome): void {
    this.outcome ??= outcome;
    if (this.outcomeReported) return;
    this.outcomeReported = true;
    const o = this.outcome;
    if (o.status === 'success') this.emit({ type: 'succeeded' });
    else if (o.status === 'interrupted') this.emit({ type: 'interrupted', node: o.failure?.node });
    else {
      this.emit({
        type: 'failed',
        node: o.failure?.node,
        exceptionType: o.failure?.type ?? 'Exception',
        message: o.failure?.details ?? o.failure?.message ?? '',
        traceback: o.failure?.traceback ?? [],
      });
    }
  }

  private nodeRef(id: string, displayId?: string): NodeRef {
    return this.nodes.get(id) ?? (displayId !== undefined ? this.nodes.get(displayId) : undefined) ?? { id };
  }

  /** The prompt is over (`executing null`, or history says so): read history, save outputs, once. */
  private finish(read?: HistoryRead): Promise<void> {
    this.finishing ??= this.collect(read)
      .catch((e: unknown) => {
        this.fatal ??= failureOf(e, (id) => this.nodes.get(id));
      })
      .finally(() => {
        this.phase = 'done';
        this.resolveEnd();
      });
    return this.finishing;
  }

  private async collect(known?: HistoryRead): Promise<void> {
    this.phase = 'finishing';
    this.watchdog?.dispose();
    const read = known ?? (await this.readHistory());
    const entry = read.entry;
    if (entry) this.report(outcomeFromHistory(entry, (id) => this.nodeRef(id)));
    else if (read.error === undefined) {
      this.warn('The server has no history entry for the prompt; the outputs announced over the websocket are saved instead.');
      this.report(this.outcome ?? { status: 'success' });
    } else {
      this.warn(`Could not read the prompt's history (${read.error.message}); the outputs announced over the websocket are saved instead.`);
    }
    this.outputsFrom = entry ? 'history' : 'live messages';
    const files = uniqueFiles(listOutputFiles(entry?.outputs ?? Object.fromEntries(this.executedOutputs)));
    this.listed = new Set(files.map(fileKey));
    this.serverFinishedAt = this.clock.now();
    this.download(files);
    await this.downloadsDone();
    if (!entry && read.error !== undefined) this.reportWithoutHistory(read.error, files.length);
  }

  /**
   * The verdict when history could not be read: the websocket's error or interrupt stands as it
   * is; otherwise the run is failed with exactly what is known (it finished, what was saved).
   */
  private reportWithoutHistory(error: Error, listed: number): void {
    if (this.outcome && this.outcome.status !== 'success') return;
    const saved = this.saved.length;
    const said = this.outcome?.status === 'success' ? ' (the server reported success over the websocket)' : '';
    const outputs = `${saved} output${saved === 1 ? ' was' : 's were'} saved from live messages${saved < listed ? ` (${listed} announced)` : ''}`;
    this.fatal ??= {
      kind: error instanceof ApiError && error.kind !== 'cancelled' ? error.kind : 'server',
      type: 'history_unreadable',
      message: `The run finished${said}; ${outputs}, history could not be read: ${error.message} Outputs announced while the websocket was down may be missing; they stay on the server.`,
      details: error.message,
      nodeErrors: null,
    };
  }

  /**
   * Reads our history entry. `{}` (not written yet, or gone) is asked again a few times; a failure
   * that may pass (5xx, timeout, dropped connection) is retried with backoff for up to
   * `historyTimeoutMs`. Rejects only when the run is disposed.
   */
  private async readHistory(): Promise<HistoryRead> {
    const emptyTries = this.options.historyAttempts ?? 5;
    const budgetMs = this.options.historyTimeoutMs ?? 60_000;
    const backoff = { baseDelayMs: this.options.historyRetryDelayMs ?? 300, maxDelayMs: 5000 };
    const budget = new AbortController();
    const timer = this.clock.setTimeout(() => budget.abort(), budgetMs);
    const signal = AbortSignal.any([this.lifetime.signal, budget.signal]);
    const outOfTime = (last: unknown): HistoryRead => ({
      entry: undefined,
      error: last instanceof Error && !isCancellation(last) ? last : new ApiError('timeout', `No answer from /history within ${Math.round(budgetMs / 1000)} s.`),
    });
    let empty = 0;
    let last: unknown;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const entry = await this.client.getHistoryEntry(this.promptId!, signal);
          if (entry) return { entry };
          if (++empty >= emptyTries) return { entry: undefined };
        } catch (e) {
          if (this.lifetime.signal.aborted) throw e;
          if (budget.signal.aborted) return outOfTime(last);
          if (!mayPass(e)) return { entry: undefined, error: e as Error };
          last = e;
        }
        try {
          await sleep(backoffDelayMs(attempt, backoff), signal, this.clock);
        } catch (e) {
          if (this.lifetime.signal.aborted) throw e;
          return outOfTime(last);
        }
      }
    } finally {
      timer.dispose();
    }
  }

  /** The run folder, created on first need (it is named after the prompt id, so only once queued). */
  private saverFor(promptId: string): Promise<OutputSaver> {
    this.saver ??= OutputSaver.create({ root: this.options.outputRoot, within: this.options.outputWithin, workflowName: this.options.workflowName, promptId, time: this.queuedAt }).then((saver) => {
      for (const w of saver.warnings) this.warn(w);
      return saver;
    });
    return this.saver;
  }

  /**
   * Starts saving each file not yet started, at most `downloadConcurrency` at a time. Slots in the
   * run folder are reserved in this order (the order of announcement), so names and the order of
   * run.json do not depend on which download ends first.
   */
  private download(files: readonly OutputFile[]): void {
    if (this.promptId === undefined || this.lifetime.signal.aborted) return;
    const saver = this.saverFor(this.promptId);
    for (const file of files) {
      const key = fileKey(file);
      if (this.downloads.has(key)) continue;
      const ref = { filename: file.filename, subfolder: file.subfolder, type: file.type, nodeId: file.nodeId, kind: file.key, animated: file.animated };
      // Callbacks of one promise run in the order they were added: slots are reserved in this loop's order.
      const slot = saver.then((s) => ({ saver: s, slot: s.reserve(ref) }));
      const done = slot.then(({ saver: s, slot: reserved }) => this.downloadSlots.run(() => this.downloadOne(file, ref, s, reserved)));
      // Failures are reported inside; a failure to create the run folder surfaces in downloadsDone().
      done.catch(() => undefined);
      this.downloads.set(key, done);
    }
  }

  /** Waits for every download started, including any started while waiting. */
  private async downloadsDone(): Promise<void> {
    for (let seen = -1; seen !== this.downloads.size; ) {
      seen = this.downloads.size;
      await Promise.all(this.downloads.values());
    }
  }

  /** One file, with bounded retries; a file that still fails is reported and the others are still saved. */
  private async downloadOne(file: OutputFile, ref: OutputRef & OutputFileRef, saver: OutputSaver, slot: OutputSlot): Promise<void> {
    const attempts = this.options.downloadAttempts ?? 3;
    const delay = this.options.downloadRetryDelayMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      if (this.lifetime.signal.aborted) return;
      try {
        const saved = await this.client.download(ref, (body, info) => saver.saveStream(ref, body, this.lifetime.signal, slot, info.contentLength), this.lifetime.signal);
        for (const w of saved.warnings) this.warn(w, false);
        const output: SavedOutput = {
          node: file.nodeId,
          key: file.key,
          filename: file.filename,
          subfolder: file.subfolder,
          type: file.type,
          path: saved.path,
          bytes: saved.bytes,
          ...(file.animated ? { animated: true } : {}),
          source: this.listed?.has(fileKey(file)) ? (this.outputsFrom ?? 'history') : 'live messages',
        };
        this.saved.push({ output, seq: slot.seq });
        this.emit({ type: 'outputSaved', output });
        return;
      } catch (e) {
        // A run left (window closed) stops its downloads; what was saved stays, and run.json says so.
        if (isCancellation(e) || this.lifetime.signal.aborted) return;
        // A refusal (/view 400/403) or a missing file will not change on a retry; a dropped connection or a 5xx may.
        const retryable = e instanceof ApiError && (e.kind === 'network' || e.kind === 'timeout' || (e.kind === 'server' && (e.status === undefined || e.status >= 500)));
        if (retryable && attempt < attempts) {
          await sleep(delay * attempt, this.lifetime.signal, this.clock).catch(() => undefined);
          continue;
        }
        const message = `Could not download an output of node ${file.nodeId}${retryable ? ` after ${attempt} attempts` : ''}: ${(e as Error).message}`;
        this.warn(message);
        this.fatal ??= {
          kind: e instanceof ApiError ? (e.kind === 'network' ? 'network' : 'server') : 'internal',
          type: 'download_failed',
          message,
          details: '',
          nodeErrors: null,
        };
        return;
      }
    }
  }

  private armWatchdog(): void {
    let seen = this.activity;
    const tick = () => {
      if (this.over) return;
      if (this.activity === seen) void this.reconcile();
      seen = this.activity;
      this.watchdog = this.clock.setTimeout(tick, this.idleTimeoutMs);
    };
    this.watchdog = this.clock.setTimeout(tick, this.idleTimeoutMs);
  }

  /** Asks the server where our prompt is: after a reconnect, and when nothing was heard for a while. */
  private reconcile(): Promise<void> {
    this.reconciling ??= this.doReconcile().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async doReconcile(): Promise<void> {
    if (this.promptId === undefined || this.over) return;
    try {
      const q = await this.client.getQueue(this.lifetime.signal);
      if (q.running.some((i) => i.promptId === this.promptId)) {
        this.reconcileFailures = 0;
        this.markStarted();
        return;
      }
      const index = q.pending.findIndex((i) => i.promptId === this.promptId);
      if (index >= 0) {
        this.reconcileFailures = 0;
        if (index + 1 !== this.position) {
          this.position = index + 1;
          this.emit({ type: 'queued', promptId: this.promptId, number: this.promptNumber, position: this.position });
        }
        return;
      }
      const read = await this.readHistory();
      this.reconcileFailures = 0;
      // Not queued, not running: it ended. An unreadable history still lets the live outputs be saved.
      if (read.entry || read.error !== undefined) {
        await this.finish(read);
        return;
      }
      if (this.over) return;
      this.fatal ??= {
        kind: 'server',
        type: 'prompt_lost',
        message: `Prompt ${this.promptId} is neither queued, running nor in the server's history: the server may have restarted, or someone removed it. Queue the workflow again.`,
        details: '',
        nodeErrors: null,
      };
      this.phase = 'done';
      this.resolveEnd();
    } catch (e) {
      if (isCancellation(e)) return;
      this.reconcileFailures++;
      if (this.reconcileFailures >= (this.options.maxReconcileFailures ?? 10)) {
        this.fatal ??= failureOf(e, (id) => this.nodes.get(id));
        this.phase = 'done';
        this.resolveEnd();
      }
    }
  }

  /**
   * Interrupts our queued prompt without touching anyone else's. The prompt id always goes in the
   * body, but only servers from {@link hasScopedInterrupt} honour it; older ones stop whatever
   * runs, so the interrupt is sent only while `/queue` shows ours running. When that cannot be
   * made sure of, nothing is interrupted and a warning says why.
   */
  private async interruptQueued(): Promise<void> {
    const id = this.promptId!;
    const signal = this.lifetime.signal;
    try {
      let where = await this.whereIs(id);
      if (where === 'pending') {
        await this.client.deleteFromQueue([id], signal);
        where = await this.whereIs(id);
        if (where === 'pending' || where === 'gone') {
          if (this.over) return;
          // A deleted pending prompt sends nothing more: end the run here.
          this.report({ status: 'interrupted', failure: interruptedFailure(undefined) });
          this.phase = 'done';
          this.resolveEnd();
          return;
        }
      }
      if (where === 'running') {
        if (this.over) return;
        if (!this.scopedInterrupts && this.outcome !== undefined) {
          // The websocket already gave our verdict: ours is finishing, and the next prompt may be someone else's.
          this.warn(`Did not interrupt prompt ${id}: it has just finished, and ${this.serverName()} would stop whatever runs next.`);
          return;
        }
        await this.client.interrupt(id, signal);
        return;
      }
      if (where === 'gone') {
        this.warn(`Nothing to interrupt: ${this.serverName()} no longer lists prompt ${id} as queued or running (it has just finished, or was removed); reading its result.`);
        void this.reconcile();
        return;
      }
      if (this.scopedInterrupts) {
        await this.client.interrupt(id, signal);
        return;
      }
      this.warn(
        `Did not interrupt prompt ${id}: ${this.serverName()} predates prompt-scoped interrupts (it would stop whatever runs), and its queue could not be read to make sure ours is the one running (${where.message}). Try again in a moment, or stop it from the ComfyUI page.`,
      );
    } catch (e) {
      if (!isCancellation(e)) this.warn(`Could not interrupt the prompt: ${(e as Error).message}`);
    }
  }

  /** Where `/queue` has our prompt, or why it could not be read. */
  private async whereIs(id: string): Promise<'pending' | 'running' | 'gone' | Error> {
    try {
      const q = await this.client.getQueue(this.lifetime.signal);
      if (q.running.some((i) => i.promptId === id)) return 'running';
      return q.pending.some((i) => i.promptId === id) ? 'pending' : 'gone';
    } catch (e) {
      if (isCancellation(e)) throw e;
      return e as Error;
    }
  }

  /** The saved outputs in the order their files were announced, each labelled with where the final list came from. */
  private outputsInOrder(): SavedOutput[] {
    return [...this.saved]
      .sort((a, b) => a.seq - b.seq)
      .map(({ output }) => {
        const key = fileKey(output);
        const source: OutputsSource = this.listed?.has(key) ? (this.outputsFrom ?? 'history') : 'live messages';
        return output.source === source ? output : { ...output, source };
      });
  }

  /** "this ComfyUI (version 0.3.40)", for messages about what the server can do. */
  private serverName(): string {
    const v = this.serverVersion;
    return v && v !== 'unknown' ? `this ComfyUI (version ${v})` : 'this ComfyUI (version unknown)';
  }

  /** `forRecord`: false for the saver's own rename warnings, which run.json already lists. */
  private warn(message: string, forRecord = true): void {
    this.warnings.push(message);
    if (forRecord) this.recordWarnings.push(message);
    this.emit({ type: 'warning', message });
  }

  private emit(e: RunEvent): void {
    this._onEvent.fire(e);
  }

  private async conclude(startedAt: number): Promise<RunResult> {
    this.socket.dispose();
    const outcome = this.outcome;
    const failure = this.fatal ?? (outcome?.status === 'success' ? undefined : outcome?.failure);
    const status: RunStatus = this.fatal ? (this.fatal.kind === 'interrupted' ? 'interrupted' : 'error') : (outcome?.status ?? 'error');
    const error = status === 'success' ? null : (failure ?? (status === 'interrupted' ? interruptedFailure(undefined) : noVerdict));
    let runDir: string | undefined;
    // Downloads of a run left or failed end quickly; what they saved goes into run.json.
    await Promise.allSettled(this.downloads.values());
    if (status !== 'success' && this.saved.length > 0 && this.saver) {
      const dir = (await this.saver.catch(() => undefined))?.dir;
      const n = this.saved.length;
      if (dir) this.warn(`The run did not succeed; the ${n} output${n === 1 ? '' : 's'} saved before it ended ${n === 1 ? 'is' : 'are'} kept in ${dir}.`);
    }
    if (this.promptId !== undefined) {
      const finishedAt = this.clock.now();
      try {
        const saver = await this.saverFor(this.promptId);
        const phases: Record<string, number> = { prepare: this.queuedAt - startedAt };
        if (this.serverStartedAt !== undefined) phases.wait = this.serverStartedAt - this.queuedAt;
        if (this.serverStartedAt !== undefined && this.serverFinishedAt !== undefined) phases.execute = this.serverFinishedAt - this.serverStartedAt;
        if (this.serverFinishedAt !== undefined) phases.download = finishedAt - this.serverFinishedAt;
        await saver.writeRunRecord({
          promptId: this.promptId,
          serverUrl: this.client.baseUrl.href,
          workflowFile: this.options.workflowFile,
          machineType: this.options.machineType,
          prompt: this.sentPrompt ?? this.options.prompt,
          uploads: this.uploads,
          timings: { queued: this.queuedAt, started: this.serverStartedAt, finished: finishedAt, phases },
          status,
          error: error?.message,
          warnings: this.recordWarnings,
          outputsFrom: this.outputsFrom,
          convertedFrom: this.options.convertedFrom,
          dynamicPrompts: this.options.dynamicPrompts,
        });
        runDir = saver.dir;
      } catch (e) {
        this.warn(`Could not write run.json: ${(e as Error).message}`);
      }
    }
    const result: RunResult = {
      promptId: this.promptId ?? null,
      status,
      outputs: this.outputsInOrder(),
      warnings: [...this.warnings],
      error,
      runDir,
      elapsedMs: this.clock.now() - startedAt,
    };
    this.phase = 'done';
    this.emit({ type: 'finished', result });
    return result;
  }
}

/** A failure that a later try may not see: the server's 5xx, a timeout, a dropped connection. */
function mayPass(e: unknown): boolean {
  return e instanceof ApiError && (e.kind === 'network' || e.kind === 'timeout' || (e.kind === 'server' && (e.status === undefined || e.status >= 500)) || e.kind === 'rateLimited');
}

/** A file on the server: type, subfolder and name. */
function fileKey(f: { readonly type: string; readonly subfolder: string; readonly filename: string }): string {
  return `${f.type}\u0000${f.subfolder}\u0000${f.filename}`;
}

/** Each file once, by type, subfolder and name: a history can list one file under two nodes or keys. */
function uniqueFiles(files: readonly OutputFile[]): OutputFile[] {
  const seen = new Set<string>();
  return files.filter((f) => {
    const id = fileKey(f);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** At most `size` tasks at once; the others wait their turn, first come first served. */
class Slots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so a newcomer cannot take it in between.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

function outcomeFromHistory(entry: HistoryEntry, nodeRef: (id: string) => NodeRef): Outcome {
  const status = entry.status;
  const messages = Array.isArray(status?.messages) ? status.messages : [];
  for (const [type, data] of messages) {
    if (type === 'execution_error') {
      const d = data as { node_id?: string; exception_type?: string; exception_message?: string; traceback?: string[] };
      return executionFailure(d.node_id === undefined ? undefined : nodeRef(d.node_id), d.exception_type ?? 'Exception', d.exception_message ?? '', d.traceback ?? []);
    }
    if (type === 'execution_interrupted') {
      const d = data as { node_id?: string };
      return { status: 'interrupted', failure: interruptedFailure(d.node_id === undefined ? undefined : nodeRef(d.node_id)) };
    }
  }
  if (status && status.status_str !== 'success' && status.status_str !== undefined) {
    return { status: 'error', failure: { kind: 'execution', type: status.status_str, message: `The server reports the prompt ended with status "${status.status_str}".`, details: '', nodeErrors: null } };
  }
  return { status: 'success' };
}

function executionFailure(node: NodeRef | undefined, exceptionType: string, exceptionMessage: string, traceback: readonly string[]): Outcome {
  const where = node ? `node ${node.id}${node.classType ? ` (${node.classType})` : ''}` : 'a node';
  return {
    status: 'error',
    failure: {
      kind: 'execution',
      type: exceptionType,
      message: `ComfyUI failed in ${where}: ${exceptionType}: ${exceptionMessage.trim().split('\n')[0] ?? ''}`,
      details: exceptionMessage.trim(),
      nodeErrors: null,
      node,
      traceback,
    },
  };
}

function interruptedFailure(node: NodeRef | undefined): RunFailure {
  return {
    kind: 'interrupted',
    type: 'interrupted',
    message: node ? `The prompt was interrupted at node ${node.id}${node.classType ? ` (${node.classType})` : ''}.` : 'The prompt was interrupted.',
    details: '',
    nodeErrors: null,
    node,
  };
}

/**
 * The result of a workflow refused before anything was sent: by local analysis (type
 * `local_analysis`), or by the check against the target's node list (the CLI's `node_list_check`,
 * whose headline is the sentence of `knownProblemsSentence`). `problems` are full sentences
 * (what, where, what to do), one per problem.
 */
export function rejectedLocally(
  problems: readonly string[],
  warnings: readonly string[] = [],
  elapsedMs = 0,
  why: { readonly type: string; readonly headline: string } = { type: 'local_analysis', headline: 'The workflow cannot be queued:' },
): RunResult {
  return {
    promptId: null,
    status: 'error',
    outputs: [],
    warnings: [...warnings],
    error: {
      kind: 'workflowRejected',
      type: why.type,
      message: `${why.headline}\n${problems.map((p) => `  ${p}`).join('\n')}`,
      details: problems.join('\n'),
      nodeErrors: null,
    },
    elapsedMs,
  };
}

const noVerdict: RunFailure = {
  kind: 'server',
  type: 'no_result',
  message: 'The run ended without a verdict from the server.',
  details: '',
  nodeErrors: null,
};

/**
 * Inputs being put on a server by a run of this process (asked for, then uploaded if missing), by
 * server and name, so runs that need the same file on the same server at once (a sweep) send it
 * once. Kept only while in flight; afterwards the server is asked again (`HEAD /view`).
 */
const placementsInFlight = new Map<string, Promise<string>>();

/** The policy of an engine given none: no folder is allowed, so no local file is uploaded. */
const noUploads: InputPolicy = { roots: [], scope: 'an allowed folder', remedy: 'This run was given no folder to upload from.' };

/** What went wrong before or while queueing, in words; `nodeOf` names the workflow's nodes in a rejection. */
function failureOf(e: unknown, nodeOf: (id: string) => NodeNaming | undefined): RunFailure {
  if (e instanceof InputRefusedError) {
    return { kind: 'workflowRejected', type: 'input_not_allowed', message: e.message, details: e.messages.join('\n'), nodeErrors: null };
  }
  if (e instanceof WorkflowRejectedError) {
    // A 413 has no validation errors to put in words; its own message says what limits the size.
    const message = e.errorType === 'request_too_large' ? e.message : rejectionMessage(e, nodeOf);
    return { kind: 'workflowRejected', type: e.errorType, message, details: e.details, nodeErrors: e.rawNodeErrors };
  }
  if (e instanceof ApiError) {
    if (e.kind === 'cancelled') return { kind: 'interrupted', type: 'interrupted', message: 'The run was interrupted before the prompt was queued.', details: '', nodeErrors: null };
    return { kind: e.kind, type: e.kind, message: e.message, details: '', nodeErrors: null };
  }
  return { kind: 'internal', type: 'internal', message: e instanceof Error ? e.message : String(e), details: '', nodeErrors: null };
}
