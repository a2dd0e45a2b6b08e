import * as assert from 'node:assert';
import { flattenNodeErrors } from '../../src/api/comfyClient';
import { type ApiPrompt } from '../../src/api/comfyTypes';
import { checkAgainstObjectInfo } from '../../src/core/objectInfoCheck';
import { analyzeWorkflow, nodeLabel } from '../../src/core/workflowAnalysis';
import { knownProblemsSentence, rejectionMessage, type PromptRejection } from '../../src/core/workflowMessages';
import { readRecordingJson, recordedObjectInfo } from './helpers/workflowFixtures';

interface Recorded {
  request: { prompt?: ApiPrompt } | string;
  status: number;
  body: { error?: { type: string; message: string; details: string }; node_errors?: unknown } | string;
}

const recorded = readRecordingJson<Record<string, Recorded>>('invalid_prompts.json');

/** A recorded 400 as the ComfyUI client parses it, and the prompt that caused it. */
function rejection(name: string): { r: PromptRejection; prompt: ApiPrompt } {
  const { request, body } = recorded[name];
  assert.ok(typeof request === 'object' && request.prompt && typeof body === 'object' && body.error, `${name} is a recorded 400 of a prompt`);
  return {
    r: { errorType: body.error.type, errorMessage: body.error.message, details: body.error.details, nodeErrors: flattenNodeErrors(body.node_errors) },
    prompt: request.prompt,
  };
}

/** Names the nodes the way the run engine does: from the prompt it sent, with `_meta.title`. */
function namesFrom(prompt: ApiPrompt) {
  return (id: string) => (Object.hasOwn(prompt, id) ? { classType: prompt[id].class_type, title: prompt[id]._meta?.title } : undefined);
}

function titled(prompt: ApiPrompt, id: string, title: string): ApiPrompt {
  return { ...prompt, [id]: { ...prompt[id], _meta: { title } } };
}

describe('workflow messages', () => {
  describe('nodeLabel', () => {
    it('names a node by id, title and class; the title only when it says more than the class', () => {
      assert.strictEqual(nodeLabel('32', 'CheckpointLoaderSimple', 'Load Model'), 'Node 32 “Load Model” (CheckpointLoaderSimple)');
      assert.strictEqual(nodeLabel('7', 'KSampler'), 'Node 7 (KSampler)');
      assert.strictEqual(nodeLabel('7', 'KSampler', 'KSampler'), 'Node 7 (KSampler)');
      assert.strictEqual(nodeLabel('7', 'KSampler', '  '), 'Node 7 (KSampler)');
      assert.strictEqual(nodeLabel('7'), 'Node 7');
    });

    it('keeps an untrusted title on one line, without text-direction controls, and cut to a length', () => {
      assert.strictEqual(nodeLabel('1', 'X', 'two\nlines\u202e\tand\u0007more'), 'Node 1 “two lines and more” (X)');
      const label = nodeLabel('1', 'X', 'y'.repeat(500));
      assert.ok(label.length < 80, label);
      assert.ok(label.includes('…”'), label);
    });
  });

  describe('rejectionMessage (recorded ComfyUI 0.3.64 answers)', () => {
    for (const [name, rec] of Object.entries(recorded)) {
      if (rec.status !== 400 || typeof rec.body !== 'object' || !rec.body.error || typeof rec.request !== 'object' || !rec.request.prompt) continue;
      it(`puts "${name}" in words, without error types or "Node ID '#…'"`, () => {
        const { r, prompt } = rejection(name);
        const message = rejectionMessage(r, namesFrom(prompt));
        assert.match(message, /^ComfyUI rejected the workflow(?: \(\d+ problems\))?: \S/);
        assert.ok(!message.includes(`[${r.errorType}]`) && !message.includes('Node ID') && !message.includes('#'), message);
        for (const n of r.nodeErrors) for (const e of n.errors) assert.ok(!message.includes(`[${e.type}]`) && !message.includes(e.type), message);
        assert.match(message, /\.$/);
      });
    }

    it('names an unknown class by its node title and class', () => {
      const { r, prompt } = rejection('unknown_node_class');
      assert.strictEqual(rejectionMessage(r, namesFrom(titled(prompt, '1', 'Load Model'))), 'ComfyUI rejected the workflow: node 1 “Load Model” (NoSuchNode) is not installed on this server.');
      assert.strictEqual(rejectionMessage(r, () => undefined), 'ComfyUI rejected the workflow: node 1 (NoSuchNode) is not installed on this server.');
    });

    it('says which value is wrong and why, per input', () => {
      const say = (name: string, title?: [string, string]) => {
        const { r, prompt } = rejection(name);
        return rejectionMessage(r, namesFrom(title ? titled(prompt, ...title) : prompt));
      };
      assert.strictEqual(say('combo_value_not_in_list', ['3', 'Scale it']), "ComfyUI rejected the workflow: node 3 “Scale it” (ImageScale): upscale_method 'magic' is not in the list.");
      assert.strictEqual(say('value_below_min'), 'ComfyUI rejected the workflow: node 1 (EmptyImage): width 0 is below the minimum of 1.');
      assert.strictEqual(say('value_not_int'), "ComfyUI rejected the workflow: node 1 (EmptyImage): width 'abc' is not a valid INT.");
      assert.strictEqual(say('link_type_mismatch'), 'ComfyUI rejected the workflow: node 2 (SaveImage): images takes IMAGE, but is linked to an output of type INT.');
      assert.strictEqual(say('loadimage_missing_file'), 'ComfyUI rejected the workflow: node 1 (LoadImage): image: Invalid image file: does_not_exist.png.');
      assert.strictEqual(say('missing_class_type'), 'ComfyUI rejected the workflow: node 1 has no class_type.');
      assert.strictEqual(
        say('missing_required_input'),
        'ComfyUI rejected the workflow (3 problems): node 1 (EmptyImage): required input height is missing; node 1 (EmptyImage): required input color is missing; node 1 (EmptyImage): required input batch_size is missing.',
      );
    });
  });

  describe('knownProblemsSentence (the check against the target node list)', () => {
    const objectInfo = recordedObjectInfo();

    it('quotes the first problem and counts the rest', () => {
      const prompt = {
        '32': { class_type: 'HeldoutNoSuchNode', inputs: {}, _meta: { title: 'Load Model' } },
        '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 64, batch_size: 1, color: 0 }, _meta: { title: 'Canvas' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      };
      // JSON keeps integer keys in ascending order: node 1 comes first.
      const problems = checkAgainstObjectInfo(analyzeWorkflow(JSON.stringify(prompt)), objectInfo, 'this machine');
      assert.strictEqual(knownProblemsSentence(problems), 'Node 1 “Canvas” (EmptyImage), input "width": 0 is below the minimum of 1 (and 1 more problem).');
      assert.strictEqual(problems[0].summary, 'Node 1 “Canvas” (EmptyImage), input "width": 0 is below the minimum of 1.');
      assert.ok(problems[0].message.startsWith(`${problems[0].summary} Use a value from 1 to`), problems[0].message);
      assert.strictEqual(knownProblemsSentence(problems.slice(1)), 'Node 32 “Load Model” (HeldoutNoSuchNode) is not installed on this machine.');
      assert.strictEqual(knownProblemsSentence([...problems.slice(1), ...problems, ...problems]), 'Node 32 “Load Model” (HeldoutNoSuchNode) is not installed on this machine (and 4 more problems).');
      assert.strictEqual(knownProblemsSentence([]), '');
    });
  });
});
