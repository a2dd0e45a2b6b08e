import type * as http from 'node:http';
import { readBody, sendEmpty, sendJson, sendText } from './httpReplies';
import { PyError } from './pyFormat';
import { PyFloat, type PyObject, type PyValue } from './pyJson';
import * as pypath from './pyPath';

/**
 * The user data routes of ComfyUI 0.3.64 (`app/user_manager.py`), where the web UI keeps the
 * workflows it saves (`workflows/<name>.json`, UI format), as the protocol reference describes them
 * (comfyui-backend-protocol.md §1.11). The files live in memory: the simulator's own store, seeded
 * with two small workflows, so a test can list, read, save and replace them without a disk folder.
 */

/** The user's folder as the server sees it (`user/default`); only a root for the path checks. */
const USER_ROOT = '/comfyui/user/default';

interface StoredFile {
  bytes: Buffer;
  /** Epoch seconds, as `os.path.getmtime` gives them. */
  modified: number;
  created: number;
}

/** A small UI-format workflow as ComfyUI's Save writes it: an empty image, previewed. */
const SEED_UI_WORKFLOW = {
  last_node_id: 2,
  last_link_id: 1,
  nodes: [
    { id: 1, type: 'EmptyImage', pos: [40, 60], size: [315, 130], flags: {}, order: 0, mode: 0, inputs: [], outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [1], slot_index: 0 }], properties: { 'Node name for S&R': 'EmptyImage' }, widgets_values: [64, 64, 1, 3368652] },
    { id: 2, type: 'PreviewImage', pos: [400, 60], size: [210, 246], flags: {}, order: 1, mode: 0, inputs: [{ name: 'images', type: 'IMAGE', link: 1 }], outputs: [], properties: { 'Node name for S&R': 'PreviewImage' }, widgets_values: [] },
  ],
  links: [[1, 1, 0, 2, 0, 'IMAGE']],
  groups: [],
  config: {},
  extra: { ds: { scale: 1, offset: [0, 0] } },
  version: 0.4,
};

/** An API-format workflow someone saved beside it (Export (API) into the same folder). */
const SEED_API_WORKFLOW = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 3368652 }, _meta: { title: 'Blue square' } },
  '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
};

/** What the store holds at start and after `reset()`: paths relative to the user folder. */
const SEEDS: readonly (readonly [string, unknown])[] = [
  ['workflows/Blue square.json', SEED_UI_WORKFLOW],
  ['workflows/exports/blue_square_api.json', SEED_API_WORKFLOW],
];

/** `urllib.parse.unquote`: `%XX` runs decoded as UTF-8 (bad bytes become U+FFFD), anything else kept. */
function pyUnquote(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/** The `mimetypes.guess_type` answers a workflow folder sees; anything else is a download. */
function contentType(path: string): string {
  const ext = pypath.splitext(path)[1].toLowerCase();
  const known: Record<string, string> = { '.json': 'application/json', '.css': 'text/css', '.txt': 'text/plain', '.png': 'image/png', '.webp': 'image/webp' };
  return known[ext] ?? 'application/octet-stream';
}

/** The user folder in memory, with ComfyUI's path rules and answers. */
export class UserDataStore {
  private readonly files = new Map<string, StoredFile>();
  /** Folders that exist without a file in them (ComfyUI makes parent folders as a side effect of most requests). */
  private readonly dirs = new Set<string>();

  /** `seeded: false` starts as a server where nothing was saved yet (no `workflows/` folder). */
  constructor(private readonly seeded = true) {
    this.reset();
  }

  /** Back to the seeded workflows only (or to nothing). */
  reset(): void {
    this.files.clear();
    this.dirs.clear();
    if (!this.seeded) return;
    const now = Date.now() / 1000;
    for (const [rel, value] of SEEDS) this.write(pypath.join(USER_ROOT, rel), Buffer.from(JSON.stringify(value, null, 2), 'utf8'), now);
  }

  /**
   * `get_request_user_filepath`: the absolute path of `file` in the user folder, or undefined when
   * it leaves the folder (the 403 of §1.11). A name with `%` is unquoted once more, as ComfyUI does.
   * `createDir` makes the parent folder, as ComfyUI does even for reads.
   */
  private resolve(file: string, createDir: boolean): string | undefined {
    const name = file.includes('%') ? pyUnquote(file) : file;
    const abs = pypath.normpath(pypath.join(USER_ROOT, name));
    if (pypath.commonpath([USER_ROOT, abs]) !== USER_ROOT) return undefined;
    if (createDir) this.makeDirs(pypath.dirname(abs));
    return abs;
  }

  private isFile(abs: string): boolean {
    return this.files.has(abs);
  }

  private isDir(abs: string): boolean {
    if (abs === USER_ROOT || this.dirs.has(abs)) return true;
    const prefix = `${abs}/`;
    for (const f of this.files.keys()) if (f.startsWith(prefix)) return true;
    return false;
  }

  private makeDirs(abs: string): void {
    for (let d = abs; d.startsWith(`${USER_ROOT}/`); d = pypath.dirname(d)) {
      if (this.isFile(d)) throw new PyError('FileExistsError', `[Errno 17] File exists: '${d}'`);
      this.dirs.add(d);
    }
  }

  private write(abs: string, bytes: Buffer, now: number): void {
    this.makeDirs(pypath.dirname(abs));
    const created = this.files.get(abs)?.created ?? now;
    this.files.set(abs, { bytes, modified: now, created });
  }

  private info(abs: string, relativeTo: string): PyObject {
    const f = this.files.get(abs)!;
    return { path: relative(abs, relativeTo), size: f.bytes.length, modified: new PyFloat(f.modified), created: new PyFloat(f.created) };
  }

  /** `GET /userdata?dir=…[&recurse=true][&full_info=true][&split=true]`. */
  list(res: http.ServerResponse, query: URLSearchParams): void {
    const dir = query.get('dir') ?? '';
    if (!dir) return sendText(res, 400, 'Directory not provided');
    const abs = this.resolve(dir, true);
    if (!abs) return sendText(res, 403, 'Invalid directory');
    if (!this.isFile(abs) && !this.isDir(abs)) return sendText(res, 404, 'Directory not found');
    const flag = (name: string) => (query.get(name) ?? '').toLowerCase() === 'true';
    const recurse = flag('recurse');
    const fullInfo = flag('full_info');
    const split = flag('split');
    const results: PyValue[] = [];
    for (const file of this.files.keys()) {
      if (!file.startsWith(`${abs}/`)) continue;
      const rel = relative(file, abs);
      // glob's `*` and `**` skip names that start with a dot.
      if (!recurse && rel.includes('/')) continue;
      if (rel.split('/').some((part) => part.startsWith('.'))) continue;
      results.push(fullInfo ? this.info(file, abs) : split ? [rel, ...rel.split('/')] : rel);
    }
    sendJson(res, results);
  }

  /** `GET /v2/userdata?path=…`: one level, folders first, each with its path from the user folder. */
  listV2(res: http.ServerResponse, query: URLSearchParams): void {
    const requested = pyUnquote(query.get('path') ?? '');
    const abs = requested ? this.resolve(requested, false) : USER_ROOT;
    if (!abs) return sendText(res, 400, 'Invalid path requested');
    if (!this.isFile(abs) && !this.isDir(abs)) return abs === USER_ROOT ? sendJson(res, []) : sendText(res, 404, 'Requested path not found');
    if (this.isFile(abs)) return sendText(res, 400, 'Requested path is not a directory');
    const entries = new Map<string, { dir: boolean; reply: PyObject }>();
    const children = [...this.files.keys(), ...this.dirs].filter((p) => p.startsWith(`${abs}/`));
    for (const p of children) {
      const name = relative(p, abs).split('/')[0];
      const full = pypath.join(abs, name);
      if (entries.has(name)) continue;
      const file = this.files.get(full);
      const path = relative(full, USER_ROOT);
      entries.set(name, { dir: !file, reply: file ? { name, path, type: 'file', size: file.bytes.length, modified: new PyFloat(file.modified) } : { name, path, type: 'directory' } });
    }
    const sorted = [...entries].sort(([na, a], [nb, b]) => Number(!a.dir) - Number(!b.dir) || na.toLowerCase().localeCompare(nb.toLowerCase()));
    sendJson(res, sorted.map(([, e]) => e.reply));
  }

  /** `GET /userdata/{file}`: the bytes as saved, with the headers of aiohttp's FileResponse. */
  read(res: http.ServerResponse, file: string): void {
    const abs = this.resolve(file, true);
    if (!abs) return sendEmpty(res, 403);
    const f = this.files.get(abs);
    if (!f) return sendEmpty(res, this.isDir(abs) ? 403 : 404);
    const mtimeNs = BigInt(Math.round(f.modified * 1e9));
    res.writeHead(200, {
      'Content-Type': contentType(abs),
      'Content-Length': f.bytes.length,
      Etag: `"${mtimeNs.toString(16)}-${f.bytes.length.toString(16)}"`,
      'Last-Modified': new Date(f.modified * 1000).toUTCString(),
      'Accept-Ranges': 'bytes',
    });
    res.end(res.req.method === 'HEAD' ? undefined : f.bytes);
  }

  /** `POST /userdata/{file}[?overwrite=false][&full_info=true]`: 409 when it exists and overwrite is off. */
  async save(req: http.IncomingMessage, res: http.ServerResponse, file: string, query: URLSearchParams, maxBytes: number): Promise<void> {
    const abs = this.resolve(file, true);
    if (!abs) return sendEmpty(res, 403);
    const overwrite = (query.get('overwrite') ?? 'true') !== 'false';
    const fullInfo = (query.get('full_info') ?? 'false').toLowerCase() === 'true';
    if (!overwrite && (this.isFile(abs) || this.isDir(abs))) return sendText(res, 409, 'File already exists');
    const body = await readBody(req, maxBytes);
    if (this.isDir(abs)) throw new PyError('IsADirectoryError', `[Errno 21] Is a directory: '${abs}'`);
    if (abs.includes('\0')) throw new PyError('ValueError', 'embedded null byte');
    this.write(abs, body, Date.now() / 1000);
    sendJson(res, fullInfo ? this.info(abs, USER_ROOT) : relative(abs, USER_ROOT));
  }

  /** `DELETE /userdata/{file}`: 204. */
  delete(res: http.ServerResponse, file: string): void {
    const abs = this.resolve(file, true);
    if (!abs) return sendEmpty(res, 403);
    if (this.isDir(abs)) throw new PyError('IsADirectoryError', `[Errno 21] Is a directory: '${abs}'`);
    if (!this.files.delete(abs)) return sendEmpty(res, 404);
    this.dirs.add(pypath.dirname(abs));
    sendEmpty(res, 204);
  }

  /** `POST /userdata/{file}/move/{dest}[?overwrite=false]`: 404 for a missing source, 409 for an existing dest without overwrite. */
  move(res: http.ServerResponse, file: string, dest: string, query: URLSearchParams): void {
    const source = this.resolve(file, true);
    if (!source) return sendEmpty(res, 403);
    const from = this.files.get(source);
    if (!from) return sendEmpty(res, 404);
    const target = this.resolve(dest, true);
    if (!target) return sendEmpty(res, 403);
    const overwrite = (query.get('overwrite') ?? 'true') !== 'false';
    if (!overwrite && (this.isFile(target) || this.isDir(target))) return sendText(res, 409, 'File already exists');
    this.files.delete(source);
    this.dirs.add(pypath.dirname(source));
    this.files.set(target, from);
    const fullInfo = (query.get('full_info') ?? 'false').toLowerCase() === 'true';
    sendJson(res, fullInfo ? this.info(target, USER_ROOT) : relative(target, USER_ROOT));
  }
}

/** `os.path.relpath(path, start)` for a path below `start`. */
function relative(path: string, start: string): string {
  return path === start ? '.' : path.slice(start.length + 1);
}
