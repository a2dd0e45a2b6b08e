import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { demoTokens, demoUserId } from '../../src/simulator/runcomfy/demoSeed';
import { type RunComfySimulator } from '../../src/simulator/runcomfySimulator';
import { cliEnv, cliPath, runCliProcess, startTestSimulator } from './helpers/runcomfyTestKit';

// What a hostile server sends: clear the screen, move the cursor, set the window title, a one-byte
// CSI (U+009B), a carriage return that overwrites the line, and bidi overrides that reorder it.
const clear = '\x1b[2J\x1b[1;1H';
const title = '\x1b]0;pwned\x07';
const bidi = '\u202eexe.txt\u2066';
const hostileWorkflow = `Evil${title}\nflow${bidi}`;
const hostileVersion = `v1${clear}\r\u009b31m`;
const hostileStatus = `Ready${clear}${bidi}`;
const hostileType = `large${title}`;
const hostileError = `quota exceeded${clear}${title}\u202e!yojne\r\u200f`;

/** A character a terminal or the bidi algorithm would obey; line breaks and tabs are layout. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const steering = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

function assertInert(out: string, where: string): void {
  const m = steering.exec(out);
  assert.equal(m, null, `${where} holds U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${m?.index}: ${JSON.stringify(out)}`);
}

describe('runcomfy CLI: server text cannot steer the terminal', function () {
  let sim: RunComfySimulator;

  before(function () {
    if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run "npm run build" before the unit tests.`);
  });
  beforeEach(async () => {
    sim = await startTestSimulator({
      users: [
        {
          userId: demoUserId,
          tokens: [...demoTokens],
          workflows: [{ workflowId: 'wf-1', name: hostileWorkflow, versions: [{ versionId: 'ver-1', versionName: hostileVersion, createdAt: '2025-06-02T09:14:05.120331Z', updatedAt: '2025-06-02T09:14:05.120331Z' }] }],
        },
      ],
    });
    await sim.seedMachine({ current_status: hostileStatus, server_type: hostileType });
  });
  afterEach(async () => {
    await sim.close();
  });

  it('escapes controls and bidi characters in tables and fields, keeping their columns', async () => {
    const workflows = await runCliProcess(['workflows'], cliEnv(sim));
    assert.equal(workflows.code, 0, workflows.stderr);
    assertInert(workflows.stdout, 'workflows stdout');
    const row = workflows.stdout.split('\n')[1];
    assert.ok(row.startsWith('Evil\\u001b]0;pwned\\u0007\\u000aflow\\u202eexe.txt\\u2066  v1\\u001b[2J\\u001b[1;1H\\u000d\\u009b31m  ver-1'), row);
    assert.equal(workflows.stdout.split('\n').length, 3, 'a line break in a name does not start a row');

    const machines = await runCliProcess(['machines'], cliEnv(sim));
    assert.equal(machines.code, 0, machines.stderr);
    assertInert(machines.stdout, 'machines stdout');
    assert.match(machines.stdout, /large\\u001b\]0;pwned\\u0007 +Ready\\u001b\[2J\\u001b\[1;1H\\u202eexe\.txt\\u2066 /);

    const id = String(sim.machines()[0].server_id);
    const status = await runCliProcess(['status', id], cliEnv(sim));
    assertInert(status.stdout + status.stderr, 'status output');
    assert.match(status.stdout, /^Status: +Ready\\u001b\[2J/m);
  });

  it('escapes them in error lines on stderr', async () => {
    sim.addFault({ action: 'error', status: 400, message: hostileError, route: 'listMachines' });
    const run = await runCliProcess(['machines'], cliEnv(sim));
    assert.equal(run.code, 1, run.stderr);
    assertInert(run.stderr, 'stderr');
    assert.match(run.stderr, /quota exceeded\\u001b\[2J\\u001b\[1;1H\\u001b\]0;pwned\\u0007\\u202e!yojne.\\u200f/);
  });

  it('keeps --json output valid JSON with the server\'s exact strings, and inert', async () => {
    const run = await runCliProcess(['machines', '--json'], cliEnv(sim));
    assert.equal(run.code, 0, run.stderr);
    assertInert(run.stdout, 'machines --json');
    assert.deepEqual(JSON.parse(run.stdout), sim.machines());
    const workflows = await runCliProcess(['workflows', '--json'], cliEnv(sim));
    assertInert(workflows.stdout, 'workflows --json');
    assert.equal((JSON.parse(workflows.stdout) as { workflow_name: string }[])[0].workflow_name, hostileWorkflow);
  });
});
