import * as assert from 'node:assert';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { ConfigError } from '../../src/api/errors';
import { estimateSweep } from '../../src/core/sweep/sweepEstimate';
import { parseAxis, planSweep, promptForRun, type AxisSpec } from '../../src/core/sweep/sweepPlan';

const prompt: ApiPrompt = {
  '3': { class_type: 'KSampler', inputs: { seed: 5, cfg: 7, denoise: 1, steps: 20, model: ['4', 0], sampler_name: 'euler' } },
  '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'a.safetensors' } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
  '8': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['3', 0], enabled: true } },
};

const noFile = (): string[] => {
  throw new Error('no file expected');
};
const axis = (arg: string, lines: Record<string, string> = {}): AxisSpec =>
  parseAxis(arg, (f) => {
    if (!(f in lines)) throw new Error(`unexpected file ${f}`);
    return lines[f].split('\n');
  });

describe('sweep plan (axes, product and zip, typed values, run folders)', () => {
  it('parses a list, an integer range and a stepped range without float drift', () => {
    assert.deepStrictEqual(axis('3.cfg=4,6,8').values, ['4', '6', '8']);
    assert.deepStrictEqual(axis('3.seed=1..4').values, [1, 2, 3, 4]);
    assert.deepStrictEqual(axis('3.seed=3..1').values, [3, 2, 1]);
    assert.deepStrictEqual(axis('3.denoise=0.3..0.9:0.2').values, [0.3, 0.5, 0.7, 0.9]);
    // Naively 0.1 + 2 × 0.1 is 0.30000000000000004.
    assert.deepStrictEqual(axis('3.denoise=0.1..0.3:0.1').values, [0.1, 0.2, 0.3]);
    assert.deepStrictEqual(axis('3.cfg=1..2:0.25').values, [1, 1.25, 1.5, 1.75, 2]);
    const a = axis('3.seed=1..16');
    assert.strictEqual(a.key, '3.seed');
    assert.strictEqual(a.values.length, 16);
  });

  it('reads one value per line of a file, skipping blank lines and CRs', () => {
    const a = axis('6.text=@prompts.txt', { 'prompts.txt': 'a red fox\r\n\r\na blue bird, flying\n' });
    assert.deepStrictEqual(a.values, ['a red fox', 'a blue bird, flying']);
  });

  it('says what is wrong with a bad axis', () => {
    assert.throws(() => parseAxis('3.seed', noFile), (e: Error) => e instanceof ConfigError && e.message.includes('no "="'));
    assert.throws(() => parseAxis('seed=1..3', noFile), /node id and the input/);
    assert.throws(() => parseAxis('3.seed=', noFile), /no values/);
    assert.throws(() => parseAxis('3.cfg=4,,6', noFile), /empty value/);
    assert.throws(() => parseAxis('3.denoise=0.1..0.5', noFile), /add a step/);
    assert.throws(() => parseAxis('3.denoise=0.1..0.5:-0.1', noFile), /positive step/);
    assert.throws(() => parseAxis('3.seed=1..100000', noFile), /at most 10000/);
    assert.throws(() => axis('6.text=@empty.txt', { 'empty.txt': '\n\n' }), /no values/);
  });

  it('types values as the input is typed: numbers stay numbers, text stays text', () => {
    const plan = planSweep(prompt, [axis('3.cfg=4,6.5'), axis('6.text=1,two'), axis('8.enabled=true,false')]);
    assert.deepStrictEqual(plan.runs[0].params, { '3.cfg': 4, '6.text': '1', '8.enabled': true });
    assert.deepStrictEqual(plan.runs[7].params, { '3.cfg': 6.5, '6.text': 'two', '8.enabled': false });
    const sent = promptForRun(prompt, plan.runs[7]);
    assert.strictEqual(sent['3'].inputs.cfg, 6.5);
    assert.strictEqual(sent['6'].inputs.text, 'two');
    assert.strictEqual(prompt['3'].inputs.cfg, 7, 'the sweep prompt is not changed');
    assert.throws(() => planSweep(prompt, [axis('3.cfg=4,high')]), /"high" is not a number/);
  });

  it('combines as a product (first axis slowest) or pairwise with --zip', () => {
    const product = planSweep(prompt, [axis('3.seed=1..2'), axis('3.cfg=4,6,8')]);
    assert.deepStrictEqual(
      product.runs.map((r) => [r.params['3.seed'], r.params['3.cfg']]),
      [[1, 4], [1, 6], [1, 8], [2, 4], [2, 6], [2, 8]],
    );
    const zip = planSweep(prompt, [axis('3.seed=1..3'), axis('3.cfg=4,6,8')], 'zip');
    assert.deepStrictEqual(zip.runs.map((r) => [r.params['3.seed'], r.params['3.cfg']]), [[1, 4], [2, 6], [3, 8]]);
    assert.throws(() => planSweep(prompt, [axis('3.seed=1..2'), axis('3.cfg=4,6,8')], 'zip'), /equal lengths; got 3.seed: 2, 3.cfg: 3/);
  });

  it('checks that the node and the input exist and that the input is a value', () => {
    assert.throws(() => planSweep(prompt, [axis('99.seed=1..2')]), /no node 99 in the workflow \(API node ids: 3, 4, 6, 8\)/);
    assert.throws(() => planSweep(prompt, [axis('3.sead=1..2')]), /node 3 \(KSampler\) has no input "sead"; its inputs: seed, cfg/);
    assert.throws(() => planSweep(prompt, [axis('3.model=1,2')]), /linked to node 4/);
    assert.throws(() => planSweep(prompt, [axis('3.seed=1,2'), axis('3.seed=3')]), /given twice/);
    assert.throws(() => planSweep(prompt, []), /at least one --vary/);
  });

  it('names run folders by their values: safe, unique and the same every time', () => {
    const specs = [axis('6.text=@p.txt', { 'p.txt': 'a/b: "c"?\nA very long prompt that goes on and on about many things\na/b: "c"?' })];
    const plan = planSweep(prompt, specs);
    const again = planSweep(prompt, specs);
    assert.deepStrictEqual(plan.runs.map((r) => r.folder), again.runs.map((r) => r.folder));
    assert.strictEqual(new Set(plan.runs.map((r) => r.folder)).size, 3, 'equal values still get their own folders');
    for (const r of plan.runs) assert.doesNotMatch(r.folder, /[/\\:"?<>|*]/, r.folder);
    assert.match(plan.runs[0].folder, /^1-text=a_b_ _c__$/);
    assert.ok(plan.runs[1].folder.length < 60, plan.runs[1].folder);
  });

  it('estimates wall time over the pool and the most the launched machines can cost', () => {
    const e = estimateSweep({ runs: 16, targets: 2, secondsPerRun: 30, source: 'flag', autoscale: { max: 2, ratePerHour: 1.8, durationS: 3600, idleS: 60, bootS: 60 } });
    assert.strictEqual(e.poolSize, 4);
    assert.strictEqual(e.wallSeconds, 4 * 30);
    // Two machines billed at most for the wall time plus the idle wait.
    assert.strictEqual(e.maxCostUsd, (2 * 1.8 * 180) / 3600);
    const capped = estimateSweep({ runs: 16, targets: 0, secondsPerRun: undefined, source: 'probe', autoscale: { max: 4, ratePerHour: 1.8, durationS: 3600, idleS: 60, bootS: 60 }, maxCostUsd: 2 });
    assert.strictEqual(capped.wallSeconds, undefined);
    assert.strictEqual(capped.maxCostUsd, 2);
    assert.strictEqual(estimateSweep({ runs: 3, targets: 1, secondsPerRun: 10, source: 'history' }).maxCostUsd, 0, 'machines it does not launch are not charged');
  });
});
