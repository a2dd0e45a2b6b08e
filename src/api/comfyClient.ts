import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { type Readable } from 'node:stream';
import { sleep, systemClock, type Clock } from '../base/clock';
import { type ApiPrompt, type HistoryEntry, type NodeValidationError, type ObjectInfo, type OutputFileRef } from './comfyTypes';
import {
  ApiError,
  AuthError,
  isCancellation,
  ConfigError,
  InvalidRequestError,
  NotFoundError,
  ServerError,
  type ApiErrorOptions,
} from './errors';
import { undici } from './lazy';
import { LocalFileChangedError, createMultipartBody } from './multipart';
import { processProxy, type ProxyRouter } from './proxy';
import { maskUrl } from './redact';
import { mapTransportError } from './transportErrors';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { backoffDelayMs } from '../base/backoff';

/** What to send with `POST /prompt`. */
export interface QueuePromptRequest {
  readonly prompt: ApiPrompt;
  /** The websocket clientId that receives this prompt's messages. Always sent: without it the server sends no start/finish/error messages at all. */
  readonly clientId: string;
  /** Our own id for the prompt; servers before 2025-07 ignore it, so always use the id in the answer. */
  readonly promptId?: string;
  readonly extraData?: Record<string, unknown>;
}

/** A validation problem of one node, flattened from `node_errors`. */
export interface NodeErrorReport {
  readonly nodeId: string;
  readonly classType: string;
  readonly errors: readonly NodeValidationError[];
}

/** `POST /prompt` accepted the prompt. */
export interface QueuedPrompt {
  readonly promptId: string;
  readonly number: number;
  /** Output nodes the server dropped because they failed validation (a 200 can carry these). */
  readonly nodeErrors: readonly NodeErrorReport[];
  /** One readable line per dropped node's error, for warnings. */
  readonly warnings: readonly string[];
}

/** One item of `GET /queue`, without the (large) prompt. */
export interface QueueItem {
  readonly number: number;
  readonly promptId: string;
  readonly clientId?: string;
}

/** `GET /queue`, with `pending` sorted into run order (the server sends its raw heap). */
export interface QueueState {
  readonly running: readonly QueueItem[];
  readonly pending: readonly QueueItem[];
}

/** `GET /system_stats`, the parts this project reads. */
export interface SystemStats {
  readonly system: { readonly comfyui_version?: string; readonly os?: string; readonly python_version?: string; readonly [key: string]: unknown };
  readonly devices: readonly { readonly name?: string; readonly type?: string; readonly vram_total?: number; readonly [key: string]: unknown }[];
}

/** Where an uploaded file landed on the server. */
export interface UploadedFile {
  readonly name: string;
  readonly subfolder: string;
  readonly type: string;
  /** The value for a LoadImage-style input: `subfolder/name`, or `name`. */
  readonly reference: string;
}

export interface UploadOptions {
  /** Server subfolder below the input folder. */
  readonly subfolder?: string;
  /** Default `input`. */
  readonly type?: 'input' | 'temp' | 'output';
  /** Called as bytes go out, for progress (sent so far, total body length). */
  readonly onProgress?: (sent: number, total: number) => void;
  /**
   * The file, already open: its bytes are hashed and sent instead of opening `localPath` again, so
   * the file a caller checked is the file uploaded. Read from the start; left open.
   */
  readonly file?: FileHandle;
  /** The sha256 (hex) of the file's bytes, when the caller knows it (a hash cache): the file is then not hashed again. */
  readonly sha256?: string;
  /**
   * Hash the bytes as they are sent and end the body unfinished if they differ from `sha256`: for a
   * file written so recently that its time stamps cannot prove it unchanged since it was hashed.
   */
  readonly verifySha256?: boolean;
  /**
   * Called once the file's last byte was read, before the body ends; throwing (a file that changed
   * since it was hashed) drops the request unfinished, so the server saves nothing under the name.
   */
  readonly beforeEnd?: () => Promise<void>;
}

/** What a download sink is told about the response before it reads the body. */
export interface DownloadInfo {
  readonly contentLength?: number;
  readonly contentType?: string;
}

export interface ComfyRetryOptions {
  /** Retries of an idempotent call after a network error, a timeout or 403/429/502/503/504. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface ComfyClientOptions {
  /** The ComfyUI base URL: `http(s)://host[:port][/prefix]`. */
  readonly baseUrl: string;
  /** Names the URL's source in errors ("--comfy-url", "the machine's main_service_url"). */
  readonly baseUrlSource?: string;
  /** Time limit for the headers of each request, and between two body chunks; default 30 s. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<ComfyRetryOptions>;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** The proxy routing; default the process's (`processProxy()`: the editor's settings, or the environment). */
  readonly proxy?: ProxyRouter;
}

/** One workflow saved in the server's user folder, as `GET /userdata?dir=workflows` lists it. */
export interface SavedWorkflow {
  /** Below `workflows/`, `/`-separated (`portraits/face.json`); checked by {@link savedWorkflowPathProblem}. */
  readonly path: string;
  readonly size?: number;
  /** Last change, ms since the epoch (servers sent seconds until 2025-10, milliseconds since). */
  readonly modifiedMs?: number;
}

/** The server's saved workflows, and how many of its entries were left out for an unsafe name. */
export interface SavedWorkflowList {
  readonly workflows: readonly SavedWorkflow[];
  /** Entries whose name a client must not use (see {@link savedWorkflowPathProblem}). */
  readonly unsafeNames: number;
}

/** `saveWorkflow` with `overwrite: false` found the name taken (HTTP 409): ask before replacing it. */
export class SavedWorkflowExistsError extends ApiError {
  constructor(
    message: string,
    /** The name below `workflows/` that is taken. */
    readonly path: string,
  ) {
    super('invalidRequest', message, { status: 409, serverMessage: 'File already exists' });
  }
}

/** Longest saved-workflow path we send or accept, in characters. */
const MAX_SAVED_PATH = 400;
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const UNSAFE_SAVED_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * Why `rel` (below `workflows/`) must not be used as a saved workflow's name in a URL or a local
 * file name, or undefined when it may. Server-sent names are untrusted: no absolute path or drive,
 * no `.`/`..` or empty segment, no backslash, no control or text-direction character, and no `%`
 * (the server unquotes a name once more, so `%2e%2e` would become `..` there).
 */
export function savedWorkflowPathProblem(rel: string): string | undefined {
  if (rel === '') return 'the name is empty';
  if (rel.length > MAX_SAVED_PATH) return `the name is longer than ${MAX_SAVED_PATH} characters`;
  if (UNSAFE_SAVED_CHARS.test(rel)) return 'the name holds control or text-direction characters';
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return 'the name is an absolute path';
  if (rel.includes('\\')) return 'the name holds a backslash';
  if (rel.includes('%')) return 'the name holds "%", which the server would decode again';
  if (rel.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return 'the name has an empty, "." or ".." part';
  return undefined;
}

const defaultRetry: ComfyRetryOptions = { maxRetries: 3, baseDelayMs: 500, maxDelayMs: 8000 };

/** A rejected prompt: `POST /prompt` answered 400 (or 413), or local analysis found the prompt cannot run. */
export class WorkflowRejectedError extends ApiError {
  constructor(
    message: string,
    /** The server's `error.type` (`prompt_outputs_failed_validation`, …), or `local_analysis`. */
    readonly errorType: string,
    /** The server's `error.message`. */
    readonly errorMessage: string,
    /** The server's `error.details` (often empty when the failure is upstream of an output). */
    readonly details: string,
    readonly nodeErrors: readonly NodeErrorReport[],
    /** `node_errors` exactly as the server sent it (an object, or a list on servers before 2025-04). */
    readonly rawNodeErrors: unknown,
    options?: ApiErrorOptions,
  ) {
    super('workflowRejected', message, options);
  }
}

/**
 * Parses and checks a ComfyUI base URL: http or https, no credentials, no query. Plain http to a
 * non-loopback host is allowed (no token ever goes to ComfyUI) and left for the caller to warn about.
 */
export function parseComfyUrl(raw: string, source = 'the ComfyUI URL'): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError(`${source} is not a valid URL. Give an http:// or https:// URL such as http://127.0.0.1:8188.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${source} uses ${url.protocol}; ComfyUI is reached over http:// or https://.`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${source} must not contain a user name or password.`);
  }
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/** The URL of `route` (`/prompt`, `/ws`) below a base URL from {@link parseComfyUrl}. */
export function comfyEndpoint(base: URL, route: string): URL {
  const u = new URL(base.href);
  u.pathname = `${base.pathname.replace(/\/+$/, '')}${route}`;
  return u;
}

/**
 * The name an upload gets: `<stem>-<first 12 hex of sha256><ext>`. Identical bytes always get the
 * same name, so a server that has the name has the content ({@link ComfyClient.hasInput} asks
 * before uploading, and the server's own hash dedupe makes a re-upload land on the same name);
 * different bytes never share a name, so concurrent runs cannot clobber each other's inputs. The
 * stem keeps only safe characters, never `..` (which `/view` refuses).
 */
export function contentDerivedName(localPath: string, sha256Hex: string): string {
  const ext = path.extname(localPath).replace(/[^A-Za-z0-9.]/g, '').slice(0, 12);
  // No ".." anywhere: `/view` refuses such a name (400), so the server could not be asked whether it has it.
  const stem = path
    .basename(localPath, path.extname(localPath))
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[._]+/, '')
    .slice(0, 64);
  return `${stem || 'input'}-${sha256Hex.slice(0, 12)}${ext}`;
}

/**
 * Streams a file through sha256 with two reused buffers: never holds the file in memory, and
 * leaves no garbage per chunk (a 200 MB file through a read stream left ~40 MB for the collector).
 * The next block is read (on libuv's thread pool) while this one is hashed, so a large file costs
 * about its hashing time rather than hashing plus reading (1 GiB: 1.26 s → 1.10 s, median of 5).
 * Given an open handle, reads it from the start by position and leaves it open.
 */
export async function hashFile(source: string | FileHandle, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const file = typeof source === 'string' ? await open(source, 'r') : source;
  const size = 1024 * 1024;
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  let position = 0;
  let reading = file.read(buffers[0], 0, size, position);
  try {
    for (let n = 1; ; n++) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      signal?.throwIfAborted();
      position += bytesRead;
      reading = file.read(buffers[n % 2], 0, size, position);
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    // A read may still be in flight when the loop ends by an abort; the handle closes after it.
    await reading.catch(() => undefined);
    if (typeof source === 'string') await file.close();
  }
  return hash.digest('hex');
}

type Method = 'GET' | 'HEAD' | 'POST';

interface Call {
  /** Sentence-case operation name for messages ("Read the queue"). */
  readonly what: string;
  readonly method: Method;
  readonly route: string;
  readonly query?: Record<string, string>;
  readonly json?: unknown;
  /** May be repeated after a failure whose outcome is unknown. */
  readonly idempotent: boolean;
}

interface RawResponse {
  readonly status: number;
  readonly text: string;
  /** `Content-Length`, when the answer had a valid one. */
  readonly contentLength?: number;
}

/**
 * The ComfyUI HTTP API of one server: queue prompts, read the queue and history, interrupt,
 * upload inputs, stream outputs. Every call has a time limit, takes an AbortSignal, retries only
 * idempotent work, and raises typed errors whose messages show the server only through `maskUrl`
 * (a RunComfy machine's URL is a capability).
 */
export class ComfyClient {
  readonly baseUrl: URL;
  private readonly where: string;
  private readonly timeoutMs: number;
  private readonly retry: ComfyRetryOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly proxy: ProxyRouter | undefined;
  /** `/object_info` of this server, kept as long as the client: owners of long-lived clients bound them (ComfyServerDirectory). */
  private objectInfo: Promise<ObjectInfo> | undefined;

  constructor(options: ComfyClientOptions) {
    this.baseUrl = parseComfyUrl(options.baseUrl, options.baseUrlSource);
    this.where = maskUrl(this.baseUrl.href);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = { ...defaultRetry, ...options.retry };
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.proxy = options.proxy;
  }

  /**
   * Queues a prompt. A 400 becomes a {@link WorkflowRejectedError} with every node error; a 200
   * with `node_errors` is accepted, and those errors come back as warnings. Never retried: a lost
   * answer may still have queued the prompt.
   */
  async queuePrompt(request: QueuePromptRequest, signal?: AbortSignal): Promise<QueuedPrompt> {
    const what = 'Queue the prompt';
    const body: Record<string, unknown> = { prompt: request.prompt, client_id: request.clientId };
    if (request.promptId !== undefined) body.prompt_id = request.promptId;
    if (request.extraData !== undefined) body.extra_data = { ...request.extraData, client_id: request.clientId };
    const res = await this.exchange({ what, method: 'POST', route: '/prompt', json: body, idempotent: false }, signal);
    const json = parseJsonOrUndefined(res.text);
    if (res.status === 400) throw rejectedFrom(json, res.text, res.status);
    if (res.status === 413) {
      throw new WorkflowRejectedError(
        `ComfyUI at ${this.where} refused the prompt as too large (HTTP 413): ${tidy(res.text) || 'no details'}. The server's --max-upload-size limits every request.`,
        'request_too_large',
        tidy(res.text),
        '',
        [],
        [],
        { status: 413, serverMessage: tidy(res.text) },
      );
    }
    this.assertOk(what, res, json);
    if (!isObject(json) || typeof json.prompt_id !== 'string' || json.prompt_id === '') {
      throw new ServerError(`${what} on ${this.where}: the answer has no prompt_id (is this a ComfyUI server?).`, { status: res.status });
    }
    const nodeErrors = flattenNodeErrors(json.node_errors);
    return {
      promptId: json.prompt_id,
      number: typeof json.number === 'number' ? json.number : Number.NaN,
      nodeErrors,
      warnings: nodeErrors.flatMap((n) => n.errors.map((e) => `Output node ${n.nodeId} (${n.classType}) was dropped: ${describeNodeError(e)}`)),
    };
  }

  /** `GET /queue`: what runs and what waits, pending sorted by number then prompt id. */
  async getQueue(signal?: AbortSignal): Promise<QueueState> {
    const what = 'Read the queue';
    const json = await this.getJson(what, '/queue', undefined, signal);
    if (!isObject(json)) throw this.notProtocol(what);
    const running = parseQueueItems(json.queue_running);
    const pending = parseQueueItems(json.queue_pending).sort((a, b) => a.number - b.number || a.promptId.localeCompare(b.promptId));
    return { running, pending };
  }

  /** Removes pending prompts from the queue. A prompt that already runs is not affected (the server ignores it). */
  async deleteFromQueue(promptIds: readonly string[], signal?: AbortSignal): Promise<void> {
    const what = 'Remove the prompt from the queue';
    const res = await this.exchange({ what, method: 'POST', route: '/queue', json: { delete: promptIds }, idempotent: true }, signal);
    this.assertOk(what, res, parseJsonOrUndefined(res.text));
  }

  /**
   * `POST /interrupt {prompt_id}`: stops that prompt if it is the running one. Servers before
   * 2025-09 ignore the id and stop whatever runs (see {@link hasScopedInterrupt}), so callers
   * check `/queue` first.
   */
  async interrupt(promptId: string, signal?: AbortSignal): Promise<void> {
    const what = 'Interrupt the prompt';
    const res = await this.exchange({ what, method: 'POST', route: '/interrupt', json: { prompt_id: promptId }, idempotent: true }, signal);
    this.assertOk(what, res, parseJsonOrUndefined(res.text));
  }

  /** `GET /history/{id}`: the entry, or undefined while the server has none (queued, running, unknown, restarted). */
  async getHistoryEntry(promptId: string, signal?: AbortSignal): Promise<HistoryEntry | undefined> {
    const what = 'Read the prompt history';
    const json = await this.getJson(what, `/history/${encodeURIComponent(promptId)}`, undefined, signal);
    if (!isObject(json)) throw this.notProtocol(what);
    const entry = json[promptId];
    if (entry === undefined) return undefined;
    if (!isObject(entry) || !isObject(entry.outputs)) throw this.notProtocol(what);
    return entry as unknown as HistoryEntry;
  }

  /** `GET /object_info`, fetched once per client (share the client to share it); `refresh` fetches again (new custom nodes, new files). */
  getObjectInfo(options: { refresh?: boolean } = {}, signal?: AbortSignal): Promise<ObjectInfo> {
    if (this.objectInfo && !options.refresh) return this.objectInfo;
    const what = 'Read the node list (object_info)';
    const pending = this.getJson(what, '/object_info', undefined, signal).then((json) => {
      if (!isObject(json)) throw this.notProtocol(what);
      return json as ObjectInfo;
    });
    this.objectInfo = pending;
    pending.catch(() => {
      if (this.objectInfo === pending) this.objectInfo = undefined;
    });
    return pending;
  }

  /** `GET /system_stats`: the readiness probe (answers as soon as the server serves requests). */
  async getSystemStats(signal?: AbortSignal): Promise<SystemStats> {
    const what = 'Read the server status (system_stats)';
    const json = await this.getJson(what, '/system_stats', undefined, signal);
    if (!isObject(json) || !isObject(json.system)) throw this.notProtocol(what);
    return { system: json.system, devices: Array.isArray(json.devices) ? (json.devices as SystemStats['devices']) : [] };
  }

  /**
   * The workflows saved in the server's user folder (`GET /userdata?dir=workflows&recurse=true&split=false&full_info=true`,
   * protocol reference §1.11), sorted by path. A server where nothing was saved yet answers 404
   * "Directory not found": that is an empty list. Entries with an unsafe name are left out and counted.
   */
  async listSavedWorkflows(signal?: AbortSignal): Promise<SavedWorkflowList> {
    const what = 'List the saved workflows';
    const query = { dir: SAVED_DIR, recurse: 'true', split: 'false', full_info: 'true' };
    const res = await this.exchange({ what, method: 'GET', route: '/userdata', query, idempotent: true }, signal);
    if (res.status === 404 && res.text.trim() === 'Directory not found') return { workflows: [], unsafeNames: 0 };
    if (res.status === 404) throw new NotFoundError(`${what} on ${this.where}: this server has no /userdata route (ComfyUI before 2024-03 keeps workflows in the browser only).`, { status: 404 });
    const json = parseJsonOrUndefined(res.text);
    this.assertOk(what, res, json);
    if (!Array.isArray(json)) throw this.notProtocol(what);
    const workflows: SavedWorkflow[] = [];
    let unsafeNames = 0;
    for (const entry of json as unknown[]) {
      const rel = typeof entry === 'string' ? entry : isObject(entry) && typeof entry.path === 'string' ? entry.path : undefined;
      if (rel === undefined || savedWorkflowPathProblem(rel) !== undefined) {
        unsafeNames++;
        continue;
      }
      if (!/\.json$/i.test(rel)) continue;
      const size = isObject(entry) && typeof entry.size === 'number' ? entry.size : undefined;
      const modified = isObject(entry) && typeof entry.modified === 'number' && Number.isFinite(entry.modified) ? entry.modified : undefined;
      // Seconds until 2025-10 (0.3.64 sends 1796283523.61), milliseconds since: no date in seconds reaches 1e11.
      const modifiedMs = modified === undefined ? undefined : modified < 1e11 ? Math.round(modified * 1000) : modified;
      workflows.push({ path: rel, size, modifiedMs });
    }
    workflows.sort((a, b) => a.path.localeCompare(b.path));
    return { workflows, unsafeNames };
  }

  /** The text of one saved workflow (`GET /userdata/workflows%2F<path>`), exactly as the server holds it. */
  async readSavedWorkflow(rel: string, signal?: AbortSignal): Promise<string> {
    const what = `Read the saved workflow ${JSON.stringify(rel)}`;
    const route = savedWorkflowRoute(rel, what);
    const res = await this.exchange({ what, method: 'GET', route, idempotent: true }, signal);
    if (res.status === 404) throw new NotFoundError(`${what} on ${this.where}: there is no such saved workflow (HTTP 404); it may have been renamed or deleted in the web UI.`, { status: 404 });
    this.assertUserDataOk(what, res);
    return res.text;
  }

  /**
   * Saves `body` (a workflow's JSON text, sent as is) as `workflows/<path>` (`POST /userdata/…`).
   * With `overwrite: false` an existing name is a {@link SavedWorkflowExistsError}. Not retried: a
   * lost answer may have saved it, and a retry would then find its own file in the way.
   * @returns the saved name below `workflows/`, as the server reports it.
   */
  async saveWorkflow(rel: string, body: string, options: { readonly overwrite: boolean }, signal?: AbortSignal): Promise<string> {
    const what = `Save the workflow ${JSON.stringify(rel)}`;
    const route = savedWorkflowRoute(rel, what);
    const call: Call = { what, method: 'POST', route, query: { overwrite: String(options.overwrite) }, idempotent: false };
    const res = await this.withRetries(what, false, signal, () => this.send(call, { body, headers: { accept: 'application/json', 'content-type': 'application/json' } }, signal));
    if (res.status === 409) throw new SavedWorkflowExistsError(`ComfyUI at ${this.where} already has a saved workflow named ${JSON.stringify(rel)}.`, rel);
    if (res.status === 413) {
      throw new InvalidRequestError(`${what}: ComfyUI at ${this.where} refused it as too large (HTTP 413): ${tidy(res.text)}. The server's --max-upload-size sets the limit.`, { status: 413, serverMessage: tidy(res.text) });
    }
    this.assertUserDataOk(what, res);
    const saved = parseJsonOrUndefined(res.text);
    const savedPath = typeof saved === 'string' ? saved.replace(/^workflows\//, '') : isObject(saved) && typeof saved.path === 'string' ? saved.path.replace(/^workflows\//, '') : undefined;
    return savedPath !== undefined && savedWorkflowPathProblem(savedPath) === undefined ? savedPath : rel;
  }

  /** `/userdata` answers 403 (empty) for a path that leaves the user folder; anything else as usual. */
  private assertUserDataOk(what: string, res: RawResponse): void {
    if (res.status === 403 && res.text.trim() === '') {
      throw new InvalidRequestError(`${what}: ComfyUI at ${this.where} refused the path (HTTP 403): it leaves the server's user folder.`, { status: 403 });
    }
    this.assertOk(what, res, parseJsonOrUndefined(res.text));
  }

  /**
   * Whether the server has an input file of this name and size: `HEAD /view?filename=&type=input`
   * (protocol reference §1.11; 200 with the file's `Content-Length`, 404 without). Named by content
   * ({@link contentDerivedName}), a file the server has is the file we would upload; the size
   * check also passes over a file cut short on the server. As for GET (aiohttp answers HEAD on
   * every GET route): `subfolder` is joined below the type's folder (403 if it leaves it), only the
   * base name of `filename` counts, and a name holding `..` is refused (400). Any answer but a 200
   * of that length, or none, is a no: the upload that follows then says what is wrong.
   */
  async hasInput(name: string, options: { readonly size: number; readonly subfolder?: string; readonly type?: 'input' | 'temp' | 'output' }, signal?: AbortSignal): Promise<boolean> {
    const what = `Look for ${JSON.stringify(name)} on the server`;
    const query: Record<string, string> = { filename: name, type: options.type ?? 'input' };
    if (options.subfolder) query.subfolder = options.subfolder;
    try {
      const res = await this.exchange({ what, method: 'HEAD', route: '/view', query, idempotent: true }, signal);
      return res.status === 200 && res.contentLength === options.size;
    } catch (e) {
      if (isCancellation(e)) throw e;
      return false;
    }
  }

  /**
   * Uploads a local file with `POST /upload/image`, streamed (never read whole), without
   * overwrite, under a content-derived name (see {@link contentDerivedName}). Returns where the
   * server put it; always use the returned `name`, the server may rename.
   */
  async uploadFile(localPath: string, options: UploadOptions = {}, signal?: AbortSignal): Promise<UploadedFile> {
    const what = `Upload ${path.basename(localPath)}`;
    let sha256: string;
    try {
      sha256 = options.sha256 ?? (await hashFile(options.file ?? localPath, signal));
    } catch (e) {
      throw localFileError(e, localPath, signal);
    }
    const name = contentDerivedName(localPath, sha256);
    const fields: { name: string; value: string }[] = [{ name: 'type', value: options.type ?? 'input' }];
    if (options.subfolder) fields.push({ name: 'subfolder', value: options.subfolder });
    const part = { name: 'image', filename: name, path: localPath, handle: options.file, sha256: options.verifySha256 ? sha256 : undefined, beforeEnd: options.beforeEnd };
    const body = await createMultipartBody(fields, [part]).catch((e: unknown) => {
      throw localFileError(e, localPath, signal);
    });
    const onProgress = options.onProgress;
    const res = await this.withRetries(what, true, signal, () => {
      let bodyFailure: unknown;
      const stream = body.stream(onProgress && ((sent) => onProgress(sent, body.length)));
      stream.once('error', (e) => (bodyFailure = e));
      return this.send(
        { what, method: 'POST', route: '/upload/image', idempotent: true },
        { body: stream, headers: { 'content-type': body.contentType, 'content-length': String(body.length) } },
        signal,
      ).catch((e: unknown) => {
        // The file, not the network, ended the body (it changed while being sent): an error of its own, never retried.
        if (bodyFailure instanceof LocalFileChangedError) throw new InvalidRequestError(`Cannot upload ${localPath}: ${bodyFailure.message}`, { cause: bodyFailure });
        throw e;
      });
    });
    const json = parseJsonOrUndefined(res.text);
    if (res.status === 413) {
      throw new InvalidRequestError(
        `${what}: ComfyUI at ${this.where} refused the file as too large (HTTP 413): ${tidy(res.text)}. The server's --max-upload-size sets the limit.`,
        { status: 413, serverMessage: tidy(res.text) },
      );
    }
    if (res.status === 400) {
      throw new InvalidRequestError(`${what}: ComfyUI at ${this.where} rejected the upload (HTTP 400)${res.text.trim() ? `: ${tidy(res.text)}` : ''}.`, {
        status: 400,
      });
    }
    this.assertOk(what, res, json);
    if (!isObject(json) || typeof json.name !== 'string' || json.name === '') throw this.notProtocol(what);
    const subfolder = typeof json.subfolder === 'string' ? json.subfolder : (options.subfolder ?? '');
    const type = typeof json.type === 'string' ? json.type : (options.type ?? 'input');
    return { name: json.name, subfolder, type, reference: subfolder ? `${subfolder}/${json.name}` : json.name };
  }

  /**
   * Streams one output file from `/view` (with its own `type` and `subfolder`) into `sink`,
   * which must consume or destroy the body; backpressure flows through. A call, not retried:
   * a half-written file is the sink's to discard, and the caller decides whether to try again.
   */
  async download<T>(ref: OutputFileRef, sink: (body: Readable, info: DownloadInfo) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Quoted: a server-sent name may hold control characters or escape sequences meant for a terminal.
    const what = `Download ${JSON.stringify(ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename)} (${ref.type ?? 'output'})`;
    const query: Record<string, string> = { filename: ref.filename, subfolder: ref.subfolder ?? '', type: ref.type ?? 'output' };
    const url = comfyEndpoint(this.baseUrl, '/view');
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const proxy = this.proxy ?? processProxy();
    const via = proxy.describe(url);
    let res: Awaited<ReturnType<ReturnType<typeof undici>['request']>>;
    try {
      res = await undici().request(url, { dispatcher: proxy.dispatcher(url), method: 'GET', signal, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    } catch (e) {
      throw this.transport(e, what, signal, via);
    }
    if (res.statusCode !== 200) {
      const status = res.statusCode;
      const text = await res.body.text().catch(() => '');
      if (status === 404) throw new NotFoundError(`${what}: ComfyUI at ${this.where} has no such file (HTTP 404); it may have been deleted, or the temp folder wiped by a restart.`, { status });
      if (status === 400 || status === 403) {
        // /view refuses names and subfolders that leave its folders: the server listed a file it will not serve.
        throw new ServerError(`${what}: ComfyUI at ${this.where} refused to serve it (HTTP ${status}); the name or subfolder it reported is not one /view accepts.`, { status });
      }
      this.assertOk(what, { status, text }, parseJsonOrUndefined(text));
      throw new ServerError(`${what} from ${this.where}: HTTP ${status} instead of the file.`, { status });
    }
    const lengthHeader = Number(res.headers['content-length']);
    const typeHeader = res.headers['content-type'];
    try {
      return await sink(res.body, {
        contentLength: Number.isFinite(lengthHeader) ? lengthHeader : undefined,
        contentType: typeof typeHeader === 'string' ? typeHeader : undefined,
      });
    } catch (e) {
      res.body.destroy();
      // The sink's own failures (a full disk) are not the network's: they pass through unchanged.
      if (e instanceof ApiError || !isTransportFailure(e, signal)) throw e;
      throw this.transport(e, what, signal, via);
    }
  }

  private async getJson(what: string, route: string, query: Record<string, string> | undefined, signal?: AbortSignal): Promise<unknown> {
    const res = await this.exchange({ what, method: 'GET', route, query, idempotent: true }, signal);
    const json = parseJsonOrUndefined(res.text);
    this.assertOk(what, res, json);
    if (json === undefined) throw this.notProtocol(what);
    return json;
  }

  /** One call with the retries its kind allows. */
  private exchange(call: Call, signal?: AbortSignal): Promise<RawResponse> {
    const body = call.json === undefined ? undefined : JSON.stringify(call.json);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.withRetries(call.what, call.idempotent, signal, () => this.send(call, { body, headers }, signal));
  }

  private async withRetries(what: string, idempotent: boolean, signal: AbortSignal | undefined, attempt: () => Promise<RawResponse>): Promise<RawResponse> {
    for (let n = 1; ; n++) {
      try {
        const res = await attempt();
        if (!idempotent || !retryableStatus(res.status) || n > this.retry.maxRetries) return res;
      } catch (e) {
        if (!(e instanceof ApiError) || !idempotent || n > this.retry.maxRetries) throw e;
        if (e.kind !== 'network' && e.kind !== 'timeout') throw e;
      }
      await sleep(backoffDelayMs(n, this.retry, this.random), signal, this.clock).catch((e: unknown) => {
        throw mapTransportError(e, `${what} on ${this.where}`, signal);
      });
    }
  }

  /** One HTTP exchange; the whole (small) answer is read as text. */
  private async send(
    call: Call,
    init: { body?: string | Readable; headers: Record<string, string> },
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    const url = comfyEndpoint(this.baseUrl, call.route);
    for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
    const proxy = this.proxy ?? processProxy();
    const via = proxy.describe(url);
    try {
      const res = await undici().request(url, {
        dispatcher: proxy.dispatcher(url),
        method: call.method,
        headers: init.headers,
        body: init.body,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const length = Number(res.headers['content-length']);
      return { status: res.statusCode, text: await res.body.text(), contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined };
    } catch (e) {
      throw this.transport(e, call.what, signal, via);
    }
  }

  private transport(e: unknown, what: string, signal?: AbortSignal, via?: string): ApiError {
    return mapTransportError(e, `${what} on ${this.where}`, signal, via);
  }

  /** Throws the typed error for a non-2xx answer; 413 and 500 text bodies are shown as text. */
  private assertOk(what: string, res: RawResponse, json: unknown): void {
    const { status } = res;
    if (status >= 200 && status < 300) return;
    const text = tidy(isObject(json) ? (serverMessageOf(json) ?? res.text) : res.text);
    const head = `${what} on ${this.where} failed: HTTP ${status}${text ? ` ${text}` : ''}`;
    const options = { status, serverMessage: text || undefined };
    if (status === 401 || status === 403) {
      throw new AuthError(`${head}. ComfyUI itself has no login; a proxy in front of it refused us (a machine still starting answers 403 for a while).`, options);
    }
    if (status === 404) throw new NotFoundError(`${head}. Is this the URL of a ComfyUI server?`, options);
    if (status >= 500) throw new ServerError(`${head}.`, options);
    throw new InvalidRequestError(`${head}.`, options);
  }

  private notProtocol(what: string): ServerError {
    return new ServerError(`${what} on ${this.where}: the answer is not what a ComfyUI server sends (is the URL right?).`);
  }
}

/** The user-folder directory where the web UI saves workflows. */
const SAVED_DIR = 'workflows';

/** `/userdata/workflows%2F<rel>`: the whole path is ONE segment (§1.11); `rel` is checked first. */
function savedWorkflowRoute(rel: string, what: string): string {
  const problem = savedWorkflowPathProblem(rel);
  if (problem) throw new InvalidRequestError(`${what}: refused before sending, ${problem}. Use a plain name such as "my workflow.json" or "folder/my workflow.json".`);
  return `/userdata/${encodeURIComponent(`${SAVED_DIR}/${rel}`)}`;
}

/**
 * The first version known to honour `POST /interrupt {prompt_id}`: the feature landed on
 * 2025-09-02 (ComfyUI #9607) and 0.3.64 is the release checked live to have it. Earlier releases
 * may have it too; taking them for old only costs a `/queue` check.
 */
const scopedInterruptSince = [0, 3, 64] as const;

/**
 * True when a server of this `system_stats.comfyui_version` interrupts only the prompt named in
 * the body. Unknown (`"unknown"` before 2025-01, missing, unparsable) counts as old: such a server
 * ignores the body and stops whatever runs.
 */
export function hasScopedInterrupt(version: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version?.trim() ?? '');
  if (!m) return false;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] !== scopedInterruptSince[i]) return parts[i] > scopedInterruptSince[i];
  }
  return true;
}

/** Turns a 400 body of `POST /prompt` into the structured error, every node error included. */
function rejectedFrom(json: unknown, text: string, status: number): WorkflowRejectedError {
  const error = isObject(json) && isObject(json.error) ? json.error : undefined;
  const type = typeof error?.type === 'string' ? error.type : 'rejected';
  const message = typeof error?.message === 'string' ? error.message : tidy(text) || 'ComfyUI rejected the prompt';
  const details = typeof error?.details === 'string' ? error.details : '';
  const rawNodeErrors = isObject(json) ? json.node_errors : undefined;
  const nodeErrors = flattenNodeErrors(rawNodeErrors);
  const lines = [`ComfyUI rejected the workflow: ${message}${details && details !== message ? ` (${details})` : ''} [${type}]`];
  for (const n of nodeErrors) {
    for (const e of n.errors) lines.push(`  node ${n.nodeId} (${n.classType}): ${describeNodeError(e)}`);
  }
  if (nodeErrors.length === 0 && type === 'invalid_prompt') lines.push('  Check that every node has a class_type the server knows (custom nodes must be installed).');
  return new WorkflowRejectedError(lines.join('\n'), type, message, details, nodeErrors, rawNodeErrors ?? {}, { status, serverMessage: message, serverCode: type });
}

/** `node_errors` as a list; accepts the object of current servers and the list of servers before 2025-04. */
export function flattenNodeErrors(raw: unknown): NodeErrorReport[] {
  const out: NodeErrorReport[] = [];
  const entries: [string, unknown][] = Array.isArray(raw) ? raw.map((v, i) => [String(i), v]) : isObject(raw) ? Object.entries(raw) : [];
  for (const [nodeId, value] of entries) {
    if (!isObject(value)) continue;
    const errors = Array.isArray(value.errors) ? (value.errors as unknown[]).filter(isObject).map(toNodeError) : [];
    out.push({ nodeId, classType: typeof value.class_type === 'string' ? value.class_type : '?', errors });
  }
  return out;
}

function toNodeError(e: Record<string, unknown>): NodeValidationError {
  return {
    type: typeof e.type === 'string' ? e.type : 'unknown',
    message: typeof e.message === 'string' ? e.message : '',
    details: typeof e.details === 'string' ? e.details : '',
    extra_info: isObject(e.extra_info) ? e.extra_info : {},
  };
}

/** "Value 0 smaller than min of 1: width [value_smaller_than_min]". */
export function describeNodeError(e: NodeValidationError): string {
  return `${e.message || e.type}${e.details ? `: ${e.details}` : ''} [${e.type}]`;
}

function parseQueueItems(raw: unknown): QueueItem[] {
  if (!Array.isArray(raw)) return [];
  const out: QueueItem[] = [];
  for (const item of raw as unknown[]) {
    if (!Array.isArray(item) || typeof item[1] !== 'string') continue;
    const extra: unknown = item[3];
    const clientId = isObject(extra) && typeof extra.client_id === 'string' ? extra.client_id : undefined;
    out.push({ number: typeof item[0] === 'number' ? item[0] : Number(item[0]), promptId: item[1], clientId });
  }
  return out;
}

/** An error of the response body (dropped connection, body timeout, abort), as opposed to one of the sink. */
function isTransportFailure(e: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const err = e as { name?: string; code?: string };
  const code = err.code ?? '';
  return err.name === 'AbortError' || code.startsWith('UND_ERR') || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ABORT_ERR';
}

/** 403 and 502-504 are what a hosted machine's proxy answers while ComfyUI boots; 408/429 ask to come back. */
function retryableStatus(status: number): boolean {
  return status === 403 || status === 408 || status === 429 || status === 502 || status === 503 || status === 504;
}

function localFileError(e: unknown, localPath: string, signal?: AbortSignal): ApiError {
  if (e instanceof ApiError) return e;
  if (signal?.aborted) return mapTransportError(e, `Upload ${path.basename(localPath)}`, signal);
  const code = (e as { code?: string }).code;
  const reason = code === 'ENOENT' ? 'the file does not exist' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
  return new InvalidRequestError(`Cannot upload ${localPath}: ${reason}.`, { cause: e });
}

function serverMessageOf(json: Record<string, unknown>): string | undefined {
  const error = json.error;
  if (typeof error === 'string') return error;
  if (isObject(error) && typeof error.message === 'string') return error.message;
  if (typeof json.message === 'string') return json.message;
  return undefined;
}

function tidy(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

