import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandIds, ViewIds } from '../../src/commands/commandIds';

interface Manifest {
  engines: { vscode: string };
  capabilities: {
    untrustedWorkspaces: { supported: boolean | 'limited'; description?: string; restrictedConfigurations?: string[] };
    virtualWorkspaces: boolean | { supported: boolean | 'limited'; description?: string };
  };
  devDependencies: Record<string, string>;
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    views: Record<string, { id: string }[]>;
    configuration: { properties: Record<string, { markdownDescription?: string; scope?: string }> };
  };
}

const root = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;

/** `^1.100.0` → [1, 100]. */
function minorOf(range: string): [number, number] {
  const m = /(\d+)\.(\d+)/.exec(range);
  assert.ok(m, `no version in ${range}`);
  return [Number(m[1]), Number(m[2])];
}

describe('package.json', () => {
  it('declares exactly the commands in CommandIds', () => {
    const declared = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepStrictEqual(declared, Object.values(CommandIds).sort());
  });

  it('gives every command the RunComfy category and a Title Case title', () => {
    for (const c of manifest.contributes.commands) {
      assert.strictEqual(c.category, 'RunComfy', c.command);
      for (const word of c.title.replace(/…$/, '').split(' ')) {
        const small = ['a', 'an', 'the', 'in', 'on', 'of', 'to', 'for', 'and', 'or'];
        assert.ok(small.includes(word) || /^[A-Z0-9]/.test(word), `${c.command}: "${c.title}" is not Title Case`);
      }
    }
  });

  it('contributes the views named in ViewIds', () => {
    const views = Object.values(manifest.contributes.views).flat().map((v) => v.id);
    for (const id of Object.values(ViewIds)) assert.ok(views.includes(id), id);
  });

  it('documents every setting and gives it a deliberate scope; apiUrl is application scope', () => {
    const props = manifest.contributes.configuration.properties;
    for (const [key, p] of Object.entries(props)) {
      assert.ok(key.startsWith('runcomfy.'), key);
      assert.ok(p.markdownDescription && p.markdownDescription.length > 20, `${key} has no markdownDescription`);
      assert.ok(p.scope, `${key} has no scope`);
    }
    assert.strictEqual(props['runcomfy.apiUrl']?.scope, 'application');
  });

  it('supports Restricted Mode in part, restricting every workspace-level setting that points at files or servers or shapes a launch', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.strictEqual(trust.supported, 'limited');
    assert.ok(trust.description && trust.description.length > 40);
    const restricted = trust.restrictedConfigurations ?? [];
    const props = manifest.contributes.configuration.properties;
    for (const key of restricted) assert.ok(props[key], `restrictedConfigurations names ${key}, which is not a setting`);
    // A workspace may set these in Restricted Mode: they show or warn, and point at nothing.
    const harmless = ['runcomfy.codeLens.enabled', 'runcomfy.warnBeforeStopMinutes', 'runcomfy.showRunPanel'];
    for (const [key, p] of Object.entries(props)) {
      if (p.scope === 'application') continue;
      assert.ok(restricted.includes(key) || harmless.includes(key), `${key} can be set by a workspace: restrict it, or say here why it is harmless`);
    }
    for (const key of ['runcomfy.apiUrl', 'runcomfy.localServers', 'runcomfy.outputDirectory']) assert.ok(restricted.includes(key), key);
    const virtual = manifest.capabilities.virtualWorkspaces;
    assert.ok(typeof virtual === 'object' && virtual.supported === 'limited' && (virtual.description ?? '').length > 40, 'virtualWorkspaces says what works');
  });

  it('never activates on "*" and stays within the VS Code 1.100 API the test host provides', () => {
    assert.ok(!manifest.activationEvents.includes('*'));
    const [major, minor] = minorOf(manifest.engines.vscode);
    assert.ok(major === 1 && minor <= 100, `engines.vscode ${manifest.engines.vscode} is above 1.100`);
    const [tMajor, tMinor] = minorOf(manifest.devDependencies['@types/vscode'] ?? '');
    assert.ok(tMajor === 1 && tMinor <= minor, '@types/vscode must not be newer than engines.vscode');
  });
});
