import * as assert from 'node:assert';
import { formatElapsed, formatLocalTime, formatTooltipTime, formatUtcTime } from '../../src/base/timeFormat';

// Zones and locales are passed, never taken from the process: these hold on any machine.
const kolkata = { locale: 'en-GB', timeZone: 'Asia/Kolkata' };
const newYork = { locale: 'en-GB', timeZone: 'America/New_York' };
const at = Date.UTC(2026, 10, 28, 10, 10, 12, 900);

describe('time formats', () => {
  it('writes local time in the given zone and locale, the date only when it is not today', () => {
    assert.strictEqual(formatLocalTime(at, { ...kolkata, nowMs: at }), '15:40', 'Kolkata is UTC+5:30');
    assert.strictEqual(formatLocalTime(at, { ...newYork, nowMs: at }), '5:10');
    assert.strictEqual(formatLocalTime(at, { ...kolkata, nowMs: at, seconds: true }), '15:40:12');
    assert.strictEqual(formatLocalTime(at, { ...kolkata, nowMs: at + 9 * 3_600_000 }), '28 Nov 2026, 15:40', 'the next day in Kolkata');
    assert.strictEqual(formatLocalTime(at, { ...newYork, nowMs: at + 9 * 3_600_000 }), '5:10', 'still the same day in New York');
    assert.strictEqual(formatLocalTime(at, kolkata), '28 Nov 2026, 15:40', 'without a now, always with the date');
    assert.strictEqual(formatLocalTime(at, { locale: 'en-US', timeZone: 'Asia/Kolkata', nowMs: at }).replace(/\s/g, ' '), '3:40 PM', 'in the locale\'s own style');
  });

  it('writes UTC only labelled, and beside the local time in tooltips', () => {
    assert.strictEqual(formatUtcTime(at), '2026-11-28 10:10:12 UTC');
    assert.strictEqual(formatTooltipTime(at, { ...kolkata, nowMs: at }), '15:40 (2026-11-28 10:10:12 UTC)');
  });

  it('writes elapsed time compactly, rounded down', () => {
    assert.deepStrictEqual(
      [0, 99, 12_499, 59_999, 60_000, 65_900, 3_599_999, 3_725_000].map(formatElapsed),
      ['0.0s', '0.0s', '12.4s', '59.9s', '1m00s', '1m05s', '59m59s', '1h02m05s'],
    );
  });
});
