// Second load of the restore phase: VS Code restored the editors the first load left, the run panel
// among them, and handed it to the extension's WebviewPanelSerializer with the webview's saved state.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { waitFor } from './helpers';
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
