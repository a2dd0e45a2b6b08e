import { defaultRunComfyApiUrl } from '../api/runcomfyClient';
import { parseApiBaseUrl } from '../api/tokenPolicy';
import { type OptionValues } from './cli';
import { UsageError } from './exitCodes';

/** Everything a RunComfy command needs from the environment and the global flags. */
export interface RunComfyCliConfig {
  readonly apiUrl: string;
  /** Where `apiUrl` came from, for error messages: `--api-url`, `RUNCOMFY_API_URL` or `default`. */
  readonly apiUrlSource: string;
  readonly userId: string;
  readonly token: string;
  /** Poll interval of `--wait`, from `RUNCOMFY_POLL_INTERVAL` (seconds; default 3). */
  readonly pollIntervalMs: number;
}

/**
 * Reads `RUNCOMFY_TOKEN` (never a flag, so it stays out of shell history and process lists),
 * `RUNCOMFY_USER_ID` / `--user-id`, `RUNCOMFY_API_URL` / `--api-url` (default
 * https://api.runcomfy.net) and `RUNCOMFY_POLL_INTERVAL`. Flags win over the environment.
 * Throws UsageError naming the variable that is missing or wrong, and UnsafeUrlError (exit 2 too)
 * for a URL that would carry the token over plain http to a non-loopback host.
 */
export function resolveRunComfyConfig(env: NodeJS.ProcessEnv, values: OptionValues): RunComfyCliConfig {
  const token = env.RUNCOMFY_TOKEN?.trim();
  if (!token) {
    throw new UsageError('RUNCOMFY_TOKEN is not set: export your RunComfy API token (profile page, "API tokens") as RUNCOMFY_TOKEN. It is never taken as a flag.');
  }
  const userFlag = stringValue(values['user-id']);
  const userId = (userFlag ?? env.RUNCOMFY_USER_ID)?.trim();
  if (!userId) {
    throw new UsageError('RUNCOMFY_USER_ID is not set (or pass --user-id ID): your user id is the id in your RunComfy dashboard URL.');
  }
  const urlFlag = stringValue(values['api-url']);
  const envUrl = env.RUNCOMFY_API_URL?.trim() || undefined;
  const apiUrlSource = urlFlag !== undefined ? '--api-url' : envUrl !== undefined ? 'RUNCOMFY_API_URL' : 'default';
  const apiUrl = urlFlag ?? envUrl ?? defaultRunComfyApiUrl;
  parseApiBaseUrl(apiUrl, apiUrlSource);
  return { apiUrl, apiUrlSource, userId, token, pollIntervalMs: pollInterval(env.RUNCOMFY_POLL_INTERVAL) };
}

function pollInterval(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 3000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 300) {
    throw new UsageError(`RUNCOMFY_POLL_INTERVAL must be a number of seconds between 0.1 and 300, got "${raw}".`);
  }
  return Math.round(seconds * 1000);
}

function stringValue(v: OptionValues[string]): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return stringValue(v[v.length - 1]);
  return undefined;
}
