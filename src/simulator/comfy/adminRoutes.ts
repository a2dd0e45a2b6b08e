import type * as http from 'node:http';
import { type ComfySimulator } from '../comfySimulator';
import { HOSTILE_ENTRIES } from './promptExecutor';

/**
 * `/__sim/*`: the simulator's controls over HTTP, for host tests and benchmarks that run it as a
 * separate process. JSON in, JSON out; a bad request gets a 400 whose `error` says which field is
 * wrong and what it accepts. These routes are not logged and ignore the boot window and Origin check.
 */

/** The routes, also served as `GET /__sim/` so a client can discover them. */
export const ADMIN_ROUTES: Record<string, string> = {
  'GET /__sim/state': 'queue, sockets, boot window and armed faults',
  'GET /__sim/requests': 'request log: {requests: [{method, path, query, status, time, durationMs}]}',
  'POST /__sim/requests/clear': 'empty the request log',
  'POST /__sim/reset': 'empty queue, history, caches, faults, log and folders; saved workflows back to the seeded two',
  'GET /__sim/config': 'current settings',
  'POST /__sim/config': 'change settings: {nodeDelayMs, classDelayMs, progressSteps, runMs, oldServer, hostile, maxUploadSizeMb, corsOrigin, wsCompression}',
  'POST /__sim/drop': 'drop every websocket: {now: true} | {afterMessages: n} | {atNode: "id"} (the next prompt)',
  'POST /__sim/stall': 'hold the next prompt silently: {ms?: n, atNode?: "id"}; without ms until /__sim/stall/clear',
  'POST /__sim/stall/clear': 'end a stall',
  'POST /__sim/fail-route': 'the next {times} requests to {path} (e.g. "/history") answer {status?: 500}, or with {hangMs} hang that long and drop',
  'POST /__sim/boot': '502 on every route (403 on /ws) for {ms: n} from now',
  'POST /__sim/flood': 'next prompt: {messages: n, previews: m, previewBytes: s} as fast as possible',
  'POST /__sim/output-file': 'stream a file of {filename, bytes, subfolder?, type?} into output (or temp/input)',
  'GET /__sim/hostile': 'what hostile mode reports and how /view answers each entry',
};

class BadRequest extends Error {}

async function readObject(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 1024 * 1024) throw new BadRequest('body: admin requests are small JSON objects (under 1 MiB).');
    parts.push(chunk as Buffer);
  }
  const text = Buffer.concat(parts).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadRequest(`body: not JSON (${(e as Error).message}); send a JSON object such as {"ms": 1000}.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('body: expected a JSON object such as {"ms": 1000}.');
  return value as Record<string, unknown>;
}

function count(body: Record<string, unknown>, field: string, required: boolean): number | undefined {
  const v = body[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadRequest(`${field}: expected a non-negative integer, got ${JSON.stringify(v)}.`);
  return v;
}

function text(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = body[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw new BadRequest(`${field}: expected a non-empty string, got ${JSON.stringify(v)}.`);
  return v;
}

function reply(res: http.ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

/** Handles one `/__sim/*` request against `sim`. */
export async function handleAdminRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL, sim: ComfySimulator): Promise<void> {
  const route = `${req.method} ${url.pathname.replace(/\/$/, '') || '/'}`;
  try {
    switch (route) {
      case 'GET /__sim':
        return reply(res, 200, ADMIN_ROUTES);
      case 'GET /__sim/state':
        return reply(res, 200, sim.state());
      case 'GET /__sim/requests':
        return reply(res, 200, { requests: sim.requests() });
      case 'POST /__sim/requests/clear':
        req.resume();
        sim.clearRequests();
        return reply(res, 200, { ok: true });
      case 'POST /__sim/reset':
        req.resume();
        await sim.reset();
        return reply(res, 200, { ok: true });
      case 'GET /__sim/config':
        return reply(res, 200, sim.config());
      case 'POST /__sim/config': {
        const body = await readObject(req);
        try {
          return reply(res, 200, sim.configure(body));
        } catch (e) {
          throw new BadRequest((e as Error).message);
        }
      }
      case 'POST /__sim/drop': {
        const body = await readObject(req);
        if (body.now === true) return reply(res, 200, { dropped: sim.dropSocketsNow() });
        const afterMessages = count(body, 'afterMessages', false);
        const atNode = text(body, 'atNode', false);
        if (afterMessages === undefined && atNode === undefined) throw new BadRequest('drop: give {"now": true}, {"afterMessages": n} or {"atNode": "<node id>"}.');
        sim.dropSockets({ afterMessages, atNode });
        return reply(res, 200, { armed: { afterMessages, atNode } });
      }
      case 'POST /__sim/stall': {
        const body = await readObject(req);
        const ms = count(body, 'ms', false);
        const atNode = text(body, 'atNode', false);
        sim.stall({ ms, atNode });
        return reply(res, 200, { armed: { ms, atNode } });
      }
      case 'POST /__sim/stall/clear':
        req.resume();
        sim.clearStall();
        return reply(res, 200, { ok: true });
      case 'POST /__sim/fail-route': {
        const body = await readObject(req);
        const fault = { path: text(body, 'path', true)!, times: count(body, 'times', true)!, status: count(body, 'status', false), hangMs: count(body, 'hangMs', false) };
        try {
          sim.failRoute(fault);
        } catch (e) {
          throw new BadRequest((e as Error).message);
        }
        return reply(res, 200, { armed: fault });
      }
      case 'POST /__sim/boot': {
        const ms = count(await readObject(req), 'ms', true)!;
        sim.boot(ms);
        return reply(res, 200, { bootingForMs: ms });
      }
      case 'POST /__sim/flood': {
        const body = await readObject(req);
        const how = { messages: count(body, 'messages', false) ?? 0, previews: count(body, 'previews', false) ?? 0, previewBytes: count(body, 'previewBytes', false) ?? 1024 };
        sim.flood(how);
        return reply(res, 200, { armed: how });
      }
      case 'POST /__sim/output-file': {
        const body = await readObject(req);
        const filename = text(body, 'filename', true)!;
        const bytes = count(body, 'bytes', true)!;
        const subfolder = body.subfolder === undefined ? undefined : (text(body, 'subfolder', true) ?? '');
        const type = body.type ?? 'output';
        if (type !== 'output' && type !== 'temp' && type !== 'input') throw new BadRequest(`type: expected "output", "temp" or "input", got ${JSON.stringify(type)}.`);
        try {
          return reply(res, 200, await sim.createOutputFile({ filename, bytes, subfolder, type }));
        } catch (e) {
          if (e instanceof TypeError) throw new BadRequest(e.message);
          throw e;
        }
      }
      case 'GET /__sim/hostile':
        return reply(res, 200, { entries: HOSTILE_ENTRIES });
      default:
        req.resume();
        return reply(res, 404, { error: `Unknown simulator admin route "${route}"; GET /__sim/ lists them.` });
    }
  } catch (e) {
    if (e instanceof BadRequest) return reply(res, 400, { error: `${route}: ${e.message}` });
    throw e;
  }
}
