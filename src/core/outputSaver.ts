import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type ApiPrompt, type HistoryEntry } from '../api/comfyTypes';
import { maskUrl } from '../api/redact';
import { abortReason } from '../base/clock';
import { assertRealPathInside } from './outputLocation';
import { resolveInside, safeRelativePath, safeSegment } from './safePath';
import { isObject, parseJsonOrUndefined } from '../base/json';
import { type DynamicPromptText } from './convert/convertUiWorkflow';

/** A file a run produced, found in a history entry's (or an `executed` message's) outputs. */
export interface OutputFile {
  nodeId: string;
  /** The output key it was listed under: `images`, `gifs`, `audio`, `3d`, … */
  key: string;
  filename: string;
  subfolder: string;
  /** `output`, `temp` or `input`: download it with this type. */
  type: string;
  /** The media type some nodes give (VideoHelperSuite: `video/h264-mp4`, `image/gif`). */
  format?: string;
  /** Set for `images` of a node that marked them animated (SaveAnimatedWEBP, SaveVideo, …). */
  animated?: boolean;
}

/** Where {@link OutputSaver.saveStream} put a file, and what it had to change on the way. */
export interface SavedOutput {
  /** Absolute path of the saved file. */
  path: string;
  /** Path relative to the run folder, with `/` separators. */
  relativePath: string;
  bytes: number;
  /** What was renamed and why; empty when the server's name was used as is. */
  warnings: string[];
}

/** What the server reference of a file to save needs: its name and folder (and node, for the record). */
export interface OutputRef {
  filename: string;
  subfolder?: string;
  type?: string;
  nodeId?: string;
  /** The output key the server listed the file under (`images`, `gifs`, `audio`, `3d`, …), for the record. */
  kind?: string;
  /** The server marked it animated (`ui.animated`): an APNG or animated WebP listed under `images`, for the record. */
  animated?: boolean;
}

/**
 * A place in the run folder taken for one output before its bytes arrive ({@link OutputSaver.reserve}):
 * outputs saved at once then get the names, and the order in `run.json`, of the order they were
 * reserved in, whichever download ends first.
 */
export interface OutputSlot {
  /** The order of reservation; `run.json` and {@link OutputSaver.saved} list outputs in this order. */
  readonly seq: number;
  /** The safe subfolder segments asked for. */
  readonly folders: readonly string[];
  /** The safe file name asked for, before numbering. */
  readonly name: string;
  /** The numbered variant of `name` this slot holds (0: `name` itself). */
  readonly n: number;
  /** Why the server's name was changed to make it safe. */
  readonly reasons: readonly string[];
}

/** Where the run folder goes: `<root>/<workflow name>/<yyyymmdd-hhmmss>-<prompt id prefix>/`. */
export interface RunFolderOptions {
  /** Usually `<workspace>/runcomfy-outputs`. */
  root: string;
  /** The workflow's name, usually its file name without `.json`. */
  workflowName: string;
  promptId: string;
  /** When the run was queued (epoch ms or a Date), shown in local time. */
  time: number | Date;
  /** A folder the run folder must stay inside once symlinks are resolved (a workspace-set output directory). */
  within?: string;
}

/** What the caller knows about a run; {@link OutputSaver.writeRunRecord} adds the outputs and warnings. */
export interface RunRecordInput {
  promptId: string;
  /** The ComfyUI URL; only its masked form is written. */
  serverUrl: string;
  /** The workflow file, as the user would recognise it (workspace-relative, for example). */
  workflowFile?: string;
  /** The RunComfy machine type (`server_type`) the run ran on; absent for a ComfyUI server of your own or when RunComfy did not say. */
  machineType?: string;
  /** The prompt as submitted (object or its exact JSON text): its SHA-256 is recorded. */
  prompt: ApiPrompt | string;
  /** Local files uploaded for the run, and the name the server gave each. */
  uploads?: readonly { localPath: string; serverName: string }[];
  /** Epoch milliseconds; phase durations in milliseconds (for example upload, queue, execute, download). */
  timings?: { queued?: number; started?: number; finished?: number; phases?: Readonly<Record<string, number>> };
  status: 'success' | 'error' | 'interrupted';
  /** What went wrong, for `error` and `interrupted`. */
  error?: string;
  /** Warnings of the run beyond the saver's own (rejected nodes, failed downloads, …). */
  warnings?: readonly string[];
  /**
   * Where the list of outputs came from: the server's history entry, or (when history could not be
   * read) the `executed` messages heard live, which miss what was announced while the socket was down.
   */
  outputsFrom?: OutputsSource;
  /** `ui` when the workflow file was in ComfyUI's UI format and converted at queue time (the prompt is what was sent). */
  convertedFrom?: 'ui';
  /** For a workflow converted from the UI format: each dynamic-prompt text as saved and as sent. */
  dynamicPrompts?: readonly DynamicPromptText[];
}

/** Where a run's list of outputs came from. */
export type OutputsSource = 'history' | 'live messages';

/** The contents of `run.json`. */
export interface RunRecord {
  version: 1;
  promptId: string;
  server: string;
  workflowFile?: string;
  /** The RunComfy machine type the run ran on (absent in older records, and for other ComfyUI servers): the sweep estimate prefers runs on the same type. */
  machineType?: string;
  /** SHA-256 (hex) of the submitted prompt JSON. */
  workflowHash: string;
  /** The prompt as submitted: the run panel shows its inputs that differ from the file on disk and from another run. */
  prompt?: unknown;
  uploads: { localPath: string; serverName: string }[];
  timings: { queued?: string; started?: string; finished?: string; phases: Record<string, number> };
  status: RunRecordInput['status'];
  error?: string;
  outputsFrom?: OutputsSource;
  /** `ui`: the workflow file was in the UI format, converted against the server's node list when queued. */
  convertedFrom?: 'ui';
  /** Present when the workflow was converted from the UI format and a dynamic-prompt text changed. */
  dynamicPrompts?: DynamicPromptText[];
  outputs: { node: string; filename: string; subfolder: string; type: string; path: string }[];
  /** Every saved file, as a reader of `run.json` finds it: see {@link RunRecordFile}. */
  files: RunRecordFile[];
  warnings: string[];
}

/** One saved file in `run.json`: where it is (relative to `run.json`, `/` separators), from which node, of what kind, how big. */
export interface RunRecordFile {
  path: string;
  node: string;
  /** The output key: `images`, `gifs`, `audio`, `video`, `3d`, …; empty when the caller did not say. */
  kind: string;
  bytes: number;
  /** Present (true) when the server marked the file animated; absent in records written before it was kept. */
  animated?: true;
}

/** The record's file name, beside the outputs. An output of the same name at the top is renamed. */
export const RUN_RECORD_NAME = 'run.json';

/** Outputs up to this size are written through a 1 MiB buffer, larger ones through 64 KiB (see `writeTemp`). */
const SMALL_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Length of the prompt id prefix in run folder names. */
const PROMPT_ID_PREFIX = 8;

/** Errors from `link` that mean "this file system has no hard links", not "the name is taken". */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** More same-named files than this in one folder means something is wrong: stop instead of looping. */
const MAX_NUMBERED_NAMES = 10_000;

/**
 * Every file reference in a history entry's `outputs`: any list of objects with a string
 * `filename`, under any key (`images`, `gifs`, `audio`, `video`, `3d`, `latents`, custom keys), in
 * the order the server listed them. `text` and entries that are not files are skipped.
 */
export function listOutputFiles(outputs: HistoryEntry['outputs'] | null | undefined): OutputFile[] {
  const files: OutputFile[] = [];
  if (!isObject(outputs)) return files;
  for (const [nodeId, output] of Object.entries(outputs)) {
    if (!isObject(output)) continue;
    const animated = Array.isArray(output.animated) && output.animated.includes(true);
    for (const [key, list] of Object.entries(output)) {
      if (key === 'text' || !Array.isArray(list)) continue;
      for (const item of list as unknown[]) {
        if (!isObject(item) || typeof item.filename !== 'string') continue;
        const file: OutputFile = {
          nodeId,
          key,
          filename: item.filename,
          subfolder: typeof item.subfolder === 'string' ? item.subfolder : '',
          type: typeof item.type === 'string' && item.type !== '' ? item.type : 'output',
        };
        if (typeof item.format === 'string') file.format = item.format;
        if (animated && key === 'images') file.animated = true;
        files.push(file);
      }
    }
  }
  return files;
}

/** `20261128-154012`, in local time: the moment as the user would read it on their clock. */
export function formatRunTime(time: number | Date): string {
  const d = new Date(time);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

/** SHA-256 (hex) of a prompt's JSON: of the text itself when given text, else of `JSON.stringify(prompt)`. */
export function hashPrompt(prompt: ApiPrompt | string): string {
  return createHash('sha256')
    .update(typeof prompt === 'string' ? prompt : JSON.stringify(prompt))
    .digest('hex');
}

/**
 * Saves the outputs of one run into its own folder, streaming each file to a temp file beside
 * its final place and renaming it only when complete, so a folder never holds a half-written
 * output under a real name. Server-sent names are made safe ({@link safeRelativePath}) and can
 * never write outside the folder; an existing file is never overwritten (`name (1).ext` instead).
 */
export class OutputSaver {
  private readonly _warnings: string[] = [];
  private readonly _saved: (SavedOutput & { ref: OutputRef; seq: number })[] = [];
  /** Names held by slots, by path relative to the run folder: a later slot numbers past them. */
  private readonly claimed = new Map<string, number>();
  private nextSeq = 0;

  /** Use {@link OutputSaver.create} for a new run; this opens a folder that exists. */
  constructor(readonly dir: string) {}

  /** Creates `<root>/<workflow name>/<time>-<prompt id prefix>/` (names made safe) and a saver for it. */
  static async create(options: RunFolderOptions): Promise<OutputSaver> {
    const workflow = safeSegment(options.workflowName);
    const run = safeSegment(`${formatRunTime(options.time)}-${options.promptId.slice(0, PROMPT_ID_PREFIX)}`);
    const dir = resolveInside(options.root, [workflow.name, run.name]);
    // Checked before mkdir (no folder is made through a planted link) and after (a link swapped in meanwhile).
    if (options.within) await assertRealPathInside(dir, options.within, 'The run folder');
    await fs.mkdir(dir, { recursive: true });
    if (options.within) await assertRealPathInside(dir, options.within, 'The run folder');
    const saver = new OutputSaver(dir);
    if (workflow.reasons.length > 0) {
      saver._warnings.push(`The workflow name ${JSON.stringify(options.workflowName)} became the folder "${workflow.name}": ${workflow.reasons.join('; ')}.`);
    }
    if (run.reasons.length > 0) {
      saver._warnings.push(`The run folder is named "${run.name}" (prompt id ${JSON.stringify(options.promptId)}): ${run.reasons.join('; ')}.`);
    }
    return saver;
  }

  /** Every rename so far, in words. */
  get warnings(): readonly string[] {
    return this._warnings;
  }

  /** Every file saved so far, in the order their slots were reserved. */
  get saved(): readonly SavedOutput[] {
    return this.inOrder();
  }

  /**
   * Takes the name `ref` will be saved under, now and without waiting: the first of its safe name,
   * `name (1)`, … that no earlier slot holds (a file already in the folder still moves it on when
   * saved). Reserve in the order the outputs should be named and listed, then save in any order.
   */
  reserve(ref: OutputRef): OutputSlot {
    const { segments, reasons } = safeRelativePath(ref.subfolder ?? '', ref.filename);
    const name = segments.pop()!;
    const seq = this.nextSeq++;
    const n = this.claim(segments, name, 0, seq);
    return { seq, folders: segments, name, n, reasons };
  }

  /**
   * Streams `source` (a Node stream, a web ReadableStream or any async iterable of bytes) into
   * the run folder under the server's subfolder and file name, made safe. Nothing is held in
   * memory beyond a chunk. On error or abort the temp file is removed and nothing is left behind.
   * @returns where the file went, with a warning for each rename.
   * `expectedBytes` (the response's length, when known) sizes the write buffer.
   * @throws the signal's reason when aborted; the source's own error when it fails; an Error
   *   naming the file and folder when the file system refuses.
   */
  async saveStream(ref: OutputRef, source: AsyncIterable<Uint8Array>, signal?: AbortSignal, slot: OutputSlot = this.reserve(ref), expectedBytes?: number): Promise<SavedOutput> {
    if (signal?.aborted) throw abortReason(signal);
    const wanted = [...slot.folders];
    const { name, reasons } = slot;
    const shown = JSON.stringify(ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename);
    let segments: string[];
    try {
      segments = await this.ensureFolders(wanted);
    } catch (e) {
      throw new Error(`Could not create the folder for output ${shown} in ${this.dir}: ${describe(e)}.`, { cause: e });
    }
    const folder = segments.length > 0 ? resolveInside(this.dir, segments) : path.resolve(this.dir);
    const { temp, bytes } = await this.writeTemp(folder, source, signal, shown, expectedBytes);
    let finalName: string;
    try {
      finalName = await this.commit(temp, folder, segments, name, slot);
    } catch (e) {
      await removeQuietly(temp);
      throw new Error(`Could not save output ${shown} in ${folder}: ${describe(e)}.`, { cause: e });
    }
    const finalPath = path.join(folder, finalName);
    const relativePath = [...segments, finalName].join('/');
    const warnings: string[] = [];
    if (reasons.length > 0) warnings.push(`Output ${shown}${ref.nodeId ? ` of node ${ref.nodeId}` : ''} was saved as "${relativePath}": ${reasons.join('; ')}.`);
    if (finalName !== name || segments.some((seg, i) => seg !== wanted[i])) {
      warnings.push(`Output ${shown} was saved as "${relativePath}" because "${[...wanted, name].join('/')}" was already taken.`);
    }
    this._warnings.push(...warnings);
    const saved: SavedOutput = { path: finalPath, relativePath, bytes, warnings };
    this._saved.push({ ...saved, ref, seq: slot.seq });
    return saved;
  }

  /**
   * Writes `run.json` in the run folder, atomically (temp file, then rename over the previous
   * record, if any), with everything saved so far and every warning.
   * @returns the record's absolute path.
   */
  async writeRunRecord(input: RunRecordInput): Promise<string> {
    const t = input.timings ?? {};
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const record: RunRecord = {
      version: 1,
      promptId: input.promptId,
      server: maskUrl(input.serverUrl),
      workflowFile: input.workflowFile,
      machineType: input.machineType,
      workflowHash: hashPrompt(input.prompt),
      prompt: typeof input.prompt === 'string' ? parseJsonOrUndefined(input.prompt) : input.prompt,
      uploads: (input.uploads ?? []).map((u) => ({ localPath: u.localPath, serverName: u.serverName })),
      timings: { queued: iso(t.queued), started: iso(t.started), finished: iso(t.finished), phases: { ...t.phases } },
      status: input.status,
      error: input.error,
      outputsFrom: input.outputsFrom,
      convertedFrom: input.convertedFrom,
      ...(input.dynamicPrompts?.length ? { dynamicPrompts: input.dynamicPrompts.map((d) => ({ ...d })) } : {}),
      outputs: this.inOrder().map((s) => ({
        node: s.ref.nodeId ?? '',
        filename: s.ref.filename,
        subfolder: s.ref.subfolder ?? '',
        type: s.ref.type ?? 'output',
        path: s.relativePath,
      })),
      // `outputs` predates this list and other tools read it as is; `files` adds what a reader needs
      // to find each file without knowing how the server named it.
      files: this.inOrder().map((s) => ({ path: s.relativePath, node: s.ref.nodeId ?? '', kind: s.ref.kind ?? '', bytes: s.bytes, ...(s.ref.animated ? { animated: true as const } : {}) })),
      warnings: [...this._warnings, ...(input.warnings ?? [])],
    };
    const target = path.join(this.dir, RUN_RECORD_NAME);
    const temp = path.join(this.dir, tempName());
    try {
      await fs.writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx', flush: true });
      await fs.rename(temp, target);
    } catch (e) {
      await removeQuietly(temp);
      throw new Error(`Could not write the run record ${target}: ${describe(e)}.`, { cause: e });
    }
    return target;
  }

  /**
   * Creates the nested folders under the run folder and returns the names used. A name already
   * taken by a file or a symbolic link (which could lead anywhere) is not entered: the folder
   * becomes `name (1)`, `name (2)`, … instead, as for files.
   */
  private async ensureFolders(wanted: readonly string[]): Promise<string[]> {
    const used: string[] = [];
    for (const segment of wanted) {
      for (let n = 0; ; n++) {
        if (n > MAX_NUMBERED_NAMES) throw new Error(`"${segment}" and ${MAX_NUMBERED_NAMES} numbered variants of it are taken by files`);
        const candidate = n === 0 ? segment : `${segment} (${n})`;
        const p = resolveInside(this.dir, [...used, candidate]);
        try {
          await fs.mkdir(p);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        if ((await fs.lstat(p)).isDirectory()) {
          used.push(candidate);
          break;
        }
      }
    }
    return used;
  }

  /**
   * Streams `source` into a new temp file in `folder` and returns it with the number of bytes
   * written (the write stream's own count, so the record needs no `stat` of the saved file).
   */
  private async writeTemp(folder: string, source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined, shown: string, expectedBytes: number | undefined): Promise<{ temp: string; bytes: number }> {
    const temp = path.join(folder, tempName());
    try {
      // Written like rsync writes, to a temp file that gets its name when complete, without an
      // fsync: forcing 1 GiB to disk doubled the download time (4.5 s against 2.7 s on the benchmark
      // machine), and the name is only ever given to a whole file. A file of a few MiB goes through
      // a 1 MiB buffer, in few large writes (200 outputs of 1 MiB: 20% faster than with 64 KiB). A
      // larger or unknown one through one socket chunk (64 KiB): chunks waiting in a larger buffer
      // outlive young-generation collections, get promoted and wait for a full collection, which
      // held a 1 GiB download's RSS growth at 62-66 MiB; at 64 KiB it measured 47-62 MiB.
      const highWaterMark = expectedBytes !== undefined && expectedBytes <= SMALL_OUTPUT_BYTES ? 1024 * 1024 : 64 * 1024;
      const file = createWriteStream(temp, { flags: 'wx', highWaterMark });
      await pipeline(source, file, { signal });
      return { temp, bytes: file.bytesWritten };
    } catch (e) {
      await removeQuietly(temp);
      if (signal?.aborted) throw abortReason(signal);
      if (isFsError(e)) throw new Error(`Could not save output ${shown} in ${folder}: ${describe(e)}.`, { cause: e });
      throw e;
    }
  }

  /** The saved files in the order of their slots. */
  private inOrder(): (SavedOutput & { ref: OutputRef; seq: number })[] {
    return [...this._saved].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Holds the first of `name`, `name (1)`, … from the `from`-th on that no other slot holds (and,
   * at the top, that is not `run.json`) for slot `seq`, and returns its number.
   */
  private claim(folders: readonly string[], name: string, from: number, seq: number): number {
    for (let n = from; n <= MAX_NUMBERED_NAMES; n++) {
      const candidate = n === 0 ? name : numbered(name, n);
      if (folders.length === 0 && candidate.toLowerCase() === RUN_RECORD_NAME) continue;
      const key = [...folders, candidate].join('/');
      const holder = this.claimed.get(key);
      if (holder !== undefined && holder !== seq) continue;
      this.claimed.set(key, seq);
      return n;
    }
    throw new Error(`"${name}" and ${MAX_NUMBERED_NAMES} numbered variants of it already exist`);
  }

  /**
   * Gives the finished temp file its final name: the slot's, or when a file already has that one,
   * the next of `name (1)`, … that is free and held by no other slot. A hard link fails when the
   * name exists, so taking a name and filling it is one atomic step even against other writers;
   * where the file system has no hard links, an existence check and a rename come close.
   */
  private async commit(temp: string, folder: string, folders: readonly string[], name: string, slot: OutputSlot): Promise<string> {
    for (let n = slot.n; n <= MAX_NUMBERED_NAMES; n++) {
      n = this.claim(folders, name, n, slot.seq);
      const candidate = n === 0 ? name : numbered(name, n);
      const target = path.join(folder, candidate);
      try {
        await fs.link(temp, target);
        await fs.unlink(temp);
        return candidate;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (code === 'EEXIST') continue;
        if (!NO_HARD_LINKS.has(code)) throw e;
        if (await exists(target)) continue;
        await fs.rename(temp, target);
        return candidate;
      }
    }
    throw new Error(`"${name}" and ${MAX_NUMBERED_NAMES} numbered variants of it already exist`);
  }
}

/** `photo.png` → `photo (2).png`; `archive.tar.gz` → `archive.tar (2).gz`, as ComfyUI names its own uploads. */
function numbered(name: string, n: number): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/** Hidden, and in the same folder as its final place so the rename stays on one file system. */
function tempName(): string {
  return `.runcomfy-${randomBytes(6).toString('hex')}.part`;
}

/** Cleanup after a failure: the failure is what the caller needs to hear about, not a second one. */
async function removeQuietly(p: string): Promise<void> {
  try {
    await fs.rm(p, { force: true });
  } catch {
    // Nothing more can be done here; the error that brought us here is the one to report.
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
