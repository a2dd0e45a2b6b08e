// `npm run test:stress`: the unit tier and the host tier (development build) in several rounds, each
// with the simulators' fixed delays scaled (RUNCOMFY_SIM_TIME_SCALE, read by both simulators and passed
// through code-server to the extension host and the simulators the host tests start) and, in most
// rounds, the CPU kept busy by one busy-looping process per core at normal priority. A test that
// asserts what "should have happened by now" fails here.
//
//   STRESS_ROUNDS   rounds as scale:load|idle, comma-separated (default "0.25:load,4:load"; add 1:idle for a plain round)
//   STRESS_TIERS    "unit,host" (default) or one of them
//
// Every failure is printed with what it needs to be understood without a rerun: the round's scale and
// load, the failing tests' full errors and stacks, and for the host tier the kept temp dir with the
// tails of the extension host logs (the host suite prints the simulator's request log tail itself).
// Exit code: 0 when every round passed, 1 otherwise.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const roundsSpec = process.env.STRESS_ROUNDS || '0.25:load,4:load';
const tiers = (process.env.STRESS_TIERS || 'unit,host').split(',').map((t) => t.trim()).filter(Boolean);

const rounds = roundsSpec.split(',').map((r) => {
  const [scaleText, loadText = 'load'] = r.trim().split(':');
  const scale = Number(scaleText);
  if (!(scale > 0) || !['load', 'idle'].includes(loadText)) {
    console.error(`stress: STRESS_ROUNDS entry ${JSON.stringify(r)} must be scale:load or scale:idle with a positive scale, e.g. 0.25:load.`);
    process.exit(1);
  }
  return { scale, load: loadText === 'load' };
});
for (const t of tiers) {
  if (!['unit', 'host'].includes(t)) {
    console.error(`stress: STRESS_TIERS entry ${JSON.stringify(t)} must be unit or host.`);
    process.exit(1);
  }
}

const t0 = Date.now();
const stamp = () => `[stress +${((Date.now() - t0) / 1000).toFixed(0)}s]`;
const log = (...a) => console.log(stamp(), ...a);

/** What is running now (a tier's process group, the load), so a signal can end it all. */
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
    console.error(`stress: ${signal}: stopped the running tier and the load.`);
    process.exit(130);
  });
}

/** Runs a command in a process group of its own, collecting its output (and echoing nothing): the round prints what matters. */
function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    child.on('close', () => running.delete(child));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

/** One busy-looping process per core, at normal priority, until stopped. */
function startLoad() {
  const n = os.availableParallelism();
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  for (const c of children) {
    running.add(c);
    c.once('exit', () => running.delete(c));
  }
  return {
    n,
    stop: () => Promise.all(children.map((c) => new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', resolve);
      c.kill('SIGKILL');
    }))),
  };
}

const tail = (text, lines) => text.split('\n').slice(-lines).join('\n');

/** Mocha's failure section: from "N failing" to the end (every failure with its error and stack). */
function failureSection(out) {
  const i = out.search(/^\s*(\[vscode\] )?\s*\d+ failing/m);
  return i < 0 ? tail(out, 80) : out.slice(i);
}

function logFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.log'))
    .map((d) => path.join(d.parentPath, d.name));
}

async function unitTier(env) {
  const mocha = path.join(root, 'node_modules/mocha/bin/mocha.js');
  const r = await run(process.execPath, [mocha, '--config', '.mocharc.json'], env);
  const passed = Number(/(\d+) passing/.exec(r.out)?.[1] ?? 0);
  const failed = Number(/(\d+) failing/.exec(r.out)?.[1] ?? (r.code === 0 ? 0 : 1));
  return { ok: r.code === 0 && failed === 0 && passed > 0, passed, failed, details: r.code === 0 ? '' : failureSection(r.out) };
}

async function hostTier(env) {
  const r = await run(process.execPath, [path.join(root, 'scripts/run-host-tests.mjs')], {
    ...env,
    HOST_TEST_KEEP_TMP: '1',
    // Under load the suite takes longer than the runner's 5 minute default.
    HOST_TEST_TIMEOUT_MS: process.env.HOST_TEST_TIMEOUT_MS || '1800000',
  });
  const summary = [...r.out.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1);
  const passed = Number(summary?.[1] ?? 0);
  const failed = Number(summary?.[2] ?? 1);
  const kept = /kept (\S+)/.exec(r.out)?.[1];
  const ok = r.code === 0 && failed === 0 && passed > 0;
  if (ok) {
    if (kept) fs.rmSync(kept, { recursive: true, force: true });
    return { ok, passed, failed, details: '' };
  }
  const parts = [failureSection(r.out), `--- runner output (last 40 lines) ---\n${tail(r.out, 40)}`];
  if (kept) {
    parts.push(`--- kept the run's temp dir: ${kept}`);
    for (const f of logFiles(path.join(kept, 'user-data', 'logs')).filter((p) => /exthost|runcomfy/i.test(p))) {
      const text = fs.readFileSync(f, 'utf8');
      if (text.trim()) parts.push(`--- ${f} (last 60 lines) ---\n${tail(text, 60)}`);
    }
  }
  return { ok, passed, failed, details: parts.join('\n') };
}

log('building (npm run build, npm run compile-tests)');
for (const script of ['build', 'compile-tests']) {
  const r = await run('npm', ['run', '-s', script], {});
  if (r.code !== 0) {
    console.error(r.out);
    console.error(`stress: npm run ${script} failed`);
    process.exit(1);
  }
}

const results = [];
for (const [i, round] of rounds.entries()) {
  const name = `round ${i + 1}/${rounds.length} (scale ${round.scale}, ${round.load ? 'CPU loaded' : 'idle CPU'})`;
  const load = round.load ? startLoad() : undefined;
  log(`${name}: started${load ? ` with ${load.n} busy processes` : ''}`);
  const env = { RUNCOMFY_SIM_TIME_SCALE: String(round.scale) };
  try {
    for (const tier of tiers) {
      const started = Date.now();
      const r = tier === 'unit' ? await unitTier(env) : await hostTier(env);
      const seconds = Math.round((Date.now() - started) / 1000);
      results.push({ round: i + 1, ...round, tier, seconds, ...r });
      log(`${name}: ${tier} tier ${r.ok ? 'passed' : 'FAILED'}: ${r.passed} passed, ${r.failed} failed in ${seconds} s`);
      if (!r.ok) {
        console.log(`\n===== FAILURE in ${name}, ${tier} tier (RUNCOMFY_SIM_TIME_SCALE=${round.scale}, ${round.load ? `${load.n} busy processes` : 'no load'}) =====`);
        console.log(r.details);
        console.log(`===== end of failure in ${name}, ${tier} tier =====\n`);
      }
    }
  } finally {
    await load?.stop();
  }
}

console.log('\nround  scale  load   tier  result  passed  failed  seconds');
for (const r of results) {
  console.log(`${String(r.round).padEnd(6)} ${String(r.scale).padEnd(6)} ${(r.load ? 'busy' : 'idle').padEnd(6)} ${r.tier.padEnd(5)} ${(r.ok ? 'pass' : 'FAIL').padEnd(7)} ${String(r.passed).padEnd(7)} ${String(r.failed).padEnd(7)} ${r.seconds}`);
}
const failedRounds = results.filter((r) => !r.ok);
console.log(failedRounds.length === 0 ? `stress: all ${rounds.length} rounds passed in ${Math.round((Date.now() - t0) / 1000)} s` : `stress: ${failedRounds.length} tier run(s) failed`);
process.exit(failedRounds.length === 0 ? 0 : 1);
