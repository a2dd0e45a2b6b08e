import * as path from 'node:path';
import { ConfigError } from '../../api/errors';
import { maskUrl } from '../../api/redact';
import { knownServerTypes, type Machine } from '../../api/runcomfyTypes';
import { type Disposable } from '../../base/lifecycle';
import { type RunComfyAccount } from '../account';
import { costOf, machineFigures } from '../machineMath';
import { machineShortId, machineTarget } from '../machineLabels';
import { extendConfirmation, launchConfirmation, queueOnMachineConfirmation, stopConfirmation } from '../moneyConfirmations';
import { checkAgainstObjectInfo } from '../objectInfoCheck';
import { hourlyRate, serverTypes } from '../pricing';
import { RunEngine } from '../runEngine';
import { nodeLabel, describeNodeErrors } from '../runLogFormat';
import { targetKey, targetLabel, type RunRecord, type RunTarget } from '../runRegistry';
import { safeSegment } from '../safePath';
import { earlierRunSeconds, estimateSweep, type RunTimeSource } from '../sweep/sweepEstimate';
import { parseAxis, planSweep, type AxisSpec } from '../sweep/sweepPlan';
import { versionLabel } from '../workflowCatalog';
import { knownProblemsSentence } from '../workflowMessages';
import { prepareWorkflow, workflowDisplayName, type PreparedWorkflow } from '../workflowPreparation';
import { ToolError, toolErrorOf, type JsonSchema, type ObjectSchema, type ToolContext, type ToolData, type ToolDefinition, type ToolInput, type ToolWorkflowFile } from './toolDefinition';

/**
 * The RunComfy agent tools: one definition each, shared by the VS Code language model tools and the
 * `runcomfy mcp` server. Results are compact JSON: costs in US dollars (estimates at the rate table's
 * prices), times in seconds, ComfyUI URLs masked. Refusals are `ToolError`s that say what to do next.
 */

/** A queue or status call waits at most this long by default: MCP clients time requests out after about 60 s. */
const defaultWaitSeconds = 45;
const maxWaitSeconds = 600;
/** run_status without a run lists this many of the latest runs. */
const listedRuns = 10;

const nullableNumber = (description: string): JsonSchema => ({ type: ['number', 'null'], description });
const nullableString = (description: string): JsonSchema => ({ type: ['string', 'null'], description });

const machineSchema: JsonSchema = {
  type: 'object',
  properties: {
    server_id: { type: 'string', description: 'The machine id (what the other tools take as server_id).' },
    server_type: nullableString('medium, large, extra-large, 2x-large or 2xl-turbo.'),
    status: { type: 'string', description: 'Starting, Ready or Deleting (as RunComfy says).' },
    time_left_seconds: nullableNumber('Seconds until it stops by itself; null before Ready.'),
    cost_so_far_usd: nullableNumber('Estimated dollars billed so far; null before Ready.'),
    max_cost_usd: nullableNumber('Estimated dollars if it runs its whole duration.'),
    hourly_rate_usd: nullableNumber('Estimated dollars per hour.'),
    stops_at: nullableString('When it stops by itself (ISO 8601, UTC).'),
    comfyui: nullableString('Its ComfyUI address, masked (the full one is a secret).'),
  },
};

const runSchema: JsonSchema = {
  type: 'object',
  properties: {
    run_id: { type: 'string', description: 'What run_status takes.' },
    prompt_id: nullableString("ComfyUI's prompt id, once queued."),
    workflow: { type: 'string' },
    target: { type: 'string', description: 'Where it runs: a machine or a local ComfyUI.' },
    status: { type: 'string', description: 'preparing, queued, running, success, error or interrupted.' },
    queue_position: nullableNumber('Prompts ahead of it; 0 while it runs.'),
    current_node: nullableString('The node running now.'),
    outputs: { type: 'array', items: { type: 'string' }, description: 'Absolute paths of the saved output files.' },
    output_folder: nullableString("The run's output folder."),
    warnings: { type: 'array', items: { type: 'string' } },
    error: {
      type: ['object', 'null'],
      description: 'Why it failed: the message, the failing node, and one line per node error of a rejected prompt.',
      properties: { type: { type: 'string' }, message: { type: 'string' }, node: nullableString('The failing node.'), node_errors: { type: 'array', items: { type: 'string' } } },
    },
    elapsed_seconds: nullableNumber('Run time so far, or in all once finished.'),
    next: nullableString('What to do next.'),
  },
};

const targetProperties: Readonly<Record<string, JsonSchema>> = {
  server_id: { type: 'string', minLength: 1, description: 'A Ready RunComfy machine (from list_machines), by id or its first 8 characters.' },
  local_server: { type: 'string', minLength: 1, description: 'Instead of a machine: one of your own ComfyUI servers, by name (list_machines lists them).' },
};

const workflowPathProperty: JsonSchema = {
  type: 'string',
  minLength: 1,
  description: 'The workflow file (API format, or UI format as ComfyUI saves it), relative to the workspace folder. Only .json files inside the workspace are read.',
};

const listWorkflows: ToolDefinition = {
  name: 'list_workflows',
  title: 'List RunComfy Workflows',
  referenceName: 'runcomfyWorkflows',
  userDescription: 'List the workflows saved in your RunComfy account, with the version ids a machine launches with.',
  modelDescription:
    'Lists the workflows saved in the user\'s RunComfy cloud account and their versions (newest first). Use it to find the version_id that launch_machine needs. Free: it reads the account and spends nothing. These are cloud workflows, not the workflow files in the workspace.',
  tags: ['runcomfy', 'comfyui'],
  spends: false,
  readOnly: true,
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  outputSchema: {
    type: 'object',
    properties: {
      workflows: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            workflow_id: { type: 'string' },
            name: { type: 'string' },
            versions: { type: 'array', items: { type: 'object', properties: { version_id: { type: 'string' }, name: { type: 'string' }, updated_at: nullableString('ISO 8601, UTC.') } } },
          },
        },
      },
    },
    required: ['workflows'],
  },
  async run(_input, { host, signal }) {
    const list = await host.account().client.listWorkflows(signal);
    return {
      workflows: list.workflows.map((w) => ({
        workflow_id: w.workflowId,
        name: w.name,
        versions: w.versions.map((v) => ({ version_id: v.versionId, name: versionLabel(v, { timeZone: 'UTC' }), updated_at: isoOrNull(v.updatedAtMs ?? v.createdAtMs) })),
      })),
    };
  },
};

const listMachines: ToolDefinition = {
  name: 'list_machines',
  title: 'List RunComfy Machines',
  referenceName: 'runcomfyMachines',
  userDescription: 'List your RunComfy machines with status, time left and cost so far, and your local ComfyUI servers.',
  modelDescription:
    "Lists the user's RunComfy cloud GPU machines: status (Starting, Ready, Deleting), time left, estimated cost so far, hourly rate and the most each can cost; and the user's own ComfyUI servers (local_servers) that queue_workflow and check_workflow can use instead. Free. Call it before queueing (a workflow runs only on a Ready machine), to watch a launched machine boot (poll every 20-30 s; booting takes a few minutes), and to remind the user what is still billing. Ready machines bill per second until stopped.",
  tags: ['runcomfy', 'comfyui', 'gpu'],
  spends: false,
  readOnly: true,
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  outputSchema: {
    type: 'object',
    properties: {
      machines: { type: 'array', items: machineSchema },
      local_servers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, url: { type: 'string' } } } },
      note: { type: 'string' },
    },
    required: ['machines', 'local_servers'],
  },
  async run(_input, context) {
    const { host, signal } = context;
    const local = host.localServers().map((s) => ({ name: s.name, url: maskUrl(s.url) }));
    const machines = await host.account().machines.refresh(signal);
    const now = host.clock.now();
    return {
      machines: machines.map((m) => machineJson(m, context, now)),
      local_servers: local,
      note: 'Costs are estimates at pay-as-you-go prices unless the user set their own. Ready machines bill per second until they stop.',
    };
  },
};

interface LaunchInput extends ToolInput {
  readonly version_id: string;
  readonly server_type: string;
  readonly duration_minutes: number;
}

const launchMachine: ToolDefinition<LaunchInput> = {
  name: 'launch_machine',
  title: 'Launch a RunComfy Machine',
  referenceName: 'runcomfyLaunch',
  userDescription: 'Launch a RunComfy cloud GPU machine (asks first, with the rate and the most it can cost).',
  modelDescription:
    `Launches a RunComfy cloud GPU machine with one of the user's workflow versions (version_id from list_workflows). COSTS MONEY: billed per second from Ready until it stops, at the type's hourly rate (${serverTypes.map((t) => `${t.id} ~$${t.payAsYouGoPerHour.toFixed(2)}/h`).join(', ')} at pay-as-you-go prices); at most rate × duration_minutes. The user is asked to confirm. Choose the smallest type and shortest time that fit; it stops by itself after duration_minutes. Returns at once with status Starting: poll list_machines until it is Ready (a few minutes), then queue_workflow. Never launch again because a launch seemed slow: check list_machines first. Stop it with stop_machine when done.`,
  tags: ['runcomfy', 'comfyui', 'gpu', 'spends-money'],
  spends: true,
  readOnly: false,
  inputSchema: {
    type: 'object',
    properties: {
      version_id: { type: 'string', minLength: 1, description: 'The workflow version the machine boots with (list_workflows).' },
      server_type: { type: 'string', enum: knownServerTypes, description: 'The GPU: medium (16 GB), large (24 GB), extra-large (48 GB), 2x-large (A100 80 GB), 2xl-turbo (H100 80 GB).' },
      duration_minutes: { type: 'integer', minimum: 5, maximum: 1440, description: 'How long it runs from Ready before it stops by itself (5-1440).' },
    },
    required: ['version_id', 'server_type', 'duration_minutes'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: { machine: machineSchema, max_cost_usd: nullableNumber('The most it can cost if it runs its whole duration.'), next: { type: 'string' } },
    required: ['machine'],
  },
  async confirmation(input, { host }) {
    const { label } = await findVersion(host.account(), input.version_id);
    const rate = hourlyRate(input.server_type, host.rates);
    return {
      ...launchConfirmation({ serverType: input.server_type, minutes: input.duration_minutes, workflow: label, rate }),
      spends: true,
      newCostUsd: rate === undefined ? undefined : costOf(input.duration_minutes * 60, rate),
    };
  },
  async run(input, context) {
    const account = context.host.account();
    await findVersion(account, input.version_id);
    // Sent once: a lost answer is settled by checking the machine list, never by sending it again (MachineStore.launch).
    const m = await account.machines.launch({ workflow_version_id: input.version_id, server_type: input.server_type, estimated_duration: input.duration_minutes * 60 }, context.signal);
    const rate = hourlyRate(input.server_type, context.host.rates);
    return {
      machine: machineJson(m, context, context.host.clock.now()),
      max_cost_usd: rate === undefined ? null : roundUsd(costOf(input.duration_minutes * 60, rate)),
      next: `Machine ${m.serverId} is starting; billing begins once it is Ready. Poll list_machines until it is Ready (a few minutes), then queue_workflow with server_id ${m.serverId}. Stop it with stop_machine when done.`,
    };
  },
};

interface ExtendInput extends ToolInput {
  readonly server_id: string;
  readonly minutes: number;
}

const extendMachine: ToolDefinition<ExtendInput> = {
  name: 'extend_machine',
  title: 'Extend a RunComfy Machine',
  referenceName: 'runcomfyExtend',
  userDescription: 'Let a Ready RunComfy machine run longer (asks first, with the rate and the most the extra time can cost).',
  modelDescription:
    "Lets a Ready RunComfy machine run longer before it stops by itself. COSTS MONEY: at most the machine's hourly rate × minutes more. The user is asked to confirm. Use it only when a run needs more time than the machine has left (list_machines shows time_left_seconds).",
  tags: ['runcomfy', 'gpu', 'spends-money'],
  spends: true,
  readOnly: false,
  inputSchema: {
    type: 'object',
    properties: {
      server_id: targetProperties.server_id,
      minutes: { type: 'integer', minimum: 1, maximum: 1440, description: 'Minutes to add (1-1440).' },
    },
    required: ['server_id', 'minutes'],
    additionalProperties: false,
  },
  outputSchema: { type: 'object', properties: { machine: machineSchema, added_cost_max_usd: nullableNumber('The most the added time can cost.') }, required: ['machine'] },
  async confirmation(input, context) {
    const m = requireReady(await findMachine(context, input.server_id), 'extended');
    const rate = hourlyRate(m.serverType, context.host.rates);
    return { ...extendConfirmation(m, input.minutes, context.host.clock.now(), context.host.rates), spends: true, newCostUsd: rate === undefined ? undefined : costOf(input.minutes * 60, rate) };
  },
  async run(input, context) {
    const m = requireReady(await findMachine(context, input.server_id), 'extended');
    const updated = await context.host.account().machines.extendBy(m.serverId, input.minutes * 60, context.signal);
    const rate = hourlyRate(m.serverType, context.host.rates);
    return { machine: machineJson(updated, context, context.host.clock.now()), added_cost_max_usd: rate === undefined ? null : roundUsd(costOf(input.minutes * 60, rate)) };
  },
};

interface StopInput extends ToolInput {
  readonly server_id: string;
}

const stopMachine: ToolDefinition<StopInput> = {
  name: 'stop_machine',
  title: 'Stop a RunComfy Machine',
  referenceName: 'runcomfyStop',
  userDescription: 'Stop a RunComfy machine so billing stops (asks first, with the cost so far).',
  modelDescription:
    "Stops a RunComfy machine; billing stops once the stop lands (it is retried until it does). Saves money and is always allowed, but runs in progress on the machine are lost, and the user is asked to confirm. Stop machines the user no longer needs when the work is done.",
  tags: ['runcomfy', 'gpu'],
  spends: false,
  readOnly: false,
  inputSchema: { type: 'object', properties: { server_id: { ...targetProperties.server_id, description: 'The machine to stop (list_machines), by id or its first 8 characters.' } }, required: ['server_id'], additionalProperties: false },
  outputSchema: { type: 'object', properties: { server_id: { type: 'string' }, status: { type: 'string' }, cost_so_far_usd: nullableNumber('Estimated dollars billed before the stop.'), message: { type: 'string' } }, required: ['server_id', 'status'] },
  async confirmation(input, context) {
    const m = await findMachine(context, input.server_id);
    const active = context.host.runs.forTarget(targetKey(machineTarget(m))).filter((r) => r.finishedAtMs === undefined).length;
    return { ...stopConfirmation(m, context.host.clock.now(), context.host.rates, active), spends: false, newCostUsd: 0 };
  },
  async run(input, context) {
    const m = await findMachine(context, input.server_id);
    const cost = machineFigures(m, context.host.clock.now(), context.host.rates).costSoFar;
    if (m.status === 'Deleting') return { server_id: m.serverId, status: m.status, cost_so_far_usd: usdOrNull(cost), message: `Machine ${m.serverId} is already stopping; billing has ended.` };
    // No signal: a cancelled call must not end a stop's retries (the machine would keep billing).
    const stopped = await context.host.account().machines.stop(m.serverId);
    return {
      server_id: m.serverId,
      status: stopped?.status ?? 'gone',
      cost_so_far_usd: usdOrNull(cost),
      message: stopped ? `Stopped machine ${m.serverId}: billing has stopped.` : `Machine ${m.serverId} is already gone: an earlier stop landed.`,
    };
  },
};

interface TargetInput extends ToolInput {
  readonly workflow_path: string;
  readonly server_id?: string;
  readonly local_server?: string;
}

interface QueueInput extends TargetInput {
  readonly wait_seconds?: number;
  readonly force?: boolean;
}

const queueWorkflow: ToolDefinition<QueueInput> = {
  name: 'queue_workflow',
  title: 'Queue a ComfyUI Workflow',
  referenceName: 'runcomfyQueue',
  userDescription: 'Run a workflow file of the workspace on a Ready RunComfy machine or your own ComfyUI, and save its outputs.',
  modelDescription:
    "Runs a ComfyUI workflow file of the workspace (API or UI format) on a Ready RunComfy machine (server_id) or one of the user's own ComfyUI servers (local_server): checks it against the server's node list first (refuses with each problem by node unless force is true), uploads the local media files it names, queues it, waits up to wait_seconds and saves every output in the workspace. On a machine it COSTS MONEY indirectly: the machine bills per second while it runs (the user is asked to confirm); on a local server it is free. Returns run_id, prompt_id, status and the saved output paths, or the error by node. When the status is still queued or running, call run_status with the run_id.",
  tags: ['runcomfy', 'comfyui', 'workflow', 'spends-money'],
  spends: true,
  readOnly: false,
  inputSchema: {
    type: 'object',
    properties: {
      workflow_path: workflowPathProperty,
      ...targetProperties,
      wait_seconds: { type: 'integer', minimum: 0, maximum: maxWaitSeconds, description: `How long to wait for the end before returning (default ${defaultWaitSeconds}); the run goes on either way.` },
      force: { type: 'boolean', description: "Queue even when the server's node list shows problems (ComfyUI will most likely refuse it)." },
    },
    required: ['workflow_path'],
    additionalProperties: false,
  },
  outputSchema: { ...(runSchema as ObjectSchema), required: ['run_id', 'status'] },
  async confirmation(input, context) {
    context.host.assertMayQueue?.();
    if (input.server_id === undefined) return undefined;
    const m = requireReady(await findMachine(context, input.server_id), 'used');
    const file = await context.host.openWorkflow(input.workflow_path);
    return { ...queueOnMachineConfirmation(m, file.displayPath, context.host.clock.now(), context.host.rates), spends: true, newCostUsd: 0 };
  },
  async run(input, context) {
    const { host } = context;
    host.assertMayQueue?.();
    const file = await host.openWorkflow(input.workflow_path);
    const target = await resolveTarget(context, input);
    const prepared = await prepareForTarget(context, file, target);
    if (!prepared.prompt) throw new ToolError('workflow_rejected', `${file.displayPath} cannot be queued: ${prepared.problems.join(' ')}`);
    if (input.force !== true) {
      const problems = await knownProblems(context, prepared, target);
      if (problems.length > 0) throw new ToolError('known_problems', `${knownProblemsSentence(problems)} Nothing was queued. ${problems.map((p) => p.message).join(' ')} Fix the workflow, or call again with force: true to queue anyway.`);
    }
    const output = await host.outputLocation(file);
    const engine = new RunEngine({
      prompt: prepared.prompt,
      localInputs: prepared.localInputs,
      inputPolicy: prepared.inputPolicy,
      warnings: prepared.warnings,
      dynamicPrompts: prepared.dynamicPrompts,
      convertedFrom: prepared.convertedFrom,
      comfyUrl: target.comfyUrl,
      outputRoot: output.root,
      outputWithin: output.within,
      workflowName: workflowDisplayName(file.absPath),
      workflowFile: file.displayPath,
      clock: host.clock,
      createClient: (url) => host.comfyClient(url),
    });
    const record = host.runs.track({ workflowPath: file.absPath, workflowName: workflowDisplayName(file.absPath), target: target.target }, { onEvent: engine.onEvent, interrupt: () => engine.interrupt(), dispose: () => engine.dispose() });
    host.runStarted?.(engine, { workflow: file.displayPath, target: target.target, comfyUrl: target.comfyUrl });
    void engine.run().finally(() => engine.dispose());
    await waitForRun(context, record, input.wait_seconds ?? defaultWaitSeconds);
    return runJson(record, context);
  },
};

interface StatusInput extends ToolInput {
  readonly run_id?: string;
  readonly wait_seconds?: number;
}

const runStatus: ToolDefinition<StatusInput> = {
  name: 'run_status',
  title: 'Show a Workflow Run',
  referenceName: 'runcomfyRunStatus',
  userDescription: 'Show the status and saved outputs of a workflow run (or list the latest runs).',
  modelDescription:
    "Shows a workflow run started by queue_workflow (or from the editor): status, queue position, the node running, saved output paths, and the error by node if it failed. Give run_id (or the prompt_id); wait_seconds waits for the end first. Without run_id it lists the latest runs. Free.",
  tags: ['runcomfy', 'comfyui', 'workflow'],
  spends: false,
  readOnly: true,
  inputSchema: {
    type: 'object',
    properties: {
      run_id: { type: 'string', minLength: 1, description: 'The run_id (or prompt_id) queue_workflow returned; omit to list the latest runs.' },
      wait_seconds: { type: 'integer', minimum: 0, maximum: maxWaitSeconds, description: 'Wait up to this long for the run to end (default 0: answer at once).' },
    },
    additionalProperties: false,
  },
  outputSchema: { ...(runSchema as ObjectSchema), properties: { ...(runSchema as ObjectSchema).properties, runs: { type: 'array', items: runSchema } } },
  async run(input, context) {
    const runs = context.host.runs;
    if (input.run_id === undefined) return { runs: runs.runs.slice(0, listedRuns).map((r) => runJson(r, context)) };
    const id = input.run_id.trim();
    const record = runs.get(id) ?? runs.runs.find((r) => r.promptId === id);
    if (!record) {
      throw new ToolError('run_not_found', `No run ${id}: only the latest runs started here (by queue_workflow or the editor) are known. Call run_status without run_id to list them.`);
    }
    await waitForRun(context, record, input.wait_seconds ?? 0);
    return runJson(record, context);
  },
};

const checkWorkflow: ToolDefinition<TargetInput> = {
  name: 'check_workflow',
  title: 'Check a ComfyUI Workflow',
  referenceName: 'runcomfyCheck',
  userDescription: "Check a workflow file against a machine's or server's installed nodes, without running it.",
  modelDescription:
    "Checks a ComfyUI workflow file of the workspace against the node list (/object_info) of a Ready RunComfy machine or a local ComfyUI, without running anything: node classes that are not installed, missing inputs, values out of range or not in their list, wrong links, input files that may not be uploaded. Free (the machine bills by time anyway). Use it before queue_workflow, and after editing a workflow.",
  tags: ['runcomfy', 'comfyui', 'workflow'],
  spends: false,
  readOnly: true,
  inputSchema: { type: 'object', properties: { workflow_path: workflowPathProperty, ...targetProperties }, required: ['workflow_path'], additionalProperties: false },
  outputSchema: {
    type: 'object',
    properties: {
      ok: { type: 'boolean', description: 'True when nothing stops it from being queued.' },
      workflow: { type: 'string' },
      target: { type: 'string' },
      format: { type: 'string', description: 'api, or ui (converted with the server\'s node list first).' },
      problems: { type: 'array', items: { type: 'string' }, description: 'Each problem: where (node) and what to do.' },
      warnings: { type: 'array', items: { type: 'string' } },
    },
    required: ['ok', 'problems'],
  },
  async run(input, context) {
    const file = await context.host.openWorkflow(input.workflow_path);
    const target = await resolveTarget(context, input);
    const prepared = await prepareForTarget(context, file, target);
    const known = prepared.prompt ? (await knownProblems(context, prepared, target)).map((p) => p.message) : [];
    const problems = [...prepared.problems, ...known];
    return { ok: problems.length === 0, workflow: file.displayPath, target: targetLabel(target.target), format: prepared.convertedFrom ?? 'api', problems, warnings: prepared.warnings };
  },
};

interface SweepInput extends TargetInput {
  readonly axes: Readonly<Record<string, unknown>>;
  readonly zip?: boolean;
  readonly targets?: number;
  readonly server_type?: string;
  readonly expect_seconds?: number;
  readonly max_cost_usd?: number;
}

/** estimate_sweep shows the params of this many runs. */
const shownSweepRuns = 5;
/**
 * How estimate_sweep prices machines launched for a sweep: `runcomfy sweep --autoscale`'s defaults
 * (each runs an hour at most and stops after a minute idle) and the minute of boot its estimate adds.
 */
const launchedMachine = { durationS: 3600, idleS: 60, bootS: 60 };

const estimateSweepTool: ToolDefinition<SweepInput> = {
  name: 'estimate_sweep',
  title: 'Estimate a ComfyUI Sweep',
  referenceName: 'runcomfySweepEstimate',
  userDescription: 'Estimate a sweep of a workflow file (one run per combination of values): runs, time and the most it can cost, without running it.',
  modelDescription:
    "Plans a sweep of a ComfyUI workflow file of the workspace (one run per combination of input values, or value by value with zip) and estimates it without running or sending anything: how many runs, the params of the first runs, seconds per run (from the workflow's earlier saved runs, else expect_seconds), wall time on a pool of targets servers, and the most it can cost when the sweep launches machines of server_type. Free: it spends nothing and queues nothing (a UI-format file reads the node list of server_id or local_server to convert it). Use it before queueing many runs, and show the user the runs and the cost before any of them is queued.",
  tags: ['runcomfy', 'comfyui', 'workflow', 'sweep'],
  spends: false,
  readOnly: true,
  inputSchema: {
    type: 'object',
    properties: {
      workflow_path: workflowPathProperty,
      axes: {
        type: 'object',
        description:
          'What to vary, keyed NODE.INPUT (the API node id and the input name): a SPEC string (a list "4,6,8", a range "1..16" with both ends included, a stepped range "0.3..0.9:0.2") or an array of values (["a cat", "a dog"], for texts with commas). Example: {"3.seed": "1..16", "3.cfg": "4,6,8"}. Values take the type of the input in the workflow. Values from a file (@file) are not read: give them as an array.',
        additionalProperties: { type: ['string', 'array'], items: { type: ['string', 'number', 'boolean'] } },
      },
      zip: { type: 'boolean', description: 'Pair the axes value by value (equal lengths) instead of every combination (the default).' },
      targets: { type: 'integer', minimum: 1, maximum: 100, description: 'How many servers share the runs (default 1): Ready machines, local servers, or machines the sweep would launch (server_type).' },
      server_type: { type: 'string', enum: knownServerTypes, description: 'Price the sweep as launching targets machines of this type for it (as runcomfy sweep --autoscale does): each billed from Ready for the wall time plus a minute idle, an hour at most. Omit when the runs go to machines already running (they bill by time anyway) or to local servers.' },
      expect_seconds: { type: 'number', minimum: 0.1, maximum: 86400, description: 'Seconds one run takes, when no earlier run of this workflow was saved (earlier runs win).' },
      max_cost_usd: { type: 'number', minimum: 0, description: 'A cap in US dollars on what the launched machines may cost (with server_type).' },
      server_id: { ...targetProperties.server_id, description: 'Only for a UI-format file: a Ready machine whose node list converts it (nothing is queued).' },
      local_server: { ...targetProperties.local_server, description: 'Only for a UI-format file: a local ComfyUI whose node list converts it (nothing is queued).' },
    },
    required: ['workflow_path', 'axes'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: {
      workflow: { type: 'string' },
      format: { type: 'string', description: "api, or ui (converted with the server's node list first)." },
      runs: { type: 'integer', description: 'How many runs the sweep makes.' },
      mode: { type: 'string', description: 'product (every combination; the first axis changes slowest) or zip.' },
      axes: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, values: { type: 'integer' } } }, description: 'Each axis and how many values it has.' },
      first_runs: { type: 'array', items: { type: 'object', properties: { run: { type: 'integer' }, params: { type: 'object' } } }, description: `The params of the first ${shownSweepRuns} runs, keyed NODE.INPUT, as they go into the prompt.` },
      seconds_per_run: nullableNumber('Expected seconds per run; null when unknown until a first run ends.'),
      seconds_per_run_from: { type: 'string', description: 'earlier_runs (the median of the saved runs of this workflow), expect_seconds, or unknown.' },
      pool_size: { type: 'integer', description: 'The servers the runs are spread over.' },
      wall_seconds: nullableNumber('Expected wall time on the pool; null while the time per run is unknown.'),
      max_cost_usd: nullableNumber('The most the machines the sweep launches can cost (0 when it launches none); null when no rate is known.'),
      cost_basis: { type: 'string', description: 'What max_cost_usd counts.' },
      warnings: { type: 'array', items: { type: 'string' } },
    },
    required: ['runs', 'first_runs', 'max_cost_usd', 'warnings'],
  },
  async run(input, context) {
    const { host } = context;
    const file = await host.openWorkflow(input.workflow_path);
    const specs = sweepAxes(input.axes);
    let prepared = prepareWorkflow(file.text, file.absPath, [], file.displayPath, file.inputPolicy);
    if (prepared.analysis.format === 'ui') {
      if (input.server_id === undefined && input.local_server === undefined) {
        throw new ToolError('target_needed', `${file.displayPath} is a UI-format workflow: it is converted with a server's node list first. Give server_id (a Ready machine) or local_server; nothing is queued there.`);
      }
      prepared = await prepareForTarget(context, file, await resolveTarget(context, input));
    }
    const prompt = prepared.prompt;
    if (!prompt) throw new ToolError('workflow_rejected', `${file.displayPath} cannot be queued: ${prepared.problems.join(' ')}`);
    const plan = inToolWords(() => planSweep(prompt, specs, input.zip === true ? 'zip' : 'product'));

    const warnings = [...prepared.warnings];
    const earlier = await earlierRunTime(context, file, input.server_type, warnings);
    const secondsPerRun = earlier ?? input.expect_seconds;
    const source: RunTimeSource = earlier !== undefined ? 'history' : input.expect_seconds !== undefined ? 'flag' : 'probe';
    if (earlier !== undefined && input.expect_seconds !== undefined) warnings.push(`expect_seconds (${input.expect_seconds}) was not used: earlier runs of this workflow took ~${roundSeconds(earlier)} s each.`);
    if (secondsPerRun === undefined) warnings.push('No earlier run of this workflow saved its timings and no expect_seconds was given: the time per run, and so the wall time, is unknown until a first run ends.');
    const pool = input.targets ?? 1;
    const type = input.server_type;
    const rate = type === undefined ? undefined : hourlyRate(type, host.rates);
    const estimate = estimateSweep({
      runs: plan.runs.length,
      targets: type === undefined ? pool : 0,
      secondsPerRun,
      source,
      autoscale: type === undefined ? undefined : { max: pool, ratePerHour: rate, ...launchedMachine },
      maxCostUsd: input.max_cost_usd,
    });
    return {
      workflow: file.displayPath,
      format: prepared.convertedFrom ?? 'api',
      runs: plan.runs.length,
      mode: plan.mode,
      axes: plan.axes.map((a) => ({ key: a.key, values: a.values.length })),
      first_runs: plan.runs.slice(0, shownSweepRuns).map((r) => ({ run: r.index + 1, params: r.params })),
      seconds_per_run: estimate.secondsPerRun === undefined ? null : roundSeconds(estimate.secondsPerRun),
      seconds_per_run_from: source === 'history' ? 'earlier_runs' : source === 'flag' ? 'expect_seconds' : 'unknown',
      pool_size: estimate.poolSize,
      wall_seconds: estimate.wallSeconds === undefined ? null : roundSeconds(estimate.wallSeconds),
      max_cost_usd: usdOrNull(estimate.maxCostUsd),
      cost_basis: costBasis(type, pool, rate, input.max_cost_usd),
      warnings,
    };
  },
};

/** Every tool, in the order hosts list them. */
export const runcomfyTools: readonly ToolDefinition[] = [listWorkflows, listMachines, launchMachine, extendMachine, stopMachine, queueWorkflow, runStatus, checkWorkflow, estimateSweepTool];

/** A resolved place to run: the run target, its ComfyUI URL, and how messages name its node list. */
interface ResolvedTarget {
  readonly target: RunTarget;
  readonly comfyUrl: string;
  readonly where: string;
}

async function resolveTarget(context: ToolContext, input: TargetInput): Promise<ResolvedTarget> {
  if ((input.server_id === undefined) === (input.local_server === undefined)) {
    const names = context.host.localServers().map((s) => s.name);
    throw new ToolError('invalid_input', `Give exactly one of server_id (a Ready machine from list_machines) or local_server${names.length > 0 ? ` (one of: ${names.join(', ')})` : ' (none is configured)'}.`);
  }
  if (input.local_server !== undefined) {
    const servers = context.host.localServers();
    const server = servers.find((s) => s.name === input.local_server);
    if (!server) throw new ToolError('unknown_local_server', `There is no local ComfyUI server named "${input.local_server}"; ${servers.length > 0 ? `the configured ones are: ${servers.map((s) => s.name).join(', ')}` : 'none is configured'}.`);
    return { target: { kind: 'local', name: server.name, url: server.url }, comfyUrl: server.url, where: server.name };
  }
  const m = requireReady(await findMachine(context, input.server_id!), 'used');
  if (!m.mainServiceUrl) throw new ToolError('machine_not_ready', `Machine ${m.serverId} is Ready but RunComfy gave no ComfyUI address for it yet; try again in a moment.`);
  return { target: machineTarget(m), comfyUrl: m.mainServiceUrl, where: 'this machine' };
}

/** Analyses the file for the target (a UI-format file is converted with its node list first). */
async function prepareForTarget(context: ToolContext, file: ToolWorkflowFile, target: ResolvedTarget): Promise<PreparedWorkflow> {
  const prepared = prepareWorkflow(file.text, file.absPath, [], file.displayPath, file.inputPolicy);
  if (prepared.analysis.format !== 'ui') return prepared;
  const objectInfo = await context.host.comfyClient(target.comfyUrl).getObjectInfo({}, context.signal);
  const converted = prepareWorkflow(file.text, file.absPath, [], file.displayPath, file.inputPolicy, { objectInfo, where: target.where });
  if (converted.conversionError) throw new ToolError('workflow_rejected', `${file.displayPath} cannot be converted for ${targetLabel(target.target)}: ${converted.conversionError.message}`);
  return converted;
}

/** The errors the target's node list shows (the check the editor's diagnostics and the CLI run). */
async function knownProblems(context: ToolContext, prepared: PreparedWorkflow, target: ResolvedTarget) {
  const objectInfo = await context.host.comfyClient(target.comfyUrl).getObjectInfo({}, context.signal);
  return checkAgainstObjectInfo(prepared.analysis, objectInfo, target.where).filter((p) => p.severity === 'error');
}

async function findVersion(account: RunComfyAccount, versionId: string): Promise<{ label: string }> {
  const found = account.workflows.findVersion(versionId) ?? (await account.workflows.load(), account.workflows.findVersion(versionId));
  if (!found) throw new ToolError('version_not_found', `Workflow version ${versionId} is not in this RunComfy account. Call list_workflows for the version ids.`);
  return { label: `${found.workflow.name} (${versionLabel(found.workflow.versions[found.versionIndex], { timeZone: 'UTC' })})` };
}

/** The machine with this id (or unique id prefix of 4+ characters), from a fresh list. */
async function findMachine(context: ToolContext, id: string): Promise<Machine> {
  const wanted = id.trim().replace(/…$/, '');
  const machines = await context.host.account().machines.refresh(context.signal);
  const exact = machines.find((m) => m.serverId === wanted);
  if (exact) return exact;
  const byPrefix = wanted.length >= 4 ? machines.filter((m) => m.serverId.startsWith(wanted)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  if (byPrefix.length > 1) throw new ToolError('ambiguous_machine', `"${id}" matches ${byPrefix.length} machines (${byPrefix.map((m) => m.serverId).join(', ')}); give the whole server_id.`);
  throw new ToolError('machine_not_found', `Machine ${id} is not in the machine list (stopped, ran out of time, or another account's). Call list_machines.`);
}

function requireReady(m: Machine, what: string): Machine {
  if (m.isReady) return m;
  const when = m.status === 'Starting' ? 'try again when it is Ready (list_machines shows it; booting takes a few minutes)' : 'it cannot become Ready again: launch a new one';
  throw new ToolError('machine_not_ready', `Machine ${machineShortId(m)}… is ${m.status}, so it cannot be ${what}; ${when}.`);
}

/** Resolves when the run ends, after `seconds`, or when the call is cancelled (the run goes on). */
function waitForRun(context: ToolContext, record: RunRecord, seconds: number): Promise<void> {
  if (record.finishedAtMs !== undefined || seconds <= 0 || context.signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const subs: Disposable[] = [];
    const done = () => {
      for (const s of subs) s.dispose();
      context.signal.removeEventListener('abort', done);
      resolve();
    };
    subs.push(context.host.clock.setTimeout(done, seconds * 1000));
    subs.push(context.host.runs.onDidChange((r) => r === record && r.finishedAtMs !== undefined && done()));
    context.signal.addEventListener('abort', done, { once: true });
  });
}

function runJson(r: RunRecord, { host }: ToolContext): ToolData {
  const result = r.result;
  const error = result?.error;
  const elapsedMs = result?.elapsedMs ?? (r.finishedAtMs ?? host.clock.now()) - r.startedAtMs;
  const live = r.finishedAtMs === undefined;
  return {
    run_id: r.id,
    prompt_id: r.promptId ?? null,
    workflow: r.workflowName,
    target: targetLabel(r.target),
    status: r.phase,
    queue_position: live ? (r.queuePosition ?? null) : null,
    current_node: r.currentNode ? nodeLabel(r.currentNode) + (r.progress ? `, step ${r.progress.value}/${r.progress.max}` : '') : null,
    outputs: (result?.outputs ?? r.outputs).map((o) => o.path),
    output_folder: result?.runDir ?? null,
    warnings: [...(result?.warnings ?? [])],
    error: error ? { type: error.type, message: error.message, node: error.node ? nodeLabel(error.node) : null, node_errors: describeNodeErrors(error.nodeErrors) } : null,
    elapsed_seconds: Math.round(elapsedMs / 100) / 10,
    next: live ? `Still ${r.phase}: call run_status with run_id ${r.id} and wait_seconds to wait for the end.` : null,
  };
}

function machineJson(m: Machine, { host }: ToolContext, now: number): ToolData {
  const f = machineFigures(m, now, host.rates);
  return {
    server_id: m.serverId,
    server_type: m.serverType ?? null,
    status: m.status,
    time_left_seconds: m.status === 'Deleting' || f.timeLeftMs === undefined ? null : Math.floor(f.timeLeftMs / 1000),
    cost_so_far_usd: usdOrNull(f.costSoFar),
    max_cost_usd: usdOrNull(f.maxCost),
    hourly_rate_usd: f.hourlyRate ?? null,
    stops_at: isoOrNull(m.estimatedStoppingAtMs),
    comfyui: m.mainServiceUrl ? maskUrl(m.mainServiceUrl) : null,
  };
}

/**
 * A sweep's axes as the sweep planner takes them. A SPEC string is parsed as `--vary` parses it; an
 * array is the values themselves. `@file` values are refused: the file would be a path the model
 * chose, and the tools read only workflow files.
 */
function sweepAxes(axes: Readonly<Record<string, unknown>>): AxisSpec[] {
  const example = 'for example {"3.seed": "1..16", "3.cfg": "4,6,8"}';
  const entries = Object.entries(axes);
  if (entries.length === 0) throw new ToolError('invalid_axes', `Give at least one axis in axes, keyed NODE.INPUT, ${example}.`);
  return entries.map(([key, value]): AxisSpec => {
    const dot = key.lastIndexOf('.');
    const [nodeId, name] = [key.slice(0, Math.max(dot, 0)).trim(), key.slice(dot + 1).trim()];
    if (dot === -1 || !nodeId || !name || key.includes('=')) throw new ToolError('invalid_axes', `axes key "${key}" is not NODE.INPUT (the API node id and the input name, separated by a dot), ${example}.`);
    if (typeof value === 'string') {
      if (value.trim().startsWith('@')) {
        throw new ToolError('invalid_axes', `axes["${key}"] = "${value}": values from a file are not read by this tool; give them as an array instead, e.g. {"${key}": ["first value", "second value"]}.`);
      }
      return inToolWords(() => parseAxis(`${key}=${value}`, () => []));
    }
    const ok = Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)));
    if (!ok) throw new ToolError('invalid_axes', `axes["${key}"] must be a SPEC string ("4,6,8", "1..16", "0.3..0.9:0.2") or a non-empty array of strings, numbers or booleans.`);
    const values = (value as readonly (string | number | boolean)[]).map((v) => (typeof v === 'boolean' ? String(v) : v));
    return { nodeId, input: name, key: `${nodeId}.${name}`, values, spec: JSON.stringify(value) };
  });
}

/** Runs the sweep planner, its refusals said in this tool's words (axes, zip) instead of the CLI's flags. */
function inToolWords<T>(plan: () => T): T {
  try {
    return plan();
  } catch (e) {
    if (e instanceof ConfigError) throw new ToolError('invalid_axes', e.message.replace(/--vary /g, 'axis ').replace(/--zip/g, 'zip'));
    throw e;
  }
}

/**
 * The median time of this workflow's earlier saved runs (queue_workflow, the editor, the CLI and sweeps all save run.json),
 * on machines of `machineType` when given (see earlierRunSeconds: runs on another type never count).
 */
async function earlierRunTime(context: ToolContext, file: ToolWorkflowFile, machineType: string | undefined, warnings: string[]): Promise<number | undefined> {
  try {
    const output = await context.host.outputLocation(file);
    return await earlierRunSeconds([path.join(output.root, safeSegment(workflowDisplayName(file.absPath)).name)], file.displayPath, machineType);
  } catch (e) {
    warnings.push(`Earlier runs were not read: ${toolErrorOf(e).message}`);
    return undefined;
  }
}

function costBasis(type: string | undefined, pool: number, rate: number | undefined, capUsd: number | undefined): string {
  if (type === undefined) {
    return "The sweep launches no machine, so nothing is charged to it: machines already running bill by time as always (list_machines shows their rates). Give server_type to price launching machines for it.";
  }
  if (rate === undefined) return `No hourly rate is known for ${type}.`;
  const machines = `${pool} ${type} machine${pool === 1 ? '' : 's'}`;
  const cap = capUsd === undefined ? '' : `, capped by max_cost_usd ($${capUsd.toFixed(2)})`;
  return `${machines} launched for the sweep at ~$${rate.toFixed(2)}/h each (estimate), each billed from Ready for the wall time plus ${launchedMachine.idleS} s idle, ${launchedMachine.durationS / 60} min at most${cap}.`;
}

function roundSeconds(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}

function roundUsd(dollars: number): number {
  return Math.round(dollars * 10_000) / 10_000;
}

function usdOrNull(dollars: number | undefined): number | null {
  return dollars === undefined ? null : roundUsd(dollars);
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
