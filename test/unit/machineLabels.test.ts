import * as assert from 'node:assert';
import { parseMachine } from '../../src/api/runcomfyTypes';
import { formatShortDuration, machineContextValue, machineDescription, machineDetails, machineIcon } from '../../src/core/machineLabels';

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
  it('describes a Ready machine with type, status, time left and cost so far', () => {
    // 18 minutes after Ready at $1.75/h = $0.525; 42 minutes left.
    assert.strictEqual(machineDescription(ready, at('2024-11-08T05:18:00Z')), 'large · Ready · 42 min left · ~$0.53');
  });

  it('formats durations compactly', () => {
    assert.deepStrictEqual([59_999, 60_000, 3_599_000, 3_900_000].map(formatShortDuration), ['59 s', '1 min', '59 min', '1 h 05 min']);
  });

  it('describes a Starting machine without figures it does not have yet', () => {
    const starting = parseMachine({ server_id: 'a-b', server_type: 'medium', current_status: 'Starting', main_service_url: null }, 'test');
    assert.strictEqual(machineDescription(starting, Date.now()), 'medium · Starting');
    assert.strictEqual(machineIcon(starting).id, 'loading~spin');
    assert.strictEqual(machineContextValue(starting), 'machine starting stoppable');
  });

  it('gives menu tokens by status, and none but Stop to an unknown status', () => {
    assert.strictEqual(machineContextValue(ready), 'machine ready extendable stoppable openable');
    const deleting = parseMachine({ ...ready.wire, current_status: 'Deleting' }, 'test');
    assert.strictEqual(machineContextValue(deleting), 'machine deleting');
    const odd = parseMachine({ ...ready.wire, current_status: 'Hibernating' }, 'test');
    assert.strictEqual(machineContextValue(odd), 'machine unknownStatus stoppable');
    assert.strictEqual(odd.status, 'Hibernating');
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
