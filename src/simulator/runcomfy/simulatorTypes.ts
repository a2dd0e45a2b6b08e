/**
 * Options, faults and records of the RunComfy simulator. Everything here is plain JSON so host
 * tests, which run the simulator as a separate process, can send and read it over `/__sim/`.
 */

/** The six API operations, as named in faults and in the request log. */
export const simRoutes = ['listWorkflows', 'listMachines', 'getMachine', 'launch', 'updateDuration', 'stop'] as const;
export type SimRoute = (typeof simRoutes)[number];

/** One launchable version of a seeded workflow. Times are ISO strings as the API sends them. */
export interface SimWorkflowVersion {
  readonly versionId: string;
  readonly versionName?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface SimWorkflow {
  readonly workflowId: string;
  readonly name: string;
  readonly versions: readonly SimWorkflowVersion[];
}

/** A RunComfy account: an id, its two API tokens (Token1, Token2) and its workflows. */
export interface SimUser {
  readonly userId: string;
  readonly tokens: readonly string[];
  readonly workflows: readonly SimWorkflow[];
}

/** What can be changed while the simulator runs (`configure()` or `POST /__sim/config`). */
export interface RunComfySimulatorConfig {
  /** Time from launch to Ready; default 5000. */
  readonly bootMs: number;
  /** Time a machine stays `Deleting` before it is gone (404); default 2000. */
  readonly deleteMs: number;
  /** Per-token limit; default 1 request/s with a burst of 3 (the client keeps to a burst of 2); null turns it off. */
  readonly rateLimit: { readonly ratePerSecond: number; readonly burst: number } | null;
  /** Whether a 429 carries `Retry-After` (the real API's behaviour is unknown); default true. */
  readonly retryAfter: boolean;
  /** `errorCode` (default): `{"error_code":404001,"error_message":…}`; `message`: API-Gateway style `{"message":…}`. */
  readonly errorEnvelope: 'errorCode' | 'message';
  /** How lists are sent: a bare array (default, the documented shape) or wrapped in an object. */
  readonly listShape: 'array' | 'servers' | 'data';
  /** A just-launched machine answers 404 and is missing from the list for this long; default 0. */
  readonly notVisibleAfterLaunchMs: number;
  /** Added before every API answer; default 0. */
  readonly latencyMs: number;
}

/**
 * A one-off (or repeated) misbehaviour of the API.
 * - `error`: answer `status` (default 500) with `message` in the configured envelope, or with
 *   `errorCode` in the `error_code` envelope (a 2xx status then gives a 200 that carries
 *   `error_code`), or with `body` as JSON, or `rawBody` as text; `retryAfter` adds that header
 *   (a 503 may carry one).
 * - `drop`: close the connection without answering, before doing anything.
 * - `dropAfterHandling`: do the work (create the machine, stop it), then close without answering:
 *   a lost response.
 * - `delay`: wait `delayMs`, then answer normally (the work happens after the wait).
 * - `rateLimit`: answer 429 whatever the bucket says, with `retryAfter` (default "1"; null: no header).
 */
export interface SimFault {
  readonly action: 'error' | 'drop' | 'dropAfterHandling' | 'delay' | 'rateLimit';
  /** Routes it applies to; default every API route. */
  readonly route?: SimRoute | readonly SimRoute[];
  /** Matching requests it ignores before it starts (the second list, not the first); default 0. */
  readonly skip?: number;
  /** How many matching requests it hits; default 1; `"always"` until cleared. */
  readonly times?: number | 'always';
  readonly status?: number;
  readonly message?: string;
  readonly errorCode?: number | string;
  /** For `error`: the exact JSON body to send. */
  readonly body?: unknown;
  /** For `error`: a body sent as is (`text/html`), for answers that are not JSON at all. */
  readonly rawBody?: string;
  readonly delayMs?: number;
  readonly retryAfter?: string | null;
}

/** One API request as the simulator saw it. Never holds the token: only which of the user's tokens it was. */
export interface SimRequestLogEntry {
  /** 1, 2, 3… in arrival order. */
  readonly seq: number;
  readonly method: string;
  /** The path as sent (still URL-encoded), without the query. */
  readonly path: string;
  readonly route: SimRoute | 'unknown';
  /** Arrival time, epoch milliseconds. */
  readonly timeMs: number;
  /** Answer time, epoch milliseconds (also set when the connection was dropped). */
  readonly answeredAtMs: number;
  /** HTTP status sent; 0 when the connection was dropped. */
  readonly status: number;
  readonly dropped: boolean;
  /** 1 or 2 for the user's Token1 / Token2; null when missing or unknown. */
  readonly tokenSlot: 1 | 2 | null;
  /** The `{user}` path segment, decoded. */
  readonly userId: string | null;
  /** The `{server}` path segment, decoded. */
  readonly serverId: string | null;
  readonly contentType: string | null;
  readonly accept: string | null;
  /** The JSON body, parsed; the raw text when it is not JSON; null when empty. */
  readonly body: unknown;
  /** The fault applied, if any. */
  readonly fault: SimFault['action'] | null;
}

/** A machine created directly (as if launched elsewhere), via `seedMachine()` or `POST /__sim/machines`. */
export interface SimMachineSeed {
  readonly user_id?: string;
  readonly server_id?: string;
  readonly server_type?: string;
  readonly estimated_duration?: number;
  /** `Ready` (default), `Starting` (boots like a launch), or any other string, kept frozen as is. */
  readonly current_status?: string;
  /** For a Ready seed: how long ago it became Ready. */
  readonly ready_seconds_ago?: number;
}

/** The billing record of one machine. */
export interface SimBillingEntry {
  readonly server_id: string;
  readonly user_id: string;
  readonly server_type: string;
  readonly rate_per_hour: number;
  readonly ready_at: string;
  /** When billing stopped (DELETE answered 200, or auto-stop); null while billing. */
  readonly stopped_at: string | null;
  readonly billed_seconds: number;
  readonly cost: number;
}

/** A ComfyUI backend for a Ready machine (the ComfyUI simulator); closed when the machine is gone. */
export interface ComfyBackend {
  readonly url: string;
  close(): Promise<void>;
}

export interface RunComfySimulatorOptions extends Partial<RunComfySimulatorConfig> {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Accounts; default the demo account (`demoUsers()`). */
  readonly users?: readonly SimUser[];
  /** Dollars per hour by server type for the billing ledger; default pay-as-you-go prices. */
  readonly hourlyRates?: Readonly<Record<string, number>>;
  /**
   * Called when a machine becomes Ready; its `url` becomes `main_service_url` (without it:
   * `https://{server_id}-comfyui.runcomfy.invalid`). If it rejects, the machine's status becomes `Error`.
   */
  readonly createComfyBackend?: (serverId: string) => Promise<ComfyBackend>;
}
