import * as assert from 'assert';
import * as vscode from 'vscode';
import { EXTENSION_ID, activateExtension } from './helpers';

interface ManifestCommand {
  command: string;
}

describe('the extension in a real VS Code host', () => {
  let ext: vscode.Extension<unknown>;

  before(async () => {
    ext = await activateExtension();
  });

  it('is found and activates', () => {
    assert.strictEqual(ext.id, EXTENSION_ID);
    assert.ok(ext.isActive);
    console.log(`    VS Code ${vscode.version} (${vscode.env.appName}), mode ${process.env.RUNCOMFY_TEST_MODE_LABEL}, from ${ext.extensionPath}`);
  });

  it('registers every command it declares, and declares every command it registers', async () => {
    const manifest = ext.packageJSON as { contributes: { commands: ManifestCommand[]; views: Record<string, { id: string }[]> } };
    const declared = manifest.contributes.commands.map((c) => c.command).sort();
    const viewIds = Object.values(manifest.contributes.views).flat().map((v) => v.id);
    // VS Code itself registers `<view id>.focus` and friends for every view; the test hook is not shipped.
    const generated = (id: string) => viewIds.some((v) => id.startsWith(`${v}.`)) || id.startsWith('runcomfy.test.');
    const registered = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('runcomfy.') && !generated(c)).sort();
    assert.ok(declared.length >= 3, `manifest declares ${declared.length} commands`);
    assert.deepStrictEqual(registered, declared);
  });

  it('contributes the RunComfy views and the log', async () => {
    await vscode.commands.executeCommand('runcomfy.workflows.focus');
    await vscode.commands.executeCommand('runcomfy.machines.focus');
    await vscode.commands.executeCommand('runcomfy.showLog');
  });
});
