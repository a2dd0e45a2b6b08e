import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ComfyClient } from '../api/comfyClient';
import { type ApiPrompt, type ObjectInfo } from '../api/comfyTypes';
import { ApiError, isCancellation } from '../api/errors';
import { maskUrl } from '../api/redact';
import { systemClock } from '../base/clock';
import { parseSetArgument } from '../core/overrides';
import { cliInputPolicy } from '../core/inputPolicy';
import { RunEngine, rejectedLocally } from '../core/runEngine';
import { type RunResult } from '../core/runEvents';
import { checkAgainstObjectInfo } from '../core/objectInfoCheck';
import { RunLogFormatter, renderRunLine, type LogLine } from '../core/runLogFormat';
import { knownProblemsSentence } from '../core/workflowMessages';
import { prepareWorkflow, workflowDisplayName, type PreparedWorkflow } from '../core/workflowPreparation';
import { type CliCommand, type CliContext, type OptionValues } from './cli';
import { readWorkflowFile, resolveComfyTarget, type ComfyTarget } from './comfyTarget';
import { conversionRejected, targetObjectInfo, whereOf } from './convertCommand';
import { ExitCode, UsageError, exitCodeFor, type ExitCodeValue } from './exitCodes';
import { formatJson } from './format';

const usage = 'queue <workflow.json> (--machine <server_id> | --comfy-url <url>) [--out <dir>] [--set <node>.<input>=<value>]... [--allow-inputs-from <dir>]... [--force]';

/** Step progress is printed at most this often per node (node starts always print). */
const progressIntervalMs = 250;

/**
 * `runcomfy queue`: analyses a workflow (a UI-format one is first converted against the target's
 * `/object_info`, the file left as it is; its dynamic-prompt choices go to run.json), applies `--set` overrides, uploads local
 * input files (media below the workflow's folder, the current directory or an `--allow-inputs-from`
 * folder; anything else refuses the run before a byte is sent), queues it on a RunComfy machine (`--machine`, resolved to its ComfyUI URL) or any
 * ComfyUI (`--comfy-url`), prints progress on stderr and saves every output under `--out`. Ctrl-C
 * interrupts our prompt (and only ours) and exits 9. With `--json`, stdout carries exactly one
 * JSON object, whatever happens.
 */
export const queueCommand: CliCommand = {
  name: 'queue',
  usage,
  summary: 'Run a workflow (API or UI format) on a machine or any ComfyUI, show progress, save every output.',
  options: {
    machine: { type: 'string' },
    'comfy-url': { type: 'string' },
    out: { type: 'string' },
    set: { type: 'string', multiple: true },
    'allow-inputs-from': { type: 'string', multiple: true },
    force: { type: 'boolean' },
  },
  help: [
    'A UI-format workflow (what ComfyUI\'s Save writes) is converted first with the server\'s node list, as',
    '"runcomfy convert" does (the file is not changed); a node class the server lacks refuses the run with',
    'exit code 7, naming every such node. The checks below then apply to the converted prompt.',
    '',
    'Local files named by the workflow\'s inputs (LoadImage, video, audio and 3D loaders, or any input',
    'whose value is a media file) are uploaded first. Only image, video, audio and 3D files are uploaded',
    '(by extension and by their first bytes), and only from below the workflow\'s folder or the current',
    'directory, symbolic links followed. --allow-inputs-from <dir> allows another folder (repeatable).',
    'Any other file refuses the run with exit code 7 before anything is sent.',
    '',
    'Before uploading, the workflow is checked against the server\'s node list (GET /object_info), as the',
    'editor\'s diagnostics do: a node class that is not installed, a value out of range or not in its list,',
    'a missing input refuses the run with exit code 7, naming each problem. --force queues anyway (the',
    'check is skipped). When the node list cannot be read, the run goes ahead with a warning.',
  ].join('\n'),
  async run(ctx, args, values) {
    const started = Date.now();
    try {
      const file = oneWorkflow(args);
      const absPath = path.resolve(file);
      const text = await readWorkflowFile(file, absPath);
      const policy = cliInputPolicy(absPath, process.cwd(), await allowedFolders(values));
      const overrides = stringList(values.set).map(parseSetArgument);
      let workflow = prepareWorkflow(text, absPath, overrides, file, policy);
      let target: ComfyTarget | undefined;
      let client: ComfyClient | undefined;
      if (workflow.analysis.format === 'ui') {
        // Converted as the editor converts it (the file stays as it is), with the target's node list.
        target = await resolveComfyTarget(ctx, values, usage);
        client = new ComfyClient({ baseUrl: target.url });
        workflow = prepareWorkflow(text, absPath, overrides, file, policy, { objectInfo: await targetObjectInfo(ctx, client, target), where: whereOf(target) });
        if (workflow.conversionError) throw conversionRejected(file, workflow.conversionError);
        ctx.progress(`Converted ${file} from the UI format with the node list of ${target.label}.`);
      }
      if (!workflow.prompt) return finish(ctx, rejectedLocally(workflow.problems, workflow.warnings, Date.now() - started));
      target ??= await resolveComfyTarget(ctx, values, usage);
      client ??= new ComfyClient({ baseUrl: target.url });
      if (values.force !== true) {
        const refusal = await checkNodeList(ctx, client, workflow, target);
        if (refusal) return finish(ctx, rejectedLocally(refusal.problems, workflow.warnings, Date.now() - started, { type: 'node_list_check', headline: refusal.headline }));
      }
      return finish(ctx, await runWorkflow(ctx, values, workflow, workflow.prompt, target, client));
    } catch (e) {
      if (ctx.json) ctx.stdout(formatJson(jsonOfFailure(e)));
      throw e;
    }
  },
};

function oneWorkflow(args: readonly string[]): string {
  if (args.length === 0) throw new UsageError(`Which workflow? Give the path of a workflow file (API or UI format). Usage: runcomfy ${usage}`);
  if (args.length > 1) throw new UsageError(`queue takes one workflow file, got ${args.length} (${args.join(', ')}). Usage: runcomfy ${usage}`);
  return args[0];
}

/** `--allow-inputs-from` folders, each checked to be one (a typo would otherwise only show as a refused input). */
export async function allowedFolders(values: OptionValues): Promise<string[]> {
  const dirs = stringList(values['allow-inputs-from']);
  for (const dir of dirs) {
    const info = await fs.stat(path.resolve(dir)).catch(() => undefined);
    if (!info?.isDirectory()) throw new UsageError(`--allow-inputs-from ${dir}: ${info ? 'not a folder' : 'no such folder'}. Give a folder whose media files the workflow may upload.`);
  }
  return dirs;
}

export function stringList(v: OptionValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/**
 * The problems the target's node list shows (the check the editor's diagnostics run), as the
 * refusal's headline (the editor's question, with `--force` for "Queue Anyway") and located lines
 * (for a converted UI-format file, at the nodes in the file). Undefined when there are none, or
 * when the node list cannot be read (a warning says so).
 */
async function checkNodeList(ctx: CliContext, client: ComfyClient, workflow: PreparedWorkflow, target: ComfyTarget): Promise<{ headline: string; problems: string[] } | undefined> {
  let objectInfo: ObjectInfo;
  try {
    objectInfo = await client.getObjectInfo({}, ctx.signal);
  } catch (e) {
    if (isCancellation(e)) throw e;
    ctx.progress(`Warning: could not read the node list of ${target.label} (${(e as Error).message}); queueing without checking the workflow against it.`);
    return undefined;
  }
  const problems = checkAgainstObjectInfo(workflow.analysis, objectInfo, whereOf(target)).filter((p) => p.severity === 'error');
  if (problems.length === 0) return undefined;
  return { headline: `${knownProblemsSentence(problems)} Use --force to queue anyway.`, problems: problems.map(workflow.locate) };
}

async function runWorkflow(ctx: CliContext, values: OptionValues, workflow: PreparedWorkflow, prompt: ApiPrompt, target: ComfyTarget, client: ComfyClient): Promise<RunResult> {
  const out = path.resolve(typeof values.out === 'string' ? values.out : 'runcomfy-outputs');
  const engine = new RunEngine({
    prompt,
    localInputs: workflow.localInputs,
    inputPolicy: workflow.inputPolicy,
    warnings: workflow.warnings,
    dynamicPrompts: workflow.dynamicPrompts,
    convertedFrom: workflow.convertedFrom,
    comfyUrl: target.url,
    outputRoot: out,
    workflowName: workflowDisplayName(workflow.absPath),
    workflowFile: shownPath(workflow.absPath),
    machineType: target.machineType,
    signal: ctx.signal,
    createClient: () => client,
  });
  const formatter = new RunLogFormatter(
    { workflow: shownPath(workflow.absPath), target: target.label, server: maskUrl(target.url) },
    systemClock,
    progressIntervalMs,
  );
  const print = (lines: readonly LogLine[]) => {
    for (const l of lines) ctx.progress(renderRunLine(l));
  };
  print(formatter.start());
  // A failed run's message (with every node error) is printed once, by `finish`, as the last line.
  const sub = engine.onEvent((e) => print(e.type === 'finished' && e.result.status === 'error' ? [] : formatter.format(e)));
  try {
    return await engine.run();
  } finally {
    sub.dispose();
    engine.dispose();
  }
}

/** Prints the result (paths, or the one JSON object) and returns the exit code. */
function finish(ctx: CliContext, result: RunResult): ExitCodeValue {
  if (ctx.json) ctx.stdout(formatJson(jsonOf(result)));
  else for (const o of result.outputs) ctx.stdout(`${o.path}\n`);
  if (result.error) ctx.progress(`runcomfy: ${result.error.message}`);
  return exitCodeOf(result);
}

function exitCodeOf(result: RunResult): ExitCodeValue {
  if (result.status === 'success') return ExitCode.ok;
  if (result.status === 'interrupted') return ExitCode.interrupted;
  const kind = result.error?.kind;
  if (kind === undefined || kind === 'internal') return ExitCode.failure;
  return exitCodeFor(new ApiError(kind, ''));
}

/** The `--json` object: wire values (server file names, prompt id) and absolute local paths. */
function jsonOf(result: RunResult): Record<string, unknown> {
  return {
    prompt_id: result.promptId,
    status: result.status,
    outputs: result.outputs.map((o) => ({ node: o.node, filename: o.filename, subfolder: o.subfolder, type: o.type, path: o.path })),
    warnings: result.warnings,
    error: result.error && { type: result.error.type, message: result.error.message, details: result.error.details, node_errors: result.error.nodeErrors },
  };
}

/** The `--json` object for a failure before any run (bad flags, an unknown machine, a wrong URL). */
function jsonOfFailure(e: unknown): Record<string, unknown> {
  const kind = e instanceof ApiError ? e.kind : e instanceof UsageError ? 'usage' : 'internal';
  return {
    prompt_id: null,
    status: kind === 'cancelled' ? 'interrupted' : 'error',
    outputs: [],
    warnings: [],
    error: { type: kind, message: e instanceof Error ? e.message : String(e), details: '', node_errors: null },
  };
}

/** Relative to the current folder when below it, else absolute. */
export function shownPath(absPath: string): string {
  const rel = path.relative(process.cwd(), absPath);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : absPath;
}

