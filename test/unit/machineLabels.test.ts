import * as assert from 'node:assert';
import { parseMachine } from '../../src/api/runcomfyTypes';
import { formatShortDuration, machineContextValue, machineDescription, machineDetails, machineIcon, machineRowDescription, machineShortId } from '../../src/core/machineLabels';

const ready = parseMachine(
  {
    server_id: '761af3a7-5ac3-459c-8158-e9cb36a2d87a',
    estimated_duration: 3600,
    server_type: 'large',
    user_id: 'u',
    main_service_url: 'https://761af3a7-5ac3-459c-8158-e9cb36a2d87a-comfyui.runcomfy.com',
    current_status: 'Ready',
    service_ready_at: '2024-11-08T05:00:00.000000Z',
    estimated_stopping_at: '2024-11-08T06:00:00.000000Z',
    region: 'eu-west',
    debug_url: 'https://secret-capability.example.com/x',
  },
  'test',
);
const at = (iso: string) => Date.parse(iso);

describe('machine labels', () => {
  it('starts a row with status and time left, short enough for a default-width sidebar', () => {
    const row = machineRowDescription(ready, at('2024-11-08T05:18:00Z'));
    assert.strictEqual(row, 'Ready · 42 min left');
    // About 35 characters fit beside the icon at the default sidebar width: label, gap, description.
    assert.ok(`${machineShortId(ready)}  ${row}`.length <= 35);
  });

  it('describes a Ready machine for quick picks: the row first, then cost so far and type', () => {
    // 18 minutes after Ready at $1.75/h = $0.525; 42 minutes left.
    assert.strictEqual(machineDescription(ready, at('2024-11-08T05:18:00Z')), 'Ready · 42 min left · ~$0.53 · large');
  });

  it('formats durations compactly', () => {
    assert.deepStrictEqual([59_999, 60_000, 3_599_000, 3_900_000].map(formatShortDuration), ['59 s', '1 min', '59 min', '1 h 05 min']);
  });

  it('describes a Starting machine without figures it does not have yet', () => {
    const starting = parseMachine({ server_id: 'a-b', server_type: 'medium', current_status: 'Starting', main_service_url: null }, 'test');
    assert.strictEqual(machineRowDescription(starting, Date.now()), 'Starting');
    assert.strictEqual(machineDescription(starting, Date.now()), 'Starting · medium');
    assert.strictEqual(machineIcon(starting).id, 'loading~spin');
    assert.strictEqual(machineContextValue(starting), 'machine starting stoppable');
  });

  it('gives menu tokens by status, and none but Stop to an unknown status', () => {
    assert.strictEqual(machineContextValue(ready), 'machine ready extendable stoppable openable');
    const deleting = parseMachine({ ...ready.wire, current_status: 'Deleting' }, 'test');
    assert.strictEqual(machineContextValue(deleting), 'machine deleting');
    assert.strictEqual(machineRowDescription(deleting, at('2024-11-08T05:18:00Z')), 'Deleting', 'no time left while billing ends');
    const odd = parseMachine({ ...ready.wire, current_status: 'Hibernating' }, 'test');
    assert.strictEqual(machineContextValue(odd), 'machine unknownStatus stoppable');
    assert.strictEqual(odd.status, 'Hibernating');
  });

  it('lists status, time and money first in the details, times local with UTC beside them', () => {
    const rows = machineDetails(ready, at('2024-11-08T05:18:00Z'), undefined, { locale: 'en-GB', timeZone: 'Asia/Kolkata' });
    assert.deepStrictEqual(rows.slice(0, 5).map(([k]) => k), ['Status', 'Time left', 'Stops at', 'Cost so far', 'Cost if it runs to the end']);
    const byName = new Map(rows);
    assert.strictEqual(byName.get('Stops at'), '11:30 (2024-11-08 06:00:00 UTC)');
    assert.strictEqual(byName.get('Ready since'), '10:30 (2024-11-08 05:00:00 UTC)');
    assert.strictEqual(byName.get('Cost so far'), '~$0.53');
    assert.strictEqual(byName.get('Type'), 'large (Large, A10G / A5000, 24 GB VRAM)');
  });

  it('lists every field in the details, unknown ones included, with every URL masked', () => {
    const rows = new Map(machineDetails(ready, at('2024-11-08T05:18:00Z')));
    assert.strictEqual(rows.get('ComfyUI'), 'https://761a….runcomfy.com');
    assert.strictEqual(rows.get('region'), 'eu-west');
    assert.strictEqual(rows.get('debug_url'), 'https://secr….example.com');
    assert.strictEqual(rows.get('Cost if it runs to the end'), '~$1.75');
    const all = JSON.stringify([...rows]);
    assert.ok(!all.includes('e9cb36a2d87a-comfyui'), 'the ComfyUI URL leaked unmasked');
  });
});
