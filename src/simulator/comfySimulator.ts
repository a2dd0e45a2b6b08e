import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type WebSocketServer } from 'ws';
import { ws as loadWs } from '../api/lazy';
import { isLoopbackHost } from '../api/redact';
import { handleAdminRequest } from './comfy/adminRoutes';
import { ComfyRoutes } from './comfy/comfyRoutes';
import { ComfyWebSocketHub } from './comfy/comfyWebSocketHub';
import { UploadStaging } from './comfy/fileRoutes';
import { FolderPaths } from './comfy/folderPaths';
import { lingerThenClose, RequestTooLarge, sendInternalError, sendText, SERVER_HEADER } from './comfy/httpReplies';
import { type NodeClass } from './comfy/nodeClass';
import { createNodeClasses } from './comfy/nodeClasses';
import { imagePng } from './comfy/nodeHelpers';
import { PromptExecutor, type ExecutionFaults, type ExecutionSettings } from './comfy/promptExecutor';
import { PromptQueue } from './comfy/promptQueue';
import { PromptValidator } from './comfy/promptValidator';
import { PyError } from './comfy/pyFormat';
import { PyFloat, type PyObject, type PyValue } from './comfy/pyJson';
import { PyStrHasher, RECORDED_HASH_SEED } from './comfy/pySet';
import { solidImage } from './comfy/simImage';
import { UserDataStore } from './comfy/userData';
import { simTimeScale } from './simTimeScale';

/** Settings that can change while the simulator runs (`configure()` / `POST /__sim/config`). */
export interface ComfySimulatorConfig extends ExecutionSettings {
  /** `--max-upload-size` in MB. Unset: ComfyUI's default 100 (reported as an int); set: reported as a float, as ComfyUI does. */
  maxUploadSizeMb: number | null;
  /** `--enable-cors-header` origin (usually `*`): replaces the Origin-vs-Host check with CORS headers. Null: the default check. */
  corsOrigin: string | null;
  /**
   * Offer permessage-deflate on new websockets, as aiohttp does. Off by default: it is invisible to
   * clients, and compressing in the simulator would make it the bottleneck of any throughput benchmark.
   */
  wsCompression: boolean;
}

/** Options of `startComfySimulator`. Everything is optional; defaults behave like ComfyUI 0.3.64 with fast nodes. */
export interface ComfySimulatorOptions extends Partial<ComfySimulatorConfig> {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Root holding `input/`, `output/`, `temp/`. Default: a fresh temp dir, removed by `close()`. */
  dataDir?: string;
  /** Answer 502 (and 403 on /ws) for this long after start, like a machine whose ComfyUI is still booting. */
  bootMs?: number;
  /** Start (and reset) with no saved workflows, like a server whose web UI never saved one; default: two seeded ones. */
  noSavedWorkflows?: boolean;
  /** The emulated PYTHONHASHSEED deciding set-derived orders; the default reproduces the recordings. */
  hashSeed?: number;
  /**
   * File names in its model folders (`{"checkpoints": ["sd_xl_base_1.0.safetensors"]}`): `/models/{folder}`
   * lists them and so do the loaders' combos. Default none, as on the recorded server.
   */
  models?: Record<string, string[]>;
}

/** One line of `GET /__sim/requests`. */
export interface ComfyRequestLogEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** When the request arrived (ms since the epoch). */
  time: number;
  durationMs: number;
}

/** What `createOutputFile` made. */
export interface ComfyOutputFile {
  filename: string;
  subfolder: string;
  type: 'output' | 'temp' | 'input';
  bytes: number;
  sha256: string;
}

/**
 * A route that fails its next `times` requests, as a proxy or a struggling server does: a 5xx
 * answer (`status`), or, with `hangMs`, no answer for that long and then a dropped connection.
 */
export interface RouteFault {
  /** `/history` also matches `/history/<id>` and the `/api` aliases. */
  path: string;
  times: number;
  status: number;
  hangMs?: number;
}

/** A snapshot for tests and the admin API. */
export interface ComfySimulatorState {
  queueRemaining: number;
  running: string[];
  pending: string[];
  sockets: number;
  booting: boolean;
  faults: ExecutionFaults & { stallActive: boolean; routes: RouteFault[] };
  /** Faults that took effect, oldest first (`drop`, `stall`, `flood`), with the prompt they hit. */
  fired: { fault: string; promptId: string; time: number }[];
}

const DEFAULT_CONFIG: ComfySimulatorConfig = {
  nodeDelayMs: 2,
  classDelayMs: { ImageBlur: 40 },
  progressSteps: {},
  stepDelayMs: 2,
  runMs: 0,
  oldServer: false,
  hostile: false,
  maxUploadSizeMb: null,
  corsOrigin: null,
  wsCompression: false,
};

const REQUEST_LOG_LIMIT = 10_000;
const BAD_GATEWAY_HTML = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n';

/** `urllib.parse`'s netloc, hostname and port of an Origin or `//host` value. */
function splitNetloc(value: string): { netloc: string; hostname: string | undefined; port: string | undefined } {
  const m = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?\/\/([^/?#]*)/.exec(value);
  const netloc = m?.[1] ?? '';
  const hostPort = netloc.slice(netloc.lastIndexOf('@') + 1);
  const v6 = /^\[([^\]]*)\](?::(\d*))?$/.exec(hostPort);
  if (v6) return { netloc, hostname: v6[1].toLowerCase(), port: v6[2] || undefined };
  const colon = hostPort.lastIndexOf(':');
  const hostname = (colon >= 0 ? hostPort.slice(0, colon) : hostPort).toLowerCase();
  return { netloc, hostname: hostname || undefined, port: colon >= 0 ? hostPort.slice(colon + 1) || undefined : undefined };
}

/** ComfyUI's origin-only middleware: on a loopback Host, an Origin naming another host is refused. */
export function originAllowed(host: string | undefined, origin: string | undefined): boolean {
  if (host === undefined || origin === undefined) return true;
  const hostParsed = splitNetloc(`//${host.toLowerCase()}`);
  const originParsed = splitNetloc(origin);
  let hostDomain: string | undefined = host.toLowerCase();
  let originDomain: string | undefined = originParsed.netloc.toLowerCase();
  const loopback = hostParsed.hostname !== undefined && isLoopbackHost(hostParsed.hostname);
  if (originParsed.port === undefined) hostDomain = hostParsed.hostname;
  if (hostParsed.port === undefined) originDomain = originParsed.hostname;
  if (loopback && hostDomain && originDomain) return hostDomain === originDomain;
  return true;
}

/**
 * A ComfyUI 0.3.64 server on 127.0.0.1 for tests, benchmarks and the RunComfy simulator: real HTTP
 * and websockets, the recorded message order and shapes, and fault injection (drop, stall, boot,
 * hostile names, flood, big files) programmatically or over `/__sim/*`. Its `/object_info` is the
 * recorded 0.3.64 one: the classes it cannot compute are imitated (`comfy/genericNodes.ts`).
 */
export class ComfySimulator {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/ws`. */
  readonly wsUrl: string;
  readonly port: number;
  /** The root of `input/`, `output/` and `temp/`. */
  readonly dataDir: string;
  readonly folders: FolderPaths;

  private settings: ComfySimulatorConfig;
  /** The settings at start, which `reset()` returns to. */
  private readonly startSettings: ComfySimulatorConfig;
  private readonly classes: Map<string, NodeClass>;
  private readonly hub: ComfyWebSocketHub;
  private readonly queue: PromptQueue;
  private readonly executor: PromptExecutor;
  private readonly routes: ComfyRoutes;
  private readonly userData: UserDataStore;
  private readonly faults: ExecutionFaults = {};
  private routeFaults: RouteFault[] = [];
  private readonly abort = new AbortController();
  private readonly log: ComfyRequestLogEntry[] = [];
  private readonly fired: { fault: string; promptId: string; time: number }[] = [];
  private number = 0;
  /** Read once at start: see `simTimeScale`. */
  private readonly timeScale = simTimeScale();
  private bootUntil = 0;
  /** Stalls without `ms`, oldest first: armed for the next prompt, or holding one (`held`). */
  private readonly stallGates: { readonly release: () => void; readonly cleared: Promise<void>; held: boolean }[] = [];
  private worker: Promise<void> | undefined;
  private closed = false;
  /** One upgrade handler per compression setting: permessage-deflate is fixed per server object. */
  private readonly wss: { plain: WebSocketServer; deflate: WebSocketServer };

  /** Use `startComfySimulator`. */
  constructor(
    private readonly server: http.Server,
    port: number,
    dataDir: string,
    private readonly ownsDataDir: boolean,
    options: ComfySimulatorOptions,
  ) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}/ws`;
    this.dataDir = dataDir;
    this.folders = new FolderPaths(dataDir);
    this.settings = { ...DEFAULT_CONFIG, ...definedOnly(options) };
    this.startSettings = structuredClone(this.settings);
    const { WebSocketServer: Wss } = loadWs();
    // aiohttp's limit for client messages is 4 MiB.
    this.wss = {
      plain: new Wss({ noServer: true, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 }),
      deflate: new Wss({ noServer: true, perMessageDeflate: true, maxPayload: 4 * 1024 * 1024 }),
    };
    this.classes = createNodeClasses(options.models);
    this.userData = new UserDataStore(!options.noSavedWorkflows);
    const hasher = new PyStrHasher(options.hashSeed ?? RECORDED_HASH_SEED);
    this.hub = new ComfyWebSocketHub({
      queueInfo: () => this.queueInfo(),
      runningClient: () => ({ clientId: this.executor.clientId, lastNodeId: this.executor.lastNodeId }),
      serverFeatures: () => this.serverFeatures(),
    });
    this.queue = new PromptQueue(() => this.hub.sendJson('status', { status: this.queueInfo() }, null));
    this.executor = new PromptExecutor({
      folders: this.folders,
      hub: this.hub,
      classes: this.classes,
      hasher,
      settings: () => this.settings,
      timeScale: this.timeScale,
      faults: this.faults,
      stallCleared: () => {
        const gate = this.stallGates.find((g) => !g.held);
        if (!gate) return Promise.resolve();
        gate.held = true;
        return gate.cleared;
      },
      signal: this.abort.signal,
      onFault: (fault, promptId) => void this.fired.push({ fault, promptId, time: Date.now() }),
    });
    this.routes = new ComfyRoutes({
      folders: this.folders,
      queue: this.queue,
      executor: this.executor,
      validator: new PromptValidator(this.classes, this.folders, hasher, () => this.settings.oldServer),
      classes: this.classes,
      staging: new UploadStaging(path.join(dataDir, '.staging')),
      userData: this.userData,
      maxUploadBytes: () => this.maxUploadBytes(),
      serverFeatures: () => this.serverFeatures(),
      oldServer: () => this.settings.oldServer,
      takeNumber: () => this.number++,
      models: options.models ?? {},
      queueInfo: () => this.queueInfo(),
    });
    if (options.bootMs) this.boot(options.bootMs);
    server.on('request', (req, res) => void this.onRequest(req, res));
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.worker = this.runWorker();
  }

  /** The current settings. */
  config(): ComfySimulatorConfig {
    return structuredClone(this.settings);
  }

  /** Changes settings from the next node on; returns the result. Throws a `TypeError` naming a bad field. */
  configure(patch: Partial<ComfySimulatorConfig>): ComfySimulatorConfig {
    const unknown = Object.keys(patch).filter((k) => !(k in DEFAULT_CONFIG));
    if (unknown.length > 0) throw new TypeError(`config: unknown setting ${unknown.map((k) => JSON.stringify(k)).join(', ')}; known: ${Object.keys(DEFAULT_CONFIG).join(', ')}.`);
    const next = { ...this.settings, ...definedOnly(patch) };
    checkConfig(next);
    this.settings = next;
    return this.config();
  }

  /** Arms a websocket drop for the next prompt: after `afterMessages` of its messages, or when `atNode` starts. */
  dropSockets(when: { afterMessages?: number; atNode?: string }): void {
    if (when.afterMessages === undefined && when.atNode === undefined) throw new TypeError('dropSockets: give afterMessages (a count) or atNode (a node id), or use dropSocketsNow().');
    this.faults.drop = { ...when };
  }

  /** Cuts every websocket now; returns how many were open. */
  dropSocketsNow(): number {
    return this.hub.terminateAll();
  }

  /**
   * Arms a stall of the next prompt at a node boundary (or before `atNode`; with `whileRunning`, inside
   * that node once it was announced): silent for `ms`, or until `clearStall()`.
   */
  stall(how: { ms?: number; atNode?: string; whileRunning?: boolean } = {}): void {
    for (const g of this.stallGates.filter((x) => !x.held)) this.endStall(g);
    if (how.ms === undefined) {
      let release!: () => void;
      const cleared = new Promise<void>((resolve) => (release = resolve));
      this.stallGates.push({ release, cleared, held: false });
    }
    this.faults.stall = { ...how };
  }

  /**
   * Ends the stalls armed without `ms`, whether or not they have started yet; with `heldOnly`, only
   * releases the prompt held now and leaves a stall armed meanwhile for the next prompt.
   */
  clearStall(options: { heldOnly?: boolean } = {}): void {
    if (!options.heldOnly) this.faults.stall = undefined;
    for (const g of this.stallGates.filter((x) => x.held || !options.heldOnly)) this.endStall(g);
  }

  private endStall(gate: (typeof this.stallGates)[number]): void {
    this.stallGates.splice(this.stallGates.indexOf(gate), 1);
    gate.release();
  }

  /** Starts a boot window now: 502 on every route and 403 on /ws for `ms` (times `simTimeScale`). */
  boot(ms: number): void {
    this.bootUntil = Date.now() + ms * this.timeScale;
  }

  /**
   * Makes the next `times` requests to `path` fail with `status` (default 500, ComfyUI's own
   * unhandled-exception answer), or hang for `hangMs` and drop the connection. A later call for
   * the same path replaces the earlier one; `times: 0` clears it.
   */
  failRoute(fault: { path: string; times: number; status?: number; hangMs?: number }): void {
    const status = fault.status ?? 500;
    if (!fault.path.startsWith('/')) throw new TypeError(`failRoute: path must start with "/", got ${JSON.stringify(fault.path)}.`);
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new TypeError(`failRoute: status must be an HTTP error status (400-599), got ${JSON.stringify(fault.status)}.`);
    this.routeFaults = this.routeFaults.filter((f) => f.path !== fault.path);
    if (fault.times > 0) this.routeFaults.push({ path: fault.path, times: fault.times, status, hangMs: fault.hangMs });
  }

  /** Makes the next prompt emit `messages` progress messages and `previews` previews of `previewBytes` bytes, as fast as the sockets take them. */
  flood(how: { messages: number; previews: number; previewBytes: number }): void {
    this.faults.flood = { ...how };
  }

  /** Writes a file of `bytes` bytes (a deterministic pattern, streamed) for download benchmarks. */
  async createOutputFile(spec: { filename: string; bytes: number; subfolder?: string; type?: 'output' | 'temp' | 'input' }): Promise<ComfyOutputFile> {
    const type = spec.type ?? 'output';
    const subfolder = spec.subfolder ?? '';
    const base = this.folders.directoryByType(type)!;
    const dir = path.resolve(base, subfolder);
    const file = path.resolve(dir, spec.filename);
    if (!file.startsWith(base + path.sep) || path.basename(file) !== spec.filename) {
      throw new TypeError(`createOutputFile: filename ${JSON.stringify(spec.filename)} / subfolder ${JSON.stringify(subfolder)} must stay inside the ${type} folder; use a plain name.`);
    }
    await fs.promises.mkdir(dir, { recursive: true });
    const hash = createHash('sha256');
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
    let written = 0;
    await pipeline(function* () {
      while (written < spec.bytes) {
        const chunk = block.subarray(0, Math.min(block.length, spec.bytes - written));
        hash.update(chunk);
        written += chunk.length;
        yield chunk;
      }
    }, fs.createWriteStream(file));
    return { filename: spec.filename, subfolder, type, bytes: written, sha256: hash.digest('hex') };
  }

  /** The request log (ComfyUI routes and /ws upgrades; not `/__sim/*`). */
  requests(): ComfyRequestLogEntry[] {
    return [...this.log];
  }

  /** Empties the request log. */
  clearRequests(): void {
    this.log.length = 0;
  }

  /**
   * Empties queue, history, caches, faults, request log and the three folders (input gets its
   * example.png back); the saved workflows return to the two seeded ones; settings return to the start options.
   */
  async reset(): Promise<void> {
    this.settings = structuredClone(this.startSettings);
    this.queue.reset();
    this.executor.resetCaches();
    this.clearStall();
    this.faults.drop = undefined;
    this.faults.flood = undefined;
    this.routeFaults = [];
    this.bootUntil = 0;
    this.log.length = 0;
    this.fired.length = 0;
    this.userData.reset();
    for (const dir of [this.folders.input, this.folders.output, this.folders.temp]) {
      await fs.promises.rm(dir, { recursive: true, force: true });
      await fs.promises.mkdir(dir, { recursive: true });
    }
    await writeExampleInput(this.folders);
  }

  /** Queue, sockets, boot window, armed faults and the faults that fired so far. */
  state(): ComfySimulatorState {
    const { running, pending } = this.queue.current();
    return {
      queueRemaining: this.queue.remaining,
      running: running.map((i) => i.promptId),
      pending: pending.map((i) => i.promptId),
      sockets: this.hub.size,
      booting: Date.now() < this.bootUntil,
      faults: { ...this.faults, stallActive: this.stallGates.length > 0, routes: this.routeFaults.map((f) => ({ ...f })) },
      fired: [...this.fired],
    };
  }

  /** Closes every socket and the server, stops the worker, removes the data dir if it made it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.clearStall();
    this.hub.closeAll();
    for (const wss of [this.wss.plain, this.wss.deflate]) {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.worker;
    if (this.ownsDataDir) await fs.promises.rm(this.dataDir, { recursive: true, force: true });
  }

  private queueInfo(): PyObject {
    return { exec_info: { queue_remaining: this.queue.remaining } };
  }

  private maxUploadBytes(): number {
    return Math.trunc((this.settings.maxUploadSizeMb ?? 100) * 1024 * 1024);
  }

  private serverFeatures(): PyObject | undefined {
    if (this.settings.oldServer) return undefined;
    const mb = this.settings.maxUploadSizeMb;
    return { supports_preview_metadata: true, max_upload_size: mb === null ? 100 * 1024 * 1024 : new PyFloat(mb * 1024 * 1024) };
  }

  private async runWorker(): Promise<void> {
    for (;;) {
      const next = await this.queue.next(this.abort.signal);
      if (!next) return;
      const { item, taskId } = next;
      const outcome = await this.executor.execute(item.prompt, item.promptId, item.extraData, item.outputs);
      if (this.abort.signal.aborted) return;
      const messages: PyValue[] = outcome.messages.map(([event, data]) => [event, data]);
      this.queue.taskDone(taskId, { outputs: outcome.outputs, meta: outcome.meta }, { status_str: outcome.success ? 'success' : 'error', completed: outcome.success, messages });
      if (this.executor.clientId !== null) this.hub.sendJson('executing', { node: null, prompt_id: item.promptId }, this.executor.clientId);
    }
  }

  private record(req: http.IncomingMessage, url: URL, status: number, started: number): void {
    this.log.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), status, time: started, durationMs: Date.now() - started });
    if (this.log.length > REQUEST_LOG_LIMIT) this.log.splice(0, this.log.length - REQUEST_LOG_LIMIT);
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.setHeader('Server', SERVER_HEADER);
    if (url.pathname.startsWith('/__sim/')) {
      await handleAdminRequest(req, res, url, this);
      return;
    }
    res.on('finish', () => this.record(req, url, res.statusCode, started));
    try {
      if (Date.now() < this.bootUntil) {
        req.resume();
        sendText(res, 502, BAD_GATEWAY_HTML, 'text/html');
        return;
      }
      if (await this.failedByFault(req, res, url.pathname)) return;
      const cors = this.settings.corsOrigin;
      if (cors !== null) {
        res.setHeader('Access-Control-Allow-Origin', cors);
        res.setHeader('Access-Control-Allow-Methods', 'POST, GET, DELETE, PUT, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization');
        res.setHeader('Access-Control-Allow-Credentials', 'true');
      } else if (!originAllowed(req.headers.host, req.headers.origin)) {
        req.resume();
        res.writeHead(403, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 });
        res.end();
        return;
      }
      if (req.method === 'OPTIONS') {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 });
        res.end();
        return;
      }
      const handled = await this.routes.handle(req, res, url.pathname, url.searchParams);
      if (!handled) {
        req.resume();
        sendText(res, 404, '404: Not Found');
      }
    } catch (e) {
      if (e instanceof RequestTooLarge) {
        lingerThenClose(req, res);
        sendText(res, 413, e.message);
        return;
      }
      // A PyError is where ComfyUI itself raises (its 500); anything else is a simulator bug worth a log line.
      if (!(e instanceof PyError)) console.error('comfy simulator: unexpected error', e);
      req.resume();
      sendInternalError(res);
    }
  }

  /** Applies an armed route fault to this request; true when it answered (or dropped) the request. */
  private async failedByFault(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<boolean> {
    const route = pathname.startsWith('/api/') ? pathname.slice(4) : pathname;
    const fault = this.routeFaults.find((f) => route === f.path || route.startsWith(`${f.path}/`));
    if (!fault) return false;
    if (--fault.times <= 0) this.routeFaults = this.routeFaults.filter((f) => f !== fault);
    this.fired.push({ fault: `route ${fault.path}`, promptId: '', time: Date.now() });
    req.resume();
    if (fault.hangMs !== undefined) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.abort.signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, fault.hangMs);
        this.abort.signal.addEventListener('abort', done, { once: true });
      });
      res.destroy();
      return true;
    }
    if (fault.status === 500) sendInternalError(res);
    else sendText(res, fault.status, `${fault.status}: simulated failure of ${fault.path}`);
    return true;
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const refuse = (status: number, text: string) => {
      this.record(req, url, status, started);
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/octet-stream\r\nContent-Length: 0\r\nServer: ${SERVER_HEADER}\r\nConnection: close\r\n\r\n`);
    };
    if (url.pathname !== '/ws' && url.pathname !== '/api/ws') return refuse(404, 'Not Found');
    if (Date.now() < this.bootUntil) return refuse(403, 'Forbidden');
    if (this.settings.corsOrigin === null && !originAllowed(req.headers.host, req.headers.origin)) return refuse(403, 'Forbidden');
    const wss = this.settings.wsCompression ? this.wss.deflate : this.wss.plain;
    wss.handleUpgrade(req, socket, head, (client) => {
      this.record(req, url, 101, started);
      this.hub.attach(client, url.searchParams.get('clientId'));
    });
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Validates a whole config; the message says which field is wrong and what it accepts. */
function checkConfig(c: ComfySimulatorConfig): void {
  const nonNegative = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`config.${name} must be a non-negative number of milliseconds, got ${JSON.stringify(v)}.`);
  };
  nonNegative('nodeDelayMs', c.nodeDelayMs);
  nonNegative('stepDelayMs', c.stepDelayMs);
  nonNegative('runMs', c.runMs);
  for (const [field, map] of [
    ['classDelayMs', c.classDelayMs],
    ['progressSteps', c.progressSteps],
  ] as const) {
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new TypeError(`config.${field} must be an object of node class name → number, e.g. {"ImageBlur": 40}.`);
    for (const [k, v] of Object.entries(map)) nonNegative(`${field}.${k}`, v);
  }
  for (const field of ['oldServer', 'hostile', 'wsCompression'] as const) {
    if (typeof c[field] !== 'boolean') throw new TypeError(`config.${field} must be true or false, got ${JSON.stringify(c[field])}.`);
  }
  if (c.maxUploadSizeMb !== null && (typeof c.maxUploadSizeMb !== 'number' || !(c.maxUploadSizeMb > 0))) {
    throw new TypeError(`config.maxUploadSizeMb must be a positive number of megabytes or null (ComfyUI's default 100), got ${JSON.stringify(c.maxUploadSizeMb)}.`);
  }
  if (c.corsOrigin !== null && typeof c.corsOrigin !== 'string') throw new TypeError(`config.corsOrigin must be an origin string such as "*" or null (Origin check), got ${JSON.stringify(c.corsOrigin)}.`);
}

async function writeExampleInput(folders: FolderPaths): Promise<void> {
  await fs.promises.writeFile(path.join(folders.input, 'example.png'), await imagePng(solidImage(64, 64, 0x3366cc), 4));
}

/** Starts a ComfyUI simulator on 127.0.0.1 (a free port unless `port` is given). */
export async function startComfySimulator(options: ComfySimulatorOptions = {}): Promise<ComfySimulator> {
  const patch = definedOnly(options);
  checkConfig({ ...DEFAULT_CONFIG, ...patch });
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = path.resolve(options.dataDir ?? (await fs.promises.mkdtemp(path.join(os.tmpdir(), 'comfy-sim-'))));
  const folders = new FolderPaths(dataDir);
  // ComfyUI wipes its temp folder at start.
  await fs.promises.rm(folders.temp, { recursive: true, force: true });
  for (const dir of [folders.input, folders.output, folders.temp]) await fs.promises.mkdir(dir, { recursive: true });
  if (!fs.existsSync(path.join(folders.input, 'example.png'))) await writeExampleInput(folders);
  const server = http.createServer({ keepAliveTimeout: 75_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return new ComfySimulator(server, port, dataDir, ownsDataDir, options);
}
