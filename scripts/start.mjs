// `npm start`: installs what is missing, builds, starts the RunComfy and ComfyUI simulators, and opens a
// real VS Code with the extension loaded, pointed at the simulators and signed in to the demo account.
//
//   desktop VS Code when `code` is on PATH (a separate instance with its own profile under .demo/),
//   otherwise the pinned code-server on 127.0.0.1 (its URL is printed; open it in a browser).
//
// Options: --code-server (use code-server even if `code` exists), --port N (code-server port, default 8080
// or the next free one), --skip-setup, --boot-seconds N (simulated machine boot time, default 20),
// --run-seconds S (each prompt takes at least this long on every simulated ComfyUI, each machine having its own,
// default RUNCOMFY_SIM_RUN_SECONDS or 0: set it to watch a sweep spread over a pool), --demo-dir DIR (profile and workspace, default .demo), --json (with code-server: once it is ready, also
// print one JSON line with the URLs and code-server's process group, for scripts/screenshots.mjs).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const say = (line) => console.log(`start: ${line}`);

if (!flag('--skip-setup')) execFileSync('bash', [path.join(root, 'scripts/setup.sh')], { stdio: 'inherit' });
say('building');
execFileSync(process.execPath, [path.join(root, 'esbuild.js')], { cwd: root, stdio: 'inherit' });

const children = [];
let stopping = false;
function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children.reverse()) {
    try {
      process.kill(c.detached ? -c.pid : c.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  setTimeout(() => process.exit(code), 300).unref();
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

// The simulators print one JSON line with their URLs and the demo account once they listen.
const runSeconds = option('--run-seconds', process.env.RUNCOMFY_SIM_RUN_SECONDS || '0');
const sim = spawn(process.execPath, [path.join(root, 'dist/simulator.js'), '--boot-seconds', option('--boot-seconds', '20'), '--run-seconds', runSeconds], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(sim);
sim.on('exit', (code) => {
  if (!stopping) {
    console.error(`start: the simulator exited (code ${code})`);
    stopAll(1);
  }
});
const simInfo = await new Promise((resolve) => {
  readline.createInterface({ input: sim.stdout }).once('line', (line) => resolve(JSON.parse(line)));
});
say(`RunComfy simulator: ${simInfo.runcomfyUrl} (user ${simInfo.userId}, token ${simInfo.tokens[0]})`);
say(`local ComfyUI simulator: ${simInfo.localComfyUrl}`);

// A demo profile and workspace under .demo/ (git-ignored) or --demo-dir, so your own VS Code settings stay untouched.
const demo = path.resolve(root, option('--demo-dir', '.demo'));
const userData = path.join(demo, 'user-data');
const workspace = path.join(demo, 'workspace');
fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
if (!fs.existsSync(workspace)) fs.cpSync(path.join(root, 'samples'), workspace, { recursive: true });
const settingsFile = path.join(userData, 'User', 'settings.json');
const settings = fs.existsSync(settingsFile) ? JSON.parse(fs.readFileSync(settingsFile, 'utf8')) : {};
Object.assign(settings, {
  'runcomfy.apiUrl': simInfo.runcomfyUrl,
  'runcomfy.localServers': [{ name: 'Local ComfyUI (simulator)', url: simInfo.localComfyUrl }],
  'telemetry.telemetryLevel': 'off',
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
});
fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
const env = { ...process.env, RUNCOMFY_DEMO_CREDENTIALS: `${simInfo.userId}:${simInfo.tokens[0]}` };

const hasCode = !flag('--code-server') && spawnSync('code', ['--version'], { stdio: 'ignore' }).status === 0;
if (hasCode) {
  say('opening desktop VS Code (close its window to stop the simulators)');
  const code = spawn('code', ['--wait', '--new-window', '--user-data-dir', userData, '--extensions-dir', path.join(demo, 'extensions'),
    `--extensionDevelopmentPath=${root}`, workspace], { stdio: 'inherit', env });
  children.push(code);
  code.on('exit', () => stopAll(0));
} else {
  const port = await firstFreePort(Number(option('--port', '8080')));
  const authority = `127.0.0.1:${port}`;
  const configFile = path.join(demo, 'code-server.yaml');
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  const server = spawn(process.execPath, [path.join(root, 'tools/vscode-host/node_modules/code-server/out/node/entry.js'),
    '--config', configFile, '--auth', 'none', '--bind-addr', authority,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
    '--user-data-dir', userData, '--extensions-dir', path.join(demo, 'extensions')],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, EXTENSIONS_GALLERY: '{}' }, detached: true });
  children.push(server);
  server.on('exit', (code) => {
    if (!stopping) {
      console.error(`start: code-server exited (code ${code})`);
      stopAll(1);
    }
  });
  await new Promise((resolve) => {
    let buf = '';
    const onData = (d) => {
      buf += d.toString();
      if (/HTTP server listening on/.test(buf)) resolve();
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
  });
  const remote = (p) => `vscode-remote://${authority}${p}`;
  const payload = JSON.stringify([['extensionDevelopmentPath', remote(root)]]);
  const url = `http://${authority}/?folder=${encodeURIComponent(remote(workspace))}&payload=${encodeURIComponent(payload)}`;
  say('VS Code (code-server 4.100.3) is ready. Open this URL in a browser:');
  console.log(`\n  ${url}\n`);
  // code-server's helpers (file watcher, extension host) outlive it for a moment: a caller that deletes the
  // demo folder waits for its whole process group, whose id is its pid (it runs detached).
  if (flag('--json')) console.log(JSON.stringify({ ...simInfo, workspace, vscodeUrl: url, codeServerPid: server.pid }));
  say('press Ctrl-C to stop VS Code and the simulators');
}

function firstFreePort(from) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', (e) => (e.code === 'EADDRINUSE' && from < 65535 ? resolve(firstFreePort(from + 1)) : reject(e)));
    s.listen(from, '127.0.0.1', () => s.close(() => resolve(from)));
  });
}
