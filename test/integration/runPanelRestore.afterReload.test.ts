// Second load of the restore phase: VS Code restored the editors the first load left, the run panel
// among them, and handed it to the extension's WebviewPanelSerializer with the webview's saved state.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { waitFor, workspaceFile } from './helpers';
import { fromWebview, panel, restoreRunDir } from './panelRestore';

const PANEL_WAIT_MS = 30_000;

describe('the run panel, after a reload', function () {
  this.timeout(60_000);

  it('is restored by its serializer, shows the same run and answers its webview', async () => {
    // Nothing here opens the panel: only VS Code's restore, through the serializer, can.
    const p = await waitFor('the restored panel drawn by its webview', async () => {
      // Before the extension is active its test commands are not there yet.
      const s = await panel().catch(() => undefined);
      return s?.open === true && s.rendered?.outputs === 1 ? s : undefined;
    }, PANEL_WAIT_MS);
    assert.strictEqual(p.restored, true, 'the panel came from the serializer');
    assert.strictEqual(p.showing?.kind, 'record');
    assert.strictEqual(p.showing?.runDir, fs.realpathSync(restoreRunDir()));
    assert.ok(p.received.includes('ready'), `the restored webview asked for its state: ${JSON.stringify(p.received)}`);

    // The webview's Open button: the output opens in an editor.
    const file = path.join(fs.realpathSync(restoreRunDir()), 'ComfyUI_00001_.png');
    await fromWebview({ type: 'openOutput', index: 0, side: 'left' });
    await waitFor('the output open in an editor', () =>
      vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => (t.input as { uri?: vscode.Uri } | undefined)?.uri?.fsPath === file)),
    );
  });
});

describe('the run panel, a state from elsewhere', function () {
  this.timeout(60_000);

  it('leaves a run panel whose saved state names a folder outside the output folders, for the next load', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitFor('the restored panel closed', async () => !(await panel()).open);
    // A page of the panel's type that saves what no panel of ours would: the serializer gets it back as is.
    const forged = vscode.window.createWebviewPanel('runcomfy.run', 'RunComfy Run', vscode.ViewColumn.One, { enableScripts: true });
    const saved = new Promise<void>((resolve) => forged.webview.onDidReceiveMessage((m: unknown) => m === 'saved' && resolve()));
    forged.webview.html = `<!DOCTYPE html><html><body><script>
      const api = acquireVsCodeApi();
      api.setState({ runDir: ${JSON.stringify(path.dirname(workspaceFile().fsPath))} });
      api.postMessage('saved');
    </script></body></html>`;
    await saved;
  });
});
