import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { admin, getJson, repoRoot } from './processes';
import { row, type BenchRow } from './results';

interface SimInfo {
  readonly runcomfyUrl: string;
  readonly userId: string;
  readonly tokens: readonly string[];
}

interface HistoryEntry {
  readonly status?: { readonly messages?: readonly [string, { readonly timestamp?: number }][] };
}

/** When each prompt ran on one server: execution_start → execution_success, from its history. */
interface Execution {
  readonly promptId: string;
  readonly start: number;
  readonly end: number;
}

interface SweepRecord {
  readonly status: string;
  readonly runs: readonly { prompt_id: string; target: string; status: string; timings: { queued: string | null; started: string | null; ended: string | null } }[];
}

/**
 * 64 runs on 4 simulated machines (`dist/simulator.js`, the `npm start` simulator: each machine has
 * its own ComfyUI and its own queue, every prompt taking `runSeconds`), sent by `runcomfy sweep`
 * in a process of its own. The baseline is the ideal: total work / 4 machines, the work being what
 * the servers themselves spent executing (execution_start → execution_success in each one's
 * history), so a slow spell of this machine counts on both sides. Also reported: the longest time
 * a server had nothing to execute while runs still waited to be sent, and the 429s RunComfy
 * answered (its request log).
 */
export async function benchSweep(runs: number, runSeconds = 1, machines = 4, count = 64): Promise<BenchRow[]> {
  const value: number[] = [];
  const ideal: number[] = [];
  const idleGaps: number[] = [];
  const refused: number[] = [];
  for (let i = 0; i < runs; i++) {
    const sim = spawn(process.execPath, [path.join(repoRoot, 'dist/simulator.js'), '--boot-seconds', '0', '--run-seconds', String(runSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-sweep-'));
    try {
      const info = await new Promise<SimInfo>((resolve, reject) => {
        sim.once('exit', (code) => reject(new Error(`the simulator exited (code ${code}) before it was ready`)));
        readline.createInterface({ input: sim.stdout }).once('line', (line) => resolve(JSON.parse(line) as SimInfo));
      });
      const ids: string[] = [];
      for (let m = 0; m < machines; m++) ids.push(String(((await admin(info.runcomfyUrl, '/__sim/machines')) as { server_id: string }).server_id));
      const workflow = path.join(work, 'bench_api.json');
      fs.writeFileSync(
        workflow,
        JSON.stringify({
          '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
          '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'bench' } },
        }),
      );
      const out = path.join(work, 'sweep');
      const args = [path.join(repoRoot, 'dist/cli.js'), 'sweep', workflow, '--vary', `1.color=1..${count}`, ...ids.flatMap((id) => ['--machine', id]), '--out', out, '--json'];
      const env = { PATH: process.env.PATH ?? '', RUNCOMFY_TOKEN: info.tokens[0], RUNCOMFY_USER_ID: info.userId, RUNCOMFY_API_URL: info.runcomfyUrl, RUNCOMFY_CACHE_DIR: path.join(work, 'cache') };
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, args, { env, cwd: work, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => (error ? reject(new Error(`runcomfy sweep failed: ${error.message}\n${stderr}`)) : resolve())),
      );
      const record = JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')) as SweepRecord;
      if (record.status !== 'success') throw new Error(`the sweep ended ${record.status}`);
      const ms = (t: string | null) => (t === null ? Number.NaN : Date.parse(t));
      const first = Math.min(...record.runs.map((r) => ms(r.timings.queued)));
      const last = Math.max(...record.runs.map((r) => ms(r.timings.ended)));
      const listed = (await getJson(`${info.runcomfyUrl}/__sim/machines`)) as { server_id: string; main_service_url: string }[];
      const executions = await Promise.all(listed.filter((m) => ids.includes(m.server_id)).map((m) => executionsOn(m.main_service_url)));
      const busyMs = executions.flat().reduce((sum, e) => sum + (e.end - e.start), 0);
      const lastSent = Math.max(...record.runs.map((r) => ms(r.timings.queued)));
      value.push((last - first) / 1000);
      ideal.push(busyMs / machines / 1000);
      idleGaps.push(Math.max(...executions.map((list) => longestIdleWhileWaiting(list, lastSent))) / 1000);
      const log = (await getJson(`${info.runcomfyUrl}/__sim/requests`)) as { status: number }[];
      refused.push(log.filter((e) => e.status === 429).length);
      console.log(`  ${i + 1}/${runs}: ${value[i].toFixed(2)} s for ${count} runs on ${machines} machines (ideal ${ideal[i].toFixed(2)} s), longest idle while runs waited ${idleGaps[i].toFixed(3)} s, ${refused[i]} × 429`);
    } finally {
      sim.kill('SIGTERM');
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  return [
    row(
      `sweep: ${count} runs on ${machines} simulated machines`,
      's',
      value,
      ideal,
      'ratio ≤ 1.1, no 429',
      (_v, _b, ratio) => ratio <= 1.1 && refused.every((n) => n === 0),
      `baseline: the ideal, the servers' own execution time (${count} prompts of ${runSeconds} s set) / ${machines} machines; measured from the first prompt queued to the last run saved (sweep.json); ` +
        `longest time a server had nothing to execute while runs waited: ${idleGaps.map((g) => g.toFixed(3)).join(', ')} s; 429s per run: ${refused.join(', ')}`,
    ),
  ];
}

/** Every prompt a server executed, from its history, in the order they started. */
async function executionsOn(url: string): Promise<Execution[]> {
  const history = (await getJson(`${url}/history`)) as Record<string, HistoryEntry>;
  const list: Execution[] = [];
  for (const [promptId, entry] of Object.entries(history)) {
    const at = (type: string) => entry.status?.messages?.find((m) => m[0] === type)?.[1].timestamp;
    const start = at('execution_start');
    const end = at('execution_success');
    if (start !== undefined && end !== undefined) list.push({ promptId, start, end });
  }
  return list.sort((a, b) => a.start - b.start);
}

/** The longest time a server sat between two prompts while some run had not been sent to any server yet. */
function longestIdleWhileWaiting(list: readonly Execution[], lastSentMs: number): number {
  let longest = 0;
  for (let i = 1; i < list.length; i++) {
    if (list[i - 1].end >= lastSentMs) break;
    longest = Math.max(longest, list[i].start - list[i - 1].end);
  }
  return longest;
}
