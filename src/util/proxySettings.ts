import * as vscode from 'vscode';
import { proxyConfigFromEnv, redactProxyUrl, setProcessProxy, splitNoProxy, type ProxyConfig } from '../api/proxy';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';

const SECTION = 'http';

/**
 * Keeps this process's proxy routing (`setProcessProxy`) in step with VS Code's `http.proxy`,
 * `http.noProxy`, `http.proxyStrictSSL` and `http.proxyAuthorization`. Our bundled undici and the
 * websocket library do not see the proxy support VS Code gives Node's own modules, so the settings
 * are read here and handed down as plain data. Every client looks the routing up per request, so a
 * change applies to the next request without a reload.
 */
export class ProxySettings extends DisposableObject {
  private applied = '';
  private readonly _onDidChange = this._register(new Emitter<void>());
  /** The routing changed after start-up: what was fetched the old way (or failed to be) is worth fetching again. */
  readonly onDidChange: Event<void> = this._onDidChange.event;

  constructor(
    private readonly log: (line: string) => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    this.apply();
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) this.apply();
      }),
    );
    // Closes the proxy connections of these settings when the extension ends.
    this._register({ dispose: () => void setProcessProxy(proxyConfigFromEnv(this.env)) });
  }

  /** Replaces the routing when the proxy configuration changed (other `http.*` keys do not matter here). */
  private apply(): void {
    const config = readProxyConfig(this.env);
    const key = JSON.stringify(config);
    if (key === this.applied) return;
    const first = this.applied === '';
    this.applied = key;
    setProcessProxy(config);
    // Without a proxy there is nothing to say at start-up; a proxy removed later is worth a line.
    if (!first || config.httpProxy || config.httpsProxy) this.log(describeProxyConfig(config));
    if (!first) this._onDidChange.fire();
  }
}

/**
 * The proxy configuration of the editor: `http.proxy` when set, else the environment's
 * `HTTPS_PROXY`/`HTTP_PROXY` (lowercase forms win). `http.noProxy` and `NO_PROXY` both apply.
 * Values come from the user's settings only: a workspace must not send the extension's traffic
 * (and its tokens) to a proxy of its choosing.
 */
export function readProxyConfig(env: NodeJS.ProcessEnv): ProxyConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  const userLevel = <T>(key: string): T | undefined => {
    const i = c.inspect<T>(key);
    return i?.globalValue ?? i?.defaultValue;
  };
  const fromEnv = proxyConfigFromEnv(env);
  const proxy = userLevel<string>('proxy')?.trim();
  const noProxySetting = userLevel<unknown>('noProxy');
  const noProxy = [...(Array.isArray(noProxySetting) ? noProxySetting.filter((e): e is string => typeof e === 'string').flatMap(splitNoProxy) : []), ...fromEnv.noProxy];
  const authorization = userLevel<string | null>('proxyAuthorization')?.trim() || undefined;
  const strictSSL = userLevel<boolean>('proxyStrictSSL') !== false;
  if (proxy) return { httpProxy: proxy, httpsProxy: proxy, source: 'the http.proxy setting', noProxy, strictSSL, authorization };
  return { ...fromEnv, noProxy, strictSSL, authorization };
}

/** One log line about the proxy in use, without credentials (neither the URL's nor `http.proxyAuthorization`). */
export function describeProxyConfig(config: ProxyConfig): string {
  const proxies = [...new Set([config.httpsProxy, config.httpProxy].filter((p): p is string => !!p).map(redactProxyUrl))];
  if (proxies.length === 0) return 'Network: no proxy configured; requests go direct.';
  const details = [
    config.noProxy.length > 0 ? `not for ${config.noProxy.join(', ')}` : undefined,
    config.authorization ? 'with Proxy-Authorization' : undefined,
    config.strictSSL ? undefined : 'TLS certificates of proxied hosts NOT verified (http.proxyStrictSSL is off)',
  ].filter((d) => d !== undefined);
  return `Network: via proxy ${proxies.join(' / ')} (from ${config.source})${details.length > 0 ? `; ${details.join('; ')}` : ''}.`;
}
