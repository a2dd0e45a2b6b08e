import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isStrictlyInside } from '../safePath';
import { ToolError } from './toolDefinition';

/** Workflow files a tool reads are at most this big: a workflow is a few hundred kilobytes at most. */
const maxWorkflowBytes = 16 * 1024 * 1024;

/** A workflow path a tool was given, after the policy accepted it. */
export interface ResolvedToolPath {
  /** The real path (symbolic links resolved): what is read. */
  readonly absPath: string;
  /** How results name it: relative to the root it is in. */
  readonly displayPath: string;
  /** The root it is in. */
  readonly root: string;
}

/**
 * The path policy of the agent tools. A path a model sends is untrusted: it may point anywhere
 * (`~/.ssh/id_rsa`, `../../etc`), so a tool only reads a `.json` file whose real path (symbolic
 * links resolved) is inside one of `roots`: the workspace folders in the editor, the current
 * directory in `runcomfy mcp`. A relative path is taken from the first root. Reads stay bounded.
 * @throws ToolError saying what is wrong and what is allowed.
 */
export async function resolveToolPath(raw: unknown, roots: readonly string[], rootsInWords: string): Promise<ResolvedToolPath> {
  if (typeof raw !== 'string' || raw.trim() === '' || raw.includes('\0')) {
    throw new ToolError('invalid_input', `Give the workflow as a path to a .json file inside ${rootsInWords}.`);
  }
  if (roots.length === 0) throw new ToolError('no_workspace', 'Open a folder first: tools only read workflow files inside the workspace.');
  const given = path.resolve(roots[0], raw.trim());
  if (!/\.json$/i.test(given)) throw new ToolError('not_a_workflow', `${raw} is not a .json file: give the path of a ComfyUI workflow (API or UI format) inside ${rootsInWords}.`);
  let real: string;
  try {
    real = await fs.realpath(given);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ToolError('not_found', code === 'ENOENT' ? `${raw} does not exist (looked for ${given}). Paths are relative to ${roots[0]}.` : `${raw} cannot be read (${code ?? 'error'}).`);
  }
  for (const root of roots) {
    const realRoot = await fs.realpath(root).catch(() => undefined);
    if (realRoot !== undefined && isStrictlyInside(realRoot, real)) {
      const stat = await fs.stat(real);
      if (!stat.isFile()) throw new ToolError('not_a_workflow', `${raw} is not a file.`);
      if (stat.size > maxWorkflowBytes) throw new ToolError('not_a_workflow', `${raw} is ${Math.round(stat.size / 1048576)} MB: too big for a workflow.`);
      return { absPath: real, displayPath: path.relative(realRoot, real), root: realRoot };
    }
  }
  throw new ToolError('outside_workspace', `${raw} is outside ${rootsInWords} (symbolic links followed): tools read workflow files only there.`);
}
