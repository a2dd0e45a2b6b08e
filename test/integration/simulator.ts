import * as assert from 'assert';
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

/** What `node dist/simulator.js` prints once it listens. */
export interface SimulatorInfo {
  runcomfyUrl: string;
  userId: string;
  tokens: string[];
  localComfyUrl?: string;
}

/** One API request as the RunComfy simulator logged it. */
export interface SimRequest {
  seq: number;
  serverId: string | null;
  method: string;
  path: string;
  route: string;
  status: number;
  /** True when the simulator closed the connection without answering (a `drop` fault). */
  dropped: boolean;
  tokenSlot: number | null;
  body: unknown;
}

/**
 * The simulators in their own process, as users run them (`node dist/simulator.js`), driven through
 * their `/__sim/` admin routes. Host tests never import `src/`.
 */
export class SimulatorProcess {
  /** The simulators running now, whose request logs a failing test prints. */
  static readonly running = new Set<SimulatorProcess>();

  private constructor(
    private readonly child: ChildProcess,
    readonly info: SimulatorInfo,
  ) {}

  static async start(args: string[] = ['--boot-seconds', '1', '--delete-seconds', '1']): Promise<SimulatorProcess> {
    const repo = process.env.RUNCOMFY_TEST_REPO;
    assert.ok(repo, 'RUNCOMFY_TEST_REPO is not set (run the host tests through scripts/run-host-tests.mjs)');
    const child = spawn(process.execPath, [path.join(repo, 'dist/simulator.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const info = await new Promise<SimulatorInfo>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`simulator exited with code ${code}`)));
      readline.createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line) as SimulatorInfo));
    });
    const sim = new SimulatorProcess(child, info);
    SimulatorProcess.running.add(sim);
    return sim;
  }

  async admin<T>(route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.info.runcomfyUrl}/__sim/${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `/__sim/${route} answered ${res.status}`);
    return (await res.json()) as T;
  }

  async requests(): Promise<SimRequest[]> {
    const r = await this.admin<SimRequest[] | { requests: SimRequest[] }>('requests');
    return Array.isArray(r) ? r : r.requests;
  }

  /** Ends every injected fault (`DELETE /__sim/faults`). */
  async clearFaults(): Promise<void> {
    const res = await fetch(`${this.info.runcomfyUrl}/__sim/faults`, { method: 'DELETE' });
    assert.ok(res.ok, `DELETE /__sim/faults answered ${res.status}`);
  }

  stop(): void {
    SimulatorProcess.running.delete(this);
    this.child.kill('SIGTERM');
  }
}

// A failing test prints the tail of every running simulator's request log, so a failure in a CI or
// stress run can be understood without a rerun (a root hook: this module is loaded once).
afterEach(async function () {
  if (this.currentTest?.state !== 'failed') return;
  for (const sim of SimulatorProcess.running) {
    try {
      const tail = (await sim.requests()).slice(-30).map((r) => `  ${r.method} ${r.path} -> ${r.status}`);
      console.log(`RunComfy simulator ${sim.info.runcomfyUrl}: last ${tail.length} requests\n${tail.join('\n')}`);
    } catch (e) {
      console.log(`RunComfy simulator ${sim.info.runcomfyUrl}: request log unavailable (${String(e)})`);
    }
  }
});
