import { ApiError, CancelledError, NetworkError, TimeoutError } from './errors';

/**
 * Turns what undici, `ws` or Node throw before a response exists into a typed error.
 * `what` names the operation for the message ("list machines", "download out.png").
 * Never puts a URL in the message: callers add a masked one if they want. `via` ("via proxy
 * host:port", from `ProxyRouter.describe`) ends the message of a request that went through a proxy.
 */
export function mapTransportError(e: unknown, what: string, signal?: AbortSignal, via?: string): ApiError {
  if (e instanceof ApiError) return e;
  if (signal?.aborted && !(signal.reason instanceof TimeoutError)) return new CancelledError(`${what}: cancelled.`, { cause: e });
  if (signal?.reason instanceof TimeoutError) return signal.reason;
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  const through = via ? ` (${via})` : '';
  // undici reports a refused CONNECT as an abort; it is the proxy's answer, not a cancellation.
  const proxyStatus = /Proxy response \((\d{3})\) !== 200/.exec(err.message ?? '')?.[1];
  if (proxyStatus !== undefined) return proxyRefused(Number(proxyStatus), via, e, what);
  if (err.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new CancelledError(`${what}: cancelled.`, { cause: e });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new TimeoutError(`${what}: the server did not answer in time${through}.`, { cause: e });
  }
  const detail = describeCode(code) ?? err.message ?? 'connection failed';
  return new NetworkError(`${what}: ${detail}${through}.`, { cause: e });
}

/**
 * A proxy's refusal of a CONNECT tunnel as a typed error, `what` (if any) first and `via` last: a 407
 * is of kind `config` (the settings lack the proxy's credentials; retrying cannot help), anything else
 * of kind `network` (the proxy could not reach the host, which may pass).
 */
export function proxyRefused(status: number, via: string | undefined, cause: unknown, what?: string): ApiError {
  const why =
    status === 407
      ? 'the proxy asks for credentials (HTTP 407 Proxy Authentication Required)'
      : status === 403
        ? 'the proxy refused to connect to this host (HTTP 403)'
        : `the proxy could not connect to the host (HTTP ${status})`;
  const message = `${what === undefined ? '' : `${what}: `}${why}${via ? ` (${via})` : ''}${what === undefined ? '' : '.'}`;
  return new ApiError(status === 407 ? 'config' : 'network', message, { status, cause });
}

function describeCode(code: string): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running?)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'the connection was dropped';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name could not be resolved (check the URL and your network)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host is unreachable (check your network)';
    case 'CERT_HAS_EXPIRED':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return `the TLS certificate was rejected (${code})`;
    default:
      return undefined;
  }
}
