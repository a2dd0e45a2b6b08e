import { type ApiError, RateLimitedError } from '../api/errors';
import { accountTokenBucket } from '../api/fileTokenBucket';
import { RunComfyClient, type RetryNotice } from '../api/runcomfyClient';
import { parseApiBaseUrl } from '../api/tokenPolicy';
import { formatDuration } from '../core/machineMath';
import { type CliContext, type OptionValues } from './cli';
import { resolveRunComfyConfig, type RunComfyCliConfig } from './env';

/** What a command may change about its client. */
export interface CliClientOptions {
  /** How long 429s are retried: the command's `--timeout` when it has one; default 60 s. */
  readonly rateLimitBudgetMs?: number;
}

/**
 * The one place the CLI builds its RunComfy client: the configuration from the environment and the
 * flags, the account's rate-limit bucket (a file in the cache folder that every `runcomfy` process
 * and editor window of the user shares), and every retry told on stderr, so a command that waits
 * says why.
 */
export function cliClient(ctx: CliContext, values: OptionValues, options: CliClientOptions = {}): { client: RunComfyClient; config: RunComfyCliConfig } {
  const config = resolveRunComfyConfig(ctx.env, values);
  const apiOrigin = parseApiBaseUrl(config.apiUrl, config.apiUrlSource).origin;
  const client = new RunComfyClient({
    baseUrl: config.apiUrl,
    baseUrlSource: config.apiUrlSource,
    userId: config.userId,
    getToken: () => Promise.resolve(config.token),
    bucket: accountTokenBucket({ apiOrigin, userId: config.userId }, { env: ctx.env, onWarning: (m) => ctx.progress(`Warning: ${m}`) }),
    retry: options.rateLimitBudgetMs === undefined ? undefined : { rateLimitBudgetMs: options.rateLimitBudgetMs },
    onRetry: (n) => ctx.progress(retryLine(n)),
    authAdvice: 'Check the API token and the user id (RUNCOMFY_TOKEN, and RUNCOMFY_USER_ID or --user-id).',
  });
  return { client, config };
}

/** "List machines: RunComfy is rate limiting; retrying in 2 s…", "Stop machine 761a…: HTTP 502; retrying in 1 s…". */
function retryLine(n: RetryNotice): string {
  const why = n.reason instanceof RateLimitedError ? 'RunComfy is rate limiting' : shortReason(n.reason);
  return `${n.operation}: ${why}; retrying in ${formatDuration(Math.max(1000, Math.round(n.delayMs / 1000) * 1000))}…`;
}

function shortReason(e: ApiError): string {
  return e.status === undefined ? e.message.replace(/^.*? failed: /, '').replace(/\.$/, '') : `HTTP ${e.status}`;
}
