import { createHash, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { knownServerTypes } from '../api/runcomfyTypes';
import { defaultRateTable } from '../core/pricing';
import { demoUsers } from './runcomfy/demoSeed';
import {
  simRoutes,
  type ComfyBackend,
  type RunComfySimulatorConfig,
  type RunComfySimulatorOptions,
  type SimBillingEntry,
  type SimFault,
  type SimMachineSeed,
  type SimRequestLogEntry,
  type SimRoute,
  type SimUser,
} from './runcomfy/simulatorTypes';
import { isObject } from '../base/json';
import { simTimeScale } from './simTimeScale';

/**
 * A RunComfy Server API on 127.0.0.1 that behaves as the reference notes describe (§11): two
 * tokens per user, launch → Starting → Ready → auto-stop or DELETE → Deleting → gone, a per-token
 * rate limit, both error envelopes, fault injection, a billing ledger and a request log. Real time,
 * real HTTP: tests shorten the timings instead of faking them. Everything programmatic is also
 * reachable over HTTP under `/__sim/` (no auth) for tests that run it as a separate process.
 */

const defaultConfig: RunComfySimulatorConfig = {
  bootMs: 5000,
  deleteMs: 2000,
  rateLimit: { ratePerSecond: 1, burst: 3 },
  retryAfter: true,
  errorEnvelope: 'errorCode',
  listShape: 'array',
  notVisibleAfterLaunchMs: 0,
  latencyMs: 0,
};

const maxDurationS = 7 * 24 * 3600;
const maxLogEntries = 10_000;
/** setTimeout fires at once for longer delays; longer waits are re-armed in steps. */
const maxTimerMs = 2 ** 31 - 1;

interface SimMachine {
  readonly serverId: string;
  readonly userId: string;
  readonly serverType: string;
  estimatedDuration: number;
  status: string;
  mainServiceUrl: string | null;
  readyAtUs: number | null;
  hiddenUntilUs: number;
  backend: ComfyBackend | undefined;
  autoStop: NodeJS.Timeout | undefined;
  gone: boolean;
}

interface LedgerEntry {
  readonly serverId: string;
  readonly userId: string;
  readonly serverType: string;
  readonly readyAtUs: number;
  stoppedAtUs: number | null;
}

interface ActiveFault {
  readonly fault: SimFault;
  skip: number;
  remaining: number;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  /** Sent instead of `body` when set, as text/html. */
  readonly raw?: string;
}

/** A failure a handler answers with, in the configured error envelope. */
class SimHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: number | string,
  ) {
    super(message);
  }
}

/** Epoch microseconds as an integer, so `ready + duration` prints exactly. */
function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as the API sends its timestamps. */
function formatMicros(us: number): string {
  const seconds = Math.floor(us / 1e6);
  const micros = us - seconds * 1e6;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

/** Starts a simulator on 127.0.0.1 (`options.port`, default any free port). */
export async function startRunComfySimulator(options: RunComfySimulatorOptions = {}): Promise<RunComfySimulator> {
  const sim = new RunComfySimulator(options);
  await sim.listen(options.port ?? 0);
  return sim;
}

/** The running simulator; see `startRunComfySimulator`. */
export class RunComfySimulator {
  private readonly server: http.Server;
  private readonly users: readonly SimUser[];
  private readonly initialConfig: RunComfySimulatorConfig;
  private currentConfig: RunComfySimulatorConfig;
  private readonly rates: Readonly<Record<string, number>>;
  private readonly machinesById = new Map<string, SimMachine>();
  private readonly ledger: LedgerEntry[] = [];
  private readonly log: SimRequestLogEntry[] = [];
  private faults: ActiveFault[] = [];
  private readonly buckets = new Map<string, { tokens: number; atUs: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private seq = 0;
  private baseUrl = '';
  /** Read once at start: see `simTimeScale`. The configuration keeps the unscaled times. */
  private readonly timeScale = simTimeScale();

  constructor(private readonly options: RunComfySimulatorOptions = {}) {
    this.users = options.users ?? demoUsers();
    this.initialConfig = validateConfig({ ...defaultConfig, ...pickConfig(options) });
    this.currentConfig = this.initialConfig;
    this.rates = { ...defaultRateTable, ...options.hourlyRates };
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, { status: 500, body: { message: `simulator error: ${String(e)}` } });
      });
    });
  }

  /** `http://127.0.0.1:<port>`: use it as the API base URL. */
  get url(): string {
    return this.baseUrl;
  }

  get config(): RunComfySimulatorConfig {
    return this.currentConfig;
  }

  /** @internal Used by `startRunComfySimulator`. */
  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        resolve();
      });
    });
  }

  /** Stops listening, drops open connections, cancels every timer and closes every ComfyUI backend. */
  async close(): Promise<void> {
    await this.dropAllMachines();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Changes timings, limits and envelopes while running; returns the new configuration. */
  configure(patch: Partial<RunComfySimulatorConfig>): RunComfySimulatorConfig {
    this.currentConfig = validateConfig({ ...this.currentConfig, ...patch });
    if (patch.rateLimit !== undefined) this.buckets.clear();
    return this.currentConfig;
  }

  /** Adds a fault; it applies to the next matching requests. */
  addFault(fault: SimFault): void {
    validateFault(fault);
    this.faults.push({ fault, skip: fault.skip ?? 0, remaining: fault.times === 'always' ? Infinity : (fault.times ?? 1) });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Faults that have not been used up. */
  activeFaults(): SimFault[] {
    return this.faults.filter((f) => f.remaining > 0).map((f) => f.fault);
  }

  /** API requests in arrival order, optionally only those after `sinceSeq`. */
  requests(sinceSeq = 0): SimRequestLogEntry[] {
    return this.log.filter((e) => e.seq > sinceSeq);
  }

  /** The seq of the latest request (0 before any), to read only what follows. */
  get lastSeq(): number {
    return this.seq;
  }

  clearRequests(): void {
    this.log.length = 0;
  }

  /** Back to the start: no machines, no faults, an empty log and ledger, the initial configuration. */
  async reset(): Promise<void> {
    await this.dropAllMachines();
    this.ledger.length = 0;
    this.log.length = 0;
    this.faults = [];
    this.buckets.clear();
    this.currentConfig = this.initialConfig;
  }

  /** Every machine in wire form (hidden ones too), for assertions. */
  machines(): Record<string, unknown>[] {
    return [...this.machinesById.values()].map((m) => this.wire(m));
  }

  /** Creates a machine as if launched elsewhere (see `SimMachineSeed`); returns its wire form. */
  async seedMachine(seed: SimMachineSeed = {}): Promise<Record<string, unknown>> {
    const userId = seed.user_id ?? this.users[0]?.userId;
    if (!userId || !this.users.some((u) => u.userId === userId)) throw new SimHttpError(400, `Unknown user_id ${String(userId)}.`);
    const serverType = seed.server_type ?? 'medium';
    const duration = seed.estimated_duration ?? 3600;
    if (!Number.isInteger(duration) || duration <= 0) throw new SimHttpError(400, 'estimated_duration must be a positive integer.');
    const status = seed.current_status ?? 'Ready';
    const m = this.createMachine(userId, serverType, duration, seed.server_id);
    if (status === 'Starting') {
      this.scheduleBoot(m);
    } else if (status === 'Ready') {
      await this.becomeReady(m, nowUs() - Math.round((seed.ready_seconds_ago ?? 0) * 1e6));
    } else {
      m.status = status;
    }
    return this.wire(m);
  }

  /** The billing ledger: one entry per machine that became Ready, and the total. */
  billing(): { total: number; machines: SimBillingEntry[] } {
    const now = nowUs();
    const machines = this.ledger.map((l): SimBillingEntry => {
      const rate = this.rates[l.serverType] ?? 0;
      const billedSeconds = Math.max(0, ((l.stoppedAtUs ?? now) - l.readyAtUs) / 1e6);
      return {
        server_id: l.serverId,
        user_id: l.userId,
        server_type: l.serverType,
        rate_per_hour: rate,
        ready_at: formatMicros(l.readyAtUs),
        stopped_at: l.stoppedAtUs === null ? null : formatMicros(l.stoppedAtUs),
        billed_seconds: billedSeconds,
        cost: (rate * billedSeconds) / 3600,
      };
    });
    return { total: machines.reduce((sum, m) => sum + m.cost, 0), machines };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const arrivedUs = nowUs();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    if (url.pathname.startsWith('/__sim/')) {
      sendJson(res, await this.handleAdmin(req.method ?? 'GET', url, text));
      return;
    }
    const seq = ++this.seq;
    const body = parseBody(text);
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    const auth = this.authenticate(req.headers.authorization);
    let fault: SimFault | undefined;
    let outcome: Answer | 'drop';
    try {
      const result = await this.answerApi(req, match, auth, body);
      fault = result.fault;
      outcome = result.outcome;
    } catch (e) {
      outcome = this.errorAnswer(e);
    }
    const entry = {
      seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      route: match?.route ?? ('unknown' as const),
      timeMs: arrivedUs / 1000,
      tokenSlot: auth?.slot ?? null,
      userId: match?.userId ?? null,
      serverId: match?.serverId ?? null,
      contentType: req.headers['content-type'] ?? null,
      accept: req.headers.accept ?? null,
      body,
      fault: fault?.action ?? null,
    };
    if (outcome === 'drop') {
      this.record({ ...entry, answeredAtMs: nowUs() / 1000, status: 0, dropped: true });
      req.socket.destroy();
      return;
    }
    this.record({ ...entry, answeredAtMs: nowUs() / 1000, status: outcome.status, dropped: false });
    sendJson(res, outcome);
  }

  private async answerApi(
    req: http.IncomingMessage,
    match: RouteMatch | undefined,
    auth: { user: SimUser; slot: 1 | 2 } | undefined,
    body: unknown,
  ): Promise<{ outcome: Answer | 'drop'; fault?: SimFault }> {
    if (!match) return { outcome: gatewayForbidden(req.headers.authorization) };
    if (!auth) throw new SimHttpError(401, 'Unauthorized');
    if (auth.user.userId !== match.userId) {
      throw new SimHttpError(403, 'User is not authorized to access this resource with an explicit deny', 403003);
    }
    const limited = this.takeToken(req.headers.authorization ?? '');
    if (limited !== undefined) return { outcome: this.rateLimitedAnswer(limited) };

    const fault = this.takeFault(match.route);
    if (fault?.action === 'drop') return { outcome: 'drop', fault };
    if (fault?.action === 'rateLimit') return { outcome: this.rateLimitedAnswer(fault.retryAfter === undefined ? '1' : fault.retryAfter), fault };
    if (fault?.action === 'error') return { outcome: this.faultAnswer(fault), fault };
    if (fault?.action === 'delay') await this.wait(fault.delayMs ?? 1000);
    if (this.currentConfig.latencyMs > 0) await this.wait(this.currentConfig.latencyMs);

    let answer: Answer;
    try {
      answer = this.route(match, auth.user, body);
    } catch (e) {
      answer = this.errorAnswer(e);
    }
    return { outcome: fault?.action === 'dropAfterHandling' ? 'drop' : answer, fault };
  }

  private route(match: RouteMatch, user: SimUser, body: unknown): Answer {
    switch (match.route) {
      case 'listWorkflows':
        return ok(this.shapeList(listWorkflowEntries(user), 'workflows'));
      case 'listMachines':
        return ok(this.shapeList(this.visibleMachines(user.userId).map((m) => this.wire(m)), 'servers'));
      case 'getMachine':
        return ok(this.wire(this.findVisible(user.userId, match.serverId!)));
      case 'launch':
        return ok(this.wire(this.launch(user, body)));
      case 'updateDuration':
        return ok(this.wire(this.updateDuration(this.findVisible(user.userId, match.serverId!), body)));
      case 'stop':
        return ok(this.wire(this.stop(this.findVisible(user.userId, match.serverId!))));
    }
  }

  /**
   * Ends a Starting machine's boot now, for tests that must see it Starting first whatever the
   * boot time and the speed of the machine running them. Returns the machine as the API shows it.
   */
  async finishBoot(serverId: string): Promise<Record<string, unknown>> {
    const m = this.machinesById.get(serverId);
    if (!m) throw new SimHttpError(404, `No machine ${serverId}.`);
    if (m.status !== 'Starting') throw new SimHttpError(409, `Machine ${serverId} is ${m.status}, not Starting.`);
    await this.becomeReady(m, undefined);
    return this.wire(m);
  }

  private launch(user: SimUser, body: unknown): SimMachine {
    if (!isObject(body)) {
      throw new SimHttpError(422, 'The request body must be a JSON object with workflow_version_id, server_type and estimated_duration.', 422001);
    }
    const versionId = body.workflow_version_id;
    if (typeof versionId !== 'string' || versionId === '') {
      throw new SimHttpError(422, 'workflow_version_id is required: the version_id of one of your workflows.', 422001);
    }
    if (!user.workflows.some((w) => w.versions.some((v) => v.versionId === versionId))) {
      throw new SimHttpError(422, `workflow_version_id ${versionId} is not a version of any of your workflows.`, 422001);
    }
    const serverType = body.server_type;
    if (typeof serverType !== 'string' || !(knownServerTypes as readonly string[]).includes(serverType)) {
      throw new SimHttpError(422, `server_type must be one of ${knownServerTypes.join(', ')}.`, 422001);
    }
    const duration = body.estimated_duration;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration <= 0 || duration > maxDurationS) {
      throw new SimHttpError(422, `estimated_duration must be a whole number of seconds between 1 and ${maxDurationS}.`, 422001);
    }
    const m = this.createMachine(user.userId, serverType, duration);
    m.hiddenUntilUs = nowUs() + this.currentConfig.notVisibleAfterLaunchMs * 1000;
    this.scheduleBoot(m);
    return m;
  }

  private updateDuration(m: SimMachine, body: unknown): SimMachine {
    const total = isObject(body) ? body.update_estimated_duration : undefined;
    if (typeof total !== 'number' || !Number.isInteger(total) || total <= 0 || total > maxDurationS) {
      throw new SimHttpError(422, `update_estimated_duration must be a whole number of seconds between 1 and ${maxDurationS}.`, 422001);
    }
    if (m.status !== 'Ready') {
      throw new SimHttpError(400, `The running duration can be changed only when the machine is Ready; it is ${m.status}.`, 400001);
    }
    m.estimatedDuration = total;
    this.scheduleAutoStop(m);
    return m;
  }

  private stop(m: SimMachine): SimMachine {
    if (m.status !== 'Deleting') this.beginDeleting(m, nowUs());
    return m;
  }

  private createMachine(userId: string, serverType: string, duration: number, serverId: string = randomUUID()): SimMachine {
    if (this.machinesById.has(serverId)) throw new SimHttpError(400, `A machine with server_id ${serverId} already exists.`);
    const m: SimMachine = {
      serverId,
      userId,
      serverType,
      estimatedDuration: duration,
      status: 'Starting',
      mainServiceUrl: null,
      readyAtUs: null,
      hiddenUntilUs: 0,
      backend: undefined,
      autoStop: undefined,
      gone: false,
    };
    this.machinesById.set(serverId, m);
    return m;
  }

  private scheduleBoot(m: SimMachine): void {
    this.timer(() => {
      if (m.gone || m.status !== 'Starting') return;
      this.becomeReady(m, undefined).catch(() => {
        m.status = 'Error';
      });
    }, this.currentConfig.bootMs * this.timeScale);
  }

  private async becomeReady(m: SimMachine, readyAtUs: number | undefined): Promise<void> {
    const backend = this.options.createComfyBackend ? await this.options.createComfyBackend(m.serverId) : undefined;
    if (m.gone || m.status === 'Deleting') {
      await backend?.close();
      return;
    }
    m.backend = backend;
    m.status = 'Ready';
    m.readyAtUs = readyAtUs ?? nowUs();
    m.mainServiceUrl = backend?.url ?? `https://${m.serverId}-comfyui.runcomfy.invalid`;
    this.ledger.push({ serverId: m.serverId, userId: m.userId, serverType: m.serverType, readyAtUs: m.readyAtUs, stoppedAtUs: null });
    this.scheduleAutoStop(m);
  }

  private scheduleAutoStop(m: SimMachine): void {
    if (m.autoStop) this.cancel(m.autoStop);
    m.autoStop = undefined;
    if (m.readyAtUs === null) return;
    const stopAtUs = m.readyAtUs + m.estimatedDuration * 1e6;
    const delayMs = (stopAtUs - nowUs()) / 1000;
    if (delayMs <= 0) {
      this.beginDeleting(m, stopAtUs);
      return;
    }
    m.autoStop = this.timer(() => this.scheduleAutoStop(m), Math.min(delayMs, maxTimerMs));
  }

  /** Billing stops at `billingStopUs` (the DELETE, or the planned stop time). */
  private beginDeleting(m: SimMachine, billingStopUs: number): void {
    if (m.autoStop) this.cancel(m.autoStop);
    m.autoStop = undefined;
    m.status = 'Deleting';
    const entry = this.ledger.find((l) => l.serverId === m.serverId && l.stoppedAtUs === null);
    if (entry) entry.stoppedAtUs = Math.max(entry.readyAtUs, billingStopUs);
    this.timer(() => void this.remove(m), this.currentConfig.deleteMs * this.timeScale);
  }

  private async remove(m: SimMachine): Promise<void> {
    if (m.gone) return;
    m.gone = true;
    if (m.autoStop) this.cancel(m.autoStop);
    this.machinesById.delete(m.serverId);
    await m.backend?.close();
  }

  private async dropAllMachines(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const machines = [...this.machinesById.values()];
    for (const m of machines) {
      const entry = this.ledger.find((l) => l.serverId === m.serverId && l.stoppedAtUs === null);
      if (entry) entry.stoppedAtUs = nowUs();
    }
    await Promise.allSettled(machines.map((m) => this.remove(m)));
  }

  private visibleMachines(userId: string): SimMachine[] {
    const now = nowUs();
    return [...this.machinesById.values()].filter((m) => m.userId === userId && m.hiddenUntilUs <= now);
  }

  private findVisible(userId: string, serverId: string): SimMachine {
    const m = this.machinesById.get(serverId);
    if (m?.userId !== userId || m.hiddenUntilUs > nowUs()) {
      throw new SimHttpError(404, `Server ${serverId} not found.`, 404001);
    }
    return m;
  }

  private wire(m: SimMachine): Record<string, unknown> {
    return {
      server_id: m.serverId,
      estimated_duration: m.estimatedDuration,
      server_type: m.serverType,
      user_id: m.userId,
      main_service_url: m.mainServiceUrl,
      current_status: m.status,
      service_ready_at: m.readyAtUs === null ? null : formatMicros(m.readyAtUs),
      estimated_stopping_at: m.readyAtUs === null ? null : formatMicros(m.readyAtUs + m.estimatedDuration * 1e6),
    };
  }

  private shapeList(items: unknown[], key: 'workflows' | 'servers'): unknown {
    switch (this.currentConfig.listShape) {
      case 'array':
        return items;
      case 'data':
        return { data: items };
      case 'servers':
        return { [key]: items };
    }
  }

  private authenticate(header: string | undefined): { user: SimUser; slot: 1 | 2 } | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    for (const user of this.users) {
      const i = user.tokens.indexOf(m[1]);
      if (i === 0 || i === 1) return { user, slot: i === 0 ? 1 : 2 };
    }
    return undefined;
  }

  /** Undefined when the request may go; else the Retry-After to send. */
  private takeToken(key: string): string | null | undefined {
    const limit = this.currentConfig.rateLimit;
    if (!limit) return undefined;
    const now = nowUs();
    const b = this.buckets.get(key) ?? { tokens: limit.burst, atUs: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.atUs) / 1e6) * limit.ratePerSecond);
    b.atUs = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    if (!this.currentConfig.retryAfter) return null;
    return String(Math.max(1, Math.ceil((1 - b.tokens) / limit.ratePerSecond)));
  }

  private takeFault(route: SimRoute): SimFault | undefined {
    let chosen: ActiveFault | undefined;
    for (const f of this.faults) {
      if (f.remaining <= 0 || !appliesTo(f.fault, route)) continue;
      if (f.skip > 0) f.skip -= 1;
      else chosen ??= f;
    }
    if (!chosen) return undefined;
    chosen.remaining -= 1;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return chosen.fault;
  }

  private rateLimitedAnswer(retryAfter: string | null): Answer {
    const headers: Record<string, string> = retryAfter === null ? {} : { 'retry-after': retryAfter };
    const body =
      this.currentConfig.errorEnvelope === 'message'
        ? { message: 'Too Many Requests' }
        : { error_code: 'rate_limited', error_message: 'Rate limit exceeded: one request per second per account.' };
    return { status: 429, body, headers };
  }

  private faultAnswer(fault: SimFault): Answer {
    const status = fault.status ?? 500;
    const headers: Record<string, string> = typeof fault.retryAfter === 'string' ? { 'retry-after': fault.retryAfter } : {};
    const message = fault.message ?? (status >= 500 ? 'Internal server error' : 'Injected fault');
    if (fault.rawBody !== undefined) return { status, body: null, raw: fault.rawBody, headers };
    if (fault.body !== undefined) return { status, body: fault.body, headers };
    if (fault.errorCode !== undefined) return { status, body: { error_code: fault.errorCode, error_message: message }, headers };
    return { ...this.envelope(status, message), headers };
  }

  private errorAnswer(e: unknown): Answer {
    if (e instanceof SimHttpError) return this.envelope(e.status, e.message, e.code);
    return this.envelope(500, `Internal server error: ${e instanceof Error ? e.message : String(e)}`);
  }

  private envelope(status: number, message: string, code?: number | string): Answer {
    if (this.currentConfig.errorEnvelope === 'message') return { status, body: { message } };
    return { status, body: { error_code: code ?? status * 1000 + 1, error_message: message } };
  }

  private async handleAdmin(method: string, url: URL, text: string): Promise<Answer> {
    const body = parseBody(text);
    const path = url.pathname.replace(/\/+$/, '');
    try {
      const bootNow = method === 'POST' ? /^\/__sim\/machines\/([^/]+)\/ready$/.exec(path) : null;
      if (bootNow) return ok(await this.finishBoot(decodeURIComponent(bootNow[1])));
      switch (`${method} ${path}`) {
        case 'GET /__sim/requests':
          return ok(this.requests(Number(url.searchParams.get('since') ?? 0)));
        case 'DELETE /__sim/requests':
          this.clearRequests();
          return ok({ cleared: true });
        case 'POST /__sim/reset':
          await this.reset();
          return ok({ reset: true });
        case 'GET /__sim/config':
          return ok(this.currentConfig);
        case 'POST /__sim/config':
          if (!isObject(body)) throw new SimHttpError(400, 'POST /__sim/config takes a JSON object of settings to change.');
          return ok(this.configure(body));
        case 'GET /__sim/faults':
          return ok(this.activeFaults());
        case 'POST /__sim/faults':
          for (const f of Array.isArray(body) ? body : [body]) this.addFault(f as SimFault);
          return ok(this.activeFaults());
        case 'DELETE /__sim/faults':
          this.clearFaults();
          return ok([]);
        case 'GET /__sim/machines':
          return ok(this.machines());
        case 'POST /__sim/machines':
          if (body !== null && !isObject(body)) throw new SimHttpError(400, 'POST /__sim/machines takes a JSON object (SimMachineSeed).');
          return ok(await this.seedMachine((body ?? {})));
        case 'GET /__sim/billing':
          return ok(this.billing());
        case 'GET /__sim/users':
          return ok(this.users.map((u) => ({ user_id: u.userId, token_slots: u.tokens.length, workflows: listWorkflowEntries(u).length })));
        default:
          return {
            status: 404,
            body: {
              message: `No simulator admin route ${method} ${path}. Routes: GET|DELETE /__sim/requests, POST /__sim/reset, GET|POST /__sim/config, GET|POST|DELETE /__sim/faults, GET|POST /__sim/machines, POST /__sim/machines/{id}/ready, GET /__sim/billing, GET /__sim/users.`,
            },
          };
      }
    } catch (e) {
      const status = e instanceof SimHttpError ? e.status : 400;
      return { status, body: { message: e instanceof Error ? e.message : String(e) } };
    }
  }

  private record(entry: SimRequestLogEntry): void {
    // Slow answers finish late; keep the log in arrival order all the same.
    let at = this.log.length;
    while (at > 0 && this.log[at - 1].seq > entry.seq) at--;
    this.log.splice(at, 0, entry);
    if (this.log.length > maxLogEntries) this.log.splice(0, this.log.length - maxLogEntries);
  }

  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, Math.max(0, ms));
    t.unref();
    this.timers.add(t);
    return t;
  }

  private cancel(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.timer(resolve, ms));
  }
}

interface RouteMatch {
  readonly route: SimRoute;
  readonly userId: string;
  readonly serverId?: string;
}

const apiPath = /^\/prod\/api\/users\/([^/]+)\/(workflows|servers)(?:\/([^/]+)(\/update-estimated-duration)?)?$/;

function matchRoute(method: string, path: string): RouteMatch | undefined {
  const m = apiPath.exec(path);
  if (!m) return undefined;
  const [, rawUser, collection, rawServer, update] = m;
  let userId: string;
  let serverId: string | undefined;
  try {
    userId = decodeURIComponent(rawUser);
    serverId = rawServer === undefined ? undefined : decodeURIComponent(rawServer);
  } catch {
    return undefined;
  }
  const route = routeFor(method, collection, serverId !== undefined, update !== undefined);
  return route && { route, userId, serverId };
}

function routeFor(method: string, collection: string, hasServer: boolean, isUpdate: boolean): SimRoute | undefined {
  if (collection === 'workflows') return method === 'GET' && !hasServer ? 'listWorkflows' : undefined;
  if (!hasServer) return method === 'GET' ? 'listMachines' : method === 'POST' ? 'launch' : undefined;
  if (isUpdate) return method === 'POST' ? 'updateDuration' : undefined;
  return method === 'GET' ? 'getMachine' : method === 'DELETE' ? 'stop' : undefined;
}

/** What API Gateway answers for a route it does not know. */
function gatewayForbidden(authorization: string | undefined): Answer {
  if (!authorization) return { status: 403, body: { message: 'Missing Authentication Token' } };
  const hashed = createHash('sha256').update(authorization).digest('base64');
  return {
    status: 403,
    body: { message: `Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '${hashed}'.` },
  };
}

function listWorkflowEntries(user: SimUser): Record<string, unknown>[] {
  return user.workflows.flatMap((w) =>
    w.versions.map((v) => ({
      workflow_id: w.workflowId,
      workflow_name: w.name,
      version_id: v.versionId,
      ...(v.versionName === undefined ? {} : { version_name: v.versionName }),
      created_at: v.createdAt,
      updated_at: v.updatedAt,
    })),
  );
}

function appliesTo(fault: SimFault, route: SimRoute): boolean {
  if (fault.route === undefined) return true;
  return typeof fault.route === 'string' ? fault.route === route : fault.route.includes(route);
}

function pickConfig(o: RunComfySimulatorOptions): Partial<RunComfySimulatorConfig> {
  const keys = Object.keys(defaultConfig) as (keyof RunComfySimulatorConfig)[];
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

function validateConfig(c: RunComfySimulatorConfig): RunComfySimulatorConfig {
  const known = Object.keys(defaultConfig);
  const unknown = Object.keys(c).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new SimHttpError(400, `Unknown simulator setting ${unknown.join(', ')}; known: ${known.join(', ')}.`);
  for (const k of ['bootMs', 'deleteMs', 'notVisibleAfterLaunchMs', 'latencyMs'] as const) {
    if (typeof c[k] !== 'number' || !(c[k] >= 0)) throw new SimHttpError(400, `${k} must be a number of milliseconds >= 0, got ${JSON.stringify(c[k])}.`);
  }
  if (c.rateLimit !== null && (!isObject(c.rateLimit) || !(c.rateLimit.ratePerSecond > 0) || !(c.rateLimit.burst >= 1))) {
    throw new SimHttpError(400, `rateLimit must be null or {"ratePerSecond": >0, "burst": >=1}, got ${JSON.stringify(c.rateLimit)}.`);
  }
  if (typeof c.retryAfter !== 'boolean') throw new SimHttpError(400, 'retryAfter must be true or false.');
  if (c.errorEnvelope !== 'errorCode' && c.errorEnvelope !== 'message') throw new SimHttpError(400, 'errorEnvelope must be "errorCode" or "message".');
  if (!['array', 'servers', 'data'].includes(c.listShape)) throw new SimHttpError(400, 'listShape must be "array", "servers" or "data".');
  return c;
}

function validateFault(f: SimFault): void {
  if (!isObject(f)) throw new SimHttpError(400, 'A fault is a JSON object with an "action".');
  const actions = ['error', 'drop', 'dropAfterHandling', 'delay', 'rateLimit'];
  if (!actions.includes(f.action)) throw new SimHttpError(400, `Fault action must be one of ${actions.join(', ')}, got ${JSON.stringify(f.action)}.`);
  const routes: unknown = f.route === undefined ? [] : typeof f.route === 'string' ? [f.route] : f.route;
  if (!Array.isArray(routes) || routes.some((r: unknown) => typeof r !== 'string' || !(simRoutes as readonly string[]).includes(r))) {
    throw new SimHttpError(400, `Fault route must be one or more of ${simRoutes.join(', ')}, got ${JSON.stringify(f.route)}.`);
  }
  if (f.times !== undefined && f.times !== 'always' && !(Number.isInteger(f.times) && f.times > 0)) {
    throw new SimHttpError(400, `Fault times must be a positive integer or "always", got ${JSON.stringify(f.times)}.`);
  }
  if (f.status !== undefined && !(Number.isInteger(f.status) && f.status >= 100 && f.status <= 599)) {
    throw new SimHttpError(400, `Fault status must be an HTTP status (100-599), got ${JSON.stringify(f.status)}.`);
  }
  if (f.skip !== undefined && !(Number.isInteger(f.skip) && f.skip >= 0)) {
    throw new SimHttpError(400, `Fault skip must be a whole number >= 0, got ${JSON.stringify(f.skip)}.`);
  }
  if (f.delayMs !== undefined && !(typeof f.delayMs === 'number' && f.delayMs >= 0)) {
    throw new SimHttpError(400, `Fault delayMs must be a number >= 0, got ${JSON.stringify(f.delayMs)}.`);
  }
}

function ok(body: unknown): Answer {
  return { status: 200, body };
}

function sendJson(res: http.ServerResponse, a: Answer): void {
  res.writeHead(a.status, { 'content-type': a.raw === undefined ? 'application/json' : 'text/html', ...a.headers });
  res.end(a.raw ?? JSON.stringify(a.body));
}

/** JSON whatever the Content-Type says (curl examples send JSON as form data); raw text otherwise. */
function parseBody(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1_000_000) {
        reject(new SimHttpError(413, 'Request body too large.'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

