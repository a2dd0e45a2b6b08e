import * as http from 'node:http';
import { type AddressInfo, type Socket } from 'node:net';
// The package declares its types under `exports` only, which this project's module resolution (node10) does not read.
import type * as ProxyModule from 'proxy/dist/proxy';

/** What the proxy saw: one entry per CONNECT tunnel or forwarded request, in arrival order. */
export interface ProxyVisit {
  /** `CONNECT` (a tunnel) or the method of a request forwarded in absolute form. */
  readonly method: string;
  /** `host:port` of a tunnel, the absolute URL of a forwarded request. */
  readonly target: string;
  /** The Proxy-Authorization header the proxy received, if any. */
  readonly proxyAuthorization?: string;
  /** The Authorization header the proxy itself could read (never the token through a tunnel). */
  readonly authorization?: string;
}

/** A real HTTP proxy on 127.0.0.1 (the `proxy` package, as Squid would behave) with its own record of visits. */
export interface TestProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly host: string;
  readonly visits: ProxyVisit[];
  /** Visits whose target is `host:port` (a tunnel) or an URL on it (a forwarded request). */
  visitsTo(hostPort: string): ProxyVisit[];
  close(): Promise<void>;
}

/**
 * Starts `createProxy` from the kept `proxy` package over a Node http server. With `authorization`,
 * the proxy answers 407 to every CONNECT or request that does not carry exactly that Proxy-Authorization.
 */
export async function startTestProxy(options: { authorization?: string } = {}): Promise<TestProxy> {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports -- an ES module, which Node 20.19+ can require() */
  const { createProxy } = require('proxy') as typeof ProxyModule;
  const server = createProxy(http.createServer());
  if (options.authorization !== undefined) {
    const expected = options.authorization;
    server.authenticate = (req) => req.headers['proxy-authorization'] === expected;
  }
  const visits: ProxyVisit[] = [];
  const record = (req: http.IncomingMessage) =>
    visits.push({
      method: req.method ?? '',
      target: req.url ?? '',
      proxyAuthorization: header(req.headers['proxy-authorization']),
      authorization: header(req.headers.authorization),
    });
  server.prependListener('connect', record);
  server.prependListener('request', record);
  // Tunnels leave the http server's bookkeeping; close() ends them itself.
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}`,
    host,
    visits,
    visitsTo: (hostPort) => visits.filter((v) => v.target === hostPort || v.target.startsWith(`http://${hostPort}/`)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
