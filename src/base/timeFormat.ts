/**
 * How times are written for people, in one place: local time in the user's locale in labels,
 * descriptions, notifications, the run log and the CLI's human output; UTC only beside it in a
 * tooltip, always labelled "UTC". Files and `--json` keep ISO 8601 UTC (`toISOString`) instead.
 */

/** The locale and time zone to write in; the user's (the Intl defaults) unless a caller fixes them, as tests do. */
export interface TimeZoneOptions {
  /** A BCP 47 locale such as `en-GB`. */
  readonly locale?: string;
  /** An IANA time zone such as `Asia/Kolkata`. */
  readonly timeZone?: string;
}

/** Options of {@link formatLocalTime}. */
export interface LocalTimeOptions extends TimeZoneOptions {
  /** Show seconds too (`14:05:09`): for the log, where events are seconds apart. */
  readonly seconds?: boolean;
  /** Now, on the caller's clock: a moment on this day (in the zone) is written without its date. */
  readonly nowMs?: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Intl formatters are slow to build and a tree redraws often: one per locale, zone and shape. */
function format(zone: TimeZoneOptions, shape: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = JSON.stringify([zone.locale, zone.timeZone, shape]);
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(zone.locale, { ...shape, timeZone: zone.timeZone });
    formats.set(key, f);
  }
  return f;
}

const dateShape: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric' };

/**
 * A moment on the user's clock: `28 Nov 2026, 15:40` (`Nov 28, 2026, 3:40 PM` in en-US), and only
 * `15:40` when it falls on the day of `options.nowMs`; with seconds when asked.
 */
export function formatLocalTime(ms: number, options: LocalTimeOptions = {}): string {
  const time: Intl.DateTimeFormatOptions = options.seconds ? { hour: 'numeric', minute: '2-digit', second: '2-digit' } : { hour: 'numeric', minute: '2-digit' };
  const day = format(options, dateShape);
  const today = options.nowMs !== undefined && day.format(ms) === day.format(options.nowMs);
  return format(options, today ? time : { ...dateShape, ...time }).format(ms);
}

/** `2026-11-28 10:10:12 UTC`: only beside the local time, in a tooltip, for comparing with server logs. */
export function formatUtcTime(ms: number): string {
  return `${new Date(Math.floor(ms)).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The local time and after it the same moment in UTC, `15:40 (2026-11-28 10:10:12 UTC)`: for tooltips. */
export function formatTooltipTime(ms: number, options: LocalTimeOptions = {}): string {
  return `${formatLocalTime(ms, options)} (${formatUtcTime(ms)})`;
}

/**
 * Time taken, compact enough for a log column: `0.4s`, `12.4s`, `1m05s`, `1h02m05s`. Tenths only under
 * a minute, rounded down, so the shown time has always passed.
 */
export function formatElapsed(ms: number): string {
  const tenths = Math.floor(Math.max(0, ms) / 100);
  if (tenths < 600) return `${Math.floor(tenths / 10)}.${tenths % 10}s`;
  const totalS = Math.floor(tenths / 10);
  const two = (n: number) => String(n).padStart(2, '0');
  const s = totalS % 60;
  const totalMin = Math.floor(totalS / 60);
  if (totalMin < 60) return `${totalMin}m${two(s)}s`;
  return `${Math.floor(totalMin / 60)}h${two(totalMin % 60)}m${two(s)}s`;
}
