import { accountTokenBucket } from '../api/fileTokenBucket';
import { RunComfyClient, type RetryNotice, type RunComfyClientOptions } from '../api/runcomfyClient';
import { parseApiBaseUrl } from '../api/tokenPolicy';
import { type Clock, systemClock } from '../base/clock';
import { DisposableObject } from '../base/lifecycle';
import { MachineStore } from './machineStore';
import { type MoneyOperations } from './moneyOperations';
import { WorkflowCatalog } from './workflowCatalog';

/** What an account needs to talk to the API. */
export interface AccountOptions {
  readonly apiUrl: string;
  /** Names where `apiUrl` came from, for errors ("the runcomfy.apiUrl setting"). */
  readonly apiUrlSource: string;
  readonly userId: string;
  /** Read for every request, so signing out takes effect at once. */
  readonly getToken: () => Promise<string | undefined>;
  /**
   * The token of launches and stops, which outlive the account (a stop confirmed before a sign-out
   * or a settings change still lands). Read for every attempt; default `getToken`.
   */
  readonly getMoneyToken?: () => Promise<string | undefined>;
  /** The record of money operations in flight, shared by the accounts of a window. */
  readonly money?: MoneyOperations;
  /** Poll interval while nothing changes and someone watches. */
  readonly slowPollMs: number;
  readonly clock?: Clock;
  readonly onRetry?: (notice: RetryNotice) => void;
  /** Told when the rate-limit state cannot be shared with other windows (requests are then paced per window). */
  readonly onWarning?: (message: string) => void;
  /** The next step named in errors about the token (`RunComfyClientOptions.authAdvice`). */
  readonly authAdvice?: string;
  /**
   * How the clients pace, time out and retry; default the client's own defaults, with the account's
   * bucket shared by every window and CLI run of the user (`accountTokenBucket`).
   */
  readonly client?: AccountClientOptions;
}

/** The client options an account's owner may choose (tests: a bucket of their own, short backoffs). */
export type AccountClientOptions = Pick<RunComfyClientOptions, 'bucket' | 'timeoutMs' | 'retry' | 'launchReconcile'>;

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
      options.client?.bucket ??
      accountTokenBucket({ apiOrigin: parseApiBaseUrl(options.apiUrl, options.apiUrlSource).origin, userId: options.userId }, { onWarning: options.onWarning });
    const client = (getToken: () => Promise<string | undefined>) =>
      new RunComfyClient({
        ...options.client,
        baseUrl: options.apiUrl,
        baseUrlSource: options.apiUrlSource,
        userId: options.userId,
        getToken,
        bucket,
        clock,
        onRetry: options.onRetry,
        authAdvice: options.authAdvice,
      });
    this.client = client(options.getToken);
    // Same origin, same user, same rate limiter: only the token getter differs (see getMoneyToken).
    const moneyApi = options.getMoneyToken ? client(options.getMoneyToken) : this.client;
    this.machines = this._register(new MachineStore(this.client, clock, { slowIntervalMs: options.slowPollMs, moneyApi, money: options.money }));
    this.workflows = this._register(new WorkflowCatalog(this.client));
  }

  get userId(): string {
    return this.options.userId;
  }
}
