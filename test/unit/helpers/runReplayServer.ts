import * as http from 'node:http';
import { type AddressInfo } from 'node:net';

/** A request as the replay server received it, body included. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** What a handler answers: status, body (JSON unless a string or Buffer), and headers. */
export interface ReplayAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * A real HTTP server on 127.0.0.1 that answers each request with what a handler returns, usually a
 * body recorded from a real ComfyUI. For tests of the client's handling of exact server answers
 * (recorded 400/413/500 bodies); whole runs go to the ComfyUI simulator.
 */
export interface ReplayServer {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a replay server; `handle` may be async and may inspect the fully read request. */
export async function startReplayServer(handle: (req: ReceivedRequest) => ReplayAnswer | Promise<ReplayAnswer>): Promise<ReplayServer> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const received: ReceivedRequest = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(received);
      void Promise.resolve(handle(received)).then(
        (answer) => {
          const raw = answer.body;
          const isText = typeof raw === 'string' || Buffer.isBuffer(raw);
          const payload = raw === undefined ? '' : isText ? raw : JSON.stringify(raw);
          res.writeHead(answer.status, {
            'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
            'content-length': String(Buffer.byteLength(payload)),
            ...answer.headers,
          });
          res.end(payload);
        },
        (e: unknown) => {
          res.writeHead(599);
          res.end(String(e));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
