import type * as http from 'node:http';
import { pyDumps, type PyValue } from './pyJson';

/**
 * Replies shaped like aiohttp's: `web.json_response` (Python `json.dumps` bytes), bare
 * `web.Response(status=…)` (empty `application/octet-stream`), the unhandled-exception 500 text
 * and the `HTTPRequestEntityTooLarge` 413 text.
 */

/** aiohttp's Server header, so clients see what a real ComfyUI sends. */
export const SERVER_HEADER = 'Python/3.11 aiohttp/3.12.15';

/** The body aiohttp sends for an exception a handler did not catch. */
export const INTERNAL_ERROR_TEXT = '500 Internal Server Error\n\nServer got itself in trouble';

export function sendJson(res: http.ServerResponse, value: PyValue, status = 200): void {
  const body = Buffer.from(pyDumps(value), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** `web.Response(status=…)`: no body, octet-stream type. */
export function sendEmpty(res: http.ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0 });
  res.end();
}

export function sendText(res: http.ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function sendInternalError(res: http.ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, 500, INTERNAL_ERROR_TEXT);
}

/** Raised when a body passes `client_max_size`; the reply is aiohttp's 413 text. */
export class RequestTooLarge extends Error {
  constructor(
    readonly maxSize: number,
    readonly actualSize: number,
  ) {
    super(`Maximum request body size ${maxSize} exceeded, actual body size ${actualSize}`);
  }
}

/** `request.read()`: the whole body, or `RequestTooLarge` once it reaches `maxSize` (aiohttp checks `>=`). */
export async function readBody(req: http.IncomingMessage, maxSize: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  // Leaving the loop early must not destroy the request: the 413 still has to reach the client.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const b = chunk as Buffer;
    parts.push(b);
    size += b.length;
    if (maxSize > 0 && size >= maxSize) throw new RequestTooLarge(maxSize, size);
  }
  return Buffer.concat(parts);
}

/**
 * After an early reply, aiohttp keeps reading (and discarding) the rest of the body for up to 10 s
 * before closing ("lingering close"), so the client can finish sending and read the reply.
 */
export function lingerThenClose(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('Connection', 'close');
  const socket = req.socket;
  const timer = setTimeout(() => {
    if (!socket.destroyed) socket.destroy();
  }, 10_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.once('end', () => clearTimeout(timer));
  req.resume();
}
