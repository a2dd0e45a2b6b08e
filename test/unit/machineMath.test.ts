import * as assert from 'node:assert/strict';
import { parseMachine, type Machine } from '../../src/api/runcomfyTypes';
import {
  billedMs,
  costOf,
  costSoFar,
  extendedTotalSeconds,
  formatCostEstimate,
  formatDuration,
  machineFigures,
  maxCost,
  timeLeftMs,
} from '../../src/core/machineMath';
import { createRateTable, defaultRateTable, hourlyRate, serverTypeLabel, serverTypes } from '../../src/core/pricing';

const readyAt = '2024-11-08T05:13:44.100554Z';
const readyMs = Date.UTC(2024, 10, 8, 5, 13, 44, 100) + 0.554;

function ready(type: string, duration: number): Machine {
  const stop = new Date(Math.floor(readyMs) + duration * 1000).toISOString().replace('Z', '554Z');
  return parseMachine(
    { server_id: 's', server_type: type, estimated_duration: duration, current_status: 'Ready', service_ready_at: readyAt, estimated_stopping_at: stop },
    'x',
  );
}

const starting = parseMachine({ server_id: 's', server_type: 'large', estimated_duration: 600, current_status: 'Starting', service_ready_at: null }, 'x');

describe('machine math: time and money', () => {
  it('extending by N sends the current total plus N (the API takes a total from Ready)', () => {
    assert.equal(extendedTotalSeconds(ready('large', 600), 300), 900);
    assert.equal(extendedTotalSeconds(starting, 60), 660);
    assert.throws(() => extendedTotalSeconds(ready('large', 600), 0), /positive whole number of seconds, got 0/);
    assert.throws(() => extendedTotalSeconds(ready('large', 600), 1.5), /got 1\.5/);
    assert.throws(() => extendedTotalSeconds(parseMachine({ server_id: 's' }, 'x'), 60), /does not report its estimated_duration/);
  });

  it('time left counts down to estimated_stopping_at and stops at zero', () => {
    const m = ready('large', 400);
    assert.ok(Math.abs(timeLeftMs(m, readyMs)! - 400_000) < 1e-3);
    assert.ok(Math.abs(timeLeftMs(m, readyMs + 100_000)! - 300_000) < 1e-3);
    assert.equal(timeLeftMs(m, readyMs + 999_000), 0);
    assert.equal(timeLeftMs(starting, readyMs), undefined);
  });

  it('cost so far is the hourly rate times the seconds since Ready, capped at the planned stop', () => {
    const m = ready('large', 3600);
    assert.ok(Math.abs(costSoFar(m, readyMs + 1_800_000)! - 1.75 / 2) < 1e-9);
    assert.ok(Math.abs(costSoFar(m, readyMs + 36_000_000)! - 1.75) < 1e-9, 'capped at estimated_stopping_at');
    assert.equal(costSoFar(m, readyMs - 5000), 0, 'no negative cost for a clock behind the server');
    assert.equal(costSoFar(starting, readyMs), undefined, 'Starting is not billed');
    assert.equal(costSoFar(ready('quantum-xl', 60), readyMs + 1000), undefined, 'unknown type: no made-up price');
    assert.equal(billedMs(m, readyMs + 1000), 1000);
  });

  it('max cost is the whole duration at the rate', () => {
    assert.ok(Math.abs(maxCost(ready('2xl-turbo', 7200))! - 14.98) < 1e-9);
    assert.ok(Math.abs(maxCost(starting)! - 1.75 / 6) < 1e-9);
    assert.equal(costOf(3600, 0.99), 0.99);
  });

  it('derives every figure at once, with a custom rate table', () => {
    const rates = createRateTable({ large: 1.39 });
    const f = machineFigures(ready('large', 3600), readyMs + 3_600_000, rates);
    assert.equal(f.hourlyRate, 1.39);
    assert.ok(Math.abs(f.costSoFar! - 1.39) < 1e-9);
    assert.ok(Math.abs(f.maxCost! - 1.39) < 1e-9);
    assert.equal(f.timeLeftMs, 0);
  });

  it('formats durations and estimates', () => {
    assert.equal(formatDuration(9000), '9 s');
    assert.equal(formatDuration(754_000), '12 min 34 s');
    assert.equal(formatDuration(3_725_000), '1 h 02 min');
    assert.equal(formatDuration(-5), '0 s');
    assert.equal(formatCostEstimate(0.4242), '~$0.42');
    assert.equal(formatCostEstimate(0.001), '<$0.01');
    assert.equal(formatCostEstimate(0), '~$0.00');
    assert.equal(formatCostEstimate(undefined), 'n/a');
  });
});

describe('pricing', () => {
  it('defaults to the documented pay-as-you-go prices', () => {
    assert.deepEqual(defaultRateTable, { medium: 0.99, large: 1.75, 'extra-large': 2.5, '2x-large': 4.99, '2xl-turbo': 7.49 });
    assert.deepEqual(
      serverTypes.map((t) => t.id),
      ['medium', 'large', 'extra-large', '2x-large', '2xl-turbo'],
    );
  });

  it('looks rates up without inventing any, and labels types', () => {
    assert.equal(hourlyRate('medium'), 0.99);
    assert.equal(hourlyRate('toString'), undefined, 'no prototype keys');
    assert.equal(hourlyRate(undefined), undefined);
    assert.equal(serverTypeLabel('2xl-turbo'), '2X-Large Plus');
    assert.equal(serverTypeLabel('future-type'), 'future-type');
  });

  it('overrides rates and refuses bad ones with a clear message', () => {
    const t = createRateTable({ medium: 0.79, 'x-large-plus': 2.99 });
    assert.equal(t.medium, 0.79);
    assert.equal(t['x-large-plus'], 2.99);
    assert.equal(t.large, 1.75);
    assert.throws(() => createRateTable({ large: -1 }), /hourly rate for "large" must be a non-negative number of dollars, got -1/);
    assert.throws(() => createRateTable({ large: '1.75' }), /got "1\.75"/);
  });
});
