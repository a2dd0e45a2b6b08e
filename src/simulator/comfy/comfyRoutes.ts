import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import { handleUpload, serveView, type UploadStaging } from './fileRoutes';
import { type FolderPaths } from './folderPaths';
import { readBody, sendEmpty, sendJson, sendText } from './httpReplies';
import { type NodeClass } from './nodeClass';
import { type PromptExecutor } from './promptExecutor';
import { publicItem, type PromptQueue, type QueueNumber } from './promptQueue';
import { type PromptValidator } from './promptValidator';
import { PyError, pyFloat, pyInt, pyStr, pyTruthy, pyTypeName } from './pyFormat';
import { parsePyJson, PyFloat, type PyDict, type PyObject, type PyValue } from './pyJson';
import * as pypath from './pyPath';
import { type UserDataStore } from './userData';

/** What the ComfyUI routes need from the simulator that owns them. */
export interface ComfyRouteContext {
  readonly folders: FolderPaths;
  readonly queue: PromptQueue;
  readonly executor: PromptExecutor;
  readonly validator: PromptValidator;
  readonly classes: ReadonlyMap<string, NodeClass>;
  readonly staging: UploadStaging;
  /** File names of the model folders (`/models/{folder}`). */
  readonly models: Readonly<Record<string, readonly string[]>>;
  /** The user folder of `/userdata` (saved workflows). */
  readonly userData: UserDataStore;
  /** `client_max_size` in bytes. */
  maxUploadBytes(): number;
  /** `/features` and the feature_flags reply; undefined on an old server. */
  serverFeatures(): PyObject | undefined;
  oldServer(): boolean;
  /** `self.number`, post-incremented. */
  takeNumber(): number;
  queueInfo(): PyObject;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], query: URLSearchParams) => Promise<void> | void;

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  handler: Handler;
  /** `/internal/*` has no `/api` alias. */
  internal?: boolean;
}

const SENSITIVE_EXTRA_DATA_KEYS = ['auth_token_comfy_org', 'api_key_comfy_org'];

const MODEL_FOLDERS = [
  'checkpoints',
  'configs',
  'loras',
  'vae',
  'text_encoders',
  'diffusion_models',
  'clip_vision',
  'style_models',
  'embeddings',
  'diffusers',
  'vae_approx',
  'controlnet',
  'gligen',
  'upscale_models',
  'custom_nodes',
  'hypernetworks',
  'photomaker',
  'classifiers',
  'model_patches',
  'audio_encoders',
];

/** Python's `key in container` as the handlers use it on parsed bodies. */
function has(container: PyValue, key: string): boolean {
  if (container instanceof Map) return container.has(key);
  if (Array.isArray(container)) return container.includes(key);
  if (typeof container === 'string') return container.includes(key);
  throw new PyError('TypeError', `argument of type '${pyTypeName(container)}' is not iterable`);
}

/** Python's `container[key]` for the same. */
function item(container: PyValue, key: string): PyValue {
  if (container instanceof Map) {
    if (!container.has(key)) throw new PyError('KeyError', `'${key}'`);
    return container.get(key) ?? null;
  }
  throw new PyError('TypeError', `${pyTypeName(container)} indices must be integers or slices, not str`);
}

/** `for x in value` over a parsed body value. */
function iterate(value: PyValue): PyValue[] {
  if (Array.isArray(value)) return value;
  if (value instanceof Map) return [...value.keys()];
  if (typeof value === 'string') return [...value];
  throw new PyError('TypeError', `'${pyTypeName(value)}' object is not iterable`);
}

/** `await request.json()`: JSON decode errors are not caught by ComfyUI, so they end as a 500. */
async function readJson(req: http.IncomingMessage, ctx: ComfyRouteContext): Promise<PyValue> {
  const text = (await readBody(req, ctx.maxUploadBytes())).toString('utf8');
  try {
    return parsePyJson(text);
  } catch (e) {
    throw new PyError('json.decoder.JSONDecodeError', (e as Error).message);
  }
}

function systemStats(oldServer: boolean): PyObject {
  const total = os.totalmem();
  const free = os.freemem();
  return {
    system: {
      os: 'posix',
      ram_total: total,
      ram_free: free,
      comfyui_version: oldServer ? 'unknown' : '0.3.64',
      required_frontend_version: '1.27.10',
      installed_templates_version: null,
      required_templates_version: '0.1.95',
      python_version: '3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]',
      pytorch_version: '1.13.0a0',
      embedded_python: false,
      argv: ['main.py', '--cpu', '--listen', '127.0.0.1', '--port', '8188', '--disable-api-nodes'],
    },
    devices: [{ name: 'cpu', type: 'cpu', index: null, vram_total: total, vram_free: free, torch_vram_total: total, torch_vram_free: free }],
  };
}

const INDEX_HTML = '<!DOCTYPE html><html><head><title>ComfyUI</title></head><body><p>ComfyUI (RunComfy simulator)</p></body></html>';

/** The ComfyUI 0.3.64 HTTP API, routed; returns false when no route matched the path. */
export class ComfyRoutes {
  private readonly routes: Route[];

  constructor(private readonly ctx: ComfyRouteContext) {
    const r = (method: Route['method'], path: string, handler: Handler, internal = false): Route => ({ method, pattern: new RegExp(`^${path}$`), handler, internal });
    this.routes = [
      r('GET', '/', (_q, res) => sendText(res, 200, INDEX_HTML, 'text/html')),
      // Upgrades never reach here; a plain GET is what aiohttp's WebSocketResponse.prepare refuses.
      r('GET', '/ws', (_q, res) => sendText(res, 400, 'No WebSocket UPGRADE hdr: None\n Can "Upgrade" only to "WebSocket".')),
      r('GET', '/embeddings', (_q, res) => sendJson(res, [])),
      r('GET', '/models', (_q, res) => sendJson(res, MODEL_FOLDERS)),
      r('GET', '/models/([^/]+)', (_q, res, [folder]) => (MODEL_FOLDERS.includes(folder) ? sendJson(res, [...(ctx.models[folder] ?? [])].sort()) : sendEmpty(res, 404))),
      r('GET', '/extensions', (_q, res) => sendJson(res, [])),
      r('POST', '/upload/image', (req, res) => handleUpload(req, res, ctx.folders, ctx.maxUploadBytes(), ctx.staging, false)),
      r('POST', '/upload/mask', (req, res) => handleUpload(req, res, ctx.folders, ctx.maxUploadBytes(), ctx.staging, true)),
      r('GET', '/view', (req, res, _p, query) => serveView(req, res, query, ctx.folders)),
      r('GET', '/view_metadata/([^/]+)', (_q, res) => sendEmpty(res, 404)),
      r('GET', '/system_stats', (_q, res) => sendJson(res, systemStats(ctx.oldServer()))),
      r('GET', '/features', (_q, res) => {
        const features = ctx.serverFeatures();
        if (features) sendJson(res, features);
        else sendText(res, 404, '404: Not Found');
      }),
      r('GET', '/prompt', (_q, res) => sendJson(res, ctx.queueInfo())),
      r('POST', '/prompt', (req, res) => this.postPrompt(req, res)),
      r('GET', '/object_info', (_q, res) => sendJson(res, Object.fromEntries([...ctx.classes.values()].map((c) => [c.name, c.objectInfo(ctx.folders)])))),
      r('GET', '/object_info/([^/]+)', (_q, res, [name]) => {
        const cls = ctx.classes.get(name);
        sendJson(res, cls ? ({ [cls.name]: cls.objectInfo(ctx.folders) }) : {});
      }),
      r('GET', '/history', (_q, res, _p, query) => {
        const maxItems = query.get('max_items');
        const offset = query.get('offset');
        const history = ctx.queue.getHistory({ maxItems: maxItems === null ? undefined : Number(pyInt(maxItems)), offset: offset === null ? undefined : Number(pyInt(offset)) });
        sendJson(res, history);
      }),
      r('GET', '/history/([^/]+)', (_q, res, [id]) => sendJson(res, ctx.queue.getHistory({ promptId: id }))),
      r('GET', '/queue', (_q, res) => {
        const { running, pending } = ctx.queue.current();
        sendJson(res, { queue_running: running.map(publicItem), queue_pending: pending.map(publicItem) });
      }),
      r('POST', '/queue', async (req, res) => {
        const body = await readJson(req, ctx);
        if (has(body, 'clear') && pyTruthy(item(body, 'clear'))) ctx.queue.clear();
        if (has(body, 'delete')) for (const id of iterate(item(body, 'delete'))) ctx.queue.delete(id);
        sendEmpty(res, 200);
      }),
      r('POST', '/interrupt', async (req, res) => {
        let body: PyValue;
        const raw = (await readBody(req, ctx.maxUploadBytes())).toString('utf8');
        try {
          body = parsePyJson(raw);
        } catch {
          body = new Map();
        }
        if (!(body instanceof Map)) throw new PyError('AttributeError', `'${pyTypeName(body)}' object has no attribute 'get'`);
        const promptId = body.get('prompt_id') ?? null;
        if (ctx.oldServer() || !pyTruthy(promptId)) ctx.executor.interrupt();
        else if (typeof promptId === 'string' && ctx.queue.isRunning(promptId)) ctx.executor.interrupt();
        sendEmpty(res, 200);
      }),
      r('POST', '/free', async (req, res) => {
        const body = await readJson(req, ctx);
        if (!(body instanceof Map)) throw new PyError('AttributeError', `'${pyTypeName(body)}' object has no attribute 'get'`);
        sendEmpty(res, 200);
      }),
      r('POST', '/history', async (req, res) => {
        const body = await readJson(req, ctx);
        if (has(body, 'clear') && pyTruthy(item(body, 'clear'))) ctx.queue.wipeHistory();
        if (has(body, 'delete')) for (const id of iterate(item(body, 'delete'))) ctx.queue.deleteHistory(id);
        sendEmpty(res, 200);
      }),
      // User data (§1.11 of the protocol reference): the path is ONE segment, `workflows%2Fname.json`.
      r('GET', '/userdata', (_q, res, _p, query) => ctx.userData.list(res, query)),
      r('GET', '/v2/userdata', (_q, res, _p, query) => ctx.userData.listV2(res, query)),
      r('GET', '/userdata/([^/]+)', (_q, res, [file]) => ctx.userData.read(res, file)),
      r('POST', '/userdata/([^/]+)', (req, res, [file], query) => ctx.userData.save(req, res, file, query, ctx.maxUploadBytes())),
      r('DELETE', '/userdata/([^/]+)', (_q, res, [file]) => ctx.userData.delete(res, file)),
      r('POST', '/userdata/([^/]+)/move/([^/]+)', (_q, res, [file, dest], query) => ctx.userData.move(res, file, dest, query)),
      r(
        'GET',
        '/internal/files/([^/]+)',
        async (_q, res, [type]) => {
          const dir = ['output', 'input', 'temp'].includes(type) ? ctx.folders.directoryByType(type) : undefined;
          if (!dir) return sendJson(res, { error: 'Invalid directory type' }, 400);
          const entries = await fs.promises.readdir(dir, { withFileTypes: true });
          const files = await Promise.all(entries.filter((e) => e.isFile()).map(async (e) => ({ name: e.name, mtime: (await fs.promises.stat(pypath.join(dir, e.name))).mtimeMs })));
          sendJson(res, files.sort((a, b) => b.mtime - a.mtime).map((f) => f.name));
        },
        true,
      ),
    ];
  }

  /** Dispatches a request; false when nothing matched (the caller answers 404). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    const candidates: { route: Route; params: string[] }[] = [];
    for (const route of this.routes) {
      const paths = route.internal ? [path] : [path, path.startsWith('/api/') ? path.slice(4) : undefined];
      for (const p of paths) {
        if (p === undefined) continue;
        const m = route.pattern.exec(p);
        if (m) candidates.push({ route, params: m.slice(1).map((s) => decodeURIComponent(s)) });
      }
    }
    if (candidates.length === 0) return false;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const match = candidates.find((c) => c.route.method === method);
    if (!match) {
      res.setHeader('Allow', [...new Set(candidates.map((c) => c.route.method))].join(','));
      sendText(res, 405, '405: Method Not Allowed');
      return true;
    }
    await match.route.handler(req, res, match.params, query);
    return true;
  }

  /** `POST /prompt`, step for step like ComfyUI's handler. */
  private async postPrompt(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ctx = this.ctx;
    const body = await readJson(req, ctx);
    let number: QueueNumber;
    if (has(body, 'number')) {
      number = new PyFloat(pyFloat(item(body, 'number')));
    } else {
      number = ctx.takeNumber();
      if (has(body, 'front') && pyTruthy(item(body, 'front'))) number = -number;
    }
    if (!has(body, 'prompt')) {
      sendJson(res, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} }, 400);
      return;
    }
    const prompt = item(body, 'prompt');
    const promptId = !ctx.oldServer() && has(body, 'prompt_id') ? pyStr(item(body, 'prompt_id')) : randomUUID();
    const partial = has(body, 'partial_execution_targets') ? item(body, 'partial_execution_targets') : undefined;
    const valid = ctx.validator.validate(prompt, partial);
    const extraData = has(body, 'extra_data') ? item(body, 'extra_data') : new Map<string, PyValue>();
    if (has(body, 'client_id')) {
      if (!(extraData instanceof Map)) throw new PyError('TypeError', `'${pyTypeName(extraData)}' object does not support item assignment`);
      extraData.set('client_id', item(body, 'client_id'));
    }
    if (!valid.ok) {
      sendJson(res, { error: valid.error!, node_errors: valid.nodeErrors as PyValue }, 400);
      return;
    }
    if (!(extraData instanceof Map)) throw new PyError('TypeError', `argument of type '${pyTypeName(extraData)}' is not iterable`);
    const sensitive: PyDict = new Map();
    for (const key of SENSITIVE_EXTRA_DATA_KEYS) {
      if (extraData.has(key)) {
        sensitive.set(key, extraData.get(key) ?? null);
        extraData.delete(key);
      }
    }
    ctx.queue.put({ number, promptId, prompt: prompt as PyDict, extraData, outputs: valid.outputs, sensitive });
    sendJson(res, { prompt_id: promptId, number, node_errors: valid.nodeErrors as PyValue });
  }
}
