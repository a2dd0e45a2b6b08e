import * as assert from 'node:assert';
import { SweepLedger } from '../../src/core/sweep/sweepLedger';
import { ManualClock } from './helpers/runcomfyTestKit';

describe('sweep budget ledger (ManualClock)', () => {
  it('bills a launched machine from service_ready_at until its stop landed, at its rate', async () => {
    const clock = new ManualClock();
    const ledger = new SweepLedger(clock, { maxCostUsd: undefined });
    ledger.launched('m1', 3.6);
    await clock.advance(60_000);
    assert.strictEqual(ledger.costUsd(), 0, 'booting is not billed');
    ledger.ready('m1', clock.now());
    await clock.advance(1000_000);
    assert.strictEqual(ledger.costUsd(), 1); // 3.6 $/h × 1000 s
    ledger.stopped('m1');
    await clock.advance(1000_000);
    assert.strictEqual(ledger.costUsd(), 1, 'nothing after the stop landed');
    assert.strictEqual(ledger.mustWindDown(), false, 'no cap, no wind-down');
  });

  it('winds down while the stops can still land within the cap, and refuses a launch it cannot keep running', async () => {
    const clock = new ManualClock();
    // $1 per second; a stop may take 2 s to land.
    const ledger = new SweepLedger(clock, { maxCostUsd: 10, stopMarginMs: 2000 });
    assert.ok(ledger.canLaunch(3600, 5000), '5 s useful + 2 s margin = $7 fits in $10');
    assert.ok(!ledger.canLaunch(3600, 9000), '9 s + 2 s = $11 does not');
    ledger.launched('m1', 3600);
    ledger.ready('m1', clock.now());
    await clock.advance(7000);
    assert.strictEqual(ledger.mustWindDown(), false, '$7 + $2 margin < $10');
    assert.ok(!ledger.canLaunch(3600, 1000), 'a second machine would overrun: 7 + 2 + (1 + 2) > 10');
    await clock.advance(1000);
    assert.strictEqual(ledger.mustWindDown(), true, '$8 + $2 margin reaches the cap');
    await clock.advance(1500);
    ledger.stopped('m1');
    assert.ok(ledger.costUsd() <= 10, `the stop landed within the margin: $${ledger.costUsd()}`);
    assert.deepStrictEqual(
      ledger.snapshot().map((m) => m.serverId),
      ['m1'],
    );
  });

  it('never bills a ready time in the future of its clock', async () => {
    const clock = new ManualClock();
    const ledger = new SweepLedger(clock, { maxCostUsd: 1 });
    ledger.launched('m1', 3600);
    ledger.ready('m1', clock.now() + 60_000);
    assert.strictEqual(ledger.costUsd(), 0);
    await clock.advance(500);
    assert.strictEqual(ledger.costUsd(), 0.5);
  });
});
