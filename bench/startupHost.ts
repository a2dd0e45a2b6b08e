import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { repoRoot } from './processes';

const CODE_SERVER = path.join(repoRoot, 'tools/vscode-host/node_modules/code-server/out/node/entry.js');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export interface HostActivation {
  /** "Startup Activation: N ms" of each extension, one entry per window load. */
  readonly extension: number[];
  readonly baseline: number[];
}

/** An unpacked extension folder, and the name the Running Extensions editor shows for it (its displayName). */
export interface StagedExtension {
  readonly dir: string;
  readonly shownAs: string;
}

/** Why the real host cannot run here, or undefined when it can. */
export function hostUnavailable(): string | undefined {
  if (!fs.existsSync(CODE_SERVER)) return `code-server is not installed at ${path.relative(repoRoot, CODE_SERVER)} (npm run setup)`;
  if (!fs.existsSync(CHROMIUM)) return `Chromium is not at ${CHROMIUM} (npm run setup)`;
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The activation time VS Code shows for `name` in Developer: Show Running Extensions (codeLoadingTime + activateCallTime). */
async function shownActivation(page: Page, name: string): Promise<number> {
  const row = page.locator('.runtime-extensions-editor .monaco-list-row', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
  const time = row.locator('.activation-time');
  await time.filter({ hasText: /Activation: \d+ms/ }).waitFor({ timeout: 60_000 });
  const m = /Activation: (\d+)ms/.exec(await time.innerText());
  if (!m) throw new Error(`no activation time for ${name}`);
  return Number(m[1]);
}

/**
 * Opens the pinned code-server (VS Code 1.100.3) `loads` times on a copy of `samples/` (its
 * `workflow_api.json` files activate the extension at start-up, as in a user's workspace), with
 * `extension` and `baseline` installed (copied into a fresh extensions folder, as an installed
 * vsix is) and nothing else but the built-ins, and reads each one's activation time where VS Code
 * itself reports it: the Running Extensions editor. Each load is a new window, so a new extension
 * host process that loads the bundle from cold (file cache aside). Not as development extensions:
 * the workbench keeps only the last `extensionDevelopmentPath` of its payload.
 */
export async function measureInHost(extension: StagedExtension, baseline: StagedExtension, loads: number): Promise<HostActivation> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-host-'));
  const userData = path.join(tmp, 'user-data');
  const workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'samples'), workspace, { recursive: true });
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify({ 'telemetry.telemetryLevel': 'off', 'update.mode': 'none', 'extensions.autoCheckUpdates': false, 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false, 'git.enabled': false }),
  );
  fs.writeFileSync(path.join(tmp, 'config.yaml'), 'auth: none\ncert: false\n');
  const extensionsDir = path.join(tmp, 'extensions');
  for (const e of [extension, baseline]) {
    const manifest = JSON.parse(fs.readFileSync(path.join(e.dir, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
    fs.cpSync(e.dir, path.join(extensionsDir, `${manifest.publisher}.${manifest.name}-${manifest.version}`), { recursive: true });
  }
  const port = await freePort();
  const authority = `127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, EXTENSIONS_GALLERY: '{}', TMPDIR: tmp };
  delete env.RUNCOMFY_TEST_HOOKS;
  delete env.RUNCOMFY_DEMO_CREDENTIALS;
  const server: ChildProcess = spawn(
    process.execPath,
    [CODE_SERVER, '--config', path.join(tmp, 'config.yaml'), '--auth', 'none', '--bind-addr', authority, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', '--user-data-dir', userData, '--extensions-dir', extensionsDir],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('HTTP server listening on')) resolve();
      };
      server.stdout!.on('data', onData);
      server.stderr!.on('data', onData);
      server.once('exit', (code) => reject(new Error(`code-server exited (code ${code}):\n${out}`)));
    });
    const remote = (p: string) => `vscode-remote://${authority}${p}`;
    const payload = JSON.stringify([['skipWelcome', 'true']]);
    const url = `http://${authority}/?folder=${encodeURIComponent(remote(workspace))}&payload=${encodeURIComponent(payload)}`;
    const result: HostActivation = { extension: [], baseline: [] };
    for (let i = 0; i < loads; i++) {
      // Tall enough that the Running Extensions list, which renders only the rows in view, shows every extension.
      const context = await browser.newContext({ viewport: { width: 1280, height: 2400 } });
      const page = await context.newPage();
      await page.goto(url);
      await page.locator('.monaco-workbench .part.activitybar').waitFor({ timeout: 120_000 });
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor();
      await input.fill('>Developer: Show Running Extensions');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Show Running Extensions' }).first().click();
      result.extension.push(await shownActivation(page, extension.shownAs));
      result.baseline.push(await shownActivation(page, baseline.shownAs));
      console.log(`  VS Code load ${i + 1}/${loads}: ${extension.shownAs} ${result.extension[i]} ms, ${baseline.shownAs} ${result.baseline[i]} ms`);
      // Closing the window ends its extension host; the next load starts a fresh one.
      await context.close();
    }
    return result;
  } finally {
    await browser.close().catch(() => undefined);
    if (server.exitCode === null && server.pid !== undefined) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
