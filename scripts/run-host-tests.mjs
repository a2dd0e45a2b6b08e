// Runs the host test suite (out/test/integration) inside a real VS Code extension host: code-server
// 4.100.3 (VS Code 1.100.3) driven by Debian's headless Chromium through playwright-core.
//
//   node scripts/run-host-tests.mjs          the extension from this folder (development mode)
//   node scripts/run-host-tests.mjs --vsix   the packaged runcomfy-<version>.vsix, installed with --install-extension
//   --phase=restricted,multiRoot             only these phases (also HOST_TEST_PHASES); default: all
//                                            (with --vsix: main and restricted)
//
// One code-server serves every phase; each phase is a fresh workbench window (its own browser
// context, extension host and user settings) running the test files of that phase
// (test/integration/index.ts picks them):
//   main        the single-folder workspace (samples + test/fixtures/workspace), trust disabled: *.test.js
//   multiRoot   the two-folder test/fixtures/multi-root/runcomfy.code-workspace, trust disabled: *.multiRoot.test.js
//   restricted  the same two folders with Workspace Trust on and the workspace untrusted (Restricted Mode): *.restricted.test.js
//   restore     one folder, one window loaded three times: *.beforeReload.test.js, then the suite reloads the window
//               (VS Code shuts it down and saves its editors, webview state included), *.afterReload.test.js
//               in the restored window, another reload, *.untrustedRestore.test.js; each load has its own extension host
//
// The verdict comes from the result file each phase writes, never from the workbench's exit code alone
// (a crashed extension host reports 0). The last line printed is "N passed, M failed" over all phases.
// Exit codes: 0 pass; 1 test failures, no result or no tests; 2 code-server died; 3 runner crash; 124 timeout.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, launchChromium } from './headlessChromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vsixMode = process.argv.includes('--vsix');
const CODE_SERVER = path.join(root, 'tools/vscode-host/node_modules/code-server/out/node/entry.js');
const testsPath = path.join(root, 'out/test/integration/index.js');
// Per phase: the main suite takes a few minutes; the other phases well under one.
const TIMEOUT_MS = Number(process.env.HOST_TEST_TIMEOUT_MS || 300000);
const PHASE_NAMES = ['main', 'multiRoot', 'restricted', 'restore'];
const phaseArg = process.argv.find((a) => a.startsWith('--phase='))?.slice('--phase='.length) ?? process.env.HOST_TEST_PHASES;
// The packaged vsix skips multiRoot (the same code as in development mode) but runs restricted: VS Code
// disables an installed extension in Restricted Mode unless its manifest declares support. It runs
// restore too: the packaged bundles (dist/panel, dist/webview) are what brings the panel back.
const phases = phaseArg ? phaseArg.split(',').map((p) => p.trim()).filter(Boolean) : vsixMode ? ['main', 'restricted', 'restore'] : PHASE_NAMES;
for (const p of phases) {
  if (!PHASE_NAMES.includes(p)) {
    console.error(`host-tests: unknown phase "${p}"; phases are ${PHASE_NAMES.join(', ')}.`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
const verbose = process.env.HOST_TEST_VERBOSE === '1';

const t0 = Date.now();
const log = (...a) => console.log(`[host-tests +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

for (const [what, p, fix] of [
  ['code-server', CODE_SERVER, 'run `npm run setup`'],
  ['Chromium', CHROMIUM, 'run `npm run setup` (installs Debian\'s chromium)'],
  ['the compiled host suite', testsPath, 'run `npm run compile-tests`'],
  ['the extension bundle', path.join(root, 'dist/extension.js'), 'run `npm run build`'],
]) {
  if (!fs.existsSync(p)) {
    console.error(`host-tests: ${what} not found at ${p}; ${fix}.`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-host-'));
// Everything the run creates (IPC sockets, Chromium profile, logs) stays under tmp, out of $HOME and /tmp.
const runTmp = path.join(tmp, 'tmp');
fs.mkdirSync(runTmp);
process.env.TMPDIR = runTmp;
for (const v of ['XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME']) {
  process.env[v] = path.join(tmp, v.toLowerCase());
  fs.mkdirSync(process.env[v]);
}
const userData = path.join(tmp, 'user-data');
const extDir = path.join(tmp, 'extensions');
const workspace = path.join(tmp, 'workspace');
const multiRoot = path.join(tmp, 'multi-root');
const restoreWorkspace = path.join(tmp, 'restore-workspace');
fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
fs.mkdirSync(extDir, { recursive: true });
// The suite writes outputs into its workspace: give it a fresh copy of the samples users get,
// plus the test-only files of test/fixtures/workspace (a hostile .vscode/settings.json, …).
fs.cpSync(path.join(root, 'samples'), workspace, { recursive: true });
fs.cpSync(path.join(root, 'test/fixtures/workspace'), workspace, { recursive: true });
// Two folders, each with the samples and settings of its own (test/fixtures/multi-root).
for (const folder of ['alpha', 'beta']) fs.cpSync(path.join(root, 'samples'), path.join(multiRoot, folder), { recursive: true });
fs.cpSync(path.join(root, 'test/fixtures/multi-root'), multiRoot, { recursive: true });
const multiRootFile = path.join(multiRoot, 'runcomfy.code-workspace');
// A folder of its own: what the window restores is kept per workspace, and no other phase's editors are in it.
fs.cpSync(path.join(root, 'samples'), restoreWorkspace, { recursive: true });

/** What each phase opens, and whether Workspace Trust is on there (it never trusts anything for us). */
const PHASES = {
  main: { open: { folder: workspace }, trust: false },
  multiRoot: { open: { workspace: multiRootFile }, trust: false },
  restricted: { open: { workspace: multiRootFile }, trust: true },
  restore: { open: { folder: restoreWorkspace }, trust: false, stages: ['beforeReload', 'afterReload', 'untrustedRestore'] },
};

function writeUserSettings(trust) {
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'workbench.enableExperiments': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    // With trust on, an unknown folder opens in Restricted Mode without the modal question.
    'security.workspace.trust.enabled': trust,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'never',
    'npm.fetchOnlinePackageInfo': false,
    'git.enabled': false,
  }, null, 2));
}
// The suite reads which phase it is and where to write its result from this file, rewritten per phase
// (code-server's environment, which the extension hosts inherit, is the same for all of them).
const phaseFile = path.join(tmp, 'phase.json');
fs.writeFileSync(path.join(tmp, 'config.yaml'), 'auth: none\ncert: false\n');

const serverEnv = {
  ...process.env,
  EXTENSIONS_GALLERY: '{}',
  RUNCOMFY_TEST_HOOKS: '1',
  RUNCOMFY_TEST_PHASE_FILE: phaseFile,
  RUNCOMFY_TEST_REPO: root,
  RUNCOMFY_TEST_USER_DATA: userData,
  RUNCOMFY_TEST_MODE_LABEL: vsixMode ? 'vsix' : 'development',
};

let extDevPath = root;
if (vsixMode) {
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const vsix = path.join(root, `runcomfy-${version}.vsix`);
  log('packaging the extension (npm run package)');
  execFileSync('npm', ['run', '-s', 'package'], { cwd: root, stdio: verbose ? 'inherit' : 'pipe' });
  log(`installing ${path.basename(vsix)} (${(fs.statSync(vsix).size / 1024).toFixed(0)} KiB) into a fresh extensions folder`);
  const out = execFileSync(process.execPath, [CODE_SERVER, '--config', path.join(tmp, 'config.yaml'),
    '--user-data-dir', userData, '--extensions-dir', extDir, '--install-extension', vsix], { env: serverEnv, encoding: 'utf8' });
  if (!/successfully installed/i.test(out)) {
    console.error(out);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  // Test mode needs some development extension: an empty one, so the installed vsix is what runs.
  extDevPath = path.join(tmp, 'empty-dev-extension');
  fs.mkdirSync(extDevPath);
  fs.writeFileSync(path.join(extDevPath, 'package.json'), JSON.stringify({ name: 'empty', publisher: 'test', version: '0.0.0', engines: { vscode: '*' } }));
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const port = await freePort();
const authority = `127.0.0.1:${port}`;
const remote = (p) => `vscode-remote://${authority}${p}`;

let server;
let browser;
let finished = false;
async function cleanup() {
  try { if (browser) await browser.close(); } catch { /* already gone */ }
  if (server && server.exitCode === null) {
    try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
    await new Promise((r) => setTimeout(r, 300));
    try { process.kill(-server.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  if (process.env.HOST_TEST_KEEP_TMP === '1') log(`kept ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}
async function finish(code, why, summary) {
  if (finished) return;
  finished = true;
  log(`finished (${vsixMode ? 'vsix' : 'development'}): ${why}; exit code ${code}`);
  await cleanup();
  console.log(summary ?? (code === 0 ? 'host tests passed' : '0 passed, 1 failed'));
  process.exit(code);
}
process.on('SIGINT', () => void finish(130, 'SIGINT'));
process.on('SIGTERM', () => void finish(143, 'SIGTERM'));
process.on('uncaughtException', (err) => { console.error(err); void finish(3, 'uncaught exception in runner'); });
process.on('unhandledRejection', (err) => { console.error(err); void finish(3, 'unhandled rejection in runner'); });

log(`starting code-server on ${authority}`);
// No --disable-workspace-trust: the restricted phase needs trust on. The other phases turn it off
// in their user settings.
server = spawn(process.execPath, [CODE_SERVER,
  '--config', path.join(tmp, 'config.yaml'),
  '--auth', 'none', '--bind-addr', authority,
  '--disable-telemetry', '--disable-update-check',
  '--disable-getting-started-override', '--disable-proxy', '--ignore-last-opened',
  '--user-data-dir', userData, '--extensions-dir', extDir,
], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv });
const serverTail = [];
server.on('exit', (code, sig) => {
  if (finished) return;
  console.error(serverTail.join(''));
  void finish(2, `code-server exited early (code ${code}, signal ${sig})`);
});
await new Promise((resolve) => {
  let buf = '';
  const onData = (d) => {
    const s = d.toString();
    serverTail.push(s);
    if (serverTail.length > 50) serverTail.shift();
    if (verbose) for (const line of s.split('\n')) if (line.trim()) console.log(`[code-server] ${line}`);
    buf += s;
    if (/HTTP server listening on/.test(buf)) resolve();
  };
  server.stdout.on('data', onData);
  server.stderr.on('data', onData);
});
log('code-server is listening');

browser = await launchChromium();

/**
 * Runs one phase in a fresh browser context (so a phase's window state and secrets never reach the
 * next) and resolves with its result: `{ passed, failed, pending, total }` summed over its stages, or
 * null when a stage's suite wrote none (the extension host crashed or run() never finished).
 * A phase with stages loads its window once per stage: the page is reloaded between them, as a user's
 * Reload Window does, in the same browser context (the workbench keeps its state in the browser).
 */
async function runPhase(name) {
  const phase = PHASES[name];
  writeUserSettings(phase.trust);
  const context = await browser.newContext();
  const page = await context.newPage();
  if (verbose) page.on('console', (msg) => console.log(`[browser ${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => console.error(`[page error] ${err}`));
  // A reload asks the page's beforeunload first; nothing here is unsaved, so let it go on.
  page.on('dialog', (d) => void d.accept().catch(() => undefined));
  let exited = () => undefined;
  // The workbench forwards every extension-host console call here, including mocha's reporter.
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const line = util.format(...args);
    if (type === 'error') console.error(`[vscode ${type}] ${line}`);
    else console.log(`[vscode] ${line}`);
  });
  await page.exposeFunction('codeAutomationExit', (code) => exited(code));
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', remote(extDevPath)],
    ['extensionTestsPath', remote(testsPath)],
    ['skipWelcome', 'true'],
    // Development mode: only the extension under test (plus built-ins) loads. In vsix mode the
    // extensions folder holds just the installed vsix, which must stay enabled.
    ...(vsixMode ? [] : [['disableExtensions', 'true']]),
  ]);
  const target = phase.open.folder ? `folder=${encodeURIComponent(remote(phase.open.folder))}` : `workspace=${encodeURIComponent(remote(phase.open.workspace))}`;
  const total = { passed: 0, failed: 0, pending: 0, total: 0 };
  const stages = (phase.stages ?? [name]).map((stage) => ({ phase: stage, resultFile: path.join(tmp, `result-${name}-${stage}.json`) }));
  fs.writeFileSync(phaseFile, JSON.stringify(phase.stages ? { phase: name, stages } : { phase: name, resultFile: stages[0].resultFile }));
  for (const [i, stage] of stages.entries()) {
    const label = stages.length > 1 ? `phase ${name} (${stage.phase})` : `phase ${name}`;
    const last = i === stages.length - 1;
    const exit = new Promise((resolve) => { exited = resolve; });
    if (i === 0) {
      log(`${label}: opening the workbench (${phase.open.folder ? 'folder' : 'multi-root workspace'}, workspace trust ${phase.trust ? 'on' : 'off'})`);
      await page.goto(`http://${authority}/?${target}&payload=${encodeURIComponent(payload)}`);
      log(`${label}: workbench loaded; waiting for the suite`);
    }
    // A stage before the last ends with the suite reloading the window (test/integration/index.ts), not
    // with an exit: the next load of the page runs the next stage. An exit there means the stage failed.
    const reloaded = last ? new Promise(() => undefined) : new Promise((resolve) => page.once('load', () => resolve('reloaded')));
    let timer;
    const code = await Promise.race([exit, reloaded, new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS); })]);
    clearTimeout(timer);
    if (code === 'timeout') return finish(124, `${label}: timeout after ${TIMEOUT_MS} ms`);
    let r = null;
    try { r = JSON.parse(fs.readFileSync(stage.resultFile, 'utf8')); } catch { /* no result: the caller reports it */ }
    log(`${label}: ${code === 'reloaded' ? 'the window reloaded' : `workbench reported ${code}`}; ${r ? `${r.passed} passed, ${r.failed} failed` : 'no result'}`);
    if (!r) {
      await context.close();
      return null;
    }
    total.passed += r.passed;
    total.failed += r.failed + (code === 0 || code === 'reloaded' || r.failed > 0 ? 0 : 1);
    total.pending += r.pending;
    total.total += r.total;
    if (code !== 'reloaded') break;
    log(`phase ${name} (${stages[i + 1].phase}): the restored window is loaded; waiting for the suite`);
  }
  // Closing the window ends its extension host before the next phase starts one.
  await context.close();
  return total;
}

const totals = { passed: 0, failed: 0, total: 0 };
const problems = [];
for (const name of phases) {
  const r = await runPhase(name);
  if (!r) {
    problems.push(`phase ${name}: the suite wrote no result (extension host crashed or run() never finished)`);
    totals.failed += 1;
    continue;
  }
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.total += r.total;
  // HOST_TEST_GREP may leave a phase empty; a full run must run something in every phase.
  if (r.total === 0 && !process.env.HOST_TEST_GREP) problems.push(`phase ${name}: no test ran`);
}
const summary = `${totals.passed} passed, ${totals.failed} failed`;
if (totals.total === 0) problems.push('no test ran');
await finish(totals.failed === 0 && problems.length === 0 ? 0 : 1, problems.join('; ') || `phases ${phases.join(', ')}`, summary);
