// First load of the restore phase: the window shows a past run in the panel, then the runner reloads
// it (scripts/run-host-tests.mjs) and runPanelRestore.afterReload.test.js checks what came back.
import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, waitFor } from './helpers';
import { panel, writeRestoreRun } from './panelRestore';

/** The webview is a browser page in a busy machine: its waits get a longer deadline than the default. */
const PANEL_WAIT_MS = 30_000;

describe('the run panel, before a reload', function () {
  this.timeout(60_000);

  it('shows a past run, whose folder the webview keeps in its state', async () => {
    await activateExtension();
    const dir = writeRestoreRun();
    await vscode.commands.executeCommand('runcomfy.openRun', vscode.Uri.file(dir));
    // The webview calls setState with the run folder before it reports what it drew.
    const p = await waitFor('the past run drawn by the webview', async () => {
      const s = await panel();
      return s.open && s.showing?.runDir === dir && s.rendered?.outputs === 1 ? s : undefined;
    }, PANEL_WAIT_MS);
    assert.strictEqual(p.restored, false, 'this panel was opened by a command, not restored');
  });
});
