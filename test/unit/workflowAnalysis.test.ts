import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ApiPrompt, type NodeErrors, type ObjectInfo } from '../../src/api/comfyTypes';
import { checkAgainstObjectInfo } from '../../src/core/objectInfoCheck';
import { editorInputPolicy } from '../../src/core/inputPolicy';
import { analyzeWorkflow, isApiFormat, looksLikeApiWorkflow, type WorkflowProblem } from '../../src/core/workflowAnalysis';
import { assertPositionsMatch, assertRangeConsistent, makeTempDir, readRecording, readRecordingJson, recordedObjectInfo, textAt } from './helpers/workflowFixtures';
import { type MEDIA_HEADS, PRIVATE_KEY, mediaFile, writeFile } from './helpers/mediaSamples';

interface RecordedInvalid {
  request: { prompt?: ApiPrompt } | string;
}

const invalidPrompts = readRecordingJson<Record<string, RecordedInvalid>>('invalid_prompts.json');

function promptOf(name: string): ApiPrompt {
  const req = invalidPrompts[name].request;
  assert.ok(typeof req === 'object' && req.prompt, `${name} has a prompt`);
  return req.prompt;
}

function codes(problems: readonly WorkflowProblem[]): string[] {
  return problems.map((p) => `${p.severity}:${p.code}${p.nodeId === undefined ? '' : `@${p.nodeId}`}${p.inputName === undefined ? '' : `.${p.inputName}`}`);
}

describe('analyzeWorkflow', () => {
  describe('recorded workflows', () => {
    for (const file of ['workflow_a_api.json', 'workflow_b_api.json']) {
      it(`${file} analyses cleanly, with every position on the right text`, () => {
        const text = readRecording(file);
        const a = analyzeWorkflow(text);
        assert.deepStrictEqual(a.problems, []);
        assert.strictEqual(a.format, 'api');
        assert.strictEqual(a.isApiFormat, true);
        assert.deepStrictEqual(a.prompt, JSON.parse(text));
        assert.deepStrictEqual(
          a.nodes.map((n) => n.id),
          Object.keys(JSON.parse(text) as object),
        );
        assertPositionsMatch(text, a);
      });
    }

    it('records links with their target and output index', () => {
      const a = analyzeWorkflow(readRecording('workflow_a_api.json'));
      const scale = a.nodes.find((n) => n.id === '2')!;
      assert.strictEqual(scale.classType, 'ImageScale');
      assert.deepStrictEqual(
        scale.inputs.map((i) => [i.name, i.link]),
        [['image', { nodeId: '1', outputIndex: 0 }], ['upscale_method', undefined], ['width', undefined], ['height', undefined], ['crop', undefined]],
      );
    });

    it('keeps positions right in other layouts: minified, CRLF, tabs with a BOM, inputs before class_type, escaped keys', () => {
      const prompt = JSON.parse(readRecording('workflow_a_api.json')) as ApiPrompt;
      const frontendOrder = Object.fromEntries(
        Object.entries(prompt).map(([id, n]) => [id, { inputs: n.inputs, class_type: n.class_type, _meta: { title: `T${id}` } }]),
      );
      const variants: Record<string, string> = {
        minified: JSON.stringify(prompt),
        crlf: JSON.stringify(prompt, null, 2).replace(/\n/g, '\r\n'),
        loneCr: JSON.stringify(prompt, null, 1).replace(/\n/g, '\r'),
        tabsWithBom: `\uFEFF${JSON.stringify(prompt, null, '\t')}`,
        frontendOrder: JSON.stringify(frontendOrder, null, 2),
        // Written by hand: JSON.stringify would put the integer-like keys first.
        escapedKeys: '{"a\\"1": {"class_type": "Q\\\\\\"", "inputs": {"we\\\\ird \\"name\\"": 5, "10": 1, "2": ["a\\"1", 0]}}}',
        spacedColons: '{ "1" :\n {"class_type" :\n "X" ,\n "inputs"\n :\n {\n "a"\n :\n [ "1" , 0 ] } } }',
      };
      for (const [name, text] of Object.entries(variants)) {
        const a = analyzeWorkflow(text);
        assert.deepStrictEqual(codes(a.problems), [], name);
        assertPositionsMatch(text.replace(/^\uFEFF/, ' '), a);
        assert.ok(a.nodes.length > 0, name);
      }
      const fe = analyzeWorkflow(variants.frontendOrder);
      assert.strictEqual(fe.nodes[0].title, 'T1');
      const escaped = analyzeWorkflow(variants.escapedKeys);
      assert.deepStrictEqual(
        escaped.nodes[0].inputs.map((i) => i.name),
        ['we\\ird "name"', '10', '2'],
        'document order, even for integer-like names',
      );
    });

    it('gives 1-based lines and columns as an editor shows them', () => {
      const text = readRecording('workflow_a_api.json');
      const a = analyzeWorkflow(text);
      const node2 = a.nodes[1];
      // Line 11 of the file is `  "2": {`.
      assert.deepStrictEqual(
        [node2.keyRange.line, node2.keyRange.column, node2.keyRange.endLine, node2.keyRange.endColumn],
        [11, 3, 11, 6],
      );
      assert.strictEqual(text.split('\n')[10], '  "2": {');
      const link = node2.inputs[0].valueRange;
      assert.deepStrictEqual([link.line, link.endLine], [14, 17], 'a link written over four lines');
    });
  });

  describe('syntax errors', () => {
    const cases: [string, string, string, number, number][] = [
      ['a missing comma', '{"1": {"class_type": "X" "inputs": {}}}', 'Expected comma', 1, 26],
      ['a missing comma on a later line', '{\n  "1": {\n    "class_type": "X"\n    "inputs": {}\n  }\n}', 'Expected comma', 4, 5],
      ['a trailing comma', '{\n  "1": {"class_type": "X", "inputs": {},}\n}', 'Expected a property name', 2, 41],
      ['a comment', '{\n  // my workflow\n  "1": {"class_type": "X", "inputs": {}}\n}', 'Comments are not allowed', 2, 3],
      ['an unterminated string', '{"1": {"class_type": "X', 'Unterminated string', 1, 22],
      ['single quotes', "{'1': {}}", 'Unexpected character', 1, 2],
      ['CRLF line ends', '{\r\n  "1": {\r\n    "class_type": "X"\r\n    "inputs": {}\r\n  }\r\n}', 'Expected comma', 4, 5],
      ['an empty file', '', 'Expected a value', 1, 1],
      ['text after the JSON', '{}\n{}', 'Expected end of file', 2, 1],
    ];
    for (const [what, text, message, line, column] of cases) {
      it(`reports ${what} at line ${line}, column ${column}`, () => {
        const a = analyzeWorkflow(text);
        assert.strictEqual(a.format, 'invalid');
        assert.strictEqual(a.document, undefined);
        assert.strictEqual(a.prompt, undefined);
        const first = a.problems[0];
        assert.strictEqual(first.code, 'syntax_error');
        assert.strictEqual(first.severity, 'error');
        assert.ok(first.message.startsWith(message), first.message);
        assert.ok(first.message.includes(`line ${line}, column ${column}`), first.message);
        assert.deepStrictEqual([first.range.line, first.range.column], [line, column]);
        assertRangeConsistent(text, first.range, what);
      });
    }

    it('survives text nested too deep for jsonc-parser, using where JSON.parse stopped', () => {
      const deep = `${'['.repeat(200_000)}{x}`;
      const a = analyzeWorkflow(deep);
      assert.deepStrictEqual(codes(a.problems), ['error:syntax_error']);
      assert.deepStrictEqual([a.problems[0].range.line, a.problems[0].range.column], [1, 200_002]);
      assert.match(a.problems[0].message, /Expected property name .* at line 1, column 200002\. Fix the JSON/);
      // Without a position in JSON.parse's message, the end of the text is the best place to point.
      const unclosed = analyzeWorkflow(`\n${'['.repeat(200_000)}`);
      assert.deepStrictEqual([unclosed.problems[0].range.line, unclosed.problems[0].range.column], [2, 200_001]);
    });

    it('reports the recorded non-JSON body as a syntax error', () => {
      const text = invalidPrompts.invalid_json_body.request as string;
      const a = analyzeWorkflow(text);
      assert.deepStrictEqual(codes(a.problems).slice(0, 1), ['error:syntax_error']);
      assert.deepStrictEqual([a.problems[0].range.line, a.problems[0].range.column], [1, 2]);
    });
  });

  describe('format', () => {
    it('recognises the UI format and says exactly how to export the API format', () => {
      const ui = JSON.stringify(
        {
          last_node_id: 9,
          nodes: [{ id: 9, type: 'SaveImage', pos: [0, 0], widgets_values: ['ComfyUI'] }],
          links: [[1, 8, 0, 9, 0, 'IMAGE']],
          version: 0.4,
        },
        null,
        2,
      );
      const a = analyzeWorkflow(ui);
      assert.strictEqual(a.format, 'ui');
      assert.strictEqual(a.isApiFormat, false);
      assert.strictEqual(a.prompt, undefined);
      assert.deepStrictEqual(codes(a.problems), ['error:ui_format']);
      const m = a.problems[0].message;
      assert.ok(m.includes('Workflow → Export (API)'), m);
      assert.ok(m.includes('Dev mode options') && m.includes('Save (API Format)'), m);
      assert.strictEqual(textAt(ui, a.problems[0].range), '"nodes"');
    });

    it('explains a POST /prompt body saved as the workflow', () => {
      const body = JSON.stringify({ client_id: 'x', prompt: JSON.parse(readRecording('workflow_b_api.json')) as unknown });
      const a = analyzeWorkflow(body);
      assert.deepStrictEqual(codes(a.problems), ['error:request_body']);
      assert.strictEqual(textAt(body, a.problems[0].range), '"prompt"');
    });

    it('rejects a document that is not an object, and an empty one', () => {
      assert.deepStrictEqual(codes(analyzeWorkflow('[1, 2]').problems), ['error:not_an_object']);
      assert.deepStrictEqual(codes(analyzeWorkflow('"x"').problems), ['error:not_an_object']);
      const empty = analyzeWorkflow(' {\n}\n');
      assert.deepStrictEqual(codes(empty.problems), ['error:empty_workflow']);
      assert.strictEqual(empty.isApiFormat, false);
    });

    it('flags a node whose value is not an object (the recorded {"prompt": [1, 2]} body)', () => {
      const text = invalidPrompts.prompt_is_list.request as string;
      const a = analyzeWorkflow(text);
      assert.deepStrictEqual(codes(a.problems), ['error:node_not_object@prompt']);
      assert.strictEqual(a.isApiFormat, false);
    });

    it('isApiFormat and looksLikeApiWorkflow tell API files from others', () => {
      const api = readRecording('workflow_a_api.json');
      assert.strictEqual(isApiFormat(JSON.parse(api)), true);
      assert.strictEqual(looksLikeApiWorkflow(api), true);
      assert.strictEqual(looksLikeApiWorkflow(`\uFEFF${JSON.stringify(JSON.parse(api))}`), true);
      assert.strictEqual(isApiFormat({}), false);
      assert.strictEqual(isApiFormat({ '1': { class_type: 'X', inputs: {} }, '2': { inputs: {} } }), false);
      assert.strictEqual(isApiFormat([{ class_type: 'X' }]), false);
      assert.strictEqual(looksLikeApiWorkflow('{"nodes": [], "links": []}'), false);
      assert.strictEqual(looksLikeApiWorkflow('{"name": "x", "version": "1.0.0"}'), false);
      assert.strictEqual(looksLikeApiWorkflow('[{"class_type": "X"}]'), false);
    });
  });

  describe('node structure', () => {
    it('reproduces the recorded missing class_type, pointing at the node key', () => {
      const text = JSON.stringify(promptOf('missing_class_type'), null, 2);
      const a = analyzeWorkflow(text);
      assert.deepStrictEqual(codes(a.problems), ['error:missing_class_type@1']);
      assert.strictEqual(textAt(text, a.problems[0].range), '"1"');
      assert.match(a.problems[0].message, /Node 1 has no "class_type"\. Add/);
      assert.strictEqual(a.isApiFormat, false);
      assert.strictEqual(a.prompt, undefined);
    });

    it('flags bad class_type values, missing and malformed inputs, and repeated ids and inputs', () => {
      const text = [
        '{',
        '  "1": {"class_type": 5, "inputs": {}},',
        '  "2": {"class_type": "", "inputs": {}},',
        '  "3": {"class_type": "A"},',
        '  "4": {"class_type": "A", "inputs": [1]},',
        '  "5": "not a node",',
        '  "6": {"class_type": "A", "inputs": {"x": 1, "x": 2}},',
        '  "7": {"class_type": "A", "inputs": {}},',
        '  "7": {"class_type": "B", "inputs": {}}',
        '}',
      ].join('\n');
      const a = analyzeWorkflow(text);
      assert.deepStrictEqual(codes(a.problems), [
        'error:missing_class_type@1',
        'error:missing_class_type@2',
        'error:missing_inputs@3',
        'error:missing_inputs@4',
        'error:node_not_object@5',
        'warning:duplicate_input@6.x',
        'warning:duplicate_node_id@7',
      ]);
      const byCode = (c: string, node: string) => a.problems.find((p) => p.code === c && p.nodeId === node)!;
      assert.strictEqual(textAt(text, byCode('missing_class_type', '1').range), '5');
      assert.strictEqual(textAt(text, byCode('missing_inputs', '4').range), '"inputs"');
      assert.deepStrictEqual([byCode('duplicate_input', '6').range.line, byCode('duplicate_input', '6').range.column], [7, 39]);
      assert.strictEqual(byCode('duplicate_node_id', '7').range.line, 8, 'the earlier, ignored one');
      const six = a.nodes.find((n) => n.id === '6')!;
      assert.deepStrictEqual(six.inputs.map((i) => textAt(text, i.valueRange)), ['2'], 'the value JSON.parse kept');
      const seven = a.nodes.filter((n) => n.id === '7');
      assert.deepStrictEqual(seven.map((n) => [n.classType, n.keyRange.line]), [['B', 9]]);
      for (const p of a.problems) assert.match(p.message, /\. [A-Z]|: /, `says what to do: ${p.message}`);
    });

    it('sets prompt only when there are no errors (warnings allowed)', () => {
      const warnOnly = analyzeWorkflow('{"1": {"class_type": "A", "inputs": {}}, "1": {"class_type": "A", "inputs": {}}}');
      assert.deepStrictEqual(codes(warnOnly.problems), ['warning:duplicate_node_id@1']);
      assert.deepStrictEqual(warnOnly.prompt, { '1': { class_type: 'A', inputs: {} } });
    });
  });

  describe('links', () => {
    it('reproduces the recorded link to a missing node, on the link itself', () => {
      const text = JSON.stringify(promptOf('link_to_missing_node'), null, 2);
      const a = analyzeWorkflow(text);
      assert.deepStrictEqual(codes(a.problems), ['error:link_to_missing_node@2.images']);
      assert.deepStrictEqual(JSON.parse(textAt(text, a.problems[0].range)), ['99', 0]);
      assert.match(a.problems[0].message, /Node 2 \(SaveImage\), input "images": links to node 99, which is not in this workflow\. Link it/);
    });

    it('flags numeric node ids and bad output indexes, and leaves other lists alone', () => {
      const prompt = {
        '1': { class_type: 'A', inputs: {} },
        '2': {
          class_type: 'B',
          inputs: { a: [1, 0], b: ['1', -1], c: ['1', 0.5], d: ['1', 0], e: [1, 2, 3], f: ['x', 'y'], g: [] },
        },
      };
      const a = analyzeWorkflow(JSON.stringify(prompt, null, 2));
      assert.deepStrictEqual(codes(a.problems), ['error:bad_linked_input@2.a', 'error:bad_output_index@2.b', 'error:bad_output_index@2.c']);
      assert.match(a.problems[0].message, /write \["1", 0\] instead of \[1, 0\]/);
      const links = a.nodes[1].inputs.filter((i) => i.link).map((i) => i.name);
      assert.deepStrictEqual(links, ['d']);
    });
  });

  describe('local file inputs', () => {
    let tmp: ReturnType<typeof makeTempDir>;
    beforeEach(() => {
      tmp = makeTempDir();
    });
    afterEach(() => tmp.cleanup());

    const media = (rel: string, kind: keyof typeof MEDIA_HEADS) => mediaFile(path.join(tmp.dir, rel), kind);

    it('finds files named relative to the workflow file (or absolute), and only those that exist', () => {
      const wfDir = path.join(tmp.dir, 'flows');
      const cat = media('flows/inputs/cat.png', 'png');
      const clip = media('flows/clip.MP4', 'mp4');
      const song = media('flows/song.flac', 'flac');
      const mask = media('flows/masks/m.webp', 'webp');
      const up = media('shared.jpg', 'jpg');
      writeFile(path.join(wfDir, 'notes.txt'), 'notes');
      fs.mkdirSync(path.join(wfDir, 'folder.png'));
      const prompt = {
        '1': { class_type: 'LoadImage', inputs: { image: 'inputs/cat.png' } },
        '2': { class_type: 'LoadImage', inputs: { image: 'research_in.png' } },
        '3': { class_type: 'VHS_LoadVideo', inputs: { video: 'clip.MP4', frame_load_cap: 16 } },
        '4': { class_type: 'LoadAudio', inputs: { audio: 'song.flac' } },
        '5': { class_type: 'SomeCustomNode', inputs: { mask_path: 'masks/m.webp', notes: 'notes.txt', dir: 'folder.png', server_path: cat } },
        '6': { class_type: 'LoadImage', inputs: { image: '../shared.jpg' } },
        '7': { class_type: 'LoadImage', inputs: { image: 'inputs/cat.png [output]' } },
        '8': { class_type: 'LoadImage', inputs: { image: cat } },
        '10': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'inputs/cat.png' } },
        '11': { class_type: 'LoadImage', inputs: { image: 'inputs\\cat.png' } },
      };
      const text = JSON.stringify(prompt, null, 2);
      const a = analyzeWorkflow(text, { fileDir: wfDir, inputPolicy: editorInputPolicy(path.join(wfDir, 'workflow_api.json'), tmp.dir) });
      assert.deepStrictEqual(codes(a.problems), []);
      assert.deepStrictEqual(
        a.localFiles.map((f) => [f.nodeId, f.inputName, f.absPath, f.reason, f.verdict.allowed]),
        [
          ['1', 'image', cat, 'uploadInput', true],
          ['3', 'video', clip, 'uploadInput', true],
          ['4', 'audio', song, 'uploadInput', true],
          ['5', 'mask_path', mask, 'mediaPath', true],
          ['6', 'image', up, 'uploadInput', true],
          ['8', 'image', cat, 'uploadInput', true],
          ['11', 'image', cat, 'uploadInput', true],
        ],
      );
      for (const f of a.localFiles) assert.strictEqual(JSON.parse(textAt(text, f.valueRange)), f.value);
    });

    it('refuses a private file outside the allowed folder, by "..", by absolute path and through a symbolic link; nothing may be queued', function () {
      const key = writeFile(path.join(tmp.dir, 'home', '.ssh', 'id_ed25519'), PRIVATE_KEY);
      const ws = path.join(tmp.dir, 'ws');
      const wfDir = path.join(ws, 'flows');
      media('ws/flows/ok.png', 'png');
      const link = path.join(wfDir, 'inputs', 'photo.png');
      fs.mkdirSync(path.dirname(link), { recursive: true });
      try {
        fs.symlinkSync(key, link);
      } catch {
        this.skip(); // Windows without the right to make symbolic links
      }
      const text = JSON.stringify(
        {
          '1': { class_type: 'LoadImage', inputs: { image: '../../home/.ssh/id_ed25519' } },
          '2': { class_type: 'LoadImage', inputs: { image: key } },
          '3': { class_type: 'LoadImageMask', inputs: { image: 'inputs/photo.png', channel: 'alpha' } },
          '4': { class_type: 'LoadImage', inputs: { image: 'ok.png' } },
        },
        null,
        2,
      );
      const a = analyzeWorkflow(text, { fileDir: wfDir, inputPolicy: editorInputPolicy(path.join(wfDir, 'workflow_api.json'), ws) });
      assert.deepStrictEqual(codes(a.problems), ['error:input_not_allowed@1.image', 'error:input_not_allowed@2.image', 'error:input_not_allowed@3.image']);
      assert.strictEqual(a.prompt, undefined, 'a refused input leaves nothing to queue');
      const [p1, p2, p3] = a.problems;
      assert.strictEqual(
        p1.message,
        `Node 1 (LoadImage), input "image": "../../home/.ssh/id_ed25519" is not uploaded: it is not inside the workspace folder ${ws}` +
          ` (it leads to ${fs.realpathSync(key)}). Only files inside the workspace folder are uploaded: move the file into it and name it relative to the workflow.`,
      );
      assert.match(p2.message, /^Node 2 \(LoadImage\), input "image": ".*id_ed25519" is not uploaded: it is not inside the workspace folder /);
      assert.match(p3.message, /^Node 3 \(LoadImageMask\), input "image": "inputs\/photo\.png" is not uploaded: it is not inside the workspace folder .* \(it leads to .*id_ed25519\)/);
      for (const p of a.problems) assert.strictEqual(JSON.parse(textAt(text, p.range)), a.localFiles.find((f) => f.nodeId === p.nodeId)?.value, 'on the value');
      assert.deepStrictEqual(
        a.localFiles.map((f) => [f.nodeId, f.verdict.allowed ? 'allowed' : f.verdict.rule]),
        [['1', 'outside_allowed_folders'], ['2', 'outside_allowed_folders'], ['3', 'outside_allowed_folders'], ['4', 'allowed']],
      );
      // Without a policy, only the workflow's own folder is allowed.
      const byDefault = analyzeWorkflow(JSON.stringify({ '1': { class_type: 'LoadImage', inputs: { image: '../ok.png' } } }), { fileDir: path.join(wfDir, 'inputs') });
      assert.match(byDefault.problems[0]?.message ?? '', /is not uploaded: it is not inside the workflow's folder /);
    });

    it('uploads only media: refuses other files and files whose first bytes are not what their name says, without quoting them', () => {
      const wfDir = path.join(tmp.dir, 'flows');
      writeFile(path.join(wfDir, 'id_ed25519'), PRIVATE_KEY);
      writeFile(path.join(wfDir, 'key.png'), PRIVATE_KEY);
      writeFile(path.join(wfDir, 'empty.png'), '');
      mediaFile(path.join(wfDir, 'song.png'), 'flac');
      mediaFile(path.join(wfDir, 'really-a-jpeg.png'), 'jpg');
      mediaFile(path.join(wfDir, 'cube.obj'), 'obj');
      writeFile(path.join(wfDir, 'secrets.obj'), 'API_KEY=sk-live-123\n');
      mediaFile(path.join(wfDir, 'scene.gltf'), 'gltf');
      const text = JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'id_ed25519' } },
        '2': { class_type: 'LoadImage', inputs: { image: 'key.png' } },
        '3': { class_type: 'LoadImage', inputs: { image: 'empty.png' } },
        '4': { class_type: 'LoadImage', inputs: { image: 'song.png' } },
        '5': { class_type: 'LoadImage', inputs: { image: 'really-a-jpeg.png' } },
        '6': { class_type: 'Load3D', inputs: { model_file: 'cube.obj' } },
        '7': { class_type: 'Load3D', inputs: { model_file: 'secrets.obj' } },
        '8': { class_type: 'Load3D', inputs: { model_file: 'scene.gltf' } },
      });
      const a = analyzeWorkflow(text, { fileDir: wfDir });
      const message = (id: string) => a.problems.find((p) => p.nodeId === id)?.message ?? '';
      assert.deepStrictEqual(
        a.localFiles.map((f) => [f.nodeId, f.verdict.allowed ? 'allowed' : f.verdict.rule]),
        [['1', 'not_media'], ['2', 'content_mismatch'], ['3', 'content_mismatch'], ['4', 'content_mismatch'], ['5', 'allowed'], ['6', 'allowed'], ['7', 'content_mismatch'], ['8', 'allowed']],
      );
      assert.match(message('1'), /"id_ed25519" is not uploaded: it is not an image, video, audio or 3D file a ComfyUI loader takes \(its name has no extension\)\. Only such media files are uploaded: point the input at one\.$/);
      assert.match(message('2'), /"key\.png" is not uploaded: it is not an image, video, audio or 3D file a ComfyUI loader takes \(its name says PNG image, but its first bytes are plain text\)\. Only such media files are uploaded: point the input at a real PNG image/);
      assert.match(message('3'), /its first bytes are nothing \(the file is empty\)/);
      assert.match(message('4'), /its name says PNG image, but its first bytes are those of a FLAC audio/);
      assert.match(message('7'), /its name says OBJ model, but its first bytes are plain text/);
      for (const p of a.problems) assert.ok(!/BEGIN|sk-live/.test(p.message), `a message quotes the file: ${p.message}`);
    });
  });
});

describe('checkAgainstObjectInfo', () => {
  const objectInfo = recordedObjectInfo();

  function check(prompt: unknown, options?: Parameters<typeof analyzeWorkflow>[1]) {
    const text = JSON.stringify(prompt, null, 2);
    const analysis = analyzeWorkflow(text, options);
    return { text, analysis, problems: [...analysis.problems, ...checkAgainstObjectInfo(analysis, objectInfo)] };
  }

  interface ServerBody {
    error?: { type: string; message: string; details: string };
    node_errors: NodeErrors;
  }

  /** What the server said, as [our code, node id, input name or undefined]. */
  function serverFindings(body: ServerBody): [string, string, string | undefined][] {
    const out: [string, string, string | undefined][] = [];
    const e = body.error;
    if (e?.type === 'invalid_prompt') {
      const node = /#(\w+)/.exec(e.details)![1];
      out.push([e.message.includes('class_type') ? 'missing_class_type' : 'unknown_node_class', node, undefined]);
    } else if (e?.type === 'prompt_no_outputs') {
      out.push(['prompt_no_outputs', '1', undefined]);
    }
    for (const [node, entry] of Object.entries(body.node_errors)) {
      for (const err of entry.errors) {
        // ComfyUI reports a link to a missing node as a KeyError while validating.
        const code = err.type === 'exception_during_validation' ? 'link_to_missing_node' : err.type;
        out.push([code, node, err.extra_info.input_name]);
      }
    }
    return out;
  }

  for (const [name, recorded] of Object.entries(invalidPrompts)) {
    const req = recorded.request;
    if (typeof req !== 'object' || !req.prompt) continue;
    it(`finds what the server found for the recorded "${name}"`, () => {
      const body = (recorded as unknown as { body: ServerBody }).body;
      const expected = serverFindings(body);
      assert.ok(expected.length > 0, 'the recording has findings');
      const { problems } = check(req.prompt);
      assert.strictEqual(problems.length, expected.length, `expected ${JSON.stringify(expected)}, got ${JSON.stringify(codes(problems))}`);
      for (const [code, node, input] of expected) {
        const found = problems.find((p) => p.code === code && p.nodeId === (code === 'prompt_no_outputs' ? undefined : node) && (input === undefined || p.inputName === input));
        assert.ok(found, `${code} at node ${node}${input ? ` input ${input}` : ''} not in ${JSON.stringify(codes(problems))}`);
        assert.ok(found.message.length > 30, found.message);
      }
    });
  }

  it('passes the recorded workflows, except a LoadImage file the server listed only after its upload', () => {
    assert.deepStrictEqual(check(JSON.parse(readRecording('workflow_a_api.json'))).problems, []);
    const b = check(JSON.parse(readRecording('workflow_b_api.json')));
    assert.deepStrictEqual(codes(b.problems), ['warning:custom_validation_failed@10.image']);
    assert.match(b.problems[0].message, /"research_in\.png" is not among the server's input files.*"example\.png"/);
  });

  it('does not flag a LoadImage file that will be uploaded from beside the workflow', () => {
    const tmp = makeTempDir();
    try {
      mediaFile(path.join(tmp.dir, 'mine.png'), 'png');
      const prompt = { '1': { class_type: 'LoadImage', inputs: { image: 'mine.png' } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } };
      assert.deepStrictEqual(codes(check(prompt, { fileDir: tmp.dir }).problems), []);
      assert.deepStrictEqual(codes(check(prompt).problems), ['warning:custom_validation_failed@1.image']);
    } finally {
      tmp.cleanup();
    }
  });

  it('checks maxima, coerces numeric strings as ComfyUI does, and points at the value', () => {
    const base = promptOf('value_below_min');
    const prompt = { ...base, '1': { class_type: 'EmptyImage', inputs: { width: 20000, height: '64', batch_size: 1.9, color: true } } };
    const { text, problems } = check(prompt);
    assert.deepStrictEqual(codes(problems), ['error:value_bigger_than_max@1.width']);
    assert.strictEqual(textAt(text, problems[0].range), '20000');
    assert.match(problems[0].message, /Node 1 \(EmptyImage\), input "width": 20000 is above the maximum of 16384\. Use a value from 1 to 16384\./);
  });

  it('finds type mismatches and missing outputs with recorded classes only', () => {
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'example.png' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 1], filename_prefix: 'x' } },
      '3': { class_type: 'PreviewImage', inputs: { images: ['1', 2] } },
      '4': { class_type: 'PreviewAny', inputs: { source: ['1', 1] } },
    };
    const { problems } = check(prompt);
    assert.deepStrictEqual(codes(problems), ['error:return_type_mismatch@2.images', 'error:bad_output_index@3.images']);
    assert.match(problems[0].message, /takes IMAGE, but output 1 of Node 1 \(LoadImage\) is MASK/);
    assert.match(problems[1].message, /has 2 outputs \(0–1\), so output 2 does not exist/);
  });

  it('understands V3 combos, union types and values that must be links', () => {
    const info: ObjectInfo = {
      ...objectInfo,
      Pick: {
        input: { required: { mode: ['COMBO', { options: ['a', 'b'] }], pic: ['IMAGE,MASK'] }, optional: { extra: ['LATENT'] } },
        output: ['IMAGE'],
        name: 'Pick',
        output_node: true,
      },
    };
    const text = JSON.stringify({
      '1': { class_type: 'LoadImage', inputs: { image: 'example.png' } },
      '2': { class_type: 'Pick', inputs: { mode: 'c', pic: ['1', 1], extra: 'not a link', undeclared: [1, 2, 3] } },
    });
    const analysis = analyzeWorkflow(text);
    const problems = checkAgainstObjectInfo(analysis, info);
    assert.deepStrictEqual(codes(problems), ['error:value_not_in_list@2.mode', 'warning:literal_for_link_input@2.extra']);
    assert.match(problems[0].message, /"c" is not one of the allowed values\. Use one of: "a", "b"\./);
  });

  it('names unknown classes without reporting inputs it cannot check, and is pure', () => {
    const text = JSON.stringify(promptOf('unknown_node_class'), null, 2);
    const analysis = analyzeWorkflow(text);
    const before = JSON.stringify(analysis);
    const problems = checkAgainstObjectInfo(analysis, objectInfo);
    assert.deepStrictEqual(codes(problems), ['error:unknown_node_class@1']);
    assert.strictEqual(problems[0].message.startsWith('Node 1 (NoSuchNode) is not installed on this server. Install'), true, problems[0].message);
    assert.strictEqual(textAt(text, problems[0].range), '"NoSuchNode"');
    assert.strictEqual(JSON.stringify(analysis), before);
    assert.deepStrictEqual(checkAgainstObjectInfo(analyzeWorkflow('{"nodes": [], "links": []}'), objectInfo), []);
  });

  it('does not mistake inherited object properties for node classes', () => {
    const { problems } = check({ '1': { class_type: 'constructor', inputs: {} }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } });
    assert.deepStrictEqual(codes(problems), ['error:unknown_node_class@1']);
  });
});
