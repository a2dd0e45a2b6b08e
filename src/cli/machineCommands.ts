import { CancelledError, TimeoutError, isCancellation } from '../api/errors';
import { maskUrl } from '../api/redact';
import { type RunComfyClient } from '../api/runcomfyClient';
import { knownServerTypes, type Machine, type WorkflowList } from '../api/runcomfyTypes';
import { systemClock } from '../base/clock';
import { formatLocalTime } from '../base/timeFormat';
import { printableText } from '../base/untrustedText';
import { formatCostEstimate, formatDuration, machineFigures } from '../core/machineMath';
import { MachineStore, goneStatus, type WaitProgress } from '../core/machineStore';
import { serverTypeDescription, serverTypes } from '../core/pricing';
import { type CliCommand, type CliContext, type OptionValues } from './cli';
import { cliClient, type CliClientOptions } from './cliClient';
import { ExitCode, UsageError } from './exitCodes';
import { formatFields, formatJson, formatTable } from './format';

/**
 * The machine commands of `runcomfy`: workflows, machines, status, launch, extend, set-duration
 * and stop. `--json` prints the API's objects verbatim (wire field names, `main_service_url` in
 * full); human output masks the ComfyUI URL and shows costs as estimates.
 */

const defaultWaitTimeoutS = 900;

interface Session {
  readonly client: RunComfyClient;
  readonly store: MachineStore;
}

/** Builds the client (`cliClient`) and store, runs `fn`, and always disposes the store. */
async function withSession<T>(ctx: CliContext, values: OptionValues, fn: (s: Session) => Promise<T>, options: CliClientOptions = {}): Promise<T> {
  const { client, config } = cliClient(ctx, values, options);
  const store = new MachineStore(client, systemClock, { fastIntervalMs: config.pollIntervalMs });
  try {
    return await fn({ client, store });
  } finally {
    store.dispose();
  }
}

const workflows: CliCommand = {
  name: 'workflows',
  usage: 'workflows',
  summary: 'List your cloud-saved workflows and their version ids (what launch --version takes).',
  run: (ctx, args, values) =>
    withSession(ctx, values, async ({ client }) => {
      noExtraArgs('workflows', args);
      const list = await client.listWorkflows(ctx.signal);
      ctx.stdout(ctx.json ? formatJson(list.entries) : workflowTable(list));
      return ExitCode.ok;
    }),
};

const machines: CliCommand = {
  name: 'machines',
  usage: 'machines',
  summary: 'List your machines with status, time left and estimated cost.',
  run: (ctx, args, values) =>
    withSession(ctx, values, async ({ client }) => {
      noExtraArgs('machines', args);
      const list = await client.listMachines(ctx.signal);
      ctx.stdout(ctx.json ? formatJson(list.map((m) => m.wire)) : machineTable(list, Date.now()));
      return ExitCode.ok;
    }),
};

const status: CliCommand = {
  name: 'status',
  usage: 'status <server_id>',
  summary: "Show one machine's status, time left and estimated cost.",
  run: (ctx, args, values) =>
    withSession(ctx, values, async ({ client }) => {
      const id = oneId('status', 'status <server_id>', args);
      printMachine(ctx, await client.getMachine(id, ctx.signal));
      return ExitCode.ok;
    }),
};

const launch: CliCommand = {
  name: 'launch',
  usage: 'launch --version <version_id> --type <server_type> --duration <seconds> [--wait] [--timeout <seconds>]',
  summary: 'Launch a machine (billing starts once Ready); --wait returns when it is Ready.',
  options: {
    version: { type: 'string' },
    type: { type: 'string' },
    duration: { type: 'string' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  run: (ctx, args, values) => {
    const usage = 'launch --version <version_id> --type <server_type> --duration <seconds> [--wait] [--timeout <seconds>]';
    noExtraArgs('launch', args);
    const version = requiredString(values.version, '--version', usage, 'the version_id from "runcomfy workflows"');
    const type = requiredString(values.type, '--type', usage, `one of ${knownServerTypes.join(', ')}`);
    if (!(knownServerTypes as readonly string[]).includes(type)) {
      throw new UsageError(`--type must be one of ${knownServerTypes.join(', ')}; got "${type}".`);
    }
    const duration = wholeSeconds(requiredString(values.duration, '--duration', usage, 'seconds, counted from Ready'), '--duration');
    const timeoutS = values.timeout === undefined ? defaultWaitTimeoutS : wholeSeconds(values.timeout, '--timeout');
    return withSession(ctx, values, async ({ store }) => {
      // Ctrl-C after the POST left still checks the machine list (RunComfyClient.launch): say what it found.
      const m = await store.launch({ workflow_version_id: version, server_type: type, estimated_duration: duration }, ctx.signal);
      if (ctx.signal.aborted) throw explainUnfinishedLaunch(new CancelledError('Interrupted.'), m.serverId, timeoutS, 'after the launch was sent');
      const rate = serverTypes.find((t) => t.id === type)?.payAsYouGoPerHour;
      ctx.progress(
        `Launched machine ${printableText(m.serverId)} (${type}, ${duration} s from Ready; up to ${formatCostEstimate(rate === undefined ? undefined : (rate * duration) / 3600)} at pay-as-you-go prices).`,
      );
      if (values.wait !== true) {
        printMachine(ctx, m);
        return ExitCode.ok;
      }
      const ready = await waitFor(ctx, m.serverId, timeoutS, (p) => store.waitUntilReady(m.serverId, p)).catch((e: unknown) => {
        throw explainUnfinishedLaunch(e, m.serverId, timeoutS);
      });
      printMachine(ctx, ready);
      return ExitCode.ok;
    }, budgetOf(values));
  },
};

const extend: CliCommand = {
  name: 'extend',
  usage: 'extend <server_id> --by <seconds>',
  summary: 'Let a machine run longer: its total duration grows by the given seconds.',
  options: { by: { type: 'string' } },
  run: (ctx, args, values) => {
    const usage = 'extend <server_id> --by <seconds>';
    const id = oneId('extend', usage, args);
    const by = wholeSeconds(requiredString(values.by, '--by', usage, 'seconds to add'), '--by');
    return withSession(ctx, values, async ({ store }) => {
      const m = await store.extendBy(id, by, ctx.signal);
      ctx.progress(`Machine ${id}: duration ${(m.estimatedDurationS ?? by) - by} s → ${m.estimatedDurationS ?? '?'} s (+${by} s).`);
      printMachine(ctx, m);
      return ExitCode.ok;
    });
  },
};

const setDuration: CliCommand = {
  name: 'set-duration',
  usage: 'set-duration <server_id> <total_seconds>',
  summary: "Set a machine's total run time, counted from when it became Ready.",
  run: (ctx, args, values) => {
    const usage = 'set-duration <server_id> <total_seconds>';
    if (args.length !== 2) throw new UsageError(`set-duration takes a machine id and a total in seconds. Usage: runcomfy ${usage}`);
    const total = wholeSeconds(args[1], '<total_seconds>');
    return withSession(ctx, values, async ({ store }) => {
      printMachine(ctx, await store.setDuration(args[0], total, ctx.signal));
      return ExitCode.ok;
    });
  },
};

const stop: CliCommand = {
  name: 'stop',
  usage: 'stop <server_id> [--wait] [--timeout <seconds>]',
  summary: 'Stop a machine (billing stops when this returns); --wait returns once it is gone.',
  options: { wait: { type: 'boolean' }, timeout: { type: 'string' } },
  run: (ctx, args, values) => {
    const id = oneId('stop', 'stop <server_id> [--wait] [--timeout <seconds>]', args);
    const timeoutS = values.timeout === undefined ? defaultWaitTimeoutS : wholeSeconds(values.timeout, '--timeout');
    return withSession(ctx, values, async ({ store }) => {
      // Ctrl-C is the user's own call to stop retrying: the error says whether a DELETE was sent and that the machine may still bill.
      const m = await store.stop(id, { signal: ctx.signal }).catch((e: unknown) => {
        throw isCancellation(e) && e instanceof Error
          ? new CancelledError(`${e.message.replace(/ Stop it again\.$/, '')} Run "runcomfy stop ${id}" again; "runcomfy status ${id}" shows whether it still runs.`)
          : e;
      });
      ctx.progress(m ? `Stopped machine ${id}: billing has stopped (status ${printableText(m.status)}).` : `Machine ${id} is already gone: an earlier stop attempt landed.`);
      if (values.wait === true) {
        await waitFor(ctx, id, timeoutS, (p) => store.waitUntilGone(id, p));
        ctx.progress(`Machine ${id} is gone.`);
      }
      if (ctx.json) ctx.stdout(formatJson(m ? m.wire : null));
      else if (m) printMachine(ctx, m);
      return ExitCode.ok;
    }, budgetOf(values));
  },
};

/** The machine commands, in the order `runcomfy help` lists them. */
export const machineCommands: readonly CliCommand[] = [workflows, machines, status, launch, extend, setDuration, stop];

/** Runs a store wait with progress lines on stderr ("Starting… 12 s"), the CLI's timeout and Ctrl-C. */
function waitFor<T>(
  ctx: CliContext,
  id: string,
  timeoutS: number,
  wait: (options: { signal: AbortSignal; timeoutMs: number; onProgress: (p: WaitProgress) => void }) => Promise<T>,
): Promise<T> {
  let last = '';
  return wait({
    signal: ctx.signal,
    timeoutMs: timeoutS * 1000,
    onProgress: (p) => {
      const settled = p.machine?.isReady === true || p.status === goneStatus;
      const line = `${printableText(p.status)}${settled ? ' after' : '…'} ${formatDuration(p.elapsedMs)}`;
      if (line !== last) ctx.progress(`${id}: ${line}`);
      last = line;
    },
  });
}

/** A waiting command's `--timeout` also bounds how long it retries when RunComfy rate-limits it. */
function budgetOf(values: OptionValues): CliClientOptions {
  return values.timeout === undefined ? {} : { rateLimitBudgetMs: wholeSeconds(values.timeout, '--timeout') * 1000 };
}

/** A launch --wait that did not reach Ready: say that the machine may still start and bill. */
function explainUnfinishedLaunch(e: unknown, id: string, timeoutS: number, when = 'while waiting'): unknown {
  const next = `Check it with "runcomfy status ${id}", or stop it with "runcomfy stop ${id}".`;
  if (e instanceof TimeoutError) {
    return new TimeoutError(`Machine ${id} is still starting after ${timeoutS} s (gave up waiting); it keeps starting and bills once Ready. ${next}`);
  }
  if (isCancellation(e)) {
    return new CancelledError(`Interrupted ${when}: machine ${id} is starting and bills once Ready. ${next}`);
  }
  return e;
}

function printMachine(ctx: CliContext, m: Machine): void {
  ctx.stdout(ctx.json ? formatJson(m.wire) : machineFields(m, Date.now()));
}

function machineFields(m: Machine, now: number): string {
  const f = machineFigures(m, now);
  const rate = f.hourlyRate === undefined ? '' : ` at $${f.hourlyRate.toFixed(2)}/h`;
  const fields: [string, string][] = [
    ['Machine', m.serverId],
    ['Type', m.serverType === undefined ? '-' : serverTypeDescription(m.serverType)],
    ['Status', m.status],
    ['ComfyUI', m.mainServiceUrl ? maskUrl(m.mainServiceUrl) : '-'],
    ['Duration', m.estimatedDurationS === undefined ? '-' : `${m.estimatedDurationS} s (${formatDuration(m.estimatedDurationS * 1000)}) from Ready`],
    ['Ready since', shownTime(m.serviceReadyAtMs)],
    ['Stops at', stopsAt(m, f.timeLeftMs)],
    ['Cost so far', `${formatCostEstimate(f.costSoFar)} (estimate${rate})`],
    ['Max cost', `${formatCostEstimate(f.maxCost)} (estimate, if it runs its whole duration)`],
  ];
  return formatFields(fields);
}

function stopsAt(m: Machine, timeLeftMs: number | undefined): string {
  if (m.status === 'Deleting') return 'stopping now (billing has ended)';
  if (m.estimatedStoppingAtMs === undefined) return '-';
  return `${formatLocalTime(m.estimatedStoppingAtMs)} (in ${formatDuration(timeLeftMs ?? 0)})`;
}

function machineTable(list: readonly Machine[], now: number): string {
  if (list.length === 0) return 'No machines. Launch one with "runcomfy launch --version <version_id> --type <server_type> --duration <seconds>".\n';
  const rows = list.map((m) => {
    const f = machineFigures(m, now);
    return [
      m.serverId,
      m.serverType ?? '-',
      m.status,
      m.status === 'Deleting' ? 'stopping' : f.timeLeftMs === undefined ? '-' : formatDuration(f.timeLeftMs),
      formatCostEstimate(f.costSoFar),
      formatCostEstimate(f.maxCost),
      m.mainServiceUrl ? maskUrl(m.mainServiceUrl) : '-',
    ];
  });
  const table = formatTable(
    [
      { header: 'SERVER ID' },
      { header: 'TYPE' },
      { header: 'STATUS' },
      { header: 'TIME LEFT', align: 'right' },
      { header: 'COST SO FAR', align: 'right' },
      { header: 'MAX COST', align: 'right' },
      { header: 'COMFYUI' },
    ],
    rows,
  );
  return `${table}Costs are estimates at pay-as-you-go prices.\n`;
}

function workflowTable(list: WorkflowList): string {
  if (list.workflows.length === 0) return 'No workflows in this account. Save a workflow to the cloud in RunComfy first.\n';
  const rows = list.workflows.flatMap((w) =>
    w.versions.map((v, i) => [i === 0 ? w.name : '', v.versionName ?? '-', v.versionId, shownTime(v.updatedAtMs ?? v.createdAtMs)]),
  );
  return formatTable([{ header: 'WORKFLOW' }, { header: 'VERSION' }, { header: 'VERSION ID' }, { header: 'UPDATED' }], rows);
}

/** Local date and time (the CLI is read by the person who ran it), `-` when the server did not say. */
function shownTime(ms: number | undefined): string {
  return ms === undefined ? '-' : formatLocalTime(ms);
}

function noExtraArgs(command: string, args: readonly string[]): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments, got "${args.join(' ')}". Usage: runcomfy ${command}`);
}

function oneId(command: string, usage: string, args: readonly string[]): string {
  if (args.length !== 1 || !args[0]?.trim()) {
    throw new UsageError(`${command} takes exactly one machine id (server_id). Usage: runcomfy ${usage}`);
  }
  return args[0].trim();
}

function requiredString(v: OptionValues[string], flag: string, usage: string, what: string): string {
  if (typeof v === 'string' && v.trim()) return v.trim();
  throw new UsageError(`${flag} is required (${what}). Usage: runcomfy ${usage}`);
}

function wholeSeconds(v: OptionValues[string] | undefined, name: string): number {
  const text = typeof v === 'string' ? v.trim() : '';
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`${name} must be a positive whole number of seconds, got "${typeof v === 'string' ? v : String(v)}".`);
  }
  return n;
}
