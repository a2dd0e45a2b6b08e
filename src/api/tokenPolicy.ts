import { UnsafeUrlError } from './errors';
import { isLoopbackHost } from './redact';

/**
 * Where a RunComfy token may go: only to the configured API origin, over https, or over plain
 * http to a loopback host (the simulator). Checked before any connection is opened, so a bad
 * setting never leaks the token even once.
 */

/**
 * Parses a RunComfy API base URL and checks it may carry the token. `source` names where the URL
 * came from ("RUNCOMFY_API_URL", "the runcomfy.apiUrl setting") so the error says what to fix.
 * Throws `UnsafeUrlError` for anything but https, or http to localhost / 127.x / ::1.
 */
export function parseApiBaseUrl(raw: string, source = 'the API URL'): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UnsafeUrlError(`${source} "${raw}" is not a valid URL. Use an https:// URL such as https://api.runcomfy.net.`);
  }
  assertTokenMayTravel(url, source);
  return url;
}

/**
 * Throws unless `url` may receive the token: https anywhere, or http to a loopback host; never
 * with credentials embedded in the URL. `source` names the setting or variable to fix.
 */
export function assertTokenMayTravel(url: URL, source = 'the API URL'): void {
  const where = `${url.protocol}//${url.host}`;
  if (url.username || url.password) {
    throw new UnsafeUrlError(`${source} must not contain a user name or password (${where}). Remove them; the token is sent as a header.`);
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  if (url.protocol === 'http:') {
    throw new UnsafeUrlError(
      `Refusing to send the RunComfy token over plain http to ${where} (${source}): plain http is allowed only for loopback hosts (localhost, 127.0.0.1, ::1). Use https://.`,
    );
  }
  throw new UnsafeUrlError(`${source} uses ${url.protocol} (${where}); only https:// (or http:// to a loopback host) can carry the RunComfy token.`);
}

/**
 * Throws unless `target` is on the same origin as the configured `apiBase` and may carry the
 * token. Guards every request, so no code path (a redirect, a URL from a response) can send the
 * token to another host.
 */
export function assertTokenDestination(target: URL, apiBase: URL): void {
  assertTokenMayTravel(target);
  if (target.origin !== apiBase.origin) {
    throw new UnsafeUrlError(`Refusing to send the RunComfy token to ${target.origin}: it goes only to the configured API origin ${apiBase.origin}.`);
  }
}
