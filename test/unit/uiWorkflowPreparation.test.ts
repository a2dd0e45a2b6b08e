import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ObjectInfo } from '../../src/api/comfyTypes';
import { convertUiWorkflow } from '../../src/core/convert/convertUiWorkflow';
import { uiNodePathOf, uiNodeRange } from '../../src/core/uiNodeRanges';
import { workflowFolderPolicy } from '../../src/core/inputPolicy';
import { analyzeWorkflow } from '../../src/core/workflowAnalysis';
import { prepareWorkflow, uiPromptForTarget } from '../../src/core/workflowPreparation';
import { recordedObjectInfo, writtenObjectInfo } from '../../src/simulator/comfy/objectInfo';
import { mediaFile } from './helpers/mediaSamples';

/** The ComfyUI simulator's node list: recorded 0.3.64 entries and its own classes. */
const objectInfo = { ...Object.fromEntries(recordedObjectInfo()), ...writtenObjectInfo } as unknown as ObjectInfo;

/** What ComfyUI's Save writes for LoadImage → ImageInvert → SaveImage, with a note. */
function uiWorkflow(image: string, invertClass = 'ImageInvert'): Record<string, unknown> {
  return {
    last_node_id: 4,
    last_link_id: 2,
    nodes: [
      { id: 1, type: 'LoadImage', mode: 0, order: 0, inputs: [], outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [1] }, { name: 'MASK', type: 'MASK', links: null }], properties: {}, widgets_values: [image, 'image'] },
      { id: 2, type: invertClass, mode: 0, order: 1, title: 'Flip it', inputs: [{ name: 'image', type: 'IMAGE', link: 1 }], outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [2] }], properties: {}, widgets_values: [] },
      { id: 3, type: 'SaveImage', mode: 0, order: 2, inputs: [{ name: 'images', type: 'IMAGE', link: 2 }], outputs: [], properties: {}, widgets_values: ['inverted/out'] },
      { id: 4, type: 'Note', mode: 0, order: 3, inputs: [], outputs: [], properties: {}, widgets_values: ['a note'] },
    ],
    links: [
      [1, 1, 0, 2, 0, 'IMAGE'],
      [2, 2, 0, 3, 0, 'IMAGE'],
    ],
    version: 0.4,
  };
}

describe('UI-format workflows prepared for a target', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-prep-'));
    fs.mkdirSync(path.join(dir, 'flows'));
    file = path.join(dir, 'flows', 'invert.json');
    mediaFile(path.join(dir, 'flows', 'photo.png'), 'png');
    mediaFile(path.join(dir, 'outside.png'), 'png');
  });

  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('cannot be queued without a node list to convert against', () => {
    const prepared = prepareWorkflow(JSON.stringify(uiWorkflow('photo.png')), file, [], 'flows/invert.json');
    assert.equal(prepared.prompt, undefined);
    assert.equal(prepared.convertedFrom, undefined);
    assert.match(prepared.problems[0], /^flows\/invert\.json:\d+:\d+: This is a ComfyUI editor workflow/);
  });

  it('converts against the target, then finds its local inputs as in an API file', () => {
    const graph = uiWorkflow('photo.png');
    const prepared = prepareWorkflow(JSON.stringify(graph, null, 2), file, [], 'flows/invert.json', undefined, { objectInfo, where: 'Desk GPU' });
    assert.deepEqual(prepared.problems, []);
    assert.equal(prepared.convertedFrom, 'ui');
    assert.deepEqual(prepared.prompt, convertUiWorkflow(graph, objectInfo).prompt);
    assert.deepEqual(Object.keys(prepared.prompt ?? {}).sort(), ['1', '2', '3'], 'the note is left out');
    assert.deepEqual(prepared.localInputs, [{ nodeId: '1', inputName: 'image', absPath: path.join(dir, 'flows', 'photo.png'), value: 'photo.png' }]);
  });

  it('carries the dynamic-prompt choices the conversion made, for run.json', () => {
    const withPrompt = {
      ...objectInfo,
      Caption: { input: { required: { text: ['STRING', { multiline: true, dynamicPrompts: true }] } }, output: [], name: 'Caption', display_name: 'Caption', output_node: true },
    } as unknown as ObjectInfo;
    const graph = {
      nodes: [{ id: 5, type: 'Caption', mode: 0, order: 0, inputs: [], outputs: [], properties: {}, widgets_values: ['a {red|blue} fox'] }],
      links: [],
      version: 0.4,
    };
    const prepared = prepareWorkflow(JSON.stringify(graph), file, [], 'flows/caption.json', undefined, { objectInfo: withPrompt, where: 'Desk GPU', random: () => 0.9 });
    assert.deepEqual(prepared.problems, []);
    assert.deepEqual(prepared.dynamicPrompts, [{ nodeId: '5', input: 'text', template: 'a {red|blue} fox', text: 'a blue fox' }]);
    assert.equal(prepared.prompt?.['5'].inputs.text, 'a blue fox');
  });

  it('refuses an input the policy refuses, exactly as for an API file, at the node in the file', () => {
    const text = JSON.stringify(uiWorkflow('../outside.png'), null, 2);
    const prepared = prepareWorkflow(text, file, [], 'flows/invert.json', undefined, { objectInfo, where: 'Desk GPU' });
    assert.equal(prepared.prompt, undefined);
    assert.deepEqual(prepared.localInputs, []);
    const line = text.split('\n').findIndex((l) => l.includes('"type": "LoadImage"')) + 1;
    const column = text.split('\n')[line - 1].indexOf('"LoadImage"') + 1;
    assert.ok(prepared.problems[0].startsWith(`flows/invert.json:${line}:${column}: Node 1 (LoadImage), input "image": "../outside.png"`), prepared.problems[0]);
    assert.equal(prepared.locate(prepared.analysis.problems[0]), prepared.problems[0], 'the CLI locates a problem as the editor does');
  });

  it('finds the files its upload nodes name without a node list, on the node in the file, as an API file\'s', () => {
    const graph = uiWorkflow('photo.png');
    const text = JSON.stringify(graph, null, 2);
    const analysis = analyzeWorkflow(text, { fileDir: path.join(dir, 'flows'), inputPolicy: workflowFolderPolicy(file) });
    assert.equal(analysis.format, 'ui');
    assert.deepEqual(
      analysis.localFiles.map((f) => [f.nodeId, f.classType, f.inputName, f.value, f.absPath, f.verdict.allowed]),
      [['1', 'LoadImage', 'image', 'photo.png', path.join(dir, 'flows', 'photo.png'), true]],
    );
    assert.equal(text.slice(analysis.localFiles[0].valueRange.offset, analysis.localFiles[0].valueRange.offset + analysis.localFiles[0].valueRange.length), '"LoadImage"');

    const refused = analyzeWorkflow(JSON.stringify(uiWorkflow('../outside.png')), { fileDir: path.join(dir, 'flows'), inputPolicy: workflowFolderPolicy(file) });
    assert.equal(refused.localFiles[0]?.verdict.allowed, false);
    assert.ok(refused.problems.some((p) => p.code === 'input_not_allowed' && p.nodeId === '1'), 'the refusal is a problem at the node');

    (graph.nodes as { mode: number }[])[0].mode = 4;
    assert.deepEqual(analyzeWorkflow(JSON.stringify(graph), { fileDir: path.join(dir, 'flows') }).localFiles, [], 'a bypassed loader uploads nothing');
  });

  it('names the file as converted for a problem of no node', () => {
    const prepared = prepareWorkflow(JSON.stringify(uiWorkflow('photo.png')), file, [], 'flows/invert.json', undefined, { objectInfo, where: 'Desk GPU' });
    assert.equal(prepared.locate({ severity: 'error', code: 'syntax_error', message: 'Something is off.', range: { offset: 0, length: 1, line: 9, column: 9, endLine: 9, endColumn: 10 } }), 'flows/invert.json (converted from the UI format): Something is off.');
  });

  it('says which classes the target lacks, and where they are in the file', () => {
    const prepared = prepareWorkflow(JSON.stringify(uiWorkflow('photo.png', 'FancyInvert')), file, [], 'flows/invert.json', undefined, { objectInfo, where: 'Desk GPU' });
    assert.equal(prepared.prompt, undefined);
    assert.equal(prepared.conversionError?.kind, 'missingClasses');
    assert.deepEqual(prepared.conversionError?.missing.map((m) => [m.nodeId, m.classType, m.path]), [['2', 'FancyInvert', 'nodes[1]']]);
    assert.match(prepared.problems[0], /^flows\/invert\.json: 1 node class unknown to Desk GPU:\n {2}FancyInvert: node 2 "Flip it" at nodes\[1\]/);
  });

  it('uiPromptForTarget is the converter with its warnings as sentences and its dynamic-prompt choices', () => {
    const graph = uiWorkflow('photo.png');
    assert.deepEqual(uiPromptForTarget(graph, { objectInfo, where: 'x' }), { prompt: convertUiWorkflow(graph, objectInfo).prompt, warnings: [], dynamicPrompts: [] });
  });
});

describe('uiNodeRange', () => {
  const text = JSON.stringify(uiWorkflow('photo.png', 'FancyInvert'), null, 2);

  it('points at the "type" of the node a JSON path names', () => {
    const r = uiNodeRange(text, 'nodes[1]');
    assert.ok(r);
    assert.equal(text.slice(r.offset, r.offset + r.length), '"FancyInvert"');
    const lines = text.split('\n');
    assert.equal(lines[r.line - 1].slice(r.column - 1, r.endColumn - 1), '"FancyInvert"');
  });

  it('follows paths into subgraph definitions, and is undefined for a path that is not there', () => {
    const nested = JSON.stringify({ nodes: [], links: [], definitions: { subgraphs: [{ nodes: [{ id: 7, type: 'Inner' }] }] } }, null, 2);
    const r = uiNodeRange(nested, 'definitions.subgraphs[0].nodes[0]');
    assert.equal(r && nested.slice(r.offset, r.offset + r.length), '"Inner"');
    assert.equal(uiNodeRange(nested, 'nodes[3]'), undefined);
  });

  it('finds the top-level node a prompt id comes from', () => {
    const graph = uiWorkflow('photo.png');
    assert.equal(uiNodePathOf(graph, '3'), 'nodes[2]');
    assert.equal(uiNodePathOf(graph, '2:5'), 'nodes[1]');
    assert.equal(uiNodePathOf(graph, '9'), undefined);
  });
});
