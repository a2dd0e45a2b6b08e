// Loaded by the VS Code extension host as `extensionTestsPath`: runs every *.test.js beside it with mocha
// and writes the result file the outer runner (scripts/run-host-tests.mjs) trusts.
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // HOST_TEST_GREP runs only the tests whose full title matches it (for working on one area).
  const grep = process.env.HOST_TEST_GREP;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 30000, reporter: 'spec', ...(grep ? { grep } : {}) });
  for (const f of fs.readdirSync(__dirname).sort()) {
    if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const s = runner.stats ?? { passes: 0, failures, pending: 0, tests: 0 };
      const out = process.env.RUNCOMFY_TEST_RESULT_FILE;
      if (out) fs.writeFileSync(out, JSON.stringify({ passed: s.passes, failed: s.failures, pending: s.pending, total: s.tests }));
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    });
  });
}
