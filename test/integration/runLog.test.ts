import * as assert from 'assert';
import * as vscode from 'vscode';
import { activateExtension, readLog, state, waitFor, workspaceFile } from './helpers';
import { SimulatorProcess } from './simulator';

interface RunResult {
  status: string;
  promptId: string | null;
}

/** The column where a run line's text starts after its elapsed time (`+0.4s`, `+1m05s`); undefined for other lines. */
function stamped(line: string): { column: number } | undefined {
  const m = /^(.*? \+(?:\d+h)?(?:\d+m)?\d+(?:\.\d)?s {2})/.exec(line);
  return m ? { column: m[1].length } : undefined;
}

/** The lines of the run whose header names `workflow` (the last such run), up to its final line. */
function runLines(log: string, workflow: string, last: RegExp): string[] {
  const lines = log.split('\n');
  const start = lines.map((l) => l.includes(`▶ Run ${workflow} on Log GPU`)).lastIndexOf(true);
  assert.ok(start >= 0, `no run of ${workflow} in the log`);
  const end = lines.findIndex((l, i) => i > start && last.test(l));
  assert.ok(end > start, `the run of ${workflow} has no final line`);
  return lines.slice(start, end + 1);
}

describe('the run log', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;

  before(async () => {
    await activateExtension();
    sim = await SimulatorProcess.start();
  });

  after(() => sim.stop());

  it('gives every line of a run its elapsed time, and success and failure lines the text column of the rest', async () => {
    // A local ComfyUI needs no sign-in. The second workflow fails on the server: its SaveImage
    // writes outside ComfyUI's output folder, which ComfyUI refuses while the prompt runs.
    const target = { kind: 'local', name: 'Log GPU', url: sim.info.localComfyUrl! };
    const escape = workspaceFile('log-escape', 'workflow_api.json');
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: '../../escape' } },
    };
    await vscode.workspace.fs.writeFile(escape, Buffer.from(JSON.stringify(prompt, null, 2)));
    try {
      const ok = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', workspaceFile('hello', 'workflow_api.json'), target);
      assert.strictEqual(ok.status, 'success');
      const failed = await vscode.commands.executeCommand<RunResult>('runcomfy.queueWorkflow', escape, target);
      assert.strictEqual(failed.status, 'error');
    } finally {
      await vscode.workspace.fs.delete(vscode.Uri.joinPath(escape, '..'), { recursive: true });
    }

    const { logDirectory } = await state();
    const log = await waitFor('both runs in the log', () => {
      const text = readLog(logDirectory);
      return text.includes('▶ Run log-escape/workflow_api.json on Log GPU') && text.slice(text.lastIndexOf('▶ Run log-escape')).includes('✖ Failed after') ? text : '';
    });
    const succeeded = runLines(log, 'hello/workflow_api.json', /✔ Succeeded in/);
    const failedRun = runLines(log, 'log-escape/workflow_api.json', /✖ Failed after/);
    const shown = `\n${[...succeeded, ...failedRun].join('\n')}`;

    // Every line a run event wrote carries its time since the run started, lines written together in
    // one batch (under one VS Code timestamp) included. That each keeps the time its event arrived, not
    // the batch's, is proven in test/unit/runLogFormat.test.ts on a manual clock: here batching depends
    // on the machine's speed.
    const eventLine = /Queued as prompt|Started on the server|▸ Node|step \d|✔ Saved|Finished on the server|✔ Succeeded|✖ /;
    for (const run of [succeeded, failedRun]) {
      const lines = run.slice(1).filter((l) => eventLine.test(l));
      assert.ok(lines.length >= 4, shown);
      for (const l of lines) assert.ok(stamped(l), `no elapsed time on "${l}"${shown}`);
    }
    for (const want of ['Queued as prompt', '▸ Node 1 EmptyImage', '✔ Saved', '✔ Succeeded in']) assert.ok(succeeded.some((l) => l.includes(want)), `no "${want}"${shown}`);
    for (const want of ['▸ Node 2 SaveImage', '✖ Node 2 SaveImage failed: Exception', '✖ Failed after']) assert.ok(failedRun.some((l) => l.includes(want)), `no "${want}"${shown}`);

    // One text column for all of them, whatever the level VS Code wrote before the line ([info], [error]).
    const columns = new Set([...succeeded, ...failedRun].map((l) => stamped(l)?.column).filter((c) => c !== undefined));
    assert.strictEqual(columns.size, 1, `run lines start their text in ${columns.size} different columns${shown}`);
    assert.ok(failedRun.some((l) => l.includes('[error]') && stamped(l)), `no error-level line with a time${shown}`);
  });
});
