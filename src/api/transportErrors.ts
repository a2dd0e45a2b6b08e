import { ApiError, CancelledError, NetworkError, TimeoutError } from './errors';

/**
 * Turns what undici, `ws` or Node throw before a response exists into a typed error.
 * `what` names the operation for the message ("list machines", "download out.png").
 * Never puts a URL in the message: callers add a masked one if they want.
 */
export function mapTransportError(e: unknown, what: string, signal?: AbortSignal): ApiError {
  if (e instanceof ApiError) return e;
  if (signal?.aborted && !(signal.reason instanceof TimeoutError)) return new CancelledError(`${what}: cancelled.`, { cause: e });
  if (signal?.reason instanceof TimeoutError) return signal.reason;
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code ?? '';
  if (err.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new CancelledError(`${what}: cancelled.`, { cause: e });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new TimeoutError(`${what}: the server did not answer in time.`, { cause: e });
  }
  const detail = describeCode(code) ?? err.message ?? 'connection failed';
  return new NetworkError(`${what}: ${detail}.`, { cause: e });
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
