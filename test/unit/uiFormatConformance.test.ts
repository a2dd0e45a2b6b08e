import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ApiPrompt, ObjectInfo } from '../../src/api/comfyTypes';
import { convertUiWorkflow } from '../../src/core/convert/convertUiWorkflow';
import { UiConversionError } from '../../src/core/convert/errors';

/**
 * The converter against the real frontend: `../shared/fixtures/ui-format` (beside the project in CI)
 * holds UI-format workflows with the prompt ComfyUI's frontend produced for each. They come from other
 * projects and are read from there, never copied in. A plain clone has no such folder and skips.
 */

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const casesDir = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'ui-format');

interface CaseEntry {
  name: string;
  missing_classes: string[];
  threw: boolean;
  caveats: string[];
}

interface CaseIndex {
  summary: { fixed_time: string; cases_with_caveats_other_than_missing_or_threw: string[] };
  cases: CaseEntry[];
}

/** The frontend's seeded Math.random for the recordings: mulberry32, reset to seed 1 before each conversion. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
}

function readJsonIfPresent(file: string): unknown {
  return fs.existsSync(file) ? readJson(file) : undefined;
}

/** A readable account of the first node where `actual` and `expected` differ, or undefined when equal. */
function firstDifference(actual: ApiPrompt, expected: ApiPrompt): string | undefined {
  const ids = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
  for (const id of ids) {
    const a = actual[id];
    const e = expected[id];
    if (!a) return `node "${id}" missing; the frontend sent ${JSON.stringify(e)}`;
    if (!e) return `node "${id}" is extra (the frontend sent none): ${JSON.stringify(a)}`;
    try {
      assert.deepStrictEqual(a, e);
    } catch {
      const keys = [...new Set([...Object.keys(e.inputs), ...Object.keys(a.inputs)])];
      const inputs = keys
        .filter((k) => JSON.stringify(a.inputs[k]) !== JSON.stringify(e.inputs[k]))
        .map((k) => `    ${k}: got ${JSON.stringify(a.inputs[k])}, frontend ${JSON.stringify(e.inputs[k])}`);
      const head =
        a.class_type !== e.class_type || a._meta?.title !== e._meta?.title
          ? `  class_type/title: got ${a.class_type}/${String(a._meta?.title)}, frontend ${e.class_type}/${String(e._meta?.title)}\n`
          : '';
      return `node "${id}" differs:\n${head}${inputs.join('\n')}`;
    }
  }
  return undefined;
}

describe('UI format conversion against the frontend (../shared/fixtures/ui-format)', function () {
  if (!fs.existsSync(path.join(casesDir, 'index.json'))) {
    it(`skips: no shared cases at ${casesDir}`, function () {
      this.skip();
    });
    return;
  }
  const index = readJson(path.join(casesDir, 'index.json')) as CaseIndex;
  const objectInfo = readJson(path.join(casesDir, 'object_info.json')) as ObjectInfo;
  const now = new Date(index.summary.fixed_time);
  const clockOrRandom = new Set(index.summary.cases_with_caveats_other_than_missing_or_threw);
  let savedTz: string | undefined;

  before(() => {
    // The recordings were made in a browser running in UTC; `%date:…%` uses local time.
    savedTz = process.env.TZ;
    process.env.TZ = 'UTC';
  });
  after(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  const convert = (name: string): ApiPrompt => {
    const prompt = convertUiWorkflow(readJson(path.join(casesDir, 'corpus', `${name}.json`)), objectInfo, { now, random: mulberry32(1) }).prompt;
    const expected = readJsonIfPresent(path.join(casesDir, 'expected', `${name}.api.json`)) as ApiPrompt | undefined;
    // Where /object_info gives a class no display name, the frontend titles an untitled node from
    // its own bundled translations ("ImageBlur" shows as "Image Blur"), which a converter working
    // from /object_info cannot know; it keeps the class name. Only that title is taken as equal.
    for (const id of Object.keys(prompt)) {
      const node = prompt[id];
      const frontendTitle = expected?.[id]?._meta?.title;
      if (frontendTitle !== undefined && node._meta?.title === node.class_type && !objectInfo[node.class_type]?.display_name) {
        node._meta = { title: frontendTitle };
      }
    }
    return prompt;
  };

  for (const entry of index.cases) {
    if (entry.threw) continue;
    if (entry.missing_classes.length) {
      it(`${entry.name}: refuses, naming every missing class`, () => {
        assert.throws(
          () => convert(entry.name),
          (err: unknown) => {
            assert.ok(err instanceof UiConversionError, String(err));
            assert.strictEqual(err.kind, 'missingClasses');
            assert.deepStrictEqual([...err.missingClasses].sort(), [...entry.missing_classes].sort());
            return true;
          },
        );
      });
      continue;
    }
    const expected = readJson(path.join(casesDir, 'expected', `${entry.name}.api.json`)) as ApiPrompt;
    if (clockOrRandom.has(entry.name)) {
      it(`${entry.name}: matches the frontend where it does not depend on uploads at conversion time`, () => {
        const actual = convert(entry.name);
        assert.deepStrictEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
        const comparable: ApiPrompt = {};
        const expectedComparable: ApiPrompt = {};
        for (const id of Object.keys(expected)) {
          // Load3D's widgets upload a scene capture while converting and name it by the time: such a
          // node cannot be reproduced beyond its class; every other node must match exactly.
          const uploads = JSON.stringify(expected[id].inputs).includes(' [temp]');
          const strip = (node: ApiPrompt[string]) => (uploads ? { class_type: node.class_type, inputs: {} } : node);
          comparable[id] = strip(actual[id]);
          expectedComparable[id] = strip(expected[id]);
        }
        const diff = firstDifference(comparable, expectedComparable);
        if (diff) assert.fail(diff);
      });
      continue;
    }
    it(`${entry.name}: matches the frontend exactly`, () => {
      const diff = firstDifference(convert(entry.name), expected);
      if (diff) assert.fail(diff);
    });
  }
});
