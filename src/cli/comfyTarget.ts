import * as fs from 'node:fs/promises';
import { parseComfyUrl } from '../api/comfyClient';
import { ApiError, ServerError } from '../api/errors';
import { isLoopbackHost, maskUrl } from '../api/redact';
import { type CliContext, type OptionValues } from './cli';
import { cliClient } from './cliClient';
import { UsageError } from './exitCodes';

/** Where a command's ComfyUI is, and how to name it in messages. */
export interface ComfyTarget {
  readonly url: string;
  readonly label: string;
  /** A RunComfy machine (`--machine`), not any ComfyUI (`--comfy-url`): messages say "this machine". */
  readonly isMachine: boolean;
  /** The machine's type (`server_type`) when RunComfy said, for run.json. */
  readonly machineType?: string;
}

/**
 * `--comfy-url` as given (http or https), or the ComfyUI of a Ready machine (`--machine`, its
 * `main_service_url`, which is never printed in full). Exactly one of them must be given; `usage` is
 * the command's usage line for the error that says so.
 */
export async function resolveComfyTarget(ctx: CliContext, values: OptionValues, usage: string): Promise<ComfyTarget> {
  const machine = typeof values.machine === 'string' ? values.machine.trim() : undefined;
  const comfyUrl = typeof values['comfy-url'] === 'string' ? values['comfy-url'] : undefined;
  if ((machine === undefined) === (comfyUrl === undefined)) {
    throw new UsageError(`Give exactly one of --machine <server_id> (a RunComfy machine) or --comfy-url <url> (any ComfyUI). Usage: runcomfy ${usage}`);
  }
  if (comfyUrl !== undefined) {
    const url = parseComfyUrl(comfyUrl, '--comfy-url');
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      ctx.progress(`Warning: ${maskUrl(url.href)} is plain http: the workflow, inputs and outputs travel unencrypted (no RunComfy token is sent to ComfyUI).`);
    }
    return { url: url.href, label: 'ComfyUI', isMachine: false };
  }
  if (!machine) throw new UsageError('--machine needs a machine id (server_id); "runcomfy machines" lists them.');
  const { client } = cliClient(ctx, values);
  const m = await client.getMachine(machine, ctx.signal);
  if (!m.isReady) {
    throw new ApiError(
      'invalidRequest',
      `Machine ${machine} is ${m.status}, not Ready: a workflow can only run on a Ready machine. Wait for it with "runcomfy status ${machine}" (or launch with --wait).`,
    );
  }
  if (!m.mainServiceUrl) throw new ServerError(`Machine ${machine} is Ready but RunComfy gave no ComfyUI URL (main_service_url) for it; try again in a moment.`);
  return { url: m.mainServiceUrl, label: `machine ${machine}`, isMachine: true, machineType: m.serverType };
}

/** The text of a workflow file named on the command line; a file that cannot be read is a usage error saying why. */
export async function readWorkflowFile(file: string, absPath: string): Promise<string> {
  try {
    return await fs.readFile(absPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new UsageError(`Cannot read the workflow ${file}: ${why}.`);
  }
}
