/**
 * Typed errors raised at the API boundary. Every layer above decides what to do from `kind`
 * (retry, ask to sign in, show node errors) and shows `message`, which never contains a token
 * or a full ComfyUI URL.
 */
export type ErrorKind =
  | 'auth'
  | 'notFound'
  | 'rateLimited'
  | 'invalidRequest'
  | 'server'
  | 'network'
  | 'timeout'
  | 'cancelled'
  | 'unsafeUrl'
  | 'workflowRejected'
  | 'execution'
  | 'interrupted'
  | 'config';

export interface ApiErrorOptions {
  /** HTTP status, when the error came from a response. */
  status?: number;
  /** The server's own message, when it sent one. */
  serverMessage?: string;
  /** The server's machine-readable code (`error_code`, `code`), when it sent one. */
  serverCode?: string | number;
  cause?: unknown;
}

/** Base class of every error the API layer raises on purpose. */
export class ApiError extends Error {
  readonly status?: number;
  readonly serverMessage?: string;
  readonly serverCode?: string | number;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = options.status;
    this.serverMessage = options.serverMessage;
    this.serverCode = options.serverCode;
  }
}

/** 401 or 403: the token is missing, wrong, or not allowed for this user. */
export class AuthError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('auth', message, options);
  }
}

/** 404: the machine, workflow or file does not exist (or no longer does). */
export class NotFoundError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('notFound', message, options);
  }
}

/** 429 that outlived our retries. */
export class RateLimitedError extends ApiError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    options?: ApiErrorOptions,
  ) {
    super('rateLimited', message, options);
  }
}

/** 400 or 422 from the RunComfy API: the request itself is wrong. */
export class InvalidRequestError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('invalidRequest', message, options);
  }
}

/** 5xx, or a 2xx whose body is not what the protocol promises. */
export class ServerError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('server', message, options);
  }
}

/** The connection failed or dropped before a response arrived. */
export class NetworkError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('network', message, options);
  }
}

/** No response within the call's time limit. */
export class TimeoutError extends ApiError {
  constructor(message: string, options?: ApiErrorOptions) {
    super('timeout', message, options);
  }
}

/** The caller cancelled (AbortSignal). */
export class CancelledError extends ApiError {
  constructor(message = 'Cancelled.', options?: ApiErrorOptions) {
    super('cancelled', message, options);
  }
}

/** Refused before connecting: the URL would send the token somewhere it must not go. */
export class UnsafeUrlError extends ApiError {
  constructor(message: string) {
    super('unsafeUrl', message);
  }
}

/** A setting or argument that cannot work (bad URL, missing user id). */
export class ConfigError extends ApiError {
  constructor(message: string) {
    super('config', message);
  }
}

/** True when `e` means the caller cancelled, whatever raised it. */
export function isCancellation(e: unknown): boolean {
  return (
    (e instanceof ApiError && e.kind === 'cancelled') ||
    (e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR'))
  );
}
