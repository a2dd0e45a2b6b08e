import type WebSocket from 'ws';
import { abortReason, sleep, systemClock, type Clock } from '../base/clock';
import { Emitter, type Event } from '../base/event';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { comfyEndpoint, parseComfyUrl } from './comfyClient';
import { type NodeOutput } from './comfyTypes';
import { ApiError, CancelledError, NetworkError, NotFoundError } from './errors';
import { ws } from './lazy';
import { processProxy, type ProxyRouter } from './proxy';
import { maskUrl } from './redact';
import { proxyRefused } from './transportErrors';
import { isObject } from '../base/json';
import { backoffDelayMs } from '../base/backoff';

/** One node's entry in a `progress_state` message. */
export interface ProgressStateNode {
  readonly value: number;
  readonly max: number;
  readonly state: 'running' | 'finished' | (string & {});
  readonly displayNodeId?: string;
}

/**
 * Every websocket message of a ComfyUI server (reference 1.7), normalised to camelCase. Text
 * messages keep their wire `type`; binary frames become `preview` (types 1 and 4) and `text`
 * (type 3). Unknown types are dropped by the parser.
 */
export type ComfyMessage =
  /** Queue size changed; `sid` only in the first message of a connection. */
  | { readonly type: 'status'; readonly queueRemaining: number; readonly sid?: string }
  | { readonly type: 'execution_start'; readonly promptId: string; readonly timestamp?: number }
  /** Nodes whose cached outputs will be reused. */
  | { readonly type: 'execution_cached'; readonly promptId: string; readonly nodes: readonly string[] }
  /** A node starts; `node: null` = the prompt is completely finished. `promptId` is missing in the replay after a reconnect. */
  | { readonly type: 'executing'; readonly promptId?: string; readonly node: string | null; readonly displayNode?: string }
  | { readonly type: 'progress'; readonly promptId?: string; readonly node?: string; readonly value: number; readonly max: number }
  | { readonly type: 'progress_state'; readonly promptId: string; readonly nodes: Readonly<Record<string, ProgressStateNode>> }
  | { readonly type: 'executed'; readonly promptId: string; readonly node: string; readonly displayNode?: string; readonly output: NodeOutput }
  | { readonly type: 'execution_success'; readonly promptId: string; readonly timestamp?: number }
  | {
      readonly type: 'execution_error';
      readonly promptId: string;
      readonly nodeId?: string;
      readonly nodeType?: string;
      readonly exceptionType: string;
      readonly exceptionMessage: string;
      readonly traceback: readonly string[];
      readonly executed: readonly string[];
    }
  | { readonly type: 'execution_interrupted'; readonly promptId: string; readonly nodeId?: string; readonly nodeType?: string; readonly executed: readonly string[] }
  /** The server's answer to our capability handshake (servers from 2025-07). */
  | { readonly type: 'feature_flags'; readonly flags: Readonly<Record<string, unknown>> }
  | { readonly type: 'logs'; readonly entries: readonly { readonly t: string; readonly m: string }[] }
  | { readonly type: 'display_component'; readonly data: Readonly<Record<string, unknown>> }
  /**
   * A preview image. `image` is a view into the received frame (no copy): keep it only as long as
   * needed. Type-1 frames carry no ids; type-4 frames carry the prompt and node.
   */
  | {
      readonly type: 'preview';
      readonly mime: 'image/jpeg' | 'image/png' | (string & {});
      readonly image: Buffer;
      readonly promptId?: string;
      readonly nodeId?: string;
      readonly displayNodeId?: string;
    }
  /** Node text (binary type 3). Sent to every socket and carries no prompt id: filter by node id. */
  | { readonly type: 'text'; readonly nodeId: string; readonly text: string };

/** The message types, for exhaustive handling. */
export type ComfyMessageType = ComfyMessage['type'];

/** Parses one text frame; undefined for unknown types and malformed frames (a server may add types). */
export function parseTextMessage(text: string): ComfyMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw) || typeof raw.type !== 'string') return undefined;
  const d = isObject(raw.data) ? raw.data : {};
  const promptId = str(d.prompt_id);
  switch (raw.type) {
    case 'status': {
      const status = isObject(d.status) ? d.status : {};
      const exec = isObject(status.exec_info) ? status.exec_info : {};
      return { type: 'status', queueRemaining: num(exec.queue_remaining) ?? 0, sid: str(d.sid) };
    }
    case 'executing':
      return { type: 'executing', promptId, node: typeof d.node === 'string' ? d.node : typeof d.node === 'number' ? String(d.node) : null, displayNode: str(d.display_node) };
    case 'progress':
      return { type: 'progress', promptId, node: str(d.node), value: num(d.value) ?? 0, max: num(d.max) ?? 0 };
    case 'progress_state': {
      if (!promptId) return undefined;
      const nodes: Record<string, ProgressStateNode> = {};
      if (isObject(d.nodes)) {
        for (const [id, n] of Object.entries(d.nodes)) {
          if (isObject(n)) nodes[id] = { value: num(n.value) ?? 0, max: num(n.max) ?? 0, state: str(n.state) ?? 'running', displayNodeId: str(n.display_node_id) };
        }
      }
      return { type: 'progress_state', promptId, nodes };
    }
    case 'execution_start':
    case 'execution_success':
      return promptId ? { type: raw.type, promptId, timestamp: num(d.timestamp) } : undefined;
    case 'execution_cached':
      return promptId ? { type: 'execution_cached', promptId, nodes: strings(d.nodes) } : undefined;
    case 'executed': {
      const node = str(d.node);
      if (!promptId || node === undefined) return undefined;
      return { type: 'executed', promptId, node, displayNode: str(d.display_node), output: isObject(d.output) ? d.output : {} };
    }
    case 'execution_error':
      if (!promptId) return undefined;
      return {
        type: 'execution_error',
        promptId,
        nodeId: str(d.node_id),
        nodeType: str(d.node_type),
        exceptionType: str(d.exception_type) ?? 'Exception',
        exceptionMessage: str(d.exception_message) ?? '',
        traceback: strings(d.traceback),
        executed: strings(d.executed),
      };
    case 'execution_interrupted':
      if (!promptId) return undefined;
      return { type: 'execution_interrupted', promptId, nodeId: str(d.node_id), nodeType: str(d.node_type), executed: strings(d.executed) };
    case 'feature_flags':
      return { type: 'feature_flags', flags: d };
    case 'logs':
      return {
        type: 'logs',
        entries: Array.isArray(d.entries) ? (d.entries as unknown[]).filter(isObject).map((e) => ({ t: str(e.t) ?? '', m: str(e.m) ?? '' })) : [],
      };
    case 'display_component':
      return { type: 'display_component', data: d };
    default:
      return undefined;
  }
}

/** Binary event types (`protocol.py`). */
const BinaryType = { previewImage: 1, text: 3, previewImageWithMetadata: 4 } as const;

/** Parses one binary frame without copying the image bytes; undefined for unknown or truncated frames. */
export function parseBinaryMessage(frame: Buffer): ComfyMessage | undefined {
  if (frame.length < 8) return undefined;
  const event = frame.readUInt32BE(0);
  switch (event) {
    case BinaryType.previewImage: {
      const format = frame.readUInt32BE(4);
      return { type: 'preview', mime: format === 2 ? 'image/png' : 'image/jpeg', image: frame.subarray(8) };
    }
    case BinaryType.previewImageWithMetadata: {
      const length = frame.readUInt32BE(4);
      if (8 + length > frame.length) return undefined;
      let meta: unknown;
      try {
        meta = JSON.parse(frame.toString('utf8', 8, 8 + length));
      } catch {
        return undefined;
      }
      const m = isObject(meta) ? meta : {};
      return {
        type: 'preview',
        mime: str(m.image_type) ?? 'image/png',
        image: frame.subarray(8 + length),
        promptId: str(m.prompt_id),
        nodeId: str(m.node_id),
        displayNodeId: str(m.display_node_id),
      };
    }
    case BinaryType.text: {
      const length = frame.readUInt32BE(4);
      if (8 + length > frame.length) return undefined;
      return { type: 'text', nodeId: frame.toString('utf8', 8, 8 + length), text: frame.toString('utf8', 8 + length) };
    }
    default:
      return undefined;
  }
}

/** Where the connection is. `reconnecting` covers the wait between attempts after a loss. */
export type ComfySocketState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ReconnectOptions {
  /** First delay after a loss or a failed attempt; doubles per failure, with jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A connection that lived this long resets the backoff; a server that accepts and drops at once keeps it growing. */
  readonly stableAfterMs: number;
}

export interface ComfySocketOptions {
  /** The ComfyUI base URL (http → ws, https → wss). */
  readonly baseUrl: string | URL;
  /** Our clientId; the server routes a prompt's messages to the socket with the prompt's `client_id`. */
  readonly clientId: string;
  readonly reconnect?: Partial<ReconnectOptions>;
  /** How long `connect()` keeps trying (boot-time 403/502, refused connections) before it gives up; default 60 s. */
  readonly connectDeadlineMs?: number;
  /** Limit for the upgrade plus the first `status` message; default 15 s. */
  readonly handshakeTimeoutMs?: number;
  /** Keep-alive ping interval (the server sends none; proxies drop idle connections). A missed pong drops the connection. 0 disables. Default 20 s. */
  readonly pingIntervalMs?: number;
  /** Ask for binary type-4 previews that name their prompt (default true). */
  readonly previewMetadata?: boolean;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** The proxy routing; default the process's (`processProxy()`: the editor's settings, or the environment), read at each connection attempt. */
  readonly proxy?: ProxyRouter;
}

const defaultReconnect: ReconnectOptions = { baseDelayMs: 500, maxDelayMs: 15_000, stableAfterMs: 10_000 };

/** Sockets closing per (server, clientId): a new one waits for them, or the server's cleanup of the old one would deafen it. */
const closing = new Map<string, Promise<void>>();
const live = new Set<string>();

/**
 * The websocket of one (server, clientId). Opened from Node with no `Origin` header (ComfyUI's
 * origin check would refuse an editor webview's). Sends the `feature_flags` handshake first,
 * waits for the initial `status`, emits every message typed, keeps the connection alive with
 * pings, and after a loss closes the old socket before opening a new one with capped, jittered
 * backoff. Messages sent while it was down are lost: listeners of `onDidReconnect` reconcile
 * through `/queue` and `/history`.
 */
export class ComfySocket extends DisposableObject {
  private readonly _onMessage = this._register(new Emitter<ComfyMessage>());
  /** Every parsed message, in order. */
  readonly onMessage: Event<ComfyMessage> = this._onMessage.event;
  private readonly _onDidDisconnect = this._register(new Emitter<{ readonly reason: string }>());
  /** The connection was lost; reconnection has started. */
  readonly onDidDisconnect: Event<{ readonly reason: string }> = this._onDidDisconnect.event;
  private readonly _onDidReconnect = this._register(new Emitter<void>());
  /** A lost connection is back (the new socket received its `status`). Anything sent meanwhile was lost. */
  readonly onDidReconnect: Event<void> = this._onDidReconnect.event;
  private readonly _onDidChangeState = this._register(new Emitter<ComfySocketState>());
  readonly onDidChangeState: Event<ComfySocketState> = this._onDidChangeState.event;

  private readonly url: URL;
  private readonly key: string;
  private readonly where: string;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly reconnectOptions: ReconnectOptions;
  private readonly connectDeadlineMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly previewMetadata: boolean;
  private readonly proxy: ProxyRouter | undefined;
  private readonly lifetime = new AbortController();

  private socket: WebSocket | undefined;
  private _state: ComfySocketState = 'idle';
  private _featureFlags: Readonly<Record<string, unknown>> | undefined;
  private failures = 0;
  /** The one pending keep-alive tick; each tick replaces it, so a long session holds one timer, not one per ping. */
  private pingTimer: Disposable | undefined;
  private connecting: Promise<void> | undefined;
  /** This instance holds the (server, clientId) slot in `live`. */
  private registered = false;

  constructor(options: ComfySocketOptions) {
    super();
    const base = parseComfyUrl(typeof options.baseUrl === 'string' ? options.baseUrl : options.baseUrl.href);
    this.url = comfyEndpoint(base, '/ws');
    this.url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url.searchParams.set('clientId', options.clientId);
    this.key = `${base.href}|${options.clientId}`;
    this.where = maskUrl(base.href);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.reconnectOptions = { ...defaultReconnect, ...options.reconnect };
    this.connectDeadlineMs = options.connectDeadlineMs ?? 60_000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 15_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 20_000;
    this.previewMetadata = options.previewMetadata ?? true;
    this.proxy = options.proxy;
  }

  get state(): ComfySocketState {
    return this._state;
  }

  /** The server's `feature_flags` reply; undefined on servers before 2025-07 (they never answer). */
  get featureFlags(): Readonly<Record<string, unknown>> | undefined {
    return this._featureFlags;
  }

  /**
   * Opens the connection and resolves once the server's initial `status` arrived (from then on
   * no message for our clientId is missed). Retries with backoff while the server refuses or
   * answers 403/5xx (a machine booting behind its proxy), up to `connectDeadlineMs`.
   */
  connect(signal?: AbortSignal): Promise<void> {
    if (this.isDisposed) return Promise.reject(new CancelledError('The ComfyUI connection was closed.'));
    this.connecting ??= this.firstConnect(signal);
    return this.connecting;
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.lifetime.abort(new CancelledError('The ComfyUI connection was closed.'));
    this.clearTimers();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      const closed = closeAndWait(socket, this.clock);
      track(this.key, closed);
    }
    if (this.registered) live.delete(this.key);
    this.setState('closed');
    super.dispose();
  }

  private async firstConnect(signal?: AbortSignal): Promise<void> {
    if (live.has(this.key)) {
      throw new Error(`A ComfySocket for this server and clientId is already open; a second one would make the server stop routing to the first.`);
    }
    live.add(this.key);
    this.registered = true;
    const deadline = this.clock.now() + this.connectDeadlineMs;
    const stop = signal ? AbortSignal.any([signal, this.lifetime.signal]) : this.lifetime.signal;
    this.setState('connecting');
    for (;;) {
      try {
        await this.openOnce(stop);
        return;
      } catch (e) {
        if (stop.aborted) throw new CancelledError('Connecting to ComfyUI was cancelled.', { cause: e });
        // Neither a missing /ws nor a proxy setting that cannot work (no such proxy URL, no credentials) gets better by waiting.
        if (e instanceof NotFoundError || (e instanceof ApiError && e.kind === 'config')) throw e;
        this.failures++;
        const delay = this.backoffMs();
        if (this.clock.now() + delay > deadline) {
          throw new NetworkError(
            `Could not open the ComfyUI websocket at ${this.where} within ${Math.round(this.connectDeadlineMs / 1000)} s: ${errorText(e)}. Check that the server is running and the URL is right.`,
            { cause: e },
          );
        }
        await sleep(delay, stop, this.clock).catch((err: unknown) => {
          throw new CancelledError('Connecting to ComfyUI was cancelled.', { cause: err });
        });
      }
    }
  }

  /** One attempt: upgrade, handshake, wait for `status` with `sid`. Leaves the socket attached on success. */
  private async openOnce(stop: AbortSignal): Promise<void> {
    await closing.get(this.key);
    if (stop.aborted) throw abortReason(stop);
    const proxy = this.proxy ?? processProxy();
    const via = proxy.describe(this.url);
    const WebSocketClass = ws();
    const socket = new WebSocketClass(this.url, { handshakeTimeout: this.handshakeTimeoutMs, perMessageDeflate: false, ...proxy.webSocket(this.url) });
    socket.binaryType = 'nodebuffer';
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        timer.dispose();
        stop.removeEventListener('abort', onAbort);
        track(this.key, closeAndWait(socket, this.clock));
        reject(e instanceof Error ? e : new Error(String(e)));
      };
      const onAbort = () => fail(abortReason(stop));
      const timer = this.clock.setTimeout(() => fail(new Error(`no status message within ${this.handshakeTimeoutMs} ms`)), this.handshakeTimeoutMs);
      stop.addEventListener('abort', onAbort, { once: true });
      socket.on('error', (e) => fail(classifyUpgradeError(e, this.where, via)));
      socket.on('close', () => fail(new Error('the server closed the connection during the handshake')));
      socket.on('open', () => {
        if (this.previewMetadata) socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (settled) return;
        if (isBinary) return;
        const msg = parseTextMessage(data.toString('utf8'));
        if (msg?.type !== 'status' || msg.sid === undefined) return;
        settled = true;
        timer.dispose();
        stop.removeEventListener('abort', onAbort);
        socket.removeAllListeners();
        this.attach(socket);
        resolve();
        this._onMessage.fire(msg);
      });
    });
  }

  private attach(socket: WebSocket): void {
    this.socket = socket;
    this.setState('open');
    const attachedAt = this.clock.now();
    let awaitingPong = false;
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      awaitingPong = false;
      const msg = isBinary ? parseBinaryMessage(data) : parseTextMessage(data.toString('utf8'));
      if (msg === undefined) return;
      if (msg.type === 'feature_flags') this._featureFlags = msg.flags;
      this._onMessage.fire(msg);
    });
    socket.on('pong', () => {
      awaitingPong = false;
    });
    socket.on('error', () => {
      // 'close' follows every 'error'; the loss is handled there.
    });
    socket.on('close', (code: number) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.clearTimers();
      if (this.clock.now() - attachedAt >= this.reconnectOptions.stableAfterMs) this.failures = 0;
      this.lost(`the connection closed (code ${code})`);
    });
    if (this.pingIntervalMs > 0) {
      const tick = () => {
        if (this.socket !== socket) return;
        if (awaitingPong) {
          // No pong for a whole interval: the path is dead even if TCP has not noticed.
          socket.terminate();
          return;
        }
        awaitingPong = true;
        socket.ping();
        this.pingTimer = this.clock.setTimeout(tick, this.pingIntervalMs);
      };
      this.pingTimer?.dispose();
      this.pingTimer = this.clock.setTimeout(tick, this.pingIntervalMs);
    }
  }

  private lost(reason: string): void {
    if (this.isDisposed) return;
    this.setState('reconnecting');
    this._onDidDisconnect.fire({ reason });
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const stop = this.lifetime.signal;
    for (;;) {
      try {
        await sleep(this.backoffMs(), stop, this.clock);
      } catch {
        return;
      }
      this.failures++;
      try {
        await this.openOnce(stop);
        this._onDidReconnect.fire();
        return;
      } catch {
        if (stop.aborted) return;
      }
    }
  }

  private backoffMs(): number {
    return backoffDelayMs(this.failures + 1, this.reconnectOptions, this.random);
  }

  private clearTimers(): void {
    this.pingTimer?.dispose();
    this.pingTimer = undefined;
  }

  private setState(state: ComfySocketState): void {
    if (this._state === state) return;
    this._state = state;
    this._onDidChangeState.fire(state);
  }
}

/** Closes politely (so the server cleans up at once) and resolves on 'close'; terminates if the close handshake stalls. */
function closeAndWait(socket: WebSocket, clock: Clock): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === socket.CLOSED) {
      resolve();
      return;
    }
    socket.once('close', () => {
      timer.dispose();
      resolve();
    });
    socket.on('error', () => {});
    const timer = clock.setTimeout(() => socket.terminate(), 2000);
    if (socket.readyState === socket.OPEN) socket.close(1000);
    else socket.terminate();
  });
}

function track(key: string, closed: Promise<void>): void {
  const all = Promise.all([closing.get(key), closed]).then(() => undefined);
  closing.set(key, all);
  void all.then(() => {
    if (closing.get(key) === all) closing.delete(key);
  });
}

/**
 * `ws` reports a non-101 answer as "Unexpected server response: 502"; 404 means the URL is not a
 * ComfyUI. `via` ("via proxy host:port") names the proxy of a connection that went through one: a
 * 407 then is the proxy's.
 */
function classifyUpgradeError(e: Error, where: string, via: string | undefined): Error {
  const status = /Unexpected server response: (\d+)/.exec(e.message)?.[1];
  if (status === '404') return new NotFoundError(`${where} has no websocket at /ws (HTTP 404): is this the URL of a ComfyUI server?`, { status: 404 });
  if (status === '407' && via) return proxyRefused(407, via, e);
  if (status) return new ApiError('network', `the websocket upgrade was answered with HTTP ${status}${via ? ` (${via})` : ''}`, { status: Number(status), cause: e });
  return via ? new Error(`${errorText(e)} (${via})`, { cause: e }) : e;
}

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\.$/, '');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? (v as unknown[]).filter((x): x is string => typeof x === 'string') : [];
}
