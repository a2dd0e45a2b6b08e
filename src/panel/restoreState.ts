/**
 * What a run panel restored after a reload may show. Its state comes back from the webview
 * (`setState`), a browser page: it is input, not a fact. The folders it names become the webview's
 * `localResourceRoots`, so a state naming `/` or a home folder would let the page load any file
 * there; only run folders under the output folders are reopened. No `vscode` import: unit-tested.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isObject } from '../base/json';
import { RUN_RECORD_NAME } from '../core/outputSaver';
import { isStrictlyInside } from '../core/safePath';
import { SWEEP_RECORD_NAME } from '../core/sweep/sweepRecord';

/** What to show again: one run folder, or two compared, or a sweep's contact sheet; or why the panel shows none. */
export type RestoreTarget = { readonly runDir: string; readonly compareWith?: string } | { readonly sweepDir: string } | { readonly refusal: string };

/** Longer paths than this are no run folder this extension wrote. */
const MAX_PATH_LENGTH = 4096;

/** The real path of `p`, or undefined when it does not exist or cannot be read. */
async function realPath(p: string): Promise<string | undefined> {
  return fs.realpath(p).catch(() => undefined);
}

/** One folder of the state, checked (a run folder holds run.json, a sweep folder sweep.json): its real path, or a sentence saying what is wrong with it. */
async function checkFolder(dir: string, realRoots: readonly string[], roots: readonly string[], record = RUN_RECORD_NAME): Promise<{ dir: string } | { refusal: string }> {
  if (dir.length > MAX_PATH_LENGTH || dir.includes('\0') || !path.isAbsolute(dir)) return { refusal: 'The saved panel state names no valid run folder.' };
  const real = await realPath(dir);
  if (real === undefined) return { refusal: `The run folder ${dir} is gone: it was moved or deleted since the panel showed it.` };
  if (!realRoots.some((root) => isStrictlyInside(root, real))) {
    const where = roots.length === 0 ? 'no output folder is set up in this window (open the workspace folder the run belongs to)' : `the output folders are ${roots.join(', ')}`;
    return { refusal: `The panel showed ${dir}, which is not under an output folder: ${where}. After a reload the panel reopens only run and sweep folders there. To see it again, right-click the folder or its ${record} in the Explorer: Open Run.` };
  }
  const held = await fs.stat(path.join(real, record)).then((s) => s.isFile(), () => false);
  if (!held) return { refusal: `${dir} is no ${record === SWEEP_RECORD_NAME ? 'sweep' : 'run'} folder any more: it has no ${record}.` };
  return { dir: real };
}

/**
 * Checks the state a restored panel brings back against the output folders (`roots`, absolute): each
 * folder it names must exist, lie strictly inside one of them once symlinks are resolved, and hold a
 * `run.json` (a contact sheet's sweep folder: a `sweep.json`). Undefined when the state names nothing to
 * show (the panel had shown nothing yet).
 */
export async function checkRestoreState(state: unknown, roots: readonly string[]): Promise<RestoreTarget | undefined> {
  if (isObject(state) && state.runDir === undefined && state.sweepDir !== undefined) {
    if (typeof state.sweepDir !== 'string') return { refusal: 'The saved panel state names no valid sweep folder.' };
    const realRoots = (await Promise.all(roots.map(realPath))).filter((r): r is string => r !== undefined);
    const sweep = await checkFolder(state.sweepDir, realRoots, roots, SWEEP_RECORD_NAME);
    return 'refusal' in sweep ? sweep : { sweepDir: sweep.dir };
  }
  if (!isObject(state) || state.runDir === undefined) return undefined;
  const compareWith = state.compareWith;
  if (typeof state.runDir !== 'string' || (compareWith !== undefined && typeof compareWith !== 'string')) return { refusal: 'The saved panel state names no valid run folder.' };
  const realRoots = (await Promise.all(roots.map(realPath))).filter((r): r is string => r !== undefined);
  const left = await checkFolder(state.runDir, realRoots, roots);
  if ('refusal' in left) return left;
  if (compareWith === undefined) return { runDir: left.dir };
  const right = await checkFolder(compareWith, realRoots, roots);
  return 'refusal' in right ? right : { runDir: left.dir, compareWith: right.dir };
}
