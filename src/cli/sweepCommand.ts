import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient, parseComfyUrl } from '../api/comfyClient';
import { ApiError, ConfigError } from '../api/errors';
import { isLoopbackHost, maskUrl } from '../api/redact';
import { knownServerTypes } from '../api/runcomfyTypes';
import { systemClock } from '../base/clock';
import { formatDuration, formatCostEstimate } from '../core/machineMath';
import { cliInputPolicy } from '../core/inputPolicy';
import { MoneyOperations } from '../core/moneyOperations';
import { formatRunTime } from '../core/outputSaver';
import { createRateTable, hourlyRate, type RateTable } from '../core/pricing';
import { parseAutoscaleSpec, type AutoscaleSpec } from '../core/sweep/sweepAutoscaler';
import { pendingRun, type SweepRunState, type SweepTarget } from '../core/sweep/sweepDispatcher';
import { earlierRunSeconds, estimateSweep, type RunTimeSource, type SweepEstimate } from '../core/sweep/sweepEstimate';
import { parseAxis, planSweep, type SweepPlan } from '../core/sweep/sweepPlan';
import { costScope, sweepJson, type SweepFacts } from '../core/sweep/sweepRecord';
import { type SweepStatus } from '../core/sweep/sweepRunner';
import { SweepSession } from '../core/sweep/sweepSession';
import { prepareWorkflow, workflowDisplayName, type PreparedWorkflow } from '../core/workflowPreparation';
import { type CliCommand, type CliContext, type OptionValues } from './cli';
import { cliClient } from './cliClient';
import { readWorkflowFile } from './comfyTarget';
import { ExitCode, UsageError, exitCodeFor, type ExitCodeValue } from './exitCodes';
import { formatJson } from './format';
import { allowedFolders, shownPath, stringList } from './queueCommand';

const usage =
  'sweep <workflow.json> --vary <node>.<input>=<spec>... [--zip] [--machine <server_id>]... [--comfy-url <url>]... [--autoscale <spec>] [--max-cost <usd>] [--expect-seconds <s>] [--out <dir>] [--yes] [--dry-run] [--allow-inputs-from <dir>]...';

/**
 * `runcomfy sweep`: one workflow, many runs (the product of the `--vary` axes, or pairwise with
 * `--zip`), spread over a pool of servers (Ready machines, ComfyUI URLs and, with `--autoscale`,
 * machines it launches and stops), within `--max-cost`. Progress on stderr, one line per run state
 * change; outputs in a folder per run below `--out`, with `sweep.json` at its top; `--json` prints
 * one object whatever happens. Exit codes as `queue`'s, plus 10 when the budget ended the sweep.
 */
export const sweepCommand: CliCommand = {
  name: 'sweep',
  usage,
  summary: 'Run a workflow once per combination of values over a pool of machines, within a budget.',
  options: {
    vary: { type: 'string', multiple: true },
    zip: { type: 'boolean' },
    machine: { type: 'string', multiple: true },
    'comfy-url': { type: 'string', multiple: true },
    autoscale: { type: 'string' },
    'max-cost': { type: 'string' },
    'expect-seconds': { type: 'string' },
    out: { type: 'string' },
    yes: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'allow-inputs-from': { type: 'string', multiple: true },
  },
  help: [
    'Axes (--vary NODE.INPUT=SPEC, repeatable; NODE is the API node id, also for a UI-format file, which is',
    'converted first with the first server\'s node list):',
    '  3.cfg=4,6,8              a list',
    '  3.seed=1..16             whole numbers, both ends included',
    '  3.denoise=0.3..0.9:0.2   a stepped range (0.3, 0.5, 0.7, 0.9: computed in decimal, no float drift)',
    '  6.text=@prompts.txt      one value per line (blank lines skipped); the path is relative to the current folder',
    'Values take the type of the input\'s value in the workflow: a number input gets numbers, a text input text.',
    'The axes combine as a product (the first changes slowest), or pairwise with --zip (equal lengths).',
    '',
    'Pool: every --machine (Ready) and --comfy-url, mixed; the least loaded server (by /queue) gets the next run,',
    'each holds at most two of ours at a time. A run whose server stops answering is sent to another one.',
    '--autoscale max=N,type=T,version=V[,duration=S][,idle=S] launches machines while more than two runs per',
    'machine wait (and the budget allows), adds each when Ready, stops each after idle S seconds (default 60)',
    'and all of them at the end, also on Ctrl-C. A sweep that launches machines needs --yes or --max-cost.',
    '',
    'Budget: --max-cost USD caps the estimated cost of the machines the sweep launches (rate from',
    'service_ready_at until the stop returned 200; machines it did not launch are not charged to it). Near the',
    'cap it interrupts its prompts, stops its machines and ends with exit code 10. Rates: the documented',
    'pay-as-you-go prices, or RUNCOMFY_PRICING (JSON, e.g. {"large": 1.39}).',
    '',
    'Estimate (printed first): runs, seconds per run (earlier run.json files of this workflow below the output',
    'folder on the same machine type, else --expect-seconds, else a probe run: the first run goes alone, then the',
    'estimate is printed again and the rest follows), wall time, most it can cost.',
    '--dry-run prints the plan and sends nothing (a UI-format file still reads the first server\'s node list).',
    '',
    'Output: --out DIR is the sweep\'s folder (default runcomfy-outputs/<workflow>/sweep-<time>): sweep.json at',
    'its top, updated as runs end, and one folder per run named by its values.',
  ].join('\n'),
  async run(ctx, args, values) {
    const started = Date.now();
    try {
      return await sweep(ctx, args, values, started);
    } catch (e) {
      if (ctx.json) ctx.stdout(formatJson(failureJson(e)));
      throw e;
    }
  },
};

async function sweep(ctx: CliContext, args: readonly string[], values: OptionValues, startedAtMs: number): Promise<number> {
  if (args.length !== 1) throw new UsageError(`sweep takes one workflow file${args.length > 1 ? `, got ${args.length}` : ''}. Usage: runcomfy ${usage}`);
  const file = args[0];
  const absPath = path.resolve(file);
  const axesSpecs = stringList(values.vary).map((a) => parseAxis(a, readLines));
  if (axesSpecs.length === 0) throw new UsageError(`Give at least one --vary <node>.<input>=<spec> (for example --vary 3.seed=1..16). Usage: runcomfy ${usage}`);
  const machineIds = stringList(values.machine).map((m) => m.trim());
  const comfyUrls = stringList(values['comfy-url']);
  const autoscale = typeof values.autoscale === 'string' ? parseAutoscaleSpec(values.autoscale, knownServerTypes) : undefined;
  const maxCostUsd = optionalNumber(values['max-cost'], '--max-cost', 'a number of US dollars, such as 5 or 2.50', 0);
  const expectSeconds = optionalNumber(values['expect-seconds'], '--expect-seconds', 'the seconds one run takes', Number.MIN_VALUE);
  if (machineIds.length === 0 && comfyUrls.length === 0 && !autoscale) {
    throw new UsageError(`Where should the runs go? Give --machine <server_id>, --comfy-url <url> (each repeatable) or --autoscale. Usage: runcomfy ${usage}`);
  }
  const rates = rateTable(ctx.env);
  const ratePerHour = autoscale ? hourlyRate(autoscale.type, rates) : undefined;
  const dryRun = values['dry-run'] === true;
  const text = await readWorkflowFile(file, absPath);
  const policy = cliInputPolicy(absPath, process.cwd(), await allowedFolders(values));
  let workflow = prepareWorkflow(text, absPath, [], file, policy);
  const ui = workflow.analysis.format === 'ui';

  // Targets are resolved (RunComfy asked, ComfyUI reached) only for a real sweep; a dry run sends nothing.
  const targets = dryRun ? [] : await resolveTargets(ctx, values, machineIds, comfyUrls);
  if (ui) {
    const first = targets[0] ?? (dryRun ? await firstTargetForNodeList(ctx, values, machineIds, comfyUrls) : undefined);
    if (!first) throw new UsageError(`${file} is a UI-format workflow: it is converted with a server's node list, so give --machine or --comfy-url (autoscale alone has no server yet).`);
    const objectInfo = await new ComfyClient({ baseUrl: first.url }).getObjectInfo({}, ctx.signal);
    workflow = prepareWorkflow(text, absPath, [], file, policy, { objectInfo, where: first.launched ? 'this machine' : `the server ${first.id}` });
  }
  if (!workflow.prompt) throw new ApiError('workflowRejected', `The workflow cannot be queued:\n${workflow.problems.map((p) => `  ${p}`).join('\n')}`);
  const plan = planSweep(workflow.prompt, axesSpecs, values.zip === true ? 'zip' : 'product');
  const outDir = path.resolve(typeof values.out === 'string' ? values.out : path.join('runcomfy-outputs', workflowDisplayName(absPath), `sweep-${formatRunTime(startedAtMs)}`));

  // The history counts runs on the sweep's machine type (its autoscale type, else its first machine's), see earlierRunSeconds.
  const machineType = autoscale?.type ?? targets.find((t) => t.machineType !== undefined)?.machineType;
  const earlier = await earlierRunSeconds([path.resolve('runcomfy-outputs', workflowDisplayName(absPath)), path.dirname(outDir)], shownPath(absPath), machineType);
  const source: RunTimeSource = earlier !== undefined ? 'history' : expectSeconds !== undefined ? 'flag' : 'probe';
  const estimateWith = (secondsPerRun: number | undefined, from: RunTimeSource) =>
    estimateSweep({
      runs: plan.runs.length,
      targets: dryRun ? machineIds.length + comfyUrls.length : targets.length,
      secondsPerRun,
      source: from,
      autoscale: autoscale && { max: autoscale.max, ratePerHour, durationS: autoscale.durationS, idleS: autoscale.idleS, bootS: 60 },
      maxCostUsd,
    });
  const estimate = estimateWith(earlier ?? expectSeconds, source);
  const probeTarget = dryRun ? machineIds.length + comfyUrls.length > 0 : targets.length > 0;
  for (const line of estimateLines(plan, estimate, autoscale, maxCostUsd, dryRun, probeTarget)) ctx.progress(line);
  for (const w of workflow.warnings) ctx.progress(`Warning: ${w}`);

  if (dryRun) {
    const facts: SweepFacts = {
      status: 'planned',
      workflowFile: shownPath(absPath),
      axes: plan.axes,
      mode: plan.mode,
      runs: plan.runs.map(pendingRun),
      machinesLaunched: [],
      machinesStopped: [],
      machines: [],
      costUsd: 0,
      maxCostUsd,
      estimate,
      targets: [],
      warnings: [...workflow.warnings],
      startedAtMs,
    };
    if (ctx.json) ctx.stdout(formatJson(sweepJson(facts)));
    else for (const r of plan.runs) ctx.stdout(`${r.folder}  ${JSON.stringify(r.params)}\n`);
    return ExitCode.ok;
  }
  if (autoscale && ratePerHour === undefined) throw new UsageError(`No hourly rate is known for ${autoscale.type}: set RUNCOMFY_PRICING, e.g. {"${autoscale.type}": 1.5}.`);
  // Checked before the probe run too: nothing is spent on a sweep that would stop here afterwards.
  if (autoscale && values.yes !== true && maxCostUsd === undefined) {
    throw new UsageError(`This sweep may launch up to ${autoscale.max} machine${autoscale.max === 1 ? '' : 's'} (at most ${formatCostEstimate(estimate.maxCostUsd)}). Add --yes to go ahead, or --max-cost <usd> to cap it.`);
  }
  return runPool(ctx, values, {
    workflow,
    plan,
    targets,
    autoscale,
    ratePerHour: ratePerHour ?? 0,
    maxCostUsd,
    outDir,
    absPath,
    estimate,
    reestimate: (seconds) => estimateWith(seconds, 'probe'),
    startedAtMs,
  });
}

interface PoolInputs {
  readonly workflow: PreparedWorkflow;
  readonly plan: SweepPlan;
  readonly targets: readonly SweepTarget[];
  readonly autoscale: AutoscaleSpec | undefined;
  readonly ratePerHour: number;
  readonly maxCostUsd: number | undefined;
  readonly outDir: string;
  readonly absPath: string;
  readonly estimate: SweepEstimate;
  readonly reestimate: (secondsPerRun: number) => SweepEstimate;
  readonly startedAtMs: number;
}

async function runPool(ctx: CliContext, values: OptionValues, p: PoolInputs): Promise<ExitCodeValue> {
  const clock = systemClock;
  const session = new SweepSession({
    workflow: { ...p.workflow, prompt: p.workflow.prompt! },
    plan: p.plan,
    workflowFile: shownPath(p.absPath),
    dir: p.outDir,
    targets: p.targets,
    autoscale: p.autoscale && { spec: p.autoscale, ratePerHour: p.ratePerHour, api: cliClient(ctx, values).client, money: new MoneyOperations(clock) },
    maxCostUsd: p.maxCostUsd,
    estimate: p.estimate,
    reestimate: p.reestimate,
    // --yes / --max-cost were checked before the probe: the measured estimate is shown, and the sweep goes on.
    confirmAfterProbe: (e) => {
      for (const line of estimateLines(p.plan, e, p.autoscale, p.maxCostUsd, false)) ctx.progress(line);
      return Promise.resolve(true);
    },
    clock,
    signal: ctx.signal,
    say: (line) => ctx.progress(line),
    warn: (line) => ctx.progress(`Warning: ${line}`),
    startedAtMs: p.startedAtMs,
  });
  const total = p.plan.runs.length;
  session.dispatcher.onDidChangeRun((r) => ctx.progress(runLine(r, total)));
  ctx.progress(`Sweep folder: ${p.outDir}`);
  const status = await session.run();
  const runs = session.runs;
  if (ctx.json) ctx.stdout(formatJson(sweepJson(session.facts(status))));
  else for (const r of runs) for (const o of r.outputs) ctx.stdout(`${o.path}\n`);
  const ok = runs.filter((r) => r.status === 'success').length;
  ctx.progress(`Sweep ${status}: ${ok} of ${total} runs succeeded; outputs and sweep.json in ${p.outDir}.`);
  if (p.autoscale) ctx.progress(`Estimated cost: ${formatCostEstimate(session.ledger.costUsd())}. ${costScope}`);
  else ctx.progress('No machine was launched, so nothing is charged to this sweep; the machines it used bill as they always do.');
  return exitCodeOf(status, runs);
}

/** One progress line per run state change. */
function runLine(r: SweepRunState, total: number): string {
  const head = `Run ${r.index + 1}/${total} (${Object.entries(r.params).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join(', ')})`;
  switch (r.status) {
    case 'pending':
      return r.requeued.length > 0 ? `${head}: sent again (${r.requeued[r.requeued.length - 1]})` : `${head}: sending to ${r.target ?? 'the pool'}`;
    case 'queued':
      return `${head}: queued on ${r.target} as prompt ${r.promptId}`;
    case 'running':
      return `${head}: running on ${r.target}`;
    case 'success':
      return `${head}: succeeded on ${r.target}, ${r.outputs.length} output${r.outputs.length === 1 ? '' : 's'}`;
    case 'skipped':
      return `${head}: skipped (the sweep ended before it was sent)`;
    default:
      return `${head}: ${r.status}${r.error ? `: ${r.error.message}` : ''}`;
  }
}

function exitCodeOf(status: SweepStatus, runs: readonly SweepRunState[]): ExitCodeValue {
  if (status === 'success') return ExitCode.ok;
  if (status === 'budget') return ExitCode.budget;
  if (status === 'interrupted') return ExitCode.interrupted;
  const kind = runs.find((r) => r.status === 'error')?.error?.kind;
  if (kind === undefined || kind === 'internal') return ExitCode.failure;
  return exitCodeFor(new ApiError(kind, ''));
}

function estimateLines(plan: SweepPlan, e: SweepEstimate, autoscale: AutoscaleSpec | undefined, maxCostUsd: number | undefined, dryRun: boolean, probeTarget = true): string[] {
  const axes = plan.axes.map((a) => `${a.key} (${a.values.length})`).join(plan.mode === 'zip' ? ' zipped with ' : ' × ');
  const unknown = !probeTarget
    ? 'unknown (no earlier runs of this workflow on this machine type, and a probe run needs a server: give --expect-seconds <s>, or a --machine or --comfy-url to measure it on)'
    : dryRun
      ? 'unknown, a probe run would measure it (no earlier runs of this workflow on this machine type; --expect-seconds tells it)'
      : 'unknown until the probe run (the first run, sent alone) ends (no earlier runs of this workflow on this machine type; --expect-seconds tells it)';
  const from = e.source === 'history' ? 'from earlier runs' : e.source === 'flag' ? '--expect-seconds' : 'measured by the probe run';
  const per = e.secondsPerRun === undefined ? unknown : `~${formatDuration(e.secondsPerRun * 1000)} per run (${from})`;
  const wall = e.wallSeconds === undefined ? '' : `, ~${formatDuration(e.wallSeconds * 1000)} on ${e.poolSize} server${e.poolSize === 1 ? '' : 's'}`;
  const cost = autoscale
    ? `at most ${formatCostEstimate(e.maxCostUsd)} for up to ${autoscale.max} ${autoscale.type} machine${autoscale.max === 1 ? '' : 's'} it launches${maxCostUsd === undefined ? '' : ` (capped by --max-cost ${formatCostEstimate(maxCostUsd)})`}`
    : 'no machine is launched, so nothing is charged to the sweep';
  return [`Sweep: ${plan.runs.length} run${plan.runs.length === 1 ? '' : 's'} (${axes}); ${per}${wall}; ${cost}.`];
}

/** Every `--machine` (Ready, via RunComfy) and `--comfy-url`, as pool targets. */
async function resolveTargets(ctx: CliContext, values: OptionValues, machineIds: readonly string[], comfyUrls: readonly string[]): Promise<SweepTarget[]> {
  const targets: SweepTarget[] = [];
  for (const raw of comfyUrls) targets.push(comfyTarget(ctx, raw, targets.length));
  if (machineIds.length > 0) {
    const { client } = cliClient(ctx, values);
    for (const id of machineIds) {
      if (!id) throw new UsageError('--machine needs a machine id (server_id); "runcomfy machines" lists them.');
      const m = await client.getMachine(id, ctx.signal);
      if (!m.isReady || !m.mainServiceUrl) {
        throw new ApiError('invalidRequest', `Machine ${id} is ${m.status}, not Ready: a sweep sends runs only to Ready machines. Wait for it with "runcomfy status ${id}".`);
      }
      targets.push({ id, url: m.mainServiceUrl, label: `machine ${id}`, launched: false, machineType: m.serverType });
    }
  }
  return targets;
}

/** For a dry run of a UI-format file: the first server, to read its node list (nothing is queued). */
async function firstTargetForNodeList(ctx: CliContext, values: OptionValues, machineIds: readonly string[], comfyUrls: readonly string[]): Promise<SweepTarget | undefined> {
  if (comfyUrls.length > 0) return comfyTarget(ctx, comfyUrls[0], 0);
  if (machineIds.length > 0) return (await resolveTargets(ctx, values, machineIds.slice(0, 1), []))[0];
  return undefined;
}

function comfyTarget(ctx: CliContext, raw: string, n: number): SweepTarget {
  const url = parseComfyUrl(raw, '--comfy-url');
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    ctx.progress(`Warning: ${maskUrl(url.href)} is plain http: the workflow, inputs and outputs travel unencrypted.`);
  }
  // Masked URLs of two servers may look alike: the position keeps ids apart.
  const shown = maskUrl(url.href);
  return { id: isLoopbackHost(url.hostname) ? shown : `${shown}#${n + 1}`, url: url.href, label: `ComfyUI ${shown}`, launched: false };
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(path.resolve(file), 'utf8').split('\n');
  } catch (e) {
    throw new ConfigError(`Cannot read the values file ${file} (relative to the current folder ${process.cwd()}): ${(e as Error).message}`);
  }
}

function optionalNumber(v: OptionValues[string], flag: string, what: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const text = typeof v === 'string' ? v.trim() : '';
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be ${what}; got "${String(v)}".`);
  return n;
}

/** The documented prices with `RUNCOMFY_PRICING` (a JSON object of type → dollars per hour) over them. */
function rateTable(env: NodeJS.ProcessEnv): RateTable {
  const raw = env.RUNCOMFY_PRICING?.trim();
  if (!raw) return createRateTable();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`RUNCOMFY_PRICING is not JSON (${(e as Error).message}); give an object such as {"large": 1.39}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('RUNCOMFY_PRICING must be a JSON object such as {"large": 1.39}.');
  try {
    return createRateTable(parsed as Record<string, unknown>);
  } catch (e) {
    throw new UsageError(`RUNCOMFY_PRICING: ${(e as Error).message}`);
  }
}

/** The `--json` object for a failure before the sweep ran (bad flags, an unreadable workflow, a machine not Ready). */
function failureJson(e: unknown): Record<string, unknown> {
  const kind = e instanceof ApiError ? e.kind : e instanceof UsageError ? 'usage' : 'internal';
  return {
    status: kind === 'cancelled' ? 'interrupted' : 'failed',
    runs: [],
    machines_launched: [],
    machines_stopped: [],
    cost_estimate_usd: 0,
    warnings: [`${kind}: ${e instanceof Error ? e.message : String(e)}`],
  };
}
