import { accountTokenBucket } from '../api/fileTokenBucket';
import { RunComfyClient, type RetryNotice } from '../api/runcomfyClient';
import { parseApiBaseUrl } from '../api/tokenPolicy';
import { type RateLimiter } from '../api/tokenBucket';
import { type Clock, systemClock } from '../base/clock';
import { DisposableObject } from '../base/lifecycle';
import { MachineStore } from './machineStore';
import { WorkflowCatalog } from './workflowCatalog';

/** What an account needs to talk to the API. */
export interface AccountOptions {
  readonly apiUrl: string;
  /** Names where `apiUrl` came from, for errors ("the runcomfy.apiUrl setting"). */
  readonly apiUrlSource: string;
  readonly userId: string;
  /** Read for every request, so signing out takes effect at once. */
  readonly getToken: () => Promise<string | undefined>;
  /** Poll interval while nothing changes and someone watches. */
  readonly slowPollMs: number;
  readonly clock?: Clock;
  readonly onRetry?: (notice: RetryNotice) => void;
  /** Told when the rate-limit state cannot be shared with other windows (requests are then paced per window). */
  readonly onWarning?: (message: string) => void;
  /** The rate limiter; default the account's bucket shared by every window and CLI run of the user (`accountTokenBucket`). */
  readonly bucket?: RateLimiter;
}

/**
 * One signed-in RunComfy account at one API URL: its client, its machines and its workflows.
 * Replaced as a whole when the user, the token or the API URL changes, so nothing stale survives.
 * Construction throws an UnsafeUrlError or ConfigError when the URL could leak the token.
 */
export class RunComfyAccount extends DisposableObject {
  readonly client: RunComfyClient;
  readonly machines: MachineStore;
  readonly workflows: WorkflowCatalog;

  constructor(readonly options: AccountOptions) {
    super();
    const clock = options.clock ?? systemClock;
    const bucket =
      options.bucket ??
      accountTokenBucket({ apiOrigin: parseApiBaseUrl(options.apiUrl, options.apiUrlSource).origin, userId: options.userId }, { onWarning: options.onWarning });
    this.client = new RunComfyClient({
      baseUrl: options.apiUrl,
      baseUrlSource: options.apiUrlSource,
      userId: options.userId,
      getToken: options.getToken,
      bucket,
      clock,
      onRetry: options.onRetry,
    });
    this.machines = this._register(new MachineStore(this.client, clock, { slowIntervalMs: options.slowPollMs }));
    this.workflows = this._register(new WorkflowCatalog(this.client));
  }

  get userId(): string {
    return this.options.userId;
  }
}
