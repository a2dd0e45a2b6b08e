// Loaded by the VS Code extension host as `extensionTestsPath`: runs the *.test.js files of this phase
// with mocha and writes the result file the outer runner (scripts/run-host-tests.mjs) trusts.
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

/**
 * Which window this is, from the file the runner writes per phase (RUNCOMFY_TEST_PHASE_FILE): `main`
 * (one folder, trust off) runs `name.test.js`; `multiRoot` (two folders, trust off) runs
 * `name.multiRoot.test.js`; `restricted` (the same two folders, untrusted) runs `name.restricted.test.js`.
 * Without the file (the Electron runner) it is `main`, writing to RUNCOMFY_TEST_RESULT_FILE.
 */
function currentPhase(): { phase: string; resultFile?: string } {
  const file = process.env.RUNCOMFY_TEST_PHASE_FILE;
  if (!file) return { phase: 'main', resultFile: process.env.RUNCOMFY_TEST_RESULT_FILE };
  return JSON.parse(fs.readFileSync(file, 'utf8')) as { phase: string; resultFile: string };
}

function phaseOf(fileName: string): string {
  return /\.([A-Za-z]+)\.test\.js$/.exec(fileName)?.[1] ?? 'main';
}

export function run(): Promise<void> {
  const { phase, resultFile } = currentPhase();
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
      else resolve();
    });
  });
}
