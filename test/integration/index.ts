// Loaded by the VS Code extension host as `extensionTestsPath`: runs the *.test.js files of this phase
// with mocha and writes the result file the outer runner (scripts/run-host-tests.mjs) trusts.
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';
import * as vscode from 'vscode';

interface PhaseFile {
  phase: string;
  resultFile?: string;
  /** A window loaded several times (the restore phase): one stage per load, in order, each with its result file. */
  stages?: { phase: string; resultFile: string }[];
}

/**
 * Which window this is, from the file the runner writes per phase (RUNCOMFY_TEST_PHASE_FILE): `main`
 * (one folder, trust off) runs `name.test.js`; `multiRoot` (two folders, trust off) runs
 * `name.multiRoot.test.js`; `restricted` (the same two folders, untrusted) runs `name.restricted.test.js`.
 * A phase with stages runs the first stage that has no result yet (`name.beforeReload.test.js`, then
 * after the reload `name.afterReload.test.js`); `reloadAfter` when a later stage follows.
 * Without the file (the Electron runner) it is `main`, writing to RUNCOMFY_TEST_RESULT_FILE.
 */
function currentPhase(): { phase: string; resultFile?: string; reloadAfter: boolean } {
  const file = process.env.RUNCOMFY_TEST_PHASE_FILE;
  if (!file) return { phase: 'main', resultFile: process.env.RUNCOMFY_TEST_RESULT_FILE, reloadAfter: false };
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as PhaseFile;
  if (!p.stages) return { phase: p.phase, resultFile: p.resultFile, reloadAfter: false };
  const next = p.stages.findIndex((s) => !fs.existsSync(s.resultFile));
  if (next < 0) throw new Error(`phase ${p.phase}: every stage already ran; the window loaded once more than it has stages`);
  return { ...p.stages[next], reloadAfter: next < p.stages.length - 1 };
}

function phaseOf(fileName: string): string {
  return /\.([A-Za-z]+)\.test\.js$/.exec(fileName)?.[1] ?? 'main';
}

export function run(): Promise<void> {
  const { phase, resultFile, reloadAfter } = currentPhase();
  // HOST_TEST_GREP runs only the tests whose full title matches it (for working on one area).
  const grep = process.env.HOST_TEST_GREP;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 30000, reporter: 'spec', ...(grep ? { grep } : {}) });
  for (const f of fs.readdirSync(__dirname).sort()) {
    if (f.endsWith('.test.js') && phaseOf(f) === phase) mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const s = runner.stats ?? { passes: 0, failures, pending: 0, tests: 0 };
      if (resultFile) fs.writeFileSync(resultFile, JSON.stringify({ passed: s.passes, failed: s.failures, pending: s.pending, total: s.tests }));
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      // The window reloads as a user's Reload Window does, while this extension host still runs: VS Code
      // saves the open editors (a webview's state with them) only while their serializer is registered.
      // This host ends with the window; the next load runs the next stage.
      else if (reloadAfter) vscode.commands.executeCommand('workbench.action.reloadWindow').then(() => resolve(), reject);
      else resolve();
    });
  });
}
