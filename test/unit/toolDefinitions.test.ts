import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runcomfyTools } from '../../src/core/tools/runcomfyTools';
import { ToolError, validateToolInput } from '../../src/core/tools/toolDefinition';
import { resolveToolPath } from '../../src/core/tools/toolPaths';

interface ManifestTool {
  name: string;
  displayName: string;
  toolReferenceName: string;
  userDescription: string;
  modelDescription: string;
  tags: string[];
  canBeReferencedInPrompt: boolean;
  inputSchema: unknown;
}

const root = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { contributes: { languageModelTools: ManifestTool[] } };

describe('agent tool definitions (src/core/tools)', () => {
  it("match package.json's languageModelTools: names, words and input schemas", () => {
    // The VS Code tools are registered from the core definitions; the manifest must declare exactly those.
    const expected = runcomfyTools.map((t) => ({
      name: `runcomfy_${t.name}`,
      displayName: t.title,
      toolReferenceName: t.referenceName,
      userDescription: t.userDescription,
      modelDescription: t.modelDescription,
      tags: [...t.tags],
      canBeReferencedInPrompt: true,
      inputSchema: JSON.parse(JSON.stringify(t.inputSchema)) as unknown,
    }));
    assert.deepEqual(manifest.contributes.languageModelTools, expected);
  });

  it('use names VS Code and MCP accept, and say in their description when they cost money', () => {
    for (const t of runcomfyTools) {
      assert.match(`runcomfy_${t.name}`, /^(?!copilot_|vscode_)[\w-]+$/);
      assert.match(t.referenceName, /^[\w-]+$/);
      assert.match(t.name, /^[a-z_]{1,64}$/);
      assert.equal(t.modelDescription.includes('COSTS MONEY'), t.spends, `${t.name}: modelDescription and spends disagree`);
      assert.equal(t.tags.includes('spends-money'), t.spends, t.name);
      if (t.spends || t.name === 'stop_machine') assert.ok(typeof t.confirmation === 'function', `${t.name} must ask before it runs`);
    }
  });

  it('validate inputs with messages a model can act on', () => {
    const launch = runcomfyTools.find((t) => t.name === 'launch_machine')!;
    assert.deepEqual(validateToolInput(launch.inputSchema, { version_id: 'v', server_type: 'large', duration_minutes: 30 }), []);
    assert.deepEqual(validateToolInput(launch.inputSchema, { version_id: 'v', server_type: 'huge', duration_minutes: 2.5, extra: 1 }), [
      '"server_type" must be one of medium, large, extra-large, 2x-large, 2xl-turbo.',
      '"duration_minutes" must be a whole number.',
      '"extra" is not an input of this tool (it takes version_id, server_type, duration_minutes).',
    ]);
    assert.match(validateToolInput(launch.inputSchema, {})[0], /^"version_id" is required: /);
    assert.deepEqual(validateToolInput(launch.inputSchema, 'launch'), ['The input must be a JSON object.']);
    // A sweep's axes are an object keyed NODE.INPUT; the CLI's --vary string is refused in words.
    const sweep = runcomfyTools.find((t) => t.name === 'estimate_sweep')!;
    assert.deepEqual(validateToolInput(sweep.inputSchema, { workflow_path: 'a.json', axes: { '3.seed': '1..4' } }), []);
    assert.deepEqual(validateToolInput(sweep.inputSchema, { workflow_path: 'a.json', axes: '3.seed=1..4' }), ['"axes" must be a JSON object.']);
  });

  it('read workflow paths only as .json files inside the allowed roots, symbolic links followed', async () => {
    const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-toolpath-')));
    try {
      const rootDir = path.join(base, 'ws');
      fs.mkdirSync(path.join(rootDir, 'flows'), { recursive: true });
      fs.writeFileSync(path.join(rootDir, 'flows', 'a.json'), '{}');
      fs.writeFileSync(path.join(base, 'outside.json'), '{}');
      fs.writeFileSync(path.join(rootDir, 'notes.txt'), 'x');
      fs.symlinkSync(path.join(base, 'outside.json'), path.join(rootDir, 'link.json'));
      const ok = await resolveToolPath('flows/a.json', [rootDir], 'the workspace');
      assert.deepEqual(ok, { absPath: path.join(rootDir, 'flows', 'a.json'), displayPath: path.join('flows', 'a.json'), root: rootDir });
      const refused = async (raw: unknown, code: string) => {
        const e = await resolveToolPath(raw, [rootDir], 'the workspace').then(() => undefined, (x: unknown) => x);
        assert.ok(e instanceof ToolError, `${String(raw)} was accepted`);
        assert.equal(e.code, code, `${String(raw)}: ${e.message}`);
      };
      await refused('../outside.json', 'outside_workspace');
      await refused(path.join(base, 'outside.json'), 'outside_workspace');
      await refused('link.json', 'outside_workspace');
      await refused('notes.txt', 'not_a_workflow');
      await refused('flows', 'not_a_workflow');
      await refused('missing.json', 'not_found');
      await refused('', 'invalid_input');
      await refused(42, 'invalid_input');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
