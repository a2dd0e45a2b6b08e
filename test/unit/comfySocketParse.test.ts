import * as assert from 'node:assert';
import { parseBinaryMessage, parseTextMessage, type ComfyMessage } from '../../src/api/comfySocket';
import { allSocketRecordings, readRecording, rebuildBinaryFrame, recordedFrames, type RecordedFrame } from './helpers/runRecordings';

function parseFrame(f: RecordedFrame): ComfyMessage | undefined {
  return f.kind === 'text' ? parseTextMessage(JSON.stringify(f.msg)) : parseBinaryMessage(rebuildBinaryFrame(f));
}

function ofType<T extends ComfyMessage['type']>(msgs: (ComfyMessage | undefined)[], type: T): Extract<ComfyMessage, { type: T }>[] {
  return msgs.filter((m): m is Extract<ComfyMessage, { type: T }> => m?.type === type);
}

describe('ComfyUI websocket message parsing (recorded frames)', () => {
  it('parses every frame of every recording into a message of its own type', () => {
    let count = 0;
    for (const name of allSocketRecordings()) {
      for (const f of recordedFrames(name)) {
        const msg = parseFrame(f);
        assert.ok(msg, `${name}: frame not parsed: ${JSON.stringify(f).slice(0, 200)}`);
        const expected = f.kind === 'text' ? f.msg!.type : f.event_type === 3 ? 'text' : 'preview';
        assert.strictEqual(msg.type, expected, name);
        count++;
      }
    }
    assert.ok(count > 250, `only ${count} frames seen`);
  });

  it('rebuilds binary frames byte-compatible with the capture', () => {
    for (const name of allSocketRecordings()) {
      for (const f of recordedFrames(name).filter((x) => x.kind === 'binary')) {
        const frame = rebuildBinaryFrame(f);
        assert.strictEqual(frame.length, f.length, name);
        assert.strictEqual(frame.subarray(0, 16).toString('hex'), f.head_hex, name);
      }
    }
  });

  it('reads the run of workflow A as the submitter saw it (no feature flags)', () => {
    const recording = readRecording<{ frames: RecordedFrame[] }>('ws_run_a_client_legacy.json');
    const msgs = recording.frames.map(parseFrame);
    const promptId = '420a8392-61a4-417a-be6a-f487b193f1f6';
    const first = msgs[0];
    assert.deepStrictEqual(first, { type: 'status', queueRemaining: 0, sid: 'a0829add-43e6-4887-ac10-0c9bcc81c0d9' });
    assert.deepStrictEqual(
      ofType(msgs, 'executing').map((m) => m.node),
      ['1', '2', '7', '3', '4', '5', '6', null],
    );
    assert.ok(ofType(msgs, 'executing').every((m) => m.promptId === promptId));
    assert.deepStrictEqual(ofType(msgs, 'progress').map((m) => [m.node, m.value, m.max]), [
      ['7', 0, 2],
      ['7', 1, 2],
    ]);
    const previews = ofType(msgs, 'preview');
    assert.strictEqual(previews.length, 2);
    assert.strictEqual(previews[0].mime, 'image/png');
    assert.strictEqual(previews[0].promptId, undefined, 'type-1 previews carry no prompt id');
    assert.strictEqual(previews[0].image.subarray(0, 4).toString('hex'), '89504e47');
    const saved = ofType(msgs, 'executed').find((m) => m.node === '4');
    assert.deepStrictEqual(saved?.output.images, [
      { filename: 'api_test_00001_.png', subfolder: 'research', type: 'output' },
      { filename: 'api_test_00002_.png', subfolder: 'research', type: 'output' },
    ]);
    assert.deepStrictEqual(ofType(msgs, 'text'), [{ type: 'text', nodeId: '5', text: 'width: 128, height: 96\n batch size: 2' }]);
    assert.strictEqual(ofType(msgs, 'execution_success')[0]?.promptId, promptId);
    const states = ofType(msgs, 'progress_state');
    assert.deepStrictEqual(states.at(-1)?.nodes['6'], { value: 1, max: 1, state: 'finished', displayNodeId: '6' });
  });

  it('reads type-4 previews with their prompt and node, and the feature_flags reply', () => {
    const msgs = recordedFrames('ws_run_a_client_feature_flags.json').map(parseFrame);
    assert.deepStrictEqual(ofType(msgs, 'feature_flags')[0]?.flags, { supports_preview_metadata: true, max_upload_size: 104857600 });
    const previews = ofType(msgs, 'preview');
    assert.strictEqual(previews.length, 2);
    assert.strictEqual(previews[0].promptId, '9092746e-dfab-44e0-82cf-c97f93749565');
    assert.strictEqual(previews[0].nodeId, '7');
    assert.strictEqual(previews[0].mime, 'image/png');
    assert.strictEqual(previews[0].image.length, 388);
    assert.deepStrictEqual(ofType(msgs, 'execution_cached')[0]?.nodes, ['1', '2', '3', '4', '5', '6']);
  });

  it('keeps preview bytes as a view into the frame instead of copying them', () => {
    const frame = rebuildBinaryFrame(recordedFrames('ws_run_a_client_feature_flags.json').find((f) => f.event_type === 4)!);
    const msg = parseBinaryMessage(frame);
    assert.ok(msg?.type === 'preview');
    assert.strictEqual(msg.image.buffer, frame.buffer);
    frame[frame.length - 1] ^= 0xff;
    assert.strictEqual(msg.image[msg.image.length - 1], frame[frame.length - 1]);
  });

  it('reads an execution error with node, type, message and traceback', () => {
    const msgs = recordedFrames('ws_runtime_execution_error.json').map(parseFrame);
    const [err] = ofType(msgs, 'execution_error');
    assert.ok(err);
    assert.strictEqual(err.nodeId, '2');
    assert.strictEqual(err.nodeType, 'SaveImage');
    assert.strictEqual(err.exceptionType, 'Exception');
    assert.match(err.exceptionMessage, /Saving image outside the output folder is not allowed/);
    assert.ok(err.traceback.length >= 3);
    assert.deepStrictEqual(ofType(msgs, 'executing').at(-1), { type: 'executing', promptId: err.promptId, node: null, displayNode: undefined });
  });

  it('reads an interrupt and the executing replay without prompt id after a reconnect', () => {
    const interrupted = ofType(recordedFrames('ws_queue_interrupt_client.json').map(parseFrame), 'execution_interrupted');
    assert.ok(interrupted.length >= 1);
    assert.strictEqual(interrupted[0].nodeType, 'ImageBlur');
    assert.deepStrictEqual(interrupted[0].executed, ['1', '20']);
    const after = readRecording<{ after_reconnect: RecordedFrame[] }>('ws_reconnect_mid_run.json').after_reconnect.map(parseFrame);
    assert.strictEqual(after[0]?.type === 'status' && after[0].sid, 'reconnect-1f6500e1');
    assert.deepStrictEqual(after[1], { type: 'executing', promptId: undefined, node: '20', displayNode: undefined });
  });

  it('ignores unknown, malformed and truncated frames', () => {
    assert.strictEqual(parseTextMessage('{"type":"crystools.monitor","data":{"cpu_utilization":3}}'), undefined);
    assert.strictEqual(parseTextMessage('not json'), undefined);
    assert.strictEqual(parseTextMessage('[1,2]'), undefined);
    assert.strictEqual(parseTextMessage('{"type":"executed","data":{"node":"1"}}'), undefined, 'executed without prompt id');
    const unknown = Buffer.alloc(12);
    unknown.writeUInt32BE(2, 0);
    assert.strictEqual(parseBinaryMessage(unknown), undefined);
    assert.strictEqual(parseBinaryMessage(Buffer.from([0, 0, 0, 1])), undefined);
    const truncated = Buffer.alloc(10);
    truncated.writeUInt32BE(4, 0);
    truncated.writeUInt32BE(500, 4);
    assert.strictEqual(parseBinaryMessage(truncated), undefined);
    const jpeg = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from([0xff, 0xd8, 0xff])]);
    const msg = parseBinaryMessage(jpeg);
    assert.ok(msg?.type === 'preview');
    assert.strictEqual(msg.mime, 'image/jpeg');
  });
});
