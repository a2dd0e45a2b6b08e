import { sleep, systemClock, type Clock } from '../base/clock';
import {
  ApiError,
  AuthError,
  CancelledError,
  ConfigError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  isCancellation,
} from './errors';
import { undici } from './lazy';
import { processProxy, type ProxyRouter } from './proxy';
import { redact } from './redact';
import { mapTransportError } from './transportErrors';
import {
  parseMachine,
  parseMachineList,
  parseWorkflowList,
  type LaunchRequest,
  type Machine,
  type WorkflowList,
} from './runcomfyTypes';
import { sharedTokenBucket, type RateLimiter } from './tokenBucket';
import { assertTokenDestination, parseApiBaseUrl } from './tokenPolicy';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { backoffDelayMs } from '../base/backoff';

/** The production API origin. */
export const defaultRunComfyApiUrl = 'https://api.runcomfy.net';

/** How the client retries. Every delay is capped; tests shorten them. */
export interface RetryOptions {
  /** Retries of an idempotent call (GET, set duration) after a 5xx, a network error or a timeout. */
  readonly maxRetries: number;
  /**
   * How long a call keeps retrying 429s, counted from its first attempt (a stop retries them until it
   * lands). Each wait honours Retry-After, or backs off; a wait that would end past the budget is not made.
   */
  readonly rateLimitBudgetMs: number;
  /** First backoff delay; doubles each time, with jitter. */
  readonly baseDelayMs: number;
  /** Longest backoff delay. */
  readonly maxDelayMs: number;
  /** A server's Retry-After longer than this is cut to this. */
  readonly maxRetryAfterMs: number;
}

/** How long a call keeps retrying 429s unless told otherwise (a CLI command's `--timeout`, say). */
export const defaultRateLimitBudgetMs = 60_000;

/** How a launch whose answer was lost finds out whether the machine was created. */
export interface LaunchReconcileOptions {
  /** List calls made to look for the new machine (a just-launched machine may not be listed at once). */
  readonly attempts: number;
  /** Pause between those list calls. */
  readonly intervalMs: number;
}

/** Told before each retry, so a CLI or a log can say why a command is taking longer. */
export interface RetryNotice {
  /** What is being retried ("Stop machine 761a…"). */
  readonly operation: string;
  /** 1 for the first retry. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The error that caused the retry (never contains the token). */
  readonly reason: ApiError;
}

export interface RunComfyClientOptions {
  /** API origin (and optional path prefix); default `https://api.runcomfy.net`. */
  readonly baseUrl?: string;
  /** Names the base URL's source in errors ("RUNCOMFY_API_URL", "the runcomfy.apiUrl setting"). */
  readonly baseUrlSource?: string;
  /** The RunComfy user id, or a getter for it (the signed-in user can change). */
  readonly userId: string | (() => string | undefined | Promise<string | undefined>);
  /** The API token; called for every request so sign-out takes effect at once. */
  readonly getToken: () => Promise<string | undefined>;
  /**
   * The rate limiter; default the process-wide one (`sharedTokenBucket()`). The CLI and the extension
   * pass the account's `FileTokenBucket`, which every process of the user shares.
   */
  readonly bucket?: RateLimiter;
  /** Time limit of each HTTP attempt; default 30 s. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryOptions>;
  readonly launchReconcile?: Partial<LaunchReconcileOptions>;
  readonly clock?: Clock;
  /** Random source for backoff jitter; default `Math.random`. */
  readonly random?: () => number;
  readonly onRetry?: (notice: RetryNotice) => void;
  /**
   * The next step appended to an error about a missing or refused token or user id, worded for the
   * caller's user: the extension says "Sign in again.", the CLI names its variables. Default
   * "Check the API token and the user id."
   */
  readonly authAdvice?: string;
  /** The proxy routing; default the process's (`processProxy()`: the editor's settings, or the environment). */
  readonly proxy?: ProxyRouter;
}

/** Retry-After sent with a 5xx (a 503 may carry one): honoured like a 429's, without pausing other callers. */
const serverRetryAfterMs = new WeakMap<ApiError, number>();

const defaultRetry: RetryOptions = { maxRetries: 4, rateLimitBudgetMs: defaultRateLimitBudgetMs, baseDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 120_000 };
const defaultReconcile: LaunchReconcileOptions = { attempts: 4, intervalMs: 3000 };

/**
 * How a call may be repeated. `idempotent`: 429s retried within the rate-limit budget, and a bounded
 * number of retries on 5xx, network and timeout. `untilLanded`: all of these retried without bound (a
 * stop: billing runs until it lands). `rejectedOnly`: only 429s, within the budget, because then the
 * server provably did nothing (a launch).
 */
type RetryPolicy = 'idempotent' | 'untilLanded' | 'rejectedOnly';

/** What a caller of `call` hears about each attempt. */
interface CallHooks {
  /** Just before a request leaves (after the rate limiter let it go). */
  readonly onSending?: () => void;
  /** After each failed attempt. */
  readonly onFailure?: (e: ApiError) => void;
}

interface Operation {
  /** Sentence-case name for messages: "List machines", "Stop machine 761a…". */
  readonly what: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Path below `/prod/api/users/{user}`, already encoded. */
  readonly path: string;
  readonly body?: unknown;
  /** The next step after a 404, when a 404 means something specific. */
  readonly notFound?: string;
}

/**
 * The RunComfy Server API (machine API): workflows and machines of one user. Every call goes
 * through the shared token bucket, has a time limit, takes an AbortSignal and retries only when
 * that cannot cost money twice. Errors are typed (`src/api/errors.ts`) and never carry the token.
 */
export class RunComfyClient {
  readonly baseUrl: URL;
  private readonly bucket: RateLimiter;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions;
  private readonly reconcile: LaunchReconcileOptions;
  private readonly random: () => number;
  private readonly authAdvice: string;

  constructor(private readonly options: RunComfyClientOptions) {
    this.baseUrl = parseApiBaseUrl(options.baseUrl ?? defaultRunComfyApiUrl, options.baseUrlSource);
    this.bucket = options.bucket ?? sharedTokenBucket();
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = { ...defaultRetry, ...options.retry };
    this.reconcile = { ...defaultReconcile, ...options.launchReconcile };
    this.random = options.random ?? Math.random;
    this.authAdvice = options.authAdvice ?? 'Check the API token and the user id.';
  }

  /** Every workflow version in the account: the entries verbatim, and grouped by workflow. */
  async listWorkflows(signal?: AbortSignal): Promise<WorkflowList> {
    const what = 'List workflows';
    return parseWorkflowList(await this.call({ what, method: 'GET', path: '/workflows' }, 'idempotent', signal), what);
  }

  /** The user's machines; one call serves every machine. */
  async listMachines(signal?: AbortSignal): Promise<Machine[]> {
    const what = 'List machines';
    return parseMachineList(await this.call({ what, method: 'GET', path: '/servers' }, 'idempotent', signal), what);
  }

  /** One machine's status. A machine that has stopped (or was just launched) may answer 404. */
  async getMachine(serverId: string, signal?: AbortSignal): Promise<Machine> {
    const op = this.machineOperation('Get status of machine', serverId, 'GET');
    return parseMachine(await this.call(op, 'idempotent', signal), op.what);
  }

  /**
   * Launches a machine. Never retried blindly: a 429 is retried (the server refused it), but after
   * a lost answer or a 5xx the machine may exist and bill, so the client compares the machine list
   * taken just before the launch with lists taken after it, and returns the machine that appeared
   * with the requested type. When none appeared it reports the failure; when several did, it says so.
   */
  async launch(request: LaunchRequest, signal?: AbortSignal): Promise<Machine> {
    validateLaunch(request);
    const what = 'Launch machine';
    const before = await this.listMachines(signal);
    const body: LaunchRequest = {
      workflow_version_id: request.workflow_version_id,
      server_type: request.server_type,
      estimated_duration: request.estimated_duration,
    };
    let sent = false;
    try {
      const raw = await this.call({ what, method: 'POST', path: '/servers', body }, 'rejectedOnly', signal, {
        onSending: () => (sent = true),
      });
      return parseMachine(raw, what);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // Once the POST left, a lost answer is always followed by the check of the machine list, even
      // when the caller gave up (so on no signal): the machine may exist and bill, and nobody could
      // stop a machine nobody saw. The check is bounded by its attempts and each list's time limit.
      if (!(sent && e.kind === 'cancelled') && !isOutcomeUnknown(e)) throw e;
      return await this.findLaunchedMachine(before, request, e);
    }
  }

  /**
   * Sets the machine's total run time in seconds, counted from when it became Ready (not from now,
   * and not an increment). Idempotent, so it is retried like a GET.
   */
  async updateEstimatedDuration(serverId: string, totalSeconds: number, signal?: AbortSignal): Promise<Machine> {
    if (!Number.isInteger(totalSeconds) || totalSeconds <= 0) {
      throw new InvalidRequestError(`The duration must be a positive whole number of seconds, got ${totalSeconds}.`);
    }
    const op = this.machineOperation('Change duration of machine', serverId, 'POST', '/update-estimated-duration', {
      update_estimated_duration: totalSeconds,
    });
    return parseMachine(await this.call(op, 'idempotent', signal), op.what);
  }

  /**
   * Stops a machine; billing ends when this returns. Retried with backoff until the server
   * answers 200 or 404, or the signal aborts; a refused token (401/403) ends it at once, another
   * 4xx after `maxRetries` retries, each with an error that says the machine may still bill.
   * Resolves with the machine (now `Deleting`), or with undefined when an earlier attempt whose
   * answer was lost turned out to have landed (404 after it). A 404 on the first answer means the
   * machine is unknown: `NotFoundError`. Aborting the signal gives a CancelledError that says
   * whether a DELETE was sent. `onFailure` hears about every failed attempt.
   */
  async stop(serverId: string, signal?: AbortSignal, onFailure?: (e: ApiError) => void): Promise<Machine | undefined> {
    const op = this.machineOperation('Stop machine', serverId, 'DELETE');
    let outcomeUnknown = false;
    let sent = 0;
    let last: ApiError | undefined;
    try {
      const raw = await this.call(op, 'untilLanded', signal, {
        onSending: () => sent++,
        onFailure: (e) => {
          outcomeUnknown ||= isOutcomeUnknown(e);
          last = e;
          onFailure?.(e);
        },
      });
      return parseMachine(raw, op.what);
    } catch (e) {
      if (e instanceof NotFoundError && outcomeUnknown) return undefined;
      if (!(e instanceof ApiError) || e.kind === 'notFound') throw e;
      if (e.kind === 'cancelled') {
        throw new CancelledError(
          sent === 0
            ? `${op.what} was interrupted before it was sent: the machine is still running (and billing once Ready).`
            : `${op.what} was interrupted before RunComfy confirmed it (${sent} attempt${sent === 1 ? '' : 's'}${last ? `, last: ${reasonOf(last)}` : ''}): ` +
                'the machine may still be running and billing. Stop it again.',
          { cause: e },
        );
      }
      return rethrowAs(e, `${e.message} The machine was not stopped and may still be billing.`);
    }
  }

  private machineOperation(verb: string, serverId: string, method: Operation['method'], suffix = '', body?: unknown): Operation {
    if (typeof serverId !== 'string' || serverId.trim() === '') {
      throw new InvalidRequestError(`${verb}: a machine id (server_id) is required.`);
    }
    return {
      what: `${verb} ${serverId}`,
      method,
      path: `/servers/${encodeURIComponent(serverId)}${suffix}`,
      body,
      notFound: 'The machine may have stopped already, or the id is wrong.',
    };
  }

  private async findLaunchedMachine(before: readonly Machine[], request: LaunchRequest, cause: ApiError): Promise<Machine> {
    const known = new Set(before.map((m) => m.serverId));
    let listed = false;
    for (let attempt = 0; attempt < this.reconcile.attempts; attempt++) {
      if (attempt > 0) {
        await sleep(this.reconcile.intervalMs, undefined, this.clock);
      }
      let after: Machine[];
      try {
        after = await this.listMachines();
        listed = true;
      } catch {
        continue;
      }
      const appeared = after.filter((m) => !known.has(m.serverId) && m.serverType === request.server_type);
      const sameDuration = appeared.filter((m) => m.estimatedDurationS === request.estimated_duration);
      const pick = appeared.length === 1 ? appeared : sameDuration;
      if (pick.length === 1) return pick[0];
      if (appeared.length > 1) {
        throw new ServerError(
          `Launch machine: the answer was lost (${reasonOf(cause)}) and ${appeared.length} new ${request.server_type} machines appeared (${appeared
            .map((m) => m.serverId)
            .join(', ')}); cannot tell which one this launch created. Check your machines and stop the ones you do not need.`,
          { cause },
        );
      }
    }
    if (!listed) {
      return rethrowAs(
        cause,
        `Launch machine: the outcome is unknown: ${reasonOf(cause)}, and the machine list could not be read afterwards. ` +
          'A machine may be starting (it bills once Ready): check your machines before launching again.',
      );
    }
    return rethrowAs(cause, `${cause.message} No new ${request.server_type} machine appeared in the machine list, so none was created; the launch was not retried.`);
  }

  /** One operation with the retries its policy allows. */
  private async call(op: Operation, policy: RetryPolicy, signal?: AbortSignal, hooks: CallHooks = {}): Promise<unknown> {
    const startedAt = this.clock.now();
    let refusals = 0;
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(op, signal, hooks.onSending);
      } catch (e) {
        if (!(e instanceof ApiError)) throw cancelledOr(e, op.what, signal);
        if (e.kind === 'cancelled') throw e;
        hooks.onFailure?.(e);
        if (e instanceof RateLimitedError) {
          refusals++;
          const { delayMs, giveUp } = this.rateLimitWait(e, refusals, policy === 'untilLanded' ? undefined : startedAt);
          // Every caller sharing the bucket waits (other processes too), not only this one: the account is
          // over its allowance, whether this call retries or not. Its next attempt waits for its turn.
          await this.bucket.pause(delayMs);
          if (giveUp) throw giveUp;
          this.options.onRetry?.({ operation: op.what, attempt, delayMs, reason: e });
          continue;
        }
        // A stop refused with a 4xx (not 401/403, not 404) may be a passing state of the machine: a few more tries.
        const refusedStop = policy === 'untilLanded' && e.kind === 'invalidRequest';
        if (!refusedStop && (policy === 'rejectedOnly' || !isOutcomeUnknown(e))) throw e;
        failures++;
        if (refusedStop && failures > this.retry.maxRetries) return rethrowAs(e, `${e.message} Refused ${failures} times.`);
        if (policy !== 'untilLanded' && failures > this.retry.maxRetries) throw e;
        const retryAfterMs = serverRetryAfterMs.get(e);
        const delayMs = retryAfterMs === undefined ? this.backoffMs(failures) : Math.min(retryAfterMs, this.retry.maxRetryAfterMs);
        this.options.onRetry?.({ operation: op.what, attempt, delayMs, reason: e });
        await sleep(delayMs, signal, this.clock).catch((err: unknown) => {
          throw cancelledOr(err, op.what, signal);
        });
      }
    }
  }

  /**
   * The wait after a 429: Retry-After (seconds or a date) with a little jitter, so the processes it
   * refused together do not come back together, else exponential backoff. With a budget
   * (`startedAt` given) a retry never waits past it: a backoff is shortened, and when the server
   * asks for longer than is left, or nothing is left, `giveUp` is the error to throw (the account
   * still waits the whole delay, for everyone else's sake).
   */
  private rateLimitWait(e: RateLimitedError, refusals: number, startedAt: number | undefined): { delayMs: number; giveUp?: RateLimitedError } {
    const asked = e.retryAfterMs === undefined ? undefined : Math.min(e.retryAfterMs, this.retry.maxRetryAfterMs);
    const delayMs = asked === undefined ? this.backoffMs(refusals) : asked + Math.round(this.random() * Math.min(1000, 100 + asked / 10));
    if (startedAt === undefined) return { delayMs };
    const budget = this.retry.rateLimitBudgetMs;
    const elapsed = this.clock.now() - startedAt;
    const left = budget - elapsed;
    const giveUp = (why: string) =>
      new RateLimitedError(`${e.message} Gave up: ${why}; wait a minute and try again.`, e.retryAfterMs, {
        status: e.status,
        serverMessage: e.serverMessage,
        serverCode: e.serverCode,
        cause: e,
      });
    if (left <= 0) return { delayMs, giveUp: giveUp(`still rate limited after ${seconds(elapsed)} of retries`) };
    if (asked !== undefined && asked > left) {
      return { delayMs, giveUp: giveUp(`RunComfy asked to wait ${seconds(asked)}, more than the ${seconds(left)} left of the ${seconds(budget)} retry budget`) };
    }
    return { delayMs: Math.min(delayMs, left) };
  }

  private backoffMs(attempt: number): number {
    return backoffDelayMs(attempt, this.retry, this.random);
  }

  /** One HTTP exchange: returns the parsed JSON of a 2xx answer, or throws a typed error. `onSending` runs as the request leaves. */
  private async send(op: Operation, signal?: AbortSignal, onSending?: () => void): Promise<unknown> {
    const userId = await this.resolveUserId();
    const url = new URL(`${this.baseUrl.pathname.replace(/\/+$/, '')}/prod/api/users/${encodeURIComponent(userId)}${op.path}`, this.baseUrl);
    assertTokenDestination(url, this.baseUrl);
    const proxy = this.options.proxy ?? processProxy();
    const via = proxy.describe(url);
    const failed = `${op.what} failed`;
    const token = await this.options.getToken();
    if (!token) {
      throw new AuthError(`${failed}: no RunComfy API token. ${this.authAdvice}`);
    }
    await this.bucket.acquire(signal);

    const timeout = new AbortController();
    const timer = this.clock.setTimeout(
      () => timeout.abort(new TimeoutError(`${failed}: no answer within ${Math.round(this.timeoutMs / 100) / 10} s.`)),
      this.timeoutMs,
    );
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` };
    if (op.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let retryAfter: string | string[] | undefined;
    let text: string;
    try {
      if (!combined.aborted) onSending?.();
      const res = await undici().request(url, {
        dispatcher: proxy.dispatcher(url),
        method: op.method,
        headers,
        body: op.body === undefined ? undefined : JSON.stringify(op.body),
        signal: combined,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = res.statusCode;
      retryAfter = res.headers['retry-after'];
      text = await res.body.text();
    } catch (e) {
      throw scrub(mapTransportError(e, failed, combined, via), token);
    } finally {
      timer.dispose();
    }

    const json = parseJsonOrUndefined(text);
    if (status >= 200 && status < 300) {
      if (isObject(json) && json.error_code != null) throw scrub(this.errorFromCode(op, json, text), token);
      if (json === undefined) throw new ServerError(`${failed}: HTTP ${status} answer is not JSON.`, { status });
      return json;
    }
    throw scrub(this.errorFromStatus(op, status, json, text, retryAfter), token);
  }

  private async resolveUserId(): Promise<string> {
    const raw = typeof this.options.userId === 'function' ? await this.options.userId() : this.options.userId;
    const userId = raw?.trim();
    if (!userId) throw new ConfigError(`No RunComfy user id. ${this.authAdvice}`);
    return userId;
  }

  private errorFromStatus(op: Operation, status: number, json: unknown, text: string, retryAfter: string | string[] | undefined): ApiError {
    const serverMessage = serverMessageOf(json, text);
    const serverCode = serverCodeOf(json);
    const options = { status, serverMessage, serverCode };
    const head = `${op.what} failed: HTTP ${status}${serverMessage ? ` ${serverMessage}` : ''}`;
    if (status === 401 || status === 403) {
      return new AuthError(`${head}. ${this.authAdvice}`, options);
    }
    if (status === 404) return new NotFoundError(op.notFound ? `${head}. ${op.notFound}` : `${head}.`, options);
    if (status === 429) return new RateLimitedError(`${head} (rate limited).`, this.parseRetryAfter(retryAfter), options);
    if (status >= 500) {
      const error = new ServerError(`${head}. RunComfy had a problem; try again later.`, options);
      const after = this.parseRetryAfter(retryAfter);
      if (after !== undefined) serverRetryAfterMs.set(error, after);
      return error;
    }
    return new InvalidRequestError(`${head}.`, options);
  }

  /** A 2xx answer carrying `error_code`: some RunComfy APIs report errors this way. */
  private errorFromCode(op: Operation, json: Record<string, unknown>, text: string): ApiError {
    const code = json.error_code as string | number;
    const impliedStatus = statusFromErrorCode(code);
    if (impliedStatus !== undefined) {
      const error = this.errorFromStatus(op, impliedStatus, json, text, undefined);
      return rebuild(error, error.message.replace(`HTTP ${impliedStatus}`, `error_code ${code}`), { serverCode: code, status: 200 });
    }
    const serverMessage = serverMessageOf(json, text);
    return new InvalidRequestError(`${op.what} failed: error_code ${code}${serverMessage ? ` ${serverMessage}` : ''}.`, {
      status: 200,
      serverMessage,
      serverCode: code,
    });
  }

  private parseRetryAfter(value: string | string[] | undefined): number | undefined {
    const v = (Array.isArray(value) ? value[0] : value)?.trim();
    if (!v) return undefined;
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
    const at = Date.parse(v);
    return Number.isNaN(at) ? undefined : Math.max(0, at - this.clock.now());
  }
}

function validateLaunch(r: LaunchRequest): void {
  if (typeof r.workflow_version_id !== 'string' || r.workflow_version_id.trim() === '') {
    throw new InvalidRequestError('Launch machine: a workflow version id (workflow_version_id) is required.');
  }
  if (typeof r.server_type !== 'string' || r.server_type.trim() === '') {
    throw new InvalidRequestError('Launch machine: a server type is required (medium, large, extra-large, 2x-large or 2xl-turbo).');
  }
  if (!Number.isInteger(r.estimated_duration) || r.estimated_duration <= 0) {
    throw new InvalidRequestError(`Launch machine: the duration must be a positive whole number of seconds, got ${r.estimated_duration}.`);
  }
}

/** What the bucket or a backoff rejects with when the caller aborts, as a CancelledError. */
function cancelledOr(e: unknown, what: string, signal: AbortSignal | undefined): unknown {
  return signal?.aborted || isCancellation(e) ? new CancelledError(`${what} failed: cancelled.`, { cause: e }) : e;
}

/** A failure after which the request may or may not have taken effect. */
function isOutcomeUnknown(e: ApiError): boolean {
  return e.kind === 'server' || e.kind === 'network' || e.kind === 'timeout';
}

/** Maps RunComfy's numeric codes (`404001`, `422001`) and `rate_limited` to the HTTP status they stand for. */
function statusFromErrorCode(code: string | number): number | undefined {
  if (code === 'rate_limited') return 429;
  const digits = String(code);
  if (!/^\d{6}$/.test(digits)) return undefined;
  const status = Number(digits.slice(0, 3));
  return status >= 400 && status < 600 ? status : undefined;
}

function serverMessageOf(json: unknown, text: string): string | undefined {
  if (isObject(json)) {
    for (const key of ['error_message', 'message', 'error', 'detail']) {
      const v = json[key];
      if (typeof v === 'string' && v.trim()) return tidy(v);
      if (key === 'detail' && Array.isArray(v) && v.length > 0) return tidy(v.map(detailText).join('; '));
      if (key === 'error' && isObject(v) && typeof v.message === 'string') return tidy(v.message);
    }
    if (typeof json.code === 'string' && json.code.trim()) return tidy(json.code);
    return undefined;
  }
  return text.trim() ? tidy(text) : undefined;
}

function detailText(d: unknown): string {
  if (typeof d === 'string') return d;
  if (isObject(d) && typeof d.msg === 'string') return Array.isArray(d.loc) ? `${d.loc.join('.')}: ${d.msg}` : d.msg;
  return JSON.stringify(d);
}

function serverCodeOf(json: unknown): string | number | undefined {
  if (!isObject(json)) return undefined;
  const c = json.error_code ?? json.code;
  return typeof c === 'string' || typeof c === 'number' ? c : undefined;
}

/** One line, bounded length, no trailing period (the caller adds punctuation). */
function tidy(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  const short = line.length > 300 ? `${line.slice(0, 300)}…` : line;
  return short.replace(/\.$/, '');
}

/** `0.9 s`, `12 s`. */
function seconds(ms: number): string {
  return `${ms < 10_000 ? (Math.max(0, ms) / 1000).toFixed(1) : Math.round(ms / 1000)} s`;
}

function reasonOf(e: ApiError): string {
  return e.message.replace(/^[^:]*failed: /, '').replace(/\.$/, '');
}

/** A server message could echo the Authorization header; errors must never carry the token. */
function scrub(e: ApiError, token: string): ApiError {
  if (!e.message.includes(token) && !e.serverMessage?.includes(token)) return e;
  return rebuild(e, redact(e.message, [token]), { serverMessage: e.serverMessage === undefined ? undefined : redact(e.serverMessage, [token]) });
}

/** The same kind of error with a new message (and optionally other fields). */
function rebuild(e: ApiError, message: string, overrides: { status?: number; serverMessage?: string; serverCode?: string | number } = {}): ApiError {
  const options = {
    status: 'status' in overrides ? overrides.status : e.status,
    serverMessage: 'serverMessage' in overrides ? overrides.serverMessage : e.serverMessage,
    serverCode: overrides.serverCode ?? e.serverCode,
    cause: e.cause,
  };
  switch (e.kind) {
    case 'auth':
      return new AuthError(message, options);
    case 'notFound':
      return new NotFoundError(message, options);
    case 'rateLimited':
      return new RateLimitedError(message, e instanceof RateLimitedError ? e.retryAfterMs : undefined, options);
    case 'invalidRequest':
      return new InvalidRequestError(message, options);
    case 'server':
      return new ServerError(message, options);
    case 'network':
      return new NetworkError(message, options);
    case 'timeout':
      return new TimeoutError(message, options);
    default:
      return new ApiError(e.kind, message, options);
  }
}

function rethrowAs(e: ApiError, message: string): never {
  throw rebuild(e, message);
}
