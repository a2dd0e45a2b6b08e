/**
 * Masking for anything that reaches a log, a tooltip or an error message. A ComfyUI URL of a
 * RunComfy machine is a bearer capability (anyone holding it can use the machine), so only
 * enough of it to tell machines apart is ever shown.
 */

/** `https://761af3a7-5ac3-…-comfyui.runcomfy.com/x` → `https://761a…(masked).runcomfy.com`. Loopback URLs are not secret and stay whole. */
export function maskUrl(url: string | null | undefined): string {
  if (!url) return '';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(invalid URL)';
  }
  if (isLoopbackHost(u.hostname)) return `${u.protocol}//${u.host}`;
  const labels = u.hostname.split('.');
  const first = labels[0] ?? '';
  const rest = labels.slice(1).join('.');
  const shown = first.length > 4 ? `${first.slice(0, 4)}…` : '…';
  return `${u.protocol}//${shown}${rest ? `.${rest}` : ''}`;
}

/** Replaces every occurrence of each secret (of 4+ characters) in `text` with `***`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('***');
  }
  return out;
}

/** True for `localhost`, `127.0.0.0/8` and `::1`: the only hosts plain http may carry a token to. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}
