import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type NodeClassInfo, type ObjectInfo } from '../../../src/api/comfyTypes';
import { type TextRange, type WorkflowAnalysis } from '../../../src/core/workflowAnalysis';

/** The captures of a real ComfyUI 0.3.64 server. */
export const recordingsDir = path.resolve(__dirname, '../../../../recordings/comfyui-0.3.64');

export function readRecording(name: string): string {
  return fs.readFileSync(path.join(recordingsDir, name), 'utf8');
}

export function readRecordingJson<T>(name: string): T {
  return JSON.parse(readRecording(name)) as T;
}

/**
 * Two classes the recorded workflows use but whose `/object_info` was not captured, transcribed
 * from ComfyUI 0.3.64's source (`comfy_extras/nodes_images.py` GetImageSize: one IMAGE in, three
 * INTs out; `nodes.py` ImageInvert: IMAGE in, IMAGE out). Everything else comes from the recordings.
 */
const transcribed: ObjectInfo = {
  GetImageSize: {
    input: { required: { image: ['IMAGE'] }, hidden: { unique_id: 'UNIQUE_ID' } },
    output: ['INT', 'INT', 'INT'],
    output_is_list: [false, false, false],
    output_name: ['width', 'height', 'batch_size'],
    name: 'GetImageSize',
    output_node: false,
  },
  ImageInvert: {
    input: { required: { image: ['IMAGE'] } },
    output: ['IMAGE'],
    output_is_list: [false],
    output_name: ['IMAGE'],
    name: 'ImageInvert',
    output_node: false,
  },
};

/** Every recorded `object_info_*.json`, merged, plus the two transcribed classes. */
export function recordedObjectInfo(): ObjectInfo {
  const merged: ObjectInfo = { ...transcribed };
  for (const f of fs.readdirSync(recordingsDir)) {
    if (!/^object_info_.*\.json$/.test(f)) continue;
    Object.assign(merged, readRecordingJson<Record<string, NodeClassInfo>>(f));
  }
  return merged;
}

/** A fresh temp folder, removed by the returned function. */
export function makeTempDir(prefix = 'runcomfy-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The 1-based line and column of `offset`, counted the slow, obvious way (CRLF, LF and lone CR end lines). */
export function slowPosition(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (c === '\r' && text[i + 1] === '\n') continue;
    if (c === '\n' || c === '\r') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Asserts that a range's lines and columns agree with its offsets. */
export function assertRangeConsistent(text: string, r: TextRange, what: string): void {
  const start = slowPosition(text, r.offset);
  const end = slowPosition(text, r.offset + r.length);
  assert.deepStrictEqual(
    { line: r.line, column: r.column, endLine: r.endLine, endColumn: r.endColumn },
    { line: start.line, column: start.column, endLine: end.line, endColumn: end.column },
    `${what}: line/column disagree with offset ${r.offset}+${r.length}`,
  );
}

export function textAt(text: string, r: TextRange): string {
  return text.slice(r.offset, r.offset + r.length);
}

/**
 * Checks every position an analysis gives against the text: each node key is the quoted id, each
 * class_type range holds the class, each input range holds exactly that input's value, and all
 * lines and columns agree with the offsets.
 */
export function assertPositionsMatch(text: string, analysis: WorkflowAnalysis): void {
  const doc = analysis.document as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  for (const node of analysis.nodes) {
    assert.strictEqual(JSON.parse(textAt(text, node.keyRange)), node.id, `key of node ${node.id}`);
    assertRangeConsistent(text, node.keyRange, `node ${node.id} key`);
    assert.deepStrictEqual(JSON.parse(textAt(text, node.range)), doc[node.id], `value of node ${node.id}`);
    assertRangeConsistent(text, node.range, `node ${node.id} value`);
    if (node.classTypeRange) {
      assert.strictEqual(JSON.parse(textAt(text, node.classTypeRange)), doc[node.id].class_type, `class_type of node ${node.id}`);
      assertRangeConsistent(text, node.classTypeRange, `node ${node.id} class_type`);
    }
    if (node.inputsKeyRange) {
      assert.strictEqual(textAt(text, node.inputsKeyRange), '"inputs"', `"inputs" key of node ${node.id}`);
      assertRangeConsistent(text, node.inputsKeyRange, `node ${node.id} "inputs" key`);
    }
    for (const input of node.inputs) {
      assert.deepStrictEqual(JSON.parse(textAt(text, input.valueRange)), doc[node.id].inputs[input.name], `input ${node.id}.${input.name}`);
      assertRangeConsistent(text, input.valueRange, `input ${node.id}.${input.name}`);
    }
  }
}
