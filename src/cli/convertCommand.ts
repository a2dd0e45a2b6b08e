import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ComfyClient } from '../api/comfyClient';
import { type ApiPrompt, type ObjectInfo } from '../api/comfyTypes';
import { ApiError } from '../api/errors';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { UiConversionError } from '../core/convert/errors';
import { analyzeWorkflow } from '../core/workflowAnalysis';
import { uiPromptForTarget, type UiPromptForTarget } from '../core/workflowPreparation';
import { type CliCommand, type CliContext, type OptionValues } from './cli';
import { readWorkflowFile, resolveComfyTarget, type ComfyTarget } from './comfyTarget';
import { ExitCode, UsageError } from './exitCodes';
import { formatJson } from './format';

const usage = 'convert <workflow.json> (--comfy-url <url> | --machine <server_id> | --object-info <file>) [-o <file>] [--force]';

/**
 * `runcomfy convert`: turns a UI-format workflow (what ComfyUI's Save writes) into the API prompt
 * ComfyUI's frontend would queue for it, against a server's node list (`--comfy-url`, `--machine`)
 * or a saved `/object_info` answer (`--object-info`). Prints the prompt, or writes it to `-o` (temp
 * file and rename, so the file is never half-written; an existing file only with `--force`). A file
 * already in API format is passed through byte for byte. Exit 7 when it cannot be converted.
 */
export const convertCommand: CliCommand = {
  name: 'convert',
  usage,
  summary: 'Convert a UI-format workflow (ComfyUI\'s Save) to the API format, as Export (API) does.',
  options: {
    machine: { type: 'string' },
    'comfy-url': { type: 'string' },
    'object-info': { type: 'string' },
    output: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
  },
  help: [
    'The node list says which inputs each node\'s widget values fill: give the server the workflow will run',
    'on (--comfy-url, or --machine for a Ready RunComfy machine), or a file holding a saved GET /object_info',
    'answer (--object-info). Dynamic-prompt text ({a|b} choices) is decided now, as the web page does when',
    'it queues; seeds are kept as saved. Inputs only a browser can capture (camera, microphone) are left out,',
    'with a warning on stderr. A node class the node list lacks refuses the conversion with exit code 7,',
    'naming every such node (id, title, place in the file): install those custom nodes first.',
    '',
    '-o <file> writes the prompt there instead of stdout (never half-written); an existing file is kept',
    'unless --force is given. A file already in API format is printed (or written) unchanged.',
  ].join('\n'),
  async run(ctx, args, values) {
    try {
      return await convert(ctx, args, values);
    } catch (e) {
      if (ctx.json) ctx.stdout(formatJson({ prompt: null, warnings: [], error: { type: errorType(e), message: e instanceof Error ? e.message : String(e), missing: conversionErrorOf(e)?.missing ?? [] } }));
      throw e;
    }
  },
};

async function convert(ctx: CliContext, args: readonly string[], values: OptionValues): Promise<number> {
  if (args.length !== 1) throw new UsageError(`convert takes one workflow file${args.length ? `, got ${args.length} (${args.join(', ')})` : ''}. Usage: runcomfy ${usage}`);
  const file = args[0];
  const outFile = typeof values.output === 'string' ? values.output : undefined;
  const text = await readWorkflowFile(file, path.resolve(file));
  const analysis = analyzeWorkflow(text);
  let prompt: ApiPrompt;
  let output: string;
  let warnings: readonly string[] = [];
  if (analysis.format === 'api') {
    // Validation problems are the queue's business: convert only changes the format.
    prompt = analysis.prompt ?? (JSON.parse(text) as ApiPrompt);
    output = text;
  } else if (analysis.format === 'ui') {
    const objectInfo = await nodeList(ctx, values);
    let result: UiPromptForTarget;
    try {
      result = uiPromptForTarget(analysis.document, { objectInfo: objectInfo.info, where: objectInfo.where });
    } catch (e) {
      if (e instanceof UiConversionError) throw conversionRejected(file, e);
      throw e;
    }
    prompt = result.prompt;
    output = formatJson(prompt);
    warnings = conversionNotes(result);
  } else {
    const problems = analysis.problems.filter((p) => p.severity === 'error').map((p) => `  ${file}:${p.range.line}:${p.range.column}: ${p.message}`);
    const what = analysis.format === 'invalid' ? 'it is not valid JSON' : 'it is neither a UI-format nor an API-format workflow';
    throw new ApiError('workflowRejected', `${file} cannot be converted: ${what}.\n${problems.join('\n')}`);
  }
  for (const w of warnings) ctx.progress(`Warning: ${w}`);
  if (outFile !== undefined) await writeAtomically(outFile, output, values.force === true);
  if (ctx.json) ctx.stdout(formatJson({ format: analysis.format, prompt, warnings, output: outFile === undefined ? null : path.resolve(outFile), error: null }));
  else if (outFile === undefined) ctx.stdout(output.endsWith('\n') ? output : `${output}\n`);
  return ExitCode.ok;
}

/** The node list to convert against: a saved `/object_info` file, or the target server's. */
async function nodeList(ctx: CliContext, values: OptionValues): Promise<{ info: ObjectInfo; where: string }> {
  const infoFile = typeof values['object-info'] === 'string' ? values['object-info'] : undefined;
  if (infoFile === undefined) {
    const target = await resolveComfyTarget(ctx, values, usage);
    return { info: await targetObjectInfo(ctx, new ComfyClient({ baseUrl: target.url }), target), where: whereOf(target) };
  }
  if (values.machine !== undefined || values['comfy-url'] !== undefined) {
    throw new UsageError(`Give one of --comfy-url, --machine or --object-info, not several. Usage: runcomfy ${usage}`);
  }
  const raw = await readWorkflowFile(infoFile, path.resolve(infoFile)).catch(() => {
    throw new UsageError(`Cannot read --object-info ${infoFile}: give a file holding a server's GET /object_info answer.`);
  });
  const info = parseJsonOrUndefined(raw);
  if (!isObject(info) || !Object.values(info).some((v) => isObject(v) && isObject(v.input))) {
    throw new UsageError(`--object-info ${infoFile} is not a GET /object_info answer (a JSON object of node classes, each with "input"). Save it with: curl <comfy-url>/object_info -o ${infoFile}`);
  }
  return { info: info as ObjectInfo, where: `the node list in ${infoFile}` };
}

/** Reads the target's `/object_info` (cached on the client, so a later check reuses it). */
export async function targetObjectInfo(ctx: CliContext, client: ComfyClient, target: ComfyTarget): Promise<ObjectInfo> {
  try {
    return await client.getObjectInfo({}, ctx.signal);
  } catch (e) {
    if (e instanceof ApiError && e.kind !== 'cancelled') {
      throw new ApiError(e.kind, `A UI-format workflow is converted with the server's node list, and the node list of ${target.label} could not be read: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** How messages name the target whose node list lacks a class. */
export function whereOf(target: ComfyTarget): string {
  return target.isMachine ? 'this machine' : 'this server';
}

/** A UI-format workflow that cannot be converted: a `workflowRejected` error (exit 7) naming the file and every missing class. */
export function conversionRejected(file: string, error: UiConversionError): ApiError {
  return new ApiError('workflowRejected', `${file} cannot be converted to the API format: ${error.message}`, { cause: error });
}

/** The conversion's warnings and its dynamic-prompt choices, as lines for stderr. */
function conversionNotes(result: UiPromptForTarget): string[] {
  return [
    ...result.warnings,
    ...result.dynamicPrompts.map((d) => `Node ${d.nodeId} "${d.input}": dynamic prompt text decided at conversion (the file keeps its {a|b} choices); sent: ${JSON.stringify(d.text)}`),
  ];
}

/** Writes `text` to `file` through a temp file beside it; without `force` an existing file is never replaced. */
async function writeAtomically(file: string, text: string, force: boolean): Promise<void> {
  const target = path.resolve(file);
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.writeFile(temp, text, { flag: 'wx' });
    if (force) {
      await fs.rename(temp, target);
    } else {
      // A hard link fails when the name exists, so a file created meanwhile is not replaced either.
      await fs.link(temp, target);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${file} already exists; give --force to replace it, or another -o file.`);
    throw new UsageError(`Cannot write ${file}: ${code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' ? 'permission denied' : (e as Error).message}.`);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** The converter's error behind a failure (wrapped as `workflowRejected` by {@link conversionRejected}). */
function conversionErrorOf(e: unknown): UiConversionError | undefined {
  if (e instanceof UiConversionError) return e;
  return e instanceof Error && e.cause instanceof UiConversionError ? e.cause : undefined;
}

function errorType(e: unknown): string {
  if (e instanceof UsageError) return 'usage';
  if (e instanceof ApiError) return e.kind;
  return 'internal';
}
