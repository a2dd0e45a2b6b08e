import * as assert from 'node:assert';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { ConfigError } from '../../src/api/errors';
import { applyOverrides, MAX_EXACT_SEED, parseSetArgument, randomizeSeeds } from '../../src/core/overrides';
import { readRecording, recordedObjectInfo } from './helpers/workflowFixtures';

/** A txt2img-shaped prompt: literal seeds, a linked seed, and a seed in a node without `seed` semantics. */
function samplerPrompt(): ApiPrompt {
  return {
    '3': { class_type: 'KSampler', inputs: { seed: 156680208700286, steps: 20, model: ['4', 0], positive: ['6', 0] } },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd.safetensors' } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox', clip: ['4', 1] } },
    '10': { class_type: 'KSamplerAdvanced', inputs: { noise_seed: 7, add_noise: 'enable' } },
    '11': { class_type: 'KSampler', inputs: { seed: ['12', 0] } },
    '12': { class_type: 'PrimitiveInt', inputs: { value: 5 } },
  };
}

function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
    assert.strictEqual(e.kind, 'config');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('parseSetArgument', () => {
  const cases: [string, string, string, unknown][] = [
    ['7.seed=42', '7', 'seed', 42],
    ['7.cfg=7.5', '7', 'cfg', 7.5],
    ['7.seed=-1', '7', 'seed', -1],
    ['9.enabled=true', '9', 'enabled', true],
    ['6.text=a red fox, 8k', '6', 'text', 'a red fox, 8k'],
    ['6.text="true"', '6', 'text', 'true'],
    ['6.text=', '6', 'text', ''],
    ['6.text=a=b', '6', 'text', 'a=b'],
    ['6.text= spaced ', '6', 'text', ' spaced '],
    ['8.images=["4", 0]', '8', 'images', ['4', 0]],
    ['8.opts={"a": [1, null]}', '8', 'opts', { a: [1, null] }],
    ['8.x=null', '8', 'x', null],
    ['12.0.3.seed=5', '12.0.3', 'seed', 5],
    ['57:12.seed=5', '57:12', 'seed', 5],
    [' 7 . seed =1', '7', 'seed', 1],
    ['7.seed="18446744073709551615"', '7', 'seed', '18446744073709551615'],
    [`7.seed=${MAX_EXACT_SEED}`, '7', 'seed', MAX_EXACT_SEED],
  ];
  for (const [arg, nodeId, input, value] of cases) {
    it(`parses ${JSON.stringify(arg)}`, () => {
      assert.deepStrictEqual(parseSetArgument(arg), { nodeId, input, value });
    });
  }

  it('rejects malformed specs with the expected shape and what is wrong', () => {
    assertConfigError(() => parseSetArgument('seed'), /^--set expects <node>\.<input>=<value> \(for example --set 3\.seed=42\), got "seed": there is no "="/);
    assertConfigError(() => parseSetArgument('seed=42'), /got "seed=42": put the node id and the input name before "=", separated by a dot/);
    assertConfigError(() => parseSetArgument('.seed=42'), /the node id before the dot is missing/);
    assertConfigError(() => parseSetArgument('7.=42'), /the input name after the dot is missing/);
    assertConfigError(() => parseSetArgument('=42'), /put the node id and the input name/);
  });

  it('refuses numbers JSON cannot carry exactly, and says how to send them', () => {
    assertConfigError(() => parseSetArgument('7.seed=18446744073709551615'), /18446744073709551615 cannot be sent exactly.*quote it \("18446744073709551615"\)/);
    assertConfigError(() => parseSetArgument(`7.seed=${MAX_EXACT_SEED + 1}`), /cannot be sent exactly/);
    assertConfigError(() => parseSetArgument('7.cfg=1e400'), /cannot be sent exactly/);
  });
});

describe('applyOverrides', () => {
  it('returns a new prompt with the values set, leaving the original as it was', () => {
    const prompt = samplerPrompt();
    const before = structuredClone(prompt);
    const out = applyOverrides(prompt, [parseSetArgument('3.seed=42'), parseSetArgument('6.text=a cat'), parseSetArgument('3.seed=43'), parseSetArgument('3.denoise=0.5')]);
    assert.deepStrictEqual(prompt, before, 'the original is untouched');
    assert.deepStrictEqual(out['3'].inputs, { seed: 43, steps: 20, model: ['4', 0], positive: ['6', 0], denoise: 0.5 });
    assert.strictEqual(out['6'].inputs.text, 'a cat');
    assert.strictEqual(out['4'], prompt['4'], 'untouched nodes are shared');
    assert.deepStrictEqual(Object.keys(out), Object.keys(prompt));
  });

  it('works on a recorded workflow, including replacing a link with a value', () => {
    const prompt = JSON.parse(readRecording('workflow_a_api.json')) as ApiPrompt;
    const out = applyOverrides(prompt, [parseSetArgument('2.image=["1", 0]'), parseSetArgument('4.images=7')]);
    assert.deepStrictEqual(out['4'].inputs.images, 7);
    assert.deepStrictEqual(prompt['4'].inputs.images, ['2', 0]);
  });

  it('names a missing node and lists the ids there are', () => {
    const prompt = samplerPrompt();
    assertConfigError(() => applyOverrides(prompt, [parseSetArgument('99.seed=1')]), /^--set 99\.seed: there is no node 99 in this workflow\. Node ids: 3, 4, 6, 10, 11, 12\.$/);
    assertConfigError(() => applyOverrides({ '1': 'x' } as unknown as ApiPrompt, [parseSetArgument('1.a=1')]), /node 1 is not a node object with "inputs"/);
    assertConfigError(() => applyOverrides(prompt, [parseSetArgument('constructor.a=1')]), /there is no node constructor/);
    const big: ApiPrompt = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [String(i + 1), { class_type: 'X', inputs: {} }]));
    assertConfigError(() => applyOverrides(big, [parseSetArgument('99.a=1')]), /Node ids: 1, 2, .*, 30, … \(40 in all\)\.$/);
  });

  it('applies nothing when any override fails', () => {
    const prompt = samplerPrompt();
    const before = structuredClone(prompt);
    assert.throws(() => applyOverrides(prompt, [parseSetArgument('3.seed=1'), parseSetArgument('99.seed=1')]), ConfigError);
    assert.deepStrictEqual(prompt, before);
  });
});

describe('randomizeSeeds', () => {
  /** A scripted random source. */
  function scripted(...values: number[]): () => number {
    let i = 0;
    return () => {
      assert.ok(i < values.length, 'asked for more random numbers than scripted');
      return values[i++];
    };
  }

  it('sets every literal seed and noise_seed, skips links, and reports the changes', () => {
    const prompt = samplerPrompt();
    const before = structuredClone(prompt);
    const { prompt: out, changed } = randomizeSeeds(prompt, scripted(0.5, 1 - 2 ** -53));
    assert.deepStrictEqual(prompt, before, 'the original is untouched');
    assert.deepStrictEqual(changed, [
      { nodeId: '3', input: 'seed', from: 156680208700286, to: 2 ** 52 },
      { nodeId: '10', input: 'noise_seed', from: 7, to: MAX_EXACT_SEED },
    ]);
    assert.strictEqual(out['3'].inputs.seed, 2 ** 52);
    assert.strictEqual(out['10'].inputs.noise_seed, MAX_EXACT_SEED);
    assert.deepStrictEqual(out['11'].inputs.seed, ['12', 0], 'a linked seed stays a link');
    assert.strictEqual(out['4'], prompt['4']);
  });

  it('gives 0 for 0, and keeps to a smaller max declared in object_info', () => {
    const info = recordedObjectInfo();
    info.KSampler = { input: { required: { seed: ['INT', { min: 0, max: 99 }] } }, output: ['LATENT'], name: 'KSampler', output_node: false };
    const { changed } = randomizeSeeds(samplerPrompt(), scripted(0.999, 0), info);
    assert.deepStrictEqual(changed.map((c) => c.to), [99, 0]);
  });

  it('draws different, exact integers from the default source', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const { changed } = randomizeSeeds(samplerPrompt());
      for (const c of changed) {
        assert.ok(Number.isSafeInteger(c.to) && c.to >= 0, String(c.to));
        seen.add(c.to);
      }
    }
    assert.ok(seen.size > 95, `100 draws gave only ${seen.size} distinct seeds`);
  });

  it('refuses a random source outside [0, 1)', () => {
    assert.throws(() => randomizeSeeds(samplerPrompt(), () => 1), /must return a number in \[0, 1\)/);
    assert.throws(() => randomizeSeeds(samplerPrompt(), () => NaN), RangeError);
  });

  it('changes nothing in a workflow without seeds', () => {
    const prompt = JSON.parse(readRecording('workflow_a_api.json')) as ApiPrompt;
    const { prompt: out, changed } = randomizeSeeds(prompt, scripted());
    assert.deepStrictEqual(changed, []);
    assert.deepStrictEqual(out, prompt);
  });
});
