import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Which settings level a value came from; VS Code's `inspect()` tells. */
export type SettingSource = 'default' | 'user' | 'workspace' | 'workspaceFolder';

/** `runcomfy.outputDirectory` as it applies to one workflow, and where that value was set. */
export interface OutputDirectorySetting {
  readonly value: string;
  readonly source: SettingSource;
  /** The settings file in words, for messages ("the folder settings of photos (.vscode/settings.json)"). */
  readonly where: string;
}

/** Where a run's outputs go, and the folder they must stay inside (when the value came from the workspace). */
export interface OutputLocation {
  readonly root: string;
  /**
   * Set when the value came from workspace or folder settings: the workspace folder the outputs must
   * stay inside, also after symlinks are resolved ({@link assertRealPathInside}). Unset for user
   * settings and the default, which the user chose.
   */
  readonly within?: string;
}

/** A `runcomfy.outputDirectory` from workspace settings that points outside its workspace folder. */
export class OutputLocationError extends Error {
  override readonly name = 'OutputLocationError';
}

const SETTING = 'runcomfy.outputDirectory';
const DEFAULT_DIRECTORY = 'runcomfy-outputs';

function fromWorkspace(source: SettingSource): boolean {
  return source === 'workspace' || source === 'workspaceFolder';
}

function insideOrSame(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function refusal(setting: OutputDirectorySetting, folder: string, why: string): OutputLocationError {
  return new OutputLocationError(
    `${SETTING} is ${JSON.stringify(setting.value)} in ${setting.where}, ${why}. Outputs set by a workspace must stay inside its folder ${folder}: ` +
      `use a relative path there, or set a folder outside it in your user settings. Nothing was queued.`,
  );
}

/**
 * Resolves `runcomfy.outputDirectory` for a workflow: relative values are relative to the workflow's
 * workspace folder (outside every folder: the workflow's own folder). A value from workspace or folder
 * settings must stay inside that folder (a repository must not make us write into `~/.ssh`); an
 * absolute or escaping path is accepted only from user settings.
 * @throws OutputLocationError when a workspace value is absolute or leaves its folder.
 */
export function resolveOutputLocation(setting: OutputDirectorySetting, workspaceFolder: string | undefined, workflowDir: string): OutputLocation {
  const base = path.resolve(workspaceFolder ?? workflowDir);
  const value = setting.value.trim() || DEFAULT_DIRECTORY;
  if (!fromWorkspace(setting.source)) return { root: path.resolve(base, value) };
  if (path.isAbsolute(value) || /^[A-Za-z]:|^[/\\]/.test(value)) throw refusal(setting, base, 'an absolute path');
  const root = path.resolve(base, value);
  if (!insideOrSame(base, root)) throw refusal(setting, base, 'which leaves the workspace folder');
  return { root, within: base };
}

/**
 * Proves that `target` (which may not exist yet) stays inside `within` once symlinks are resolved:
 * the deepest part of `target` that exists is resolved with `realpath`, so a link planted in the
 * workspace (`outputs -> /home/me/.ssh`) is caught before anything is written through it.
 * @throws OutputLocationError naming `what` when the real path is outside.
 */
export async function assertRealPathInside(target: string, within: string, what: string): Promise<void> {
  const realWithin = await fs.realpath(within);
  let existing = path.resolve(target);
  const rest: string[] = [];
  let real: string | undefined;
  while (real === undefined) {
    try {
      real = path.join(await fs.realpath(existing), ...rest);
    } catch (e) {
      const parent = path.dirname(existing);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === existing) throw e;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
  if (!insideOrSame(realWithin, real)) {
    throw new OutputLocationError(`${what} ${target} leads outside the workspace folder ${within} through a symbolic link (to ${real}). Nothing was written there.`);
  }
}
