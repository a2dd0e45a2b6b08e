// The same host suite in desktop VS Code, through @vscode/test-electron. It downloads VS Code from
// Microsoft's update server, so it needs the internet; CI uses the code-server host instead
// (scripts/run-host-tests.mjs), which runs the same out/test/integration suite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-electron-'));
const workspace = path.join(tmp, 'workspace');
fs.cpSync(path.join(root, 'samples'), workspace, { recursive: true });
fs.cpSync(path.join(root, 'test/fixtures/workspace'), workspace, { recursive: true });
const resultFile = path.join(tmp, 'result.json');
try {
  await runTests({
    version: '1.100.3',
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'out/test/integration/index.js'),
    launchArgs: [workspace, '--disable-extensions', '--user-data-dir', path.join(tmp, 'user-data')],
    extensionTestsEnv: {
      RUNCOMFY_TEST_HOOKS: '1',
      RUNCOMFY_TEST_RESULT_FILE: resultFile,
      RUNCOMFY_TEST_REPO: root,
      RUNCOMFY_TEST_USER_DATA: path.join(tmp, 'user-data'),
      RUNCOMFY_TEST_MODE_LABEL: 'electron',
    },
  });
  const r = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  console.log(`${r.passed} passed, ${r.failed} failed`);
  process.exitCode = r.failed === 0 && r.total > 0 ? 0 : 1;
} catch (e) {
  console.error(`electron host tests failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
