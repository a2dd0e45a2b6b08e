// Third load of the restore phase: the panel restored from a state naming a folder outside the output
// folders (left by runPanelRestore.afterReload.test.js) says why it shows no run, and loads nothing from there.
import * as assert from 'assert';
import { waitFor } from './helpers';
import { panel } from './panelRestore';

describe('the run panel, restored from a state naming a folder elsewhere', function () {
  this.timeout(60_000);

  it('says in the panel why it reopens no run, and what to do', async () => {
    const p = await waitFor('the restored panel drawing its notice', async () => {
      const s = await panel().catch(() => undefined);
      return s?.open === true && s.rendered?.view === 'notice' ? s : undefined;
    }, 30_000);
    assert.strictEqual(p.restored, true);
    assert.strictEqual(p.view?.kind, 'notice');
    assert.match(p.view?.message ?? '', /which is not under an output folder: the output folders are .*runcomfy-outputs.*Open Run/);
    assert.match(p.rendered?.status ?? '', /not under an output folder/, 'the webview drew the message');
  });
});
