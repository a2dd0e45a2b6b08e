// `npm run screenshots`: pictures of the real extension for the README and for review, taken in the
// pinned code-server (VS Code 1.100.3) against the built-in simulators and written to media/screenshots/.
//
// `scripts/start.mjs` builds and starts everything (simulators, demo profile, code-server) in a fresh
// throwaway folder; this script seeds a Ready machine through the RunComfy simulator's admin route, then
// drives the workbench in Debian's headless Chromium like a user would: activity bar, Quick Open,
// CodeLens, command palette. Every wait is for real UI state.
//
//   sidebar.png     the RunComfy container: workflows expanded to versions, the Ready machine, the local server (default width)
//   codelens.png    samples/invert-photo/workflow_api.json with its lenses
//   runs.png        after the CodeLens run: the Runs view and the success notification
//   log.png         the "RunComfy" output channel with that run
//   statusbar.png   the money status bar item with its hover
//   run-panel.png   the run panel during a text-to-image run on the machine, mid-way through the KSampler:
//                   node title and class, step bar, the latest JPEG latent preview, the cost so far
//   run-gallery.png the same panel when the run ended: images, an animated PNG, a video and an MP3, timings, target
//   run-compare.png Compare Runs…: a second run with another seed and cfg, the inputs that differed, the image slider
//   run-gallery-light.png, run-compare-light.png   the same in the Light Modern theme
//   sweep-contact-sheet.png (+ -light)  a seed × cfg sweep on the machine (from its *.sweep.json lens), its
//                   contact sheet: the first image of every run, rows by seed, columns by cfg
//
// About 45 s. On a failure the page as it was is saved to screenshots-tmp/failure.png (git-ignored).
// Exit codes: 0 done; 1 a step failed (its error is printed); 124 overall timeout (SCREENSHOTS_TIMEOUT_MS);
// 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, launchChromium } from './headlessChromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'media/screenshots');
const TIMEOUT_MS = Number(process.env.SCREENSHOTS_TIMEOUT_MS || 240000);
const STEP_MS = 30000;
const VIEWPORT = { width: 1440, height: 900 };

if (!fs.existsSync(CHROMIUM)) {
  console.error(`screenshots: Chromium not found at ${CHROMIUM}; run \`npm run setup\` (installs Debian's chromium).`);
  process.exit(1);
}

const t0 = Date.now();
const log = (...a) => console.log(`[screenshots +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

// Profile, workspace, browser profile and IPC sockets all live in one folder that is removed at the end,
// so the pictures never depend on (or disturb) a developer's own `.demo/` and nothing lands in $HOME.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-'));
const childEnv = { ...process.env, TMPDIR: path.join(tmp, 'tmp') };
fs.mkdirSync(childEnv.TMPDIR);
for (const v of ['XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME']) {
  childEnv[v] = path.join(tmp, v.toLowerCase());
  fs.mkdirSync(childEnv[v]);
}
// start.mjs puts its demo profile and workspace in tmp too (short: the log shows the saved paths), and
// merges its settings (simulator URLs, no startup editor) into these, which keep tips, minimap and
// update checks, and the highlights around the cursor, out of the pictures.
fs.mkdirSync(path.join(tmp, 'user-data/User'), { recursive: true });
fs.writeFileSync(path.join(tmp, 'user-data/User/settings.json'), JSON.stringify({
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'workbench.enableExperiments': false,
  'workbench.tips.enabled': false,
  'workbench.editor.enablePreview': false,
  'editor.minimap.enabled': false,
  'editor.occurrencesHighlight': 'off',
  'editor.matchBrackets': 'never',
  'npm.fetchOnlinePackageInfo': false,
  'git.enabled': false,
  // The CodeLens run below must not open the run panel beside the workflow (runs.png, log.png); the
  // run panel pictures open it with Open Run.
  'runcomfy.showRunPanel': 'never',
}, null, 2));

let starter;
let info;
let browser;
let page;
let finished = false;
async function finish(code, why) {
  if (finished) return;
  finished = true;
  if (why) console.error(`screenshots: ${why}`);
  if (code !== 0 && page) {
    // What the workbench showed when a step gave up: usually enough to see which selector went stale.
    const failure = path.join(root, 'screenshots-tmp/failure.png');
    fs.mkdirSync(path.dirname(failure), { recursive: true });
    try {
      await page.screenshot({ path: failure, timeout: 5000 });
      console.error(`screenshots: the page at the failure is in ${path.relative(root, failure)}`);
    } catch { /* the page is gone too */ }
  }
  try { if (browser) await browser.close(); } catch { /* already gone */ }
  // start.mjs stops the simulators and code-server on SIGTERM. The folder goes only once every process
  // of theirs is gone: code-server's helpers outlive it briefly and would write into it again.
  if (starter && starter.exitCode === null) process.kill(starter.pid, 'SIGTERM');
  await endGroup(starter?.pid);
  await endGroup(info?.codeServerPid);
  fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  log(code === 0 ? `done; pictures in ${path.relative(root, outDir)}/` : `failed (exit code ${code})`);
  process.exit(code);
}
/** Waits up to 10 s for every process of a group to exit, then kills what is left. */
async function endGroup(pgid) {
  if (!pgid) return;
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let waited = 0; alive() && waited < 10000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pgid, 'SIGKILL');
}
process.on('SIGINT', () => void finish(130, 'interrupted'));
process.on('SIGTERM', () => void finish(143, 'terminated'));
process.on('SIGHUP', () => void finish(129, 'hung up'));
process.on('uncaughtException', (err) => void finish(1, err.stack ?? String(err)));
process.on('unhandledRejection', (err) => void finish(1, err?.stack ?? String(err)));
setTimeout(() => void finish(124, `timeout after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

log('starting the simulators and code-server (scripts/start.mjs)');
starter = spawn(process.execPath, [path.join(root, 'scripts/start.mjs'), '--skip-setup', '--code-server', '--json',
  '--port', String(await freePort()), '--demo-dir', tmp],
{ cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
const starterTail = [];
const remember = (line) => {
  starterTail.push(line);
  if (starterTail.length > 40) starterTail.shift();
};
readline.createInterface({ input: starter.stderr }).on('line', remember);
info = await new Promise((resolve, reject) => {
  readline.createInterface({ input: starter.stdout }).on('line', (line) => {
    remember(line);
    if (line.startsWith('{')) resolve(JSON.parse(line));
  });
  starter.once('exit', (code) => reject(new Error(`scripts/start.mjs exited (code ${code}) before VS Code was ready:\n${starterTail.join('\n')}`)));
});
starter.on('exit', (code) => void finish(1, `scripts/start.mjs exited early (code ${code}):\n${starterTail.join('\n')}`));

// A machine "launched elsewhere" a few minutes ago, so the tree, the lenses and the status bar show a
// Ready machine with time left and money spent from the first poll on. Fixed id: stable pictures.
const serverId = '761af3a7-5c2e-4d8b-9f10-2b7c4e9a6d31';
const machineId = serverId.split('-')[0];
const seeded = await fetch(`${info.runcomfyUrl}/__sim/machines`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ server_id: serverId, server_type: 'large', estimated_duration: 2800, ready_seconds_ago: 235 }),
});
if (!seeded.ok) throw new Error(`seeding a machine failed: ${seeded.status} ${await seeded.text()}`);

browser = await launchChromium({ env: childEnv });
page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
page.setDefaultTimeout(STEP_MS);
page.on('pageerror', (err) => console.error(`[page error] ${err}`));
fs.mkdirSync(outDir, { recursive: true });
const shot = async (name, options = {}) => {
  await page.screenshot({ path: path.join(outDir, name), ...options });
  log(`wrote ${path.relative(root, path.join(outDir, name))}`);
};

/** Runs a command from the palette (F1), clicking the entry whose label starts with `title`. */
async function runCommand(title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await pick(title);
}
/** Clicks the entry of the open quick pick whose label starts with `label`. */
async function pick(label) {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await page.locator('.quick-input-list [role="option"]').filter({ hasText: new RegExp(`^${escaped}`) }).first().click();
}

log('opening the workbench');
await page.goto(info.vscodeUrl);
await page.locator('.monaco-workbench .part.activitybar').waitFor();

log('opening the RunComfy container');
await page.locator('.part.activitybar a.action-label[aria-label="RunComfy"]').click();
const sidebar = page.locator('.part.sidebar');
const row = (label) => sidebar.locator(`[role="treeitem"][aria-label*="${label}"]`).first();
await row('Flux portrait').waitFor();
// An Extension Development Host in the browser starts in Light+ whatever workbench.colorTheme says;
// picking the theme like a user does gives the pictures the theme desktop VS Code starts with. Only
// now: the themes are listed once the extension hosts are up, which the workflows tree just proved.
await runCommand('Preferences: Color Theme');
await page.locator('.quick-input-widget input[placeholder^="Select Color Theme"]').waitFor();
await pick('Dark Modern');
await page.locator('.monaco-workbench.vs-dark').waitFor();
// Twisties, not rows: a click on a row would leave it highlighted as the selection.
for (const name of ['Background removal', 'Flux portrait', 'SDXL upscale', 'Wan 2.1 image to video']) {
  const item = row(name);
  if ((await item.getAttribute('aria-expanded')) !== 'true') await item.locator('.monaco-tl-twistie').click();
  await sidebar.locator(`[role="treeitem"][aria-label*="${name}"][aria-expanded="true"]`).waitFor();
}
await row('v3 face detailer').waitFor();
await row(machineId).getByText(/^Ready · \d+ min left/).waitFor();
await row('Local ComfyUI').waitFor();
const money = page.locator('.part.statusbar .statusbar-item', { hasText: /^\s*1 · ~\$/ });
await money.waitFor();

// The sidebar at its default width: the rows must say what matters (status, time left) without widening it.
const wide = await sidebar.boundingBox();
// Focus elsewhere, so no tree row wears the focus outline.
await page.locator('.part.editor').click();
await shot('sidebar.png', { clip: { x: 0, y: wide.y, width: wide.x + wide.width, height: VIEWPORT.height - wide.y } });

log('opening samples/invert-photo/workflow_api.json with Quick Open');
await page.keyboard.press('Control+P');
await page.locator('.quick-input-widget input').fill('invert-photo/workflow_api.json');
await pick('workflow_api.json');
const queueLens = page.locator('.part.editor .codelens-decoration a', { hasText: `▶ Queue on RunComfy (large ${machineId})` });
await queueLens.waitFor();
await page.locator('.part.editor .codelens-decoration a', { hasText: 'Queue on…' }).waitFor();
await page.locator('.part.editor .codelens-decoration a', { hasText: '↑ uploads photo.png' }).waitFor();
// Opening a JSON file activates the built-in JSON support, announced in the status bar for a moment.
await page.locator('.part.statusbar', { hasText: 'Activating Extensions' }).waitFor({ state: 'hidden' });
await shot('codelens.png');

log('queueing it from the CodeLens');
await queueLens.click();
await page.locator('.notification-toast', { hasText: 'Open Outputs' }).waitFor({ timeout: 60000 });
await page.locator('.pane-header', { hasText: 'Runs' }).click();
await sidebar.locator('[role="treeitem"]', { hasText: 'succeeded in' }).waitFor();
// Back to the workflow (its first line, where the cursor was), so the Runs header loses the focus outline.
await page.locator('.part.editor .view-lines').first().click({ position: { x: 1, y: 1 } });
await shot('runs.png');

log('showing the log');
await runCommand('Notifications: Clear All Notifications');
// The whole window for the log, so its lines (long paths) wrap as little as possible.
await runCommand('View: Toggle Primary Side Bar Visibility');
await sidebar.waitFor({ state: 'hidden' });
await runCommand('RunComfy: Show Log');
const panel = page.locator('.part.panel');
await panel.locator('.view-lines', { hasText: 'Succeeded' }).waitFor();
await runCommand('View: Toggle Maximized Panel');
await page.locator('.monaco-workbench.nomaineditorarea').waitFor();
// Focus on the Output tab: the log's cursor is drawn only while the log has focus.
await panel.getByRole('tab', { name: /^Output/ }).click();
const box = await panel.boundingBox();
const lastLine = await panel.locator('.view-line').evaluateAll((lines) => Math.max(...lines.filter((l) => l.textContent.trim()).map((l) => l.getBoundingClientRect().bottom)));
await shot('log.png', { clip: { ...box, height: Math.min(box.height, lastLine + 12 - box.y) } });

log('hovering the status bar item');
await money.hover();
const hover = page.locator('.monaco-hover', { hasText: 'machine billing' });
await hover.waitFor();
const bar = await page.locator('.part.statusbar').boundingBox();
const tip = await hover.boundingBox();
const top = Math.max(0, Math.floor(tip.y) - 16);
await shot('statusbar.png', { clip: { x: 0, y: top, width: Math.min(VIEWPORT.width, Math.max(720, Math.ceil(tip.x + tip.width) + 160)), height: bar.y + bar.height - top } });

log('the run panel during a KSampler run on the machine');
await page.keyboard.press('Escape');
await runCommand('View: Close All Editors');
await runCommand('View: Hide Panel');
await page.locator('.monaco-workbench.nopanel').waitFor();
// Text to image with every kind of output the simulator writes: the images (PNG), an animated PNG of the
// batch, an MP4 of it and an MP3. The simulated KSampler takes 100 ms a step and streams a JPEG latent
// preview with each, so 200 steps keep it sampling long enough to catch mid-way.
const demoFlow = (seed, cfg) => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' }, _meta: { title: 'Load Checkpoint' } },
  '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse on a cliff at dusk, oil painting', clip: ['1', 1] }, _meta: { title: 'Positive prompt' } },
  '3': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry, text, watermark', clip: ['1', 1] }, _meta: { title: 'Negative prompt' } },
  '4': { class_type: 'EmptyLatentImage', inputs: { width: 768, height: 512, batch_size: 2 }, _meta: { title: 'Canvas' } },
  '5': { class_type: 'KSampler', inputs: { model: ['1', 0], seed, steps: 200, cfg, sampler_name: 'euler', scheduler: 'karras', positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0], denoise: 1 }, _meta: { title: 'Sampler' } },
  '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] }, _meta: { title: 'Decode' } },
  '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'lighthouse' }, _meta: { title: 'Save images' } },
  '8': { class_type: 'SaveAnimatedPNG', inputs: { images: ['6', 0], filename_prefix: 'lighthouse_loop', fps: 2, compress_level: 4 }, _meta: { title: 'Animated loop' } },
  '9': { class_type: 'CreateVideo', inputs: { images: ['6', 0], fps: 8 }, _meta: { title: 'Frames to video' } },
  '10': { class_type: 'SaveVideo', inputs: { video: ['9', 0], filename_prefix: 'video/lighthouse', format: 'auto', codec: 'auto' }, _meta: { title: 'Save video' } },
  '11': { class_type: 'EmptyLatentAudio', inputs: { seconds: 4, batch_size: 1 }, _meta: { title: 'Audio latent' } },
  '12': { class_type: 'VAEDecodeAudio', inputs: { samples: ['11', 0], vae: ['1', 2] }, _meta: { title: 'Decode audio' } },
  '13': { class_type: 'SaveAudioMP3', inputs: { audio: ['12', 0], filename_prefix: 'audio/lighthouse', quality: 'V0' }, _meta: { title: 'Save soundtrack' } },
});
const demoName = 'lighthouse';
const demoDir = path.join(info.workspace, demoName);
fs.mkdirSync(demoDir, { recursive: true });
fs.writeFileSync(path.join(demoDir, 'workflow_api.json'), JSON.stringify(demoFlow(156680208700286, 7), null, 2));
/** Opens the demo workflow and queues it on the machine from its CodeLens. */
const queueDemo = async () => {
  await page.keyboard.press('Control+P');
  await page.locator('.quick-input-widget input').fill(`${demoName}/workflow_api.json`);
  await page.locator('.quick-input-list [role="option"]').filter({ hasText: demoName }).first().click();
  await page.locator('.part.editor .codelens-decoration a', { hasText: `▶ Queue on RunComfy (large ${machineId})` }).click();
};
await queueDemo();
await page.locator('.notification-toast', { hasText: 'Sampler' }).waitFor({ timeout: 60000 });
// The panel alone in the window: the workflow closed, its run opened with Open Run; the run's progress
// toast (and the one when it ends) kept out of the pictures by Do Not Disturb.
await runCommand('Notifications: Toggle Do Not Disturb Mode');
await page.locator('.notification-toast').first().waitFor({ state: 'hidden' });
await runCommand('View: Close All Editors');
await runCommand('RunComfy: Open Run');
await pick(demoName);
// The page inside the webview: its outer frame, then the frame VS Code loads the page into.
const webview = page.frameLocator('iframe.webview.ready[src*="extensionId=runcomfy-tools"]').frameLocator('iframe#active-frame');
/**
 * Waits until the gallery's video shows its first frame and nothing else: loaded (`readyState` ≥ 2),
 * then its pixels still from one look to the next. Chromium's player lets its loading spinner finish
 * a turn after the frame arrived, inside the player's closed shadow root, so only the pixels tell.
 */
const videoShown = async () => {
  const video = webview.locator('.gallery video').first();
  for (let waited = 0; !(await video.evaluate((v) => v.readyState >= 2 && v.networkState !== v.NETWORK_LOADING)); waited += 100) {
    if (waited > STEP_MS) throw new Error('the gallery\'s video did not load');
    await new Promise((r) => setTimeout(r, 100));
  }
  let before = await video.screenshot({ animations: 'allow' });
  for (let waited = 0; ; waited += 250) {
    if (waited > STEP_MS) throw new Error('the gallery\'s video kept changing (its loading spinner did not stop)');
    await new Promise((r) => setTimeout(r, 250));
    const now = await video.screenshot({ animations: 'allow' });
    if (now.equals(before)) return;
    before = now;
  }
};
/** The run panel to the front and alone: the run's first image opens in an editor of its own when a run ends. */
const panelAlone = async () => {
  await page.locator('.tabs-container .tab', { hasText: `Run: ${demoName}` }).first().click();
  await runCommand('View: Close Other Editors in Group');
  await runCommand('View: Close Editors in Other Groups');
};
// Mid-way: a latent preview shown and the step bar a good part along (steps 40 to 179 of 200).
await webview.locator('.preview img[src]').waitFor({ timeout: 60000 });
await webview.locator('.node-line', { hasText: /Sampler \(KSampler\)\s*step ([4-9]\d|1[0-7]\d) of 200/ }).waitFor({ timeout: 60000 });
await shot('run-panel.png');

log('the gallery when it ends');
await webview.locator('.gallery video').first().waitFor({ timeout: 60000 });
await page.locator('iframe.webview.ready[src*="extensionId=vscode.media"]').waitFor({ state: 'attached', timeout: 60000 });
await panelAlone();
await webview.locator('.gallery figure.tile img').first().waitFor({ timeout: 60000 });
await webview.locator('.gallery audio').first().waitFor();
await videoShown();
await shot('run-gallery.png');

log('a second run with another seed and cfg, then Compare Runs…');
fs.writeFileSync(path.join(demoDir, 'workflow_api.json'), JSON.stringify(demoFlow(884213705511, 4.5), null, 2));
await queueDemo();
// The panel stays on the first run (`never` keeps an open panel where it is): wait for the second's run.json.
const outputsOfDemo = path.join(info.workspace, 'runcomfy-outputs', demoName);
const runsOfDemo = () => fs.readdirSync(outputsOfDemo).filter((d) => fs.existsSync(path.join(outputsOfDemo, d, 'run.json'))).length;
for (let waited = 0; runsOfDemo() < 2; waited += 100) {
  if (waited > 90000) throw new Error(`the second run of ${demoName} did not finish`);
  await new Promise((r) => setTimeout(r, 100));
}
// The second run's first image opened beside the panel: closed from its tab, then Compare with… in the panel itself.
await page.locator('.tabs-container .tab', { hasText: 'lighthouse_' }).first().waitFor();
for (const tab of await page.locator('.tabs-container .tab', { hasText: 'lighthouse_' }).all()) await tab.locator('.codicon-close').click();
await page.locator('.tabs-container .tab', { hasText: `Run: ${demoName}` }).first().click();
await webview.locator('vscode-button', { hasText: 'Compare with' }).click();
await page.locator('.quick-input-list [role="option"]').first().click();
await webview.locator('.slider img.top').first().waitFor();
await webview.locator('table.diff').waitFor();
await shot('run-compare.png');

log('the light theme');
await page.locator('.tabs-container .tab', { hasText: `Compare: ${demoName}` }).first().click();
await runCommand('Preferences: Color Theme');
await page.locator('.quick-input-widget input[placeholder^="Select Color Theme"]').waitFor();
await pick('Light Modern');
await page.locator('.monaco-workbench.vs').waitFor();
await shot('run-compare-light.png');
await runCommand('RunComfy: Open Run');
await pick(demoName);
await webview.locator('.gallery figure.tile img').first().waitFor();
await videoShown();
await shot('run-gallery-light.png');

log('a two-axis sweep (seed × cfg) on the machine, and its contact sheet');
// The same text to image, 4 steps: the simulated sampler paints each seed and cfg another colour.
const sweepName = 'lighthouse-sweep';
const sweepDir = path.join(info.workspace, sweepName);
fs.mkdirSync(sweepDir, { recursive: true });
const sweepFlow = demoFlow(1, 7);
sweepFlow['5'].inputs.steps = 4;
for (const id of ['8', '9', '10', '11', '12', '13']) delete sweepFlow[id];
fs.writeFileSync(path.join(sweepDir, 'workflow_api.json'), JSON.stringify(sweepFlow, null, 2));
fs.writeFileSync(path.join(sweepDir, 'grid.sweep.json'), JSON.stringify({ workflow: 'workflow_api.json', axes: { '5.seed': [101, 202, 303, 404], '5.cfg': [4, 6, 8] }, targets: [serverId], expectSeconds: 2 }, null, 2));
await page.keyboard.press('Control+P');
await page.locator('.quick-input-widget input').fill(`${sweepName}/grid.sweep.json`);
await pick('grid.sweep.json');
await page.locator('.part.editor .codelens-decoration a', { hasText: '▶ Run sweep: 12 runs' }).click();
await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Run Sweep' }).click();
const sweepsOf = path.join(info.workspace, 'runcomfy-outputs', sweepName);
const sweepEnded = () => {
  for (const d of fs.existsSync(sweepsOf) ? fs.readdirSync(sweepsOf) : []) {
    const record = path.join(sweepsOf, d, 'sweep.json');
    if (fs.existsSync(record) && JSON.parse(fs.readFileSync(record, 'utf8')).status !== 'running') return true;
  }
  return false;
};
for (let waited = 0; !sweepEnded(); waited += 200) {
  if (waited > 120000) throw new Error(`the sweep of ${sweepName} did not end`);
  await new Promise((r) => setTimeout(r, 200));
}
await runCommand('View: Close All Editors');
await runCommand('RunComfy: Open Contact Sheet');
await pick(`Sweep: ${sweepName}`);
await webview.locator('table.sheet-grid').waitFor();
for (let waited = 0; (await webview.locator('table.sheet-grid img').count()) < 12; waited += 100) {
  if (waited > STEP_MS) throw new Error('the contact sheet did not show 12 pictures');
  await new Promise((r) => setTimeout(r, 100));
}
await webview.locator('table.sheet-grid img').evaluateAll((imgs) => Promise.all(imgs.map((i) => i.decode().catch(() => undefined))));
await shot('sweep-contact-sheet-light.png');
await runCommand('Preferences: Color Theme');
await page.locator('.quick-input-widget input[placeholder^="Select Color Theme"]').waitFor();
await pick('Dark Modern');
await page.locator('.monaco-workbench.vs-dark').waitFor();
await shot('sweep-contact-sheet.png');

await finish(0);
