import * as fs from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { checkMediaContent, extensionOf, hasMediaExtension, HEAD_BYTES, MEDIA_EXTENSION_EXAMPLES, withArticle } from './mediaSignature';
import { isStrictlyInside } from './safePath';

/** A folder whose files a workflow may upload, and how messages name it. */
export interface AllowedRoot {
  readonly path: string;
  /** `the workspace folder /home/me/project`. */
  readonly label: string;
}

/**
 * Which local files a workflow's inputs may make us upload. A workflow is untrusted text: an input
 * such as `../../.ssh/id_ed25519` must not send a private file to a server. A file is uploaded
 * only when its real path (symbolic links followed) lies inside one of `roots`, its name has the
 * extension of an image, video, audio or 3D file a ComfyUI loader takes, and its first bytes are
 * those of such a file.
 */
export interface InputPolicy {
  readonly roots: readonly AllowedRoot[];
  /** The allowed place in a few words, for a CodeLens title: `the workspace folder`. */
  readonly scope: string;
  /** What to do about a file outside the roots. */
  readonly remedy: string;
}

/** Why a file is not uploaded. */
export type InputRule = 'outside_allowed_folders' | 'not_media' | 'content_mismatch' | 'unreadable';

/** The file may be uploaded. */
export interface InputAllowed {
  readonly allowed: true;
  /** Symbolic links resolved. */
  readonly realPath: string;
  /** What its first bytes are (`PNG image`). */
  readonly format: string;
}

/** The file must not be uploaded; the texts are shared by diagnostics, CodeLens, CLI and run results. */
export interface InputRefused {
  readonly allowed: false;
  readonly rule: InputRule;
  /** A few words for a CodeLens title: `not inside the workspace folder`. */
  readonly summary: string;
  /** Completes "… is not uploaded: ": `it is not inside the workspace folder /w (it leads to /home/me/.ssh/id_ed25519)`. */
  readonly reason: string;
  /** What to do next, a sentence. */
  readonly remedy: string;
}

/** The policy's answer for one file. Plain data. */
export type InputVerdict = InputAllowed | InputRefused;

/** An allowed file, opened: the upload reads these very bytes, so the file checked is the file sent. */
export interface OpenedInput {
  readonly verdict: InputAllowed;
  readonly handle: FileHandle;
  readonly size: number;
}

/**
 * The editor's policy: files inside the workflow's workspace folder, or, for a workflow outside
 * every workspace folder, below its own folder.
 */
export function editorInputPolicy(workflowPath: string, workspaceFolder: string | undefined): InputPolicy {
  if (workspaceFolder !== undefined) {
    return {
      roots: [{ path: workspaceFolder, label: `the workspace folder ${workspaceFolder}` }],
      scope: 'the workspace folder',
      remedy: 'Only files inside the workspace folder are uploaded: move the file into it and name it relative to the workflow.',
    };
  }
  return workflowFolderPolicy(workflowPath);
}

/** Files below the workflow's own folder only: the default when nobody chose a policy. */
export function workflowFolderPolicy(workflowPath: string): InputPolicy {
  const dir = path.dirname(path.resolve(workflowPath));
  return {
    roots: [{ path: dir, label: `the workflow's folder ${dir}` }],
    scope: "the workflow's folder",
    remedy: "Only files below the workflow's folder are uploaded: move the file there and name it relative to the workflow.",
  };
}

/**
 * No local file at all: for a workflow a server sent (one saved in its web UI), which must not make
 * us upload files of this computer, whatever paths it names.
 */
export function noLocalInputsPolicy(): InputPolicy {
  return {
    roots: [],
    scope: 'any folder (a workflow saved on a server uploads nothing of this computer)',
    remedy: 'A workflow saved on a server never uploads files of this computer: save it to the workspace and queue it from there.',
  };
}

/** The CLI's policy: below the workflow's folder or the current directory, plus each `--allow-inputs-from` folder. */
export function cliInputPolicy(workflowPath: string, cwd: string, allowed: readonly string[]): InputPolicy {
  const dir = path.dirname(path.resolve(workflowPath));
  const roots: AllowedRoot[] = [{ path: dir, label: `the workflow's folder ${dir}` }];
  if (path.resolve(cwd) !== dir) roots.push({ path: path.resolve(cwd), label: `the current directory ${path.resolve(cwd)}` });
  for (const a of allowed) roots.push({ path: path.resolve(cwd, a), label: `${path.resolve(cwd, a)} (--allow-inputs-from)` });
  return {
    roots,
    scope: allowed.length > 0 ? 'the allowed folders' : "the workflow's folder or the current directory",
    remedy: 'Move the file there, or allow its folder with --allow-inputs-from <dir>.',
  };
}

/** How messages name an input: `Node 1 (LoadImage), input "image"`. */
export function inputLabel(nodeId: string, classType: string | undefined, inputName: string): string {
  return `${classType ? `Node ${nodeId} (${classType})` : `Node ${nodeId}`}, input "${inputName}"`;
}

/** The one sentence every surface shows for a refused file: what, where, which rule, what to do. */
export function refusalMessage(where: string, value: string, verdict: InputRefused): string {
  return `${where}: ${JSON.stringify(value)} is not uploaded: ${verdict.reason}. ${verdict.remedy}`;
}

/** A run refused because of its inputs; `messages` are {@link refusalMessage}s. */
export class InputRefusedError extends Error {
  constructor(readonly messages: readonly string[]) {
    super(`The workflow cannot be queued:\n${messages.map((m) => `  ${m}`).join('\n')}`);
    this.name = 'InputRefusedError';
  }
}

/**
 * The verdict for the file at `absPath`, for diagnostics, CodeLens and the checks before a run.
 * Reads at most the first {@link HEAD_BYTES} bytes, and none of a file outside the roots.
 */
export function checkInputSync(absPath: string, policy: InputPolicy): InputVerdict {
  let real: string;
  try {
    real = fs.realpathSync.native(absPath);
  } catch (e) {
    return unreadable(e);
  }
  const early = beforeReading(absPath, real, policy);
  if (early) return early;
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | nonBlocking);
  } catch (e) {
    return unreadable(e);
  }
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile()) return notRegular();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, info.size));
    const n = head.length > 0 ? fs.readSync(fd, head, 0, head.length, 0) : 0;
    return contentVerdict(absPath, real, head.subarray(0, n), info.size);
  } catch (e) {
    return unreadable(e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks the file at `absPath` and, when it is allowed, returns it open. The checks hold for the
 * opened file itself: after opening, the path is resolved again and must still lead inside the
 * roots to the same file (device and inode), so a file swapped or re-linked between the check and
 * the upload is refused rather than sent. The caller reads the upload from `handle` and closes it.
 */
export async function openInput(absPath: string, policy: InputPolicy): Promise<OpenedInput | { readonly verdict: InputRefused }> {
  let real: string;
  try {
    real = await realpath(absPath);
  } catch (e) {
    return { verdict: unreadable(e) };
  }
  const early = beforeReading(absPath, real, policy);
  if (early) return { verdict: early };
  let handle: FileHandle;
  try {
    handle = await open(real, fs.constants.O_RDONLY | nonBlocking);
  } catch (e) {
    return { verdict: unreadable(e) };
  }
  try {
    const info = await handle.stat({ bigint: true });
    if (!info.isFile()) return await closed(handle, notRegular());
    const again = await realpath(absPath);
    const now = await stat(again, { bigint: true });
    const moved = beforeReading(absPath, again, policy);
    if (moved) return await closed(handle, moved);
    if (now.dev !== info.dev || now.ino !== info.ino) return await closed(handle, changed());
    const size = Number(info.size);
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    const { bytesRead } = head.length > 0 ? await handle.read(head, 0, head.length, 0) : { bytesRead: 0 };
    const verdict = contentVerdict(absPath, again, head.subarray(0, bytesRead), size);
    if (!verdict.allowed) return await closed(handle, verdict);
    return { verdict, handle, size };
  } catch (e) {
    return closed(handle, unreadable(e));
  }
}

/** O_NONBLOCK keeps a file swapped for a named pipe from hanging the open; Windows has no such flag. */
const nonBlocking = (fs.constants as Partial<typeof fs.constants>).O_NONBLOCK ?? 0;

async function closed(handle: FileHandle, verdict: InputRefused): Promise<{ readonly verdict: InputRefused }> {
  await handle.close().catch(() => undefined);
  return { verdict };
}

/** The rules decided without reading the file: where it really is, and what its name says it is. */
function beforeReading(absPath: string, real: string, policy: InputPolicy): InputRefused | undefined {
  if (!realRoots(policy).some((root) => isStrictlyInside(root, real))) {
    const labels = policy.roots.map((r) => r.label);
    const where = labels.length <= 1 ? (labels[0] ?? 'any allowed folder') : `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
    return {
      allowed: false,
      rule: 'outside_allowed_folders',
      summary: `not inside ${policy.scope}`,
      reason: `it is not inside ${where} (it leads to ${real})`,
      remedy: policy.remedy,
    };
  }
  if (!hasMediaExtension(absPath)) {
    const ext = extensionOf(absPath);
    return {
      allowed: false,
      rule: 'not_media',
      summary: 'not an image, video, audio or 3D file',
      reason: `it is not an image, video, audio or 3D file a ComfyUI loader takes (${ext ? `".${ext}" is not one of their extensions: ${MEDIA_EXTENSION_EXAMPLES}, …` : 'its name has no extension'})`,
      remedy: 'Only such media files are uploaded: point the input at one.',
    };
  }
  return undefined;
}

function contentVerdict(absPath: string, real: string, head: Uint8Array, size: number): InputVerdict {
  const check = checkMediaContent(extensionOf(absPath), head, size);
  if (check?.ok) return { allowed: true, realPath: real, format: check.format };
  const expected = check?.expected ?? 'media file';
  return {
    allowed: false,
    rule: 'content_mismatch',
    summary: `its bytes are not ${withArticle(expected)}`,
    reason: `it is not an image, video, audio or 3D file a ComfyUI loader takes (its name says ${expected}, but its first bytes are ${check?.found ?? 'unknown'})`,
    remedy: `Only such media files are uploaded: point the input at a real ${expected} (re-export or convert the file).`,
  };
}

/** Resolved once per policy object: an analysis asks for every local file of the workflow. */
const resolvedRoots = new WeakMap<InputPolicy, string[]>();

/** The roots with their symbolic links resolved, so they compare with a file's real path; a root that does not exist as given. */
function realRoots(policy: InputPolicy): string[] {
  let roots = resolvedRoots.get(policy);
  if (!roots) {
    roots = policy.roots.map((r) => {
      try {
        return fs.realpathSync.native(r.path);
      } catch {
        return path.resolve(r.path);
      }
    });
    resolvedRoots.set(policy, roots);
  }
  return roots;
}

function unreadable(e: unknown): InputRefused {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ELOOP' ? 'its symbolic links loop' : (e as Error).message;
  return { allowed: false, rule: 'unreadable', summary: 'cannot be read', reason: `it cannot be read (${why})`, remedy: 'Check that the file exists and can be read.' };
}

function notRegular(): InputRefused {
  return { allowed: false, rule: 'unreadable', summary: 'not a regular file', reason: 'it is not a regular file', remedy: 'Point the input at an image, video, audio or 3D file.' };
}

function changed(): InputRefused {
  return {
    allowed: false,
    rule: 'unreadable',
    summary: 'changed while being checked',
    reason: 'it was replaced while it was being opened for the upload',
    remedy: 'Queue the workflow again once the file stays put.',
  };
}
