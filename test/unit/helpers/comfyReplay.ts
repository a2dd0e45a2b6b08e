import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type WebSocket from 'ws';
import { ws as loadWs } from '../../../src/api/lazy';
import { parsePyJson, pyDumps, type PyDict, type PyValue } from '../../../src/simulator/comfy/pyJson';

/**
 * Helpers for replaying the ComfyUI 0.3.64 recordings against the simulator: raw websocket
 * recorders, recordings parsed the way Python parsed them (order and float-ness kept), and a
 * canonical form of frames (ids and timestamps replaced by placeholders) so a live sequence can be
 * compared with a recorded one element by element.
 */

/** The recordings folder, found upwards from here (works from `out/` and from any other compile target). */
export const RECORDINGS = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'recordings', 'comfyui-0.3.64');
    if (fs.existsSync(path.join(candidate, 'README.md'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`recordings/comfyui-0.3.64 not found above ${__dirname}`);
  }
})();

/** A recording file parsed like Python's json.load (Maps, floats kept apart from ints). */
export function recording(name: string): PyValue {
  return parsePyJson(fs.readFileSync(path.join(RECORDINGS, name), 'utf8'));
}

/** `value[key]` for a parsed recording; throws naming the key when absent. */
export function at(value: PyValue | undefined, ...keys: (string | number)[]): PyValue {
  let v: PyValue | undefined = value;
  for (const k of keys) {
    if (typeof k === 'number' && Array.isArray(v)) v = v[k];
    else if (v instanceof Map && typeof k === 'string') v = v.get(k);
    else throw new Error(`recording path ${keys.join('.')} missing at ${String(k)}`);
    if (v === undefined) throw new Error(`recording path ${keys.join('.')} missing at ${String(k)}`);
  }
  return v!;
}

/** A frame as a socket received it. */
export type Frame = { kind: 'text'; msg: PyDict } | { kind: 'binary'; data: Buffer };

/** A raw `ws` client that keeps every frame it receives. */
export class SocketRecorder {
  readonly frames: Frame[] = [];
  closed = false;
  closeCode: number | undefined;
  private listeners: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      this.frames.push(isBinary ? { kind: 'binary', data: buf } : { kind: 'text', msg: parsePyJson(buf.toString('utf8')) as PyDict });
      for (const l of [...this.listeners]) l();
    });
    socket.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const l of [...this.listeners]) l();
    });
    socket.on('error', () => {});
  }

  /** Connects to `wsUrl` (with `?clientId=` when given); `featureFlags` sends the handshake first thing. */
  static async open(wsUrl: string, clientId?: string, options: { featureFlags?: boolean; headers?: Record<string, string> } = {}): Promise<SocketRecorder> {
    const WebSocketClass = loadWs();
    const socket = new WebSocketClass(clientId === undefined ? wsUrl : `${wsUrl}?clientId=${encodeURIComponent(clientId)}`, { headers: options.headers });
    const rec = new SocketRecorder(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`websocket refused: ${res.statusCode}`)));
    });
    if (options.featureFlags) socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    await rec.waitFor((f) => f.kind === 'text' && f.msg.get('type') === 'status');
    if (options.featureFlags) await rec.waitFor((f) => f.kind === 'text' && f.msg.get('type') === 'feature_flags');
    return rec;
  }

  /** Resolves with the first frame (from `from` on) matching `pred`. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 30_000, from = 0): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.frames.slice(from).find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (this.closed) {
          done();
          reject(new Error('socket closed while waiting'));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${this.frames.length} frames`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      this.listeners.push(check);
      check();
    });
  }

  /** Resolves once the socket is closed (by either side). */
  waitClosed(timeoutMs = 30_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Waits for the final `executing {node: null, prompt_id}` of `promptId`. */
  waitForDone(promptId: string, timeoutMs = 30_000): Promise<Frame> {
    return this.waitFor((f) => isText(f, 'executing') && f.msg.get('data') instanceof Map && (f.msg.get('data') as PyDict).get('node') === null && (f.msg.get('data') as PyDict).get('prompt_id') === promptId, timeoutMs);
  }

  /** Text messages of one type. */
  messages(type: string): PyDict[] {
    return this.frames.filter((f): f is { kind: 'text'; msg: PyDict } => isText(f, type)).map((f) => f.msg.get('data') as PyDict);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.close();
    await closed;
  }
}

export function isText(f: Frame, type?: string): f is { kind: 'text'; msg: PyDict } {
  return f.kind === 'text' && (type === undefined || f.msg.get('type') === type);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Replaces ids, timestamps and random temp-file letters by placeholders numbered in order of appearance. */
export class Canon {
  private readonly ids = new Map<string, string>();

  constructor(private readonly extraIds: readonly string[] = []) {}

  value(v: PyValue, key?: string): PyValue {
    if (key === 'timestamp') return '<ts>';
    if (key === 'sid') return '<sid>';
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [this.text(k), this.value(x, k)]));
    return v;
  }

  private text(v: string): string {
    if (UUID.test(v) || this.extraIds.includes(v)) {
      if (!this.ids.has(v)) this.ids.set(v, `<id${this.ids.size + 1}>`);
      return this.ids.get(v)!;
    }
    return v.replace(/ComfyUI_temp_[a-z]{5}_/g, 'ComfyUI_temp_<x>_');
  }

  /** A live frame as one comparable string. */
  live(f: Frame): string {
    if (f.kind === 'text') return pyDumps(this.value(f.msg));
    const type = f.data.readUInt32BE(0);
    const out = new Map<string, PyValue>([['binary', type]]);
    if (type === 1) {
      out.set('image_format_code', f.data.readUInt32BE(4));
      out.set('image_magic', f.data.subarray(8, 12).toString('hex'));
    } else if (type === 3) {
      const len = f.data.readUInt32BE(4);
      out.set('node_id', f.data.toString('utf8', 8, 8 + len));
      out.set('text', f.data.toString('utf8', 8 + len));
      out.set('length', f.data.length);
    } else if (type === 4) {
      const len = f.data.readUInt32BE(4);
      out.set('metadata_length', len);
      out.set('metadata', this.value(parsePyJson(f.data.toString('utf8', 8, 8 + len))));
      out.set('image_magic', f.data.subarray(8 + len, 12 + len).toString('hex'));
    }
    return pyDumps(out);
  }

  /** A recorded frame (`{t, kind, msg}` or the binary summary) as the same kind of string. */
  recorded(frame: PyValue): string {
    const f = frame as PyDict;
    if (f.get('kind') === 'text') return pyDumps(this.value(f.get('msg')!));
    const type = f.get('event_type') as number;
    const out = new Map<string, PyValue>([['binary', type]]);
    if (type === 1) {
      out.set('image_format_code', f.get('image_format_code')!);
      out.set('image_magic', f.get('image_magic')!);
    } else if (type === 3) {
      out.set('node_id', f.get('node_id')!);
      out.set('text', f.get('text')!);
      out.set('length', f.get('length')!);
    } else if (type === 4) {
      out.set('metadata_length', parseInt((f.get('head_hex') as string).slice(8, 16), 16));
      out.set('metadata', this.value(f.get('metadata')!));
      out.set('image_magic', f.get('image_magic')!);
    }
    return pyDumps(out);
  }
}

/** The recorded frames of a capture (either `{frames: [...]}` or a bare list). */
export function recordedFrames(name: string, key = 'frames'): PyValue[] {
  const r = recording(name);
  return (Array.isArray(r) ? r : at(r, key)) as PyValue[];
}

/** A raw HTTP exchange (no fetch header rules): for Host/Origin games and exact header checks. */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs JSON (or a raw string) to /prompt and returns status and the parsed body. */
export async function postPrompt(baseUrl: string, body: unknown): Promise<{ status: number; body: PyValue; text: string }> {
  const res = await fetch(`${baseUrl}/prompt`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: PyValue = text;
  try {
    parsed = parsePyJson(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text };
}

/** GET a JSON route, parsed the Python way. */
export async function getJson(url: string): Promise<PyValue> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return parsePyJson(await res.text());
}

/** The workflow files of the recordings, parsed as JSON objects to post. */
export function workflow(name: 'workflow_a_api.json' | 'workflow_b_api.json'): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(RECORDINGS, name), 'utf8')) as Record<string, unknown>;
}

/** A multipart/form-data body for /upload/image. */
export function multipartBody(fields: Record<string, string>, file?: { field?: string; filename: string; data: Buffer; contentType?: string }): { body: Buffer; contentType: string } {
  const boundary = `----simtest${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`, 'utf8'));
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'image'}"; filename="${file.filename}"\r\nContent-Type: ${file.contentType ?? 'image/png'}\r\n\r\n`, 'utf8'));
    parts.push(file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Uploads via /upload/image (or another path) and returns status and text. */
export async function upload(baseUrl: string, fields: Record<string, string>, file?: { field?: string; filename: string; data: Buffer }, route = '/upload/image'): Promise<{ status: number; text: string }> {
  const { body, contentType } = multipartBody(fields, file);
  const res = await fetch(`${baseUrl}${route}`, { method: 'POST', body, headers: { 'Content-Type': contentType } });
  return { status: res.status, text: await res.text() };
}
