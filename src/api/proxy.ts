import type * as http from 'node:http';
import type { Dispatcher } from 'undici';
import { ConfigError } from './errors';
import { httpsProxyAgent, undici } from './lazy';
import { isLoopbackHost } from './redact';

/**
 * Which proxy to use, as plain data: the editor fills it from VS Code's `http.*` settings (falling
 * back to the environment), the CLI from the environment alone. api and core never read settings.
 */
export interface ProxyConfig {
  /** Proxy of `http:`/`ws:` targets (`http://[user:pass@]host:port`, or `https://…`); none: direct. */
  readonly httpProxy?: string;
  /** Proxy of `https:`/`wss:` targets; none: direct. */
  readonly httpsProxy?: string;
  /** Names where the proxy came from, for messages ("the http.proxy setting", "HTTPS_PROXY"). */
  readonly source: string;
  /**
   * Hosts reached directly, NO_PROXY style: `host`, `host:port`, `.domain` or `*.domain` (the
   * domain and every name below it), an IP literal (`::1` or `[::1]:8188`), or `*` for every host.
   */
  readonly noProxy: readonly string[];
  /**
   * false (`http.proxyStrictSSL: false`): the TLS certificates of targets reached through the proxy,
   * and of an `https://` proxy itself, are not verified. Direct requests are unaffected.
   */
  readonly strictSSL: boolean;
  /** The whole `Proxy-Authorization` value (`http.proxyAuthorization`); sent to the proxy only. A secret. */
  readonly authorization?: string;
}

/** No proxy: every request goes direct. */
export const directProxyConfig: ProxyConfig = { source: 'no proxy', noProxy: [], strictSSL: true };

/**
 * The proxy configuration the environment describes, as curl and undici read it: `https_proxy`,
 * `HTTPS_PROXY` for https targets (falling back to the http proxy), `http_proxy`, `HTTP_PROXY` for
 * http targets, `no_proxy`, `NO_PROXY` (comma or space separated); the lowercase form wins.
 */
export function proxyConfigFromEnv(env: NodeJS.ProcessEnv): ProxyConfig {
  const pick = (...names: string[]): { value: string; name: string } | undefined => {
    for (const name of names) {
      const value = env[name]?.trim();
      if (value) return { value, name };
    }
    return undefined;
  };
  const http = pick('http_proxy', 'HTTP_PROXY');
  const https = pick('https_proxy', 'HTTPS_PROXY') ?? http;
  const names = [...new Set([https?.name, http?.name].filter((n): n is string => n !== undefined))];
  return {
    httpProxy: http?.value,
    httpsProxy: https?.value,
    source: names.length > 0 ? names.join(' / ') : 'no proxy',
    noProxy: splitNoProxy(pick('no_proxy', 'NO_PROXY')?.value ?? ''),
    strictSSL: true,
  };
}

/** Splits a NO_PROXY value on commas and whitespace. */
export function splitNoProxy(value: string): string[] {
  return value.split(/[,\s]+/).filter((e) => e !== '');
}

/**
 * True when `url` must be reached directly under `noProxy`: the one NO_PROXY matcher, used for
 * undici requests and websockets alike (the same rules as undici's own `EnvHttpProxyAgent`, whose
 * matcher is not exported). Names compare case-insensitively; an entry with a port matches that port
 * only (a URL without a port has its scheme's default).
 */
export function bypassesProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = Number(url.port) || defaultPort(url.protocol);
  for (const raw of noProxy) {
    const entry = raw.trim().toLowerCase();
    if (entry === '*') return true;
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    const name = (m ? m[1] : entry).replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (name === '' || (m && Number(m[2]) !== port)) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** What a websocket needs to go through the proxy: `ws`'s `agent`, and the TLS check of the target. */
export interface WebSocketProxyOptions {
  readonly agent?: http.Agent;
  readonly rejectUnauthorized?: boolean;
}

/**
 * Routes requests through the configured proxy: one `ProxyAgent` (undici's dispatcher) and one
 * `HttpsProxyAgent` (the `agent` of a `ws` websocket) per proxy URL, both made here and nowhere else,
 * and one decision per URL ({@link ProxyRouter.proxyFor}) that both follow.
 *
 * Both agents always tunnel with CONNECT, also to plain-http targets, so `Proxy-Authorization` is
 * sent to the proxy alone, in the CONNECT request, and never to the target. A loopback target is
 * proxied only through a loopback proxy: a proxy elsewhere would reach its own loopback, not ours,
 * and would carry in clear what we send to a plain-http local server (a RunComfy token to
 * `http://127.0.0.1`). Built lazily: constructing a router loads nothing.
 */
export class ProxyRouter {
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly wsAgents = new Map<string, http.Agent>();

  constructor(readonly config: ProxyConfig) {}

  /**
   * The proxy for `url`, or undefined to go direct (none configured, a NO_PROXY host, or a
   * loopback target with a proxy elsewhere). Throws a ConfigError for a proxy URL that is no
   * http(s) URL, naming where it came from but never its credentials.
   */
  proxyFor(url: URL): URL | undefined {
    const secure = url.protocol === 'https:' || url.protocol === 'wss:';
    const raw = secure ? this.config.httpsProxy : this.config.httpProxy;
    if (!raw) return undefined;
    const proxy = parseProxyUrl(raw, this.config.source);
    if (bypassesProxy(url, this.config.noProxy)) return undefined;
    if (isLoopbackHost(url.hostname) && !isLoopbackHost(proxy.hostname)) return undefined;
    return proxy;
  }

  /** "via proxy host:port" for `url`, or undefined when it goes direct: for logs and errors (never credentials). */
  describe(url: URL): string | undefined {
    const proxy = this.proxyFor(url);
    return proxy && `via proxy ${proxy.host}`;
  }

  /** undici's `dispatcher` for a request to `url`; undefined: undici's default, direct. */
  dispatcher(url: URL): Dispatcher | undefined {
    const proxy = this.proxyFor(url);
    if (!proxy) return undefined;
    let d = this.dispatchers.get(proxy.href);
    if (!d) {
      const tls = this.config.strictSSL ? undefined : { rejectUnauthorized: false };
      d = new (undici().ProxyAgent)({
        uri: proxy.href,
        token: this.authorization(proxy),
        requestTls: tls,
        proxyTls: tls,
        proxyTunnel: true,
      });
      this.dispatchers.set(proxy.href, d);
    }
    return d;
  }

  /** The `ws` options of a websocket to `url`: none when it goes direct. */
  webSocket(url: URL): WebSocketProxyOptions {
    const proxy = this.proxyFor(url);
    if (!proxy) return {};
    let agent = this.wsAgents.get(proxy.href);
    if (!agent) {
      const authorization = this.authorization(proxy);
      const { HttpsProxyAgent } = httpsProxyAgent();
      agent = new HttpsProxyAgent(withoutCredentials(proxy), {
        headers: authorization === undefined ? {} : { 'Proxy-Authorization': authorization },
        rejectUnauthorized: this.config.strictSSL,
      });
      this.wsAgents.set(proxy.href, agent);
    }
    return { agent, rejectUnauthorized: this.config.strictSSL ? undefined : false };
  }

  /** Closes the proxy connections once the requests in flight on them end (a router replaced by new settings). */
  async close(): Promise<void> {
    const dispatchers = [...this.dispatchers.values()];
    this.dispatchers.clear();
    for (const agent of this.wsAgents.values()) agent.destroy();
    this.wsAgents.clear();
    await Promise.all(dispatchers.map((d) => d.close().catch(() => undefined)));
  }

  /** `http.proxyAuthorization` wins over credentials in the proxy URL (VS Code's order). */
  private authorization(proxy: URL): string | undefined {
    if (this.config.authorization) return this.config.authorization;
    if (!proxy.username && !proxy.password) return undefined;
    return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  }
}

/**
 * A proxy URL as settings and the environment give it: `http://host:port`, `https://…`, or a bare
 * `host:port` (taken as http, as curl does). Throws a ConfigError that names the source, not the URL
 * (it may hold credentials).
 */
function parseProxyUrl(raw: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(withScheme(raw));
  } catch {
    throw new ConfigError(`The proxy from ${source} is not a URL: expected http://host:port.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`The proxy from ${source} is a ${url.protocol.slice(0, -1)} proxy; only http:// and https:// proxies are supported.`);
  }
  if (url.hostname === '') throw new ConfigError(`The proxy from ${source} has no host: expected http://host:port.`);
  return url;
}

/** The proxy URL without user and password: `HttpsProxyAgent` would otherwise add its own header next to ours. */
function withoutCredentials(proxy: URL): URL {
  const u = new URL(proxy.href);
  u.username = '';
  u.password = '';
  return u;
}

/**
 * `http://user:secret@proxy:8080` → `http://proxy:8080`: a proxy URL fit for a log or an error
 * (anything that does not parse becomes "(invalid proxy URL)").
 */
export function redactProxyUrl(raw: string): string {
  try {
    const u = new URL(withScheme(raw));
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid proxy URL)';
  }
}

/** A bare `host:port` is an http proxy, as curl takes it. */
function withScheme(raw: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' || protocol === 'wss:' ? 443 : 80;
}

let processRouter: ProxyRouter | undefined;

/**
 * The router of this process, which every client uses unless given one of its own. Until
 * {@link setProcessProxy} is called it follows the environment ({@link proxyConfigFromEnv}); the
 * CLI leaves it so. The proxy is a property of the process, as VS Code's own proxy support is:
 * clients look it up for each request, so a settings change applies to the next request of every
 * client, old or new, without rebuilding them.
 */
export function processProxy(): ProxyRouter {
  processRouter ??= new ProxyRouter(proxyConfigFromEnv(process.env));
  return processRouter;
}

/** Replaces the router of this process (the editor's settings changed); the old one's connections close once idle. */
export function setProcessProxy(config: ProxyConfig): ProxyRouter {
  const old = processRouter;
  processRouter = new ProxyRouter(config);
  void old?.close();
  return processRouter;
}
