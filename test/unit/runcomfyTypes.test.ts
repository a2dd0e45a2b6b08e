import * as assert from 'node:assert/strict';
import { ServerError } from '../../src/api/errors';
import { parseMachine, parseMachineList, parseTimestamp, parseWorkflowList } from '../../src/api/runcomfyTypes';

describe('RunComfy wire types', () => {
  describe('parseTimestamp', () => {
    it('keeps the microseconds of the documented timestamps', () => {
      const ready = parseTimestamp('2024-11-08T05:13:44.100554Z')!;
      const stop = parseTimestamp('2024-11-08T05:20:24.100554Z')!;
      assert.equal(Math.floor(ready), Date.UTC(2024, 10, 8, 5, 13, 44, 100));
      assert.ok(Math.abs(ready - Math.floor(ready) - 0.554) < 1e-3, `fraction of ${ready}`);
      assert.ok(Math.abs(stop - ready - 400_000) < 1e-3, 'estimated_stopping_at − service_ready_at is estimated_duration');
    });

    it('reads zones, missing zones (UTC) and whole seconds', () => {
      assert.equal(parseTimestamp('2025-08-01T10:00:00Z'), Date.UTC(2025, 7, 1, 10));
      assert.equal(parseTimestamp('2025-08-01T12:00:00+02:00'), Date.UTC(2025, 7, 1, 10));
      assert.equal(parseTimestamp('2025-08-01T10:00:00.5'), Date.UTC(2025, 7, 1, 10) + 500);
    });

    it('gives undefined for null, empty and unreadable values', () => {
      for (const v of [null, undefined, '', 'soon', 42]) assert.equal(parseTimestamp(v), undefined, String(v));
    });
  });

  describe('parseMachine', () => {
    it('reads the documented fields and keeps the object verbatim', () => {
      const wire = {
        server_id: '761af3a7-5ac3-459c-8158-e9cb36a2d87a',
        estimated_duration: 400,
        server_type: 'large',
        user_id: 'u1',
        main_service_url: 'https://761af3a7-5ac3-459c-8158-e9cb36a2d87a-comfyui.runcomfy.com',
        current_status: 'Ready',
        service_ready_at: '2024-11-08T05:13:44.100554Z',
        estimated_stopping_at: '2024-11-08T05:20:24.100554Z',
        some_future_field: { nested: true },
      };
      const m = parseMachine(wire, 'Get status');
      assert.equal(m.serverId, wire.server_id);
      assert.equal(m.isReady, true);
      assert.equal(m.estimatedDurationS, 400);
      assert.equal(m.serverType, 'large');
      assert.equal(m.mainServiceUrl, wire.main_service_url);
      assert.equal(m.wire, wire);
    });

    it('keeps an unknown status verbatim and treats it as not ready', () => {
      for (const status of ['Initializing', 'Stopping', 'running', 'ready']) {
        const m = parseMachine({ server_id: 's', current_status: status }, 'x');
        assert.equal(m.status, status);
        assert.equal(m.isReady, false, status);
      }
      assert.equal(parseMachine({ server_id: 's' }, 'x').status, 'Unknown');
    });

    it('reads a Starting machine with null fields', () => {
      const m = parseMachine(
        { server_id: 's', current_status: 'Starting', main_service_url: null, service_ready_at: null, estimated_stopping_at: null, estimated_duration: 600 },
        'x',
      );
      assert.equal(m.mainServiceUrl, undefined);
      assert.equal(m.serviceReadyAtMs, undefined);
      assert.equal(m.estimatedStoppingAtMs, undefined);
    });

    it('refuses an answer without server_id, naming the operation', () => {
      assert.throws(() => parseMachine({ current_status: 'Ready' }, 'Launch machine'), (e: unknown) => {
        assert.ok(e instanceof ServerError);
        assert.match(e.message, /^Launch machine failed: .*server_id/);
        return true;
      });
      assert.throws(() => parseMachine([], 'x'), ServerError);
    });
  });

  describe('parseMachineList', () => {
    it('accepts a bare array and the wrapped shapes', () => {
      const item = { server_id: 'a', current_status: 'Ready' };
      for (const raw of [[item], { servers: [item] }, { data: [item] }, { machines: [item] }]) {
        assert.deepEqual(
          parseMachineList(raw, 'List').map((m) => m.serverId),
          ['a'],
          JSON.stringify(raw),
        );
      }
    });

    it('refuses something that is not a list', () => {
      assert.throws(() => parseMachineList({ message: 'hi' }, 'List machines'), /List machines failed: the answer is not a list/);
    });
  });

  describe('parseWorkflowList', () => {
    it('groups one entry per version into workflows, newest version first', () => {
      const raw = [
        { workflow_id: 'w1', workflow_name: 'Flux', version_id: 'v1', created_at: '2025-01-01T00:00:00Z', updated_at: '2025-01-01T00:00:00Z' },
        { workflow_id: 'w2', workflow_name: 'Alpha', version_id: 'v9', updated_at: '2025-03-01T00:00:00Z' },
        { workflow_id: 'w1', workflow_name: 'Flux', version_id: 'v2', version_name: 'second', updated_at: '2025-02-01T00:00:00.123456Z' },
      ];
      const list = parseWorkflowList(raw, 'List workflows');
      assert.equal(list.entries.length, 3);
      assert.deepEqual(
        list.workflows.map((w) => [w.name, w.versions.map((v) => v.versionId), w.latestVersionId]),
        [
          ['Alpha', ['v9'], 'v9'],
          ['Flux', ['v2', 'v1'], 'v2'],
        ],
      );
      assert.equal(list.workflows[1].versions[0].versionName, 'second');
    });

    it('accepts nested versions, latest_version_id and a wrapped list', () => {
      const raw = {
        workflows: [{ workflow_id: 'w', workflow_name: 'N', latest_version_id: 'b', versions: [{ version_id: 'a' }, { version_id: 'b' }] }],
      };
      const [w] = parseWorkflowList(raw, 'x').workflows;
      assert.deepEqual(
        w.versions.map((v) => v.versionId),
        ['a', 'b'],
      );
      assert.equal(w.latestVersionId, 'b');
    });

    it('keeps entries without ids verbatim but leaves them out of the tree', () => {
      const list = parseWorkflowList([{ name: 'no id' }, 'junk'], 'x');
      assert.equal(list.entries.length, 1);
      assert.equal(list.workflows.length, 0);
    });
  });
});
