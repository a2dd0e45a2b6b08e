import * as assert from 'node:assert';
import type { ApiPrompt, NodeClassInfo, ObjectInfo } from '../../src/api/comfyTypes';
import { type ConvertOptions, convertUiWorkflow } from '../../src/core/convert/convertUiWorkflow';
import { processDynamicPrompt } from '../../src/core/convert/dynamicPrompt';
import { UiConversionError } from '../../src/core/convert/errors';

/** A class with the given inputs (required) and outputs. */
function cls(name: string, required: Record<string, unknown>, output: string[] = [], extra: Partial<NodeClassInfo> = {}): NodeClassInfo {
  return { input: { required: required as NodeClassInfo['input']['required'] }, output, name, display_name: name, output_node: false, ...extra };
}

/** A small /object_info shaped like ComfyUI's. */
const objectInfo: ObjectInfo = {
  Loader: cls('Loader', { ckpt: [['a.safetensors', 'b.safetensors']] }, ['MODEL', 'CLIP', 'VAE'], { display_name: 'Load Checkpoint' }),
  Encode: cls('Encode', { text: ['STRING', { multiline: true, dynamicPrompts: true }], clip: ['CLIP'] }, ['CONDITIONING']),
  Sampler: cls('Sampler', {
    model: ['MODEL'],
    seed: ['INT', { default: 0, control_after_generate: true }],
    steps: ['INT', { default: 20 }],
    cfg: ['FLOAT', { default: 8 }],
    positive: ['CONDITIONING'],
    latent: ['LATENT'],
  }, ['LATENT']),
  Noise: cls('Noise', { noise_seed: ['INT', { default: 0 }], strength: ['FLOAT', { default: 1 }] }, ['NOISE']),
  Empty: cls('Empty', { width: ['INT', { default: 512 }], height: ['INT', { default: 512 }] }, ['LATENT']),
  Mix: cls('Mix', { a: ['LATENT'], b: ['CONDITIONING'] }, ['LATENT']),
  Save: cls('SaveImage', { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] }, []),
  SaveImage: cls('SaveImage', { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] }, []),
  Decode: cls('Decode', { samples: ['LATENT'] }, ['IMAGE']),
  LoadImage: {
    ...cls('LoadImage', { image: [['x.png', 'y.png'], { image_upload: true }], channel: [['alpha', 'red']] }, ['IMAGE', 'MASK']),
    input: { required: { image: [['x.png', 'y.png'], { image_upload: true }], channel: [['alpha', 'red']] }, optional: { scale: ['FLOAT', { default: 1 }] } },
  },
  Pick: cls('Pick', { choice: ['COMBO', { options: ['p', 'q'], control_after_generate: true }], after: ['INT', { default: 1 }] }, ['INT']),
  ListValue: cls('ListValue', { values: ['STRING', {}] }, ['STRING']),
  Webcam: cls('Webcam', { image: ['WEBCAM', {}], width: ['INT', { default: 0 }] }, ['IMAGE']),
};

type Raw = Record<string, unknown>;
let linkSeq = 0;

/** A node in the UI format: `inputs` as `[name, type, link?]`, `outputs` as types. */
function node(id: number | string, type: string, widgets: unknown[] = [], inputs: [string, string, number?, string?][] = [], extra: Raw = {}): Raw {
  return {
    id,
    type,
    mode: 0,
    inputs: inputs.map(([name, t, link, widget]) => ({ name, type: t, link: link ?? null, ...(widget ? { widget: { name: widget } } : {}) })),
    outputs: [],
    properties: {},
    widgets_values: widgets,
    ...extra,
  };
}

/** A root link `[id, origin, slot, target, slot, type]`. */
function link(origin: number | string, originSlot: number, target: number | string, targetSlot: number, type: string, id = ++linkSeq): unknown[] {
  return [id, origin, originSlot, target, targetSlot, type];
}

function convert(workflow: unknown, options: ConvertOptions = {}): ApiPrompt {
  return convertUiWorkflow(workflow, objectInfo, options).prompt;
}

function refusal(workflow: unknown): UiConversionError {
  try {
    convertUiWorkflow(workflow, objectInfo);
  } catch (err) {
    if (err instanceof UiConversionError) return err;
    throw err;
  }
  assert.fail('conversion did not refuse');
}

/** The base text-to-image chain: 1 Loader → 2 Encode → 3 Sampler ← 4 Empty; 3 → 5 Decode → 6 SaveImage. */
function basic(overrides: { sampler?: Raw; save?: Raw; encode?: Raw } = {}): Raw {
  return {
    nodes: [
      node(1, 'Loader', ['b.safetensors'], [], { outputs: [{ type: 'MODEL' }, { type: 'CLIP' }, { type: 'VAE' }] }),
      node(2, 'Encode', ['a cat'], [['clip', 'CLIP', 11]], overrides.encode),
      node(3, 'Sampler', [42, 'randomize', 30, 6.5], [['model', 'MODEL', 12], ['positive', 'CONDITIONING', 13], ['latent', 'LATENT', 14]], overrides.sampler),
      node(4, 'Empty', [768, 640]),
      node(5, 'Decode', [], [['samples', 'LATENT', 15]]),
      node(6, 'SaveImage', ['out'], [['images', 'IMAGE', 16]], overrides.save),
    ],
    links: [
      link(1, 1, 2, 0, 'CLIP', 11),
      link(1, 0, 3, 0, 'MODEL', 12),
      link(2, 0, 3, 1, 'CONDITIONING', 13),
      link(4, 0, 3, 2, 'LATENT', 14),
      link(3, 0, 5, 0, 'LATENT', 15),
      link(5, 0, 6, 0, 'IMAGE', 16),
    ],
  };
}

describe('convertUiWorkflow', () => {
  describe('widgets and links', () => {
    it('maps widgets_values onto inputs in widget order, skips control_after_generate and keeps the seed as saved', () => {
      const p = convert(basic());
      assert.deepStrictEqual(p['3'], {
        inputs: { seed: 42, steps: 30, cfg: 6.5, model: ['1', 0], positive: ['2', 0], latent: ['4', 0] },
        class_type: 'Sampler',
        _meta: { title: 'Sampler' },
      });
      assert.deepStrictEqual(p['1'].inputs, { ckpt: 'b.safetensors' });
      assert.deepStrictEqual(p['4'].inputs, { width: 768, height: 640 });
    });

    it('gives seed and noise_seed INT inputs a control widget even without control_after_generate', () => {
      const p = convert({ nodes: [node(1, 'Noise', [7, 'increment', 0.5])], links: [] });
      assert.deepStrictEqual(p['1'].inputs, { noise_seed: 7, strength: 0.5 });
    });

    it('skips the two control widgets of a combo with control_after_generate', () => {
      const p = convert({ nodes: [node(1, 'Pick', ['q', 'randomize', '', 5])], links: [] });
      assert.deepStrictEqual(p['1'].inputs, { choice: 'q', after: 5 });
    });

    it('sends only the image of an upload widget, not the upload button (saved after the required inputs)', () => {
      const p = convert({ nodes: [node(1, 'LoadImage', ['y.png', 'red', 'image', 2])], links: [] });
      assert.deepStrictEqual(p['1'].inputs, { image: 'y.png', channel: 'red', scale: 2 });
    });

    it('lets a link into a converted widget replace its value in place', () => {
      const g = basic({ sampler: { inputs: [...(basic().nodes as Raw[])[2].inputs as unknown[], { name: 'steps', type: 'INT', link: 20, widget: { name: 'steps' } }] } });
      (g.nodes as Raw[]).push(node(9, 'Noise', [3, 'fixed'], [], { outputs: [{ type: 'INT' }] }));
      (g.links as unknown[]).push(link(9, 0, 3, 3, 'INT', 20));
      const inputs = convert(g)['3'].inputs;
      assert.deepStrictEqual(inputs.steps, ['9', 0]);
      assert.deepStrictEqual(Object.keys(inputs), ['seed', 'steps', 'cfg', 'model', 'positive', 'latent']);
    });

    it('uses defaults for widgets the file has no value for, and boxes list values', () => {
      const p = convert({ nodes: [node(1, 'Empty', [100]), node(2, 'ListValue', [['a', 'b']])], links: [] });
      assert.deepStrictEqual(p['1'].inputs, { width: 100, height: 512 });
      assert.deepStrictEqual(p['2'].inputs, { values: { __value__: ['a', 'b'] } });
    });

    it('keeps the saved title, else the display name', () => {
      const p = convert(basic({ encode: { title: 'Positive' } }));
      assert.strictEqual(p['2']._meta?.title, 'Positive');
      assert.strictEqual(p['1']._meta?.title, 'Load Checkpoint');
    });
  });

  describe('frontend-only nodes, mute and bypass', () => {
    it('leaves out notes; a graph of only notes is empty', () => {
      assert.deepStrictEqual(convert({ nodes: [node(1, 'Note', ['hi']), node(2, 'MarkdownNote', ['# x'])], links: [] }), {});
    });

    it('resolves legacy Reroute chains to the real origin', () => {
      const g = basic();
      const nodes = g.nodes as Raw[];
      nodes.push(node(20, 'Reroute', [], [['', '*', 21]]), node(21, 'Reroute', [], [['', '*', 22]]));
      g.links = (g.links as unknown[][]).filter((l) => l[0] !== 14);
      (g.links as unknown[]).push(link(4, 0, 21, 0, 'LATENT', 22), link(21, 0, 20, 0, '*', 21), link(20, 0, 3, 2, 'LATENT', 14));
      const p = convert(g);
      assert.deepStrictEqual(p['3'].inputs.latent, ['4', 0]);
      assert.ok(!('20' in p) && !('21' in p));
    });

    it('follows links through native reroutes (extra.reroutes, link parentId) to the origin', () => {
      const g = basic();
      g.extra = { reroutes: [{ id: 1, pos: [0, 0], linkIds: [14] }] };
      g.links = (g.links as unknown[][]).map((l) => (l[0] === 14 ? { id: 14, origin_id: 4, origin_slot: 0, target_id: 3, target_slot: 2, type: 'LATENT', parentId: 1 } : l));
      assert.deepStrictEqual(convert(g)['3'].inputs.latent, ['4', 0]);
    });

    it('writes a PrimitiveNode value into the widget it feeds and leaves the primitive out', () => {
      const g = basic();
      const nodes = g.nodes as Raw[];
      nodes[2].inputs = [...(nodes[2].inputs as unknown[]), { name: 'seed', type: 'INT', link: 30, widget: { name: 'seed' } }];
      nodes.push(node(30, 'PrimitiveNode', [1234, 'fixed'], [], { outputs: [{ type: 'INT', links: [30] }] }));
      (g.links as unknown[]).push(link(30, 0, 3, 3, 'INT', 30));
      const p = convert(g);
      assert.strictEqual(p['3'].inputs.seed, 1234);
      assert.ok(!('30' in p));
    });

    it('drops a muted node and the inputs that pointed at it, keeping upstream nodes and consumers', () => {
      const g = basic();
      (g.nodes as Raw[])[3].mode = 2;
      const p = convert(g);
      assert.ok(!('4' in p));
      assert.ok(!('latent' in p['3'].inputs));
      assert.ok('1' in p && '5' in p);
    });

    it('passes a bypassed node through by type: same slot first, then the first exact type, else leaves the input out', () => {
      const g = basic();
      const nodes = g.nodes as Raw[];
      // 7 Mix(a: LATENT, b: CONDITIONING) bypassed between Empty and the sampler's latent.
      nodes.push(node(7, 'Mix', [], [['a', 'LATENT', 40], ['b', 'CONDITIONING', 41]], { mode: 4, outputs: [{ type: 'LATENT' }] }));
      g.links = (g.links as unknown[][]).filter((l) => l[0] !== 14);
      (g.links as unknown[]).push(link(4, 0, 7, 0, 'LATENT', 40), link(2, 0, 7, 1, 'CONDITIONING', 41), link(7, 0, 3, 2, 'LATENT', 14));
      assert.deepStrictEqual(convert(g)['3'].inputs.latent, ['4', 0]);

      // Consumer typed CONDITIONING on output 0: slot 0 (LATENT) does not fit; input 1 is the exact type.
      const h = structuredClone(g);
      (h.links as unknown[][]).forEach((l) => {
        if (l[0] === 13) {
          l[1] = 7;
          l[2] = 0;
        }
      });
      assert.deepStrictEqual(convert(h)['3'].inputs.positive, ['2', 0]);

      // No input of the consumer's type: the input is left out.
      const k = structuredClone(g);
      ((k.nodes as Raw[])[6].inputs as Raw[]).splice(1, 1);
      (k.links as unknown[][]).forEach((l) => {
        if (l[0] === 13) {
          l[1] = 7;
          l[2] = 0;
        }
      });
      assert.ok(!('positive' in convert(k)['3'].inputs));
    });

    it('keeps the widget value of a converted input fed by a bypassed node with no input of its type', () => {
      const g = basic();
      const nodes = g.nodes as Raw[];
      nodes[2].inputs = [...(nodes[2].inputs as unknown[]), { name: 'steps', type: 'INT', link: 95, widget: { name: 'steps' } }];
      nodes.push(node(7, 'Mix', [], [['a', 'LATENT', 96]], { mode: 4, outputs: [{ type: 'INT' }] }));
      (g.links as unknown[]).push(link(4, 0, 7, 0, 'LATENT', 96), link(7, 0, 3, 3, 'INT', 95));
      assert.strictEqual(convert(g)['3'].inputs.steps, 30);
    });

    it('follows chains of bypassed nodes', () => {
      const g = basic();
      const nodes = g.nodes as Raw[];
      nodes.push(
        node(7, 'Mix', [], [['a', 'LATENT', 40]], { mode: 4, outputs: [{ type: 'LATENT' }] }),
        node(8, 'Mix', [], [['a', 'LATENT', 41]], { mode: 4, outputs: [{ type: 'LATENT' }] }),
      );
      g.links = (g.links as unknown[][]).filter((l) => l[0] !== 14);
      (g.links as unknown[]).push(link(4, 0, 7, 0, 'LATENT', 40), link(7, 0, 8, 0, 'LATENT', 41), link(8, 0, 3, 2, 'LATENT', 14));
      const p = convert(g);
      assert.deepStrictEqual(p['3'].inputs.latent, ['4', 0]);
      assert.ok(!('7' in p) && !('8' in p));
    });
  });

  describe('subgraphs and group nodes', () => {
    /** A definition holding Encode(10) whose clip comes from the subgraph input 0 and whose text is promoted (input 1). */
    function withSubgraph(instances: Raw[]): Raw {
      return {
        nodes: [node(1, 'Loader', ['a.safetensors']), ...instances, node(3, 'Sampler', [1, 'fixed', 2, 3], [['positive', 'CONDITIONING', 50]])],
        links: [link(1, 1, 2, 0, 'CLIP', 60), link(2, 0, 3, 0, 'CONDITIONING', 50)],
        definitions: {
          subgraphs: [
            {
              id: 'sg-1',
              inputs: [{ name: 'clip', type: 'CLIP', linkIds: [1] }, { name: 'text', type: 'STRING', linkIds: [2] }],
              outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING', linkIds: [3] }],
              nodes: [node(10, 'Encode', ['inner text'], [['clip', 'CLIP', 1], ['text', 'STRING', 2, 'text']])],
              links: [
                { id: 1, origin_id: -10, origin_slot: 0, target_id: 10, target_slot: 0, type: 'CLIP' },
                { id: 2, origin_id: -10, origin_slot: 1, target_id: 10, target_slot: 1, type: 'STRING' },
                { id: 3, origin_id: 10, origin_slot: 0, target_id: -20, target_slot: 0, type: 'CONDITIONING' },
              ],
            },
          ],
        },
      };
    }

    it('flattens a subgraph to "<instance>:<inner>" ids, resolving links across its border and promoted widget values', () => {
      const p = convert(withSubgraph([node(2, 'sg-1', ['promoted text'], [['clip', 'CLIP', 60]])]));
      assert.ok(!('2' in p));
      assert.deepStrictEqual(p['2:10'].inputs, { text: 'promoted text', clip: ['1', 1] });
      assert.deepStrictEqual(p['3'].inputs.positive, ['2:10', 0]);
    });

    it('gives a promoted value to every inner input it feeds', () => {
      const g = withSubgraph([node(2, 'sg-1', ['shared'], [['clip', 'CLIP', 60]])]);
      const def = (g.definitions as { subgraphs: Raw[] }).subgraphs[0];
      (def.nodes as Raw[]).push(node(11, 'Encode', ['other'], [['clip', 'CLIP', 1], ['text', 'STRING', 4, 'text']]));
      (def.links as Raw[]).push({ id: 4, origin_id: -10, origin_slot: 1, target_id: 11, target_slot: 1, type: 'STRING' });
      ((def.inputs as Raw[])[1].linkIds as number[]).push(4);
      const p = convert(g);
      assert.strictEqual(p['2:10'].inputs.text, 'shared');
      assert.strictEqual(p['2:11'].inputs.text, 'shared');
    });

    it('nests ids for subgraphs inside subgraphs', () => {
      const g = withSubgraph([node(2, 'sg-2', [], [['clip', 'CLIP', 60]])]);
      const defs = (g.definitions as { subgraphs: Raw[] }).subgraphs;
      defs.push({
        id: 'sg-2',
        inputs: [{ name: 'clip', type: 'CLIP', linkIds: [5] }],
        outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING', linkIds: [6] }],
        nodes: [node(7, 'sg-1', ['deep'], [['clip', 'CLIP', 5]])],
        links: [
          { id: 5, origin_id: -10, origin_slot: 0, target_id: 7, target_slot: 0, type: 'CLIP' },
          { id: 6, origin_id: 7, origin_slot: 0, target_id: -20, target_slot: 0, type: 'CONDITIONING' },
        ],
      });
      const p = convert(g);
      assert.deepStrictEqual(p['2:7:10'].inputs, { text: 'deep', clip: ['1', 1] });
      assert.deepStrictEqual(p['3'].inputs.positive, ['2:7:10', 0]);
    });

    it('expands a legacy group node to "<group node>:<index>" with its saved values and outer links', () => {
      const g: Raw = {
        nodes: [node(1, 'Loader', ['a.safetensors']), node(5, 'workflow>pair', ['from group', 9, 'fixed', 4, 1.5], [['clip', 'CLIP', 70]])],
        links: [link(1, 1, 5, 0, 'CLIP', 70)],
        extra: {
          groupNodes: {
            pair: {
              nodes: [
                { ...node(-1, 'Encode', ['def text'], [['clip', 'CLIP']]), index: 0 },
                { ...node(-1, 'Sampler', [0, 'fixed', 1, 1], [['model', 'MODEL'], ['positive', 'CONDITIONING']]), index: 1 },
              ],
              links: [
                [null, 1, 0, 0, 1, 'CLIP'],
                [0, 0, 1, 1, 5, 'CONDITIONING'],
              ],
              external: [],
            },
          },
        },
      };
      const p = convert(g);
      assert.deepStrictEqual(p['5:0'].inputs, { text: 'from group', clip: ['1', 1] });
      assert.deepStrictEqual(p['5:1'].inputs, { seed: 9, steps: 4, cfg: 1.5, positive: ['5:0', 0] });
    });
  });

  describe('text rewritten at conversion', () => {
    it('strips comments and picks {a|b} choices with the injected random source', () => {
      assert.strictEqual(processDynamicPrompt('a // note\nb /* x */c', () => 0), 'a \nb c');
      assert.strictEqual(processDynamicPrompt('{red|green|blue} cat', () => 0.5), 'green cat');
      assert.strictEqual(processDynamicPrompt('{x|{y|z}}', () => 0.99), 'z');
      assert.strictEqual(processDynamicPrompt('\\{literal\\} \\| bar', () => 0), '{literal} | bar');
      const p = convert(basic({ encode: { widgets_values: ['{a|b} photo // todo'] } }), { random: () => 0.7 });
      assert.strictEqual(p['2'].inputs.text, 'b photo ');
    });

    it('makes the choices in execution order (the saved order), not file order', () => {
      const picks = [0, 0.9];
      const random = () => picks.shift() ?? 0;
      const g = {
        nodes: [node(1, 'Encode', ['{a|b}'], [], { order: 1 }), node(2, 'Encode', ['{c|d}'], [], { order: 0 })],
        links: [],
      };
      const p = convert(g, { random });
      assert.deepStrictEqual([p['1'].inputs.text, p['2'].inputs.text], ['b', 'c']);
    });

    it('returns each dynamic-prompt text it changed with its template, so a run can record the choices', () => {
      const picks = [0, 0.9];
      const random = () => picks.shift() ?? 0;
      const g = {
        nodes: [node(1, 'Encode', ['{a|b}'], [], { order: 1 }), node(2, 'Encode', ['{c|d}'], [], { order: 0 }), node(3, 'Encode', ['plain'], [], { order: 2 })],
        links: [],
      };
      const { dynamicPrompts } = convertUiWorkflow(g, objectInfo, { random });
      assert.deepStrictEqual(dynamicPrompts, [
        { nodeId: '2', input: 'text', template: '{c|d}', text: 'c' },
        { nodeId: '1', input: 'text', template: '{a|b}', text: 'b' },
      ]);
    });

    it('fills %date:…% and %Node.widget% in a save node prefix (S&R name, then title)', () => {
      const savedTz = process.env.TZ;
      process.env.TZ = 'UTC';
      try {
        const g = basic({ save: { widgets_values: ['%date:yyyy-MM-dd%/%Sampler.seed%_%Size.width%_%Nope.x%_%date:hhmmss%'] } });
        (g.nodes as Raw[])[3].title = 'Size';
        (g.nodes as Raw[])[3].properties = { 'Node name for S&R': 'Custom' };
        const p = convert(g, { now: new Date('2025-03-04T05:06:07Z') });
        assert.strictEqual(p['6'].inputs.filename_prefix, '2025-03-04/42_768_%Nope.x%_050607');
      } finally {
        if (savedTz === undefined) delete process.env.TZ;
        else process.env.TZ = savedTz;
      }
    });
  });

  describe('missing classes', () => {
    it('refuses, listing every unknown class with node id and position, including inside subgraphs', () => {
      const g = basic();
      (g.nodes as Raw[]).push(node(40, 'CustomA', [1]), node(41, 'CustomA', [2], [], { title: 'My A' }));
      g.definitions = { subgraphs: [{ id: 'sg', inputs: [], outputs: [], nodes: [node(3, 'CustomB')], links: [] }] };
      const err = refusal(g);
      assert.strictEqual(err.kind, 'missingClasses');
      assert.deepStrictEqual(err.missingClasses, ['CustomA', 'CustomB']);
      assert.deepStrictEqual(
        err.missing.map((m) => [m.nodeId, m.classType, m.path]),
        [
          ['40', 'CustomA', 'nodes[6]'],
          ['41', 'CustomA', 'nodes[7]'],
          ['3', 'CustomB', 'definitions.subgraphs[0].nodes[0]'],
        ],
      );
      assert.match(err.message, /CustomA: node 40 at nodes\[6\], node 41 "My A" at nodes\[7\]/);
      assert.match(err.message, /Install the custom nodes/);
    });
  });

  describe('untrusted input', () => {
    it('refuses what is not a UI workflow with a clear error', () => {
      for (const bad of [null, 'text', 42, [], {}, { nodes: 'x' }]) {
        const err = refusal(bad);
        assert.strictEqual(err.kind, 'invalidWorkflow');
        assert.match(err.message, /not a UI-format ComfyUI workflow/);
      }
    });

    it('skips junk entries: null nodes, malformed links, non-list inputs', () => {
      const g = basic();
      (g.nodes as unknown[]).push(null, 7, 'x');
      (g.links as unknown[]).push(null, ['a'], { id: 1 }, [99, 1, 'bad', 2, 0, 'X']);
      ((g.nodes as Raw[])[4]).inputs = 'nope';
      const p = convert(g);
      assert.deepStrictEqual(p['5'].inputs, {});
      assert.deepStrictEqual(p['3'].inputs.latent, ['4', 0]);
    });

    it('treats __proto__ and constructor as plain ids, input names and types', () => {
      const g: Raw = {
        nodes: [
          node('__proto__', 'Empty', [1, 2]),
          node('constructor', 'Mix', [], [['__proto__', 'LATENT', 1]]),
          node(3, 'toString', []),
        ],
        links: [link('__proto__', 0, 'constructor', 0, 'LATENT', 1)],
      };
      assert.deepStrictEqual(refusal(g).missingClasses, ['toString']);
      (g.nodes as Raw[]).pop();
      const p = convert(g);
      assert.deepStrictEqual(Object.keys(p).sort(), ['__proto__', 'constructor']);
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(p, '__proto__')?.value, {
        inputs: { width: 1, height: 2 },
        class_type: 'Empty',
        _meta: { title: 'Empty' },
      });
      const consumer = Object.getOwnPropertyDescriptor(p, 'constructor')?.value as ApiPrompt[string];
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(consumer.inputs, '__proto__')?.value, ['__proto__', 0]);
      assert.strictEqual(Object.getPrototypeOf(p), Object.prototype);
    });

    it('refuses reroute and bypass cycles instead of looping', () => {
      const g = basic();
      (g.nodes as Raw[]).push(node(20, 'Reroute', [], [['', '*', 81]]), node(21, 'Reroute', [], [['', '*', 82]]));
      g.links = (g.links as unknown[][]).filter((l) => l[0] !== 14);
      (g.links as unknown[]).push(link(21, 0, 20, 0, '*', 81), link(20, 0, 21, 0, '*', 82), link(20, 0, 3, 2, 'LATENT', 14));
      assert.match(refusal(g).message, /go round in a circle/);

      const h = basic();
      (h.nodes as Raw[]).push(
        node(7, 'Mix', [], [['a', 'LATENT', 91]], { mode: 4, outputs: [{ type: 'LATENT' }] }),
        node(8, 'Mix', [], [['a', 'LATENT', 92]], { mode: 4, outputs: [{ type: 'LATENT' }] }),
      );
      h.links = (h.links as unknown[][]).filter((l) => l[0] !== 14);
      (h.links as unknown[]).push(link(8, 0, 7, 0, 'LATENT', 91), link(7, 0, 8, 0, 'LATENT', 92), link(7, 0, 3, 2, 'LATENT', 14));
      assert.strictEqual(refusal(h).kind, 'invalidWorkflow');
    });

    it('refuses a subgraph that contains itself, and subgraph expansion beyond the node limit', () => {
      const selfish: Raw = {
        nodes: [node(1, 'loop')],
        links: [],
        definitions: { subgraphs: [{ id: 'loop', inputs: [], outputs: [], nodes: [node(2, 'loop')], links: [] }] },
      };
      assert.match(refusal(selfish).message, /contains itself/);

      // Ten levels of ten instances each would be 10^10 nodes.
      const subgraphs = Array.from({ length: 10 }, (_, level) => ({
        id: `level${level}`,
        inputs: [],
        outputs: [],
        nodes: Array.from({ length: 10 }, (_, i) => (level === 9 ? node(i, 'Empty', [1, 1]) : node(i, `level${level + 1}`))),
        links: [],
      }));
      const huge: Raw = { nodes: [node(1, 'level0')], links: [], definitions: { subgraphs } };
      assert.match(refusal(huge).message, /too large/);
    });

    it('keeps a long reroute chain within bounds: refused with a message, not a stack overflow', () => {
      const nodes: Raw[] = [node(1, 'Empty', [1, 1]), node(2, 'Decode', [], [['samples', 'LATENT', 100_000]])];
      const links: unknown[] = [];
      for (let i = 0; i < 5_000; i++) {
        nodes.push(node(1000 + i, 'Reroute', [], [['', '*', 50_000 + i]]));
        links.push(link(i === 0 ? 1 : 1000 + i - 1, 0, 1000 + i, 0, '*', 50_000 + i));
      }
      links.push(link(1000 + 4_999, 0, 2, 0, 'LATENT', 100_000));
      assert.strictEqual(refusal({ nodes, links }).kind, 'invalidWorkflow');
    });

    it('refuses more nodes than the per-graph limit without reading them all', () => {
      const nodes = Array.from({ length: 20_001 }, (_, i) => node(i, 'Empty', [1, 1]));
      assert.match(refusal({ nodes, links: [] }).message, /20001 nodes at nodes; more than 20000/);
    });

    it('warns about inputs only the web page can capture, and keeps later values aligned', () => {
      const result = convertUiWorkflow({ nodes: [node(1, 'Webcam', [null, 640])], links: [] }, objectInfo);
      assert.deepStrictEqual(result.prompt['1'].inputs, { width: 640 });
      assert.strictEqual(result.warnings.length, 1);
      assert.match(result.warnings[0].message, /input "image" is captured by ComfyUI's web page/);
    });
  });
});
