import { type BigIntStats } from 'node:fs';
import { promises as fs } from 'node:fs';
import { type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { hashFile } from '../api/comfyClient';
import { writeFileAtomic } from '../base/atomicFile';
import { runcomfyCacheDir } from '../base/cacheDir';
import { systemClock, type Clock } from '../base/clock';
import { isObject, parseJsonOrUndefined } from '../base/json';

/** What {@link InputHashCache.hash} knows about an opened file. */
export interface InputHash {
  /** sha256 (hex) of the file's bytes. */
  readonly sha256: string;
  /** True when it came from the cache (the file was not read). */
  readonly cached: boolean;
  /** The file's status when the hash was taken or looked up: compare it again after the upload. */
  readonly stats: BigIntStats;
  /**
   * The file was changed within {@link racyWindowMs} of its hashing, so its time stamps cannot
   * prove that a write did not come after the hash (they have a granularity): check the bytes as
   * they are sent. Such a hash is not remembered.
   */
  readonly racy: boolean;
}

/** Options of an {@link InputHashCache}. */
export interface InputHashCacheOptions {
  /** Entries kept, the most recently used first; default 2000 (about 400 KiB of JSON). */
  readonly maxEntries?: number;
  /** Default {@link racyWindowMs}; tests that write a file and hash it at once set 0. */
  readonly racyWindowMs?: number;
  readonly clock?: Clock;
}

/**
 * A change this close to the start of hashing may share its time stamp with a later write (file
 * systems store times at a granularity: jiffies on Linux, 2 s on FAT), as in git's "racy clean".
 */
export const racyWindowMs = 2000;

/** One remembered hash: the file's identity when it was hashed, and when the entry was last used. */
interface Entry {
  readonly dev: string;
  readonly ino: string;
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly sha256: string;
  usedAt: number;
}

const fileVersion = 1;
const sha256Pattern = /^[0-9a-f]{64}$/;
const bigintText = /^\d{1,40}$/;

/**
 * The sha256 of local inputs, remembered by path, size, mtime, ctime, inode and device, so an
 * unchanged 2 GiB video is not read again to learn its content-derived name. ctime is in the key
 * because nobody can set it: `cp -p` or `touch -r` can give a rewritten file its old mtime, never
 * its old ctime. A hash is taken from the opened, policy-checked handle, so it describes the bytes
 * that handle uploads; a hash of a file changed within {@link racyWindowMs} of hashing is not
 * remembered (and the caller checks the bytes it sends, see {@link InputHash.racy}).
 *
 * Kept in one JSON file in the cache folder, bounded to the most recently used entries, replaced
 * atomically (temp file + rename) and merged with what other processes wrote meanwhile (the newer
 * use of a path wins); a missing, unreadable or corrupt file starts fresh. It is a cache: a write
 * lost to a race, or a folder that cannot be written, costs a hash next time, nothing more.
 */
export class InputHashCache {
  private readonly maxEntries: number;
  private readonly racyWindowMs: number;
  private readonly clock: Clock;
  private entries: Map<string, Entry> | undefined;
  private loading: Promise<Map<string, Entry>> | undefined;
  private dirty = false;
  /** Hashes being taken, by file identity: concurrent runs of one file (a sweep) read it once. */
  private readonly hashing = new Map<string, Promise<string>>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    /** The JSON file; undefined keeps the hashes in this process only. */
    readonly file: string | undefined,
    options: InputHashCacheOptions = {},
  ) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 2000);
    this.racyWindowMs = options.racyWindowMs ?? racyWindowMs;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * The sha256 of the bytes of `handle`, opened from `absPath`: remembered when the file's identity
   * matches an entry, else read from the handle (from its start) and remembered.
   */
  async hash(absPath: string, handle: FileHandle, signal?: AbortSignal): Promise<InputHash> {
    const stats = await handle.stat({ bigint: true });
    const entries = await this.load();
    const key = identityKey(absPath, stats);
    const known = entries.get(absPath);
    if (known && entryKey(absPath, known) === key) {
      known.usedAt = this.clock.now();
      this.dirty = true;
      return { sha256: known.sha256, cached: true, stats, racy: false };
    }
    // File times come from the wall clock, whatever clock the caller injected.
    const changedAt = Math.max(Number(stats.mtimeMs), Number(stats.ctimeMs));
    const racy = changedAt > Date.now() - this.racyWindowMs;
    let sha256: string;
    if (racy) sha256 = await hashFile(handle, signal);
    else {
      sha256 = await this.shared(key, handle, signal);
      entries.set(absPath, { dev: String(stats.dev), ino: String(stats.ino), size: String(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs), sha256, usedAt: this.clock.now() });
      this.dirty = true;
    }
    return { sha256, cached: false, stats, racy };
  }

  /**
   * One reading of an unchanged file for every handle of it that asks at once (its identity
   * proves they hold the same bytes). If the reading another caller started fails (it was
   * cancelled, or its handle closed), this caller reads its own handle.
   */
  private async shared(key: string, handle: FileHandle, signal: AbortSignal | undefined): Promise<string> {
    const pending = this.hashing.get(key);
    if (pending) {
      try {
        return await pending;
      } catch {
        signal?.throwIfAborted();
        return hashFile(handle, signal);
      }
    }
    const own = hashFile(handle, signal).finally(() => this.hashing.delete(key));
    this.hashing.set(key, own);
    return own;
  }

  /**
   * Writes what changed since the last save, merged with the file as other processes left it.
   * Never throws: a cache that cannot be kept only costs a hash next time.
   */
  save(): Promise<void> {
    this.saving = this.saving.then(() => this.write().catch(() => undefined));
    return this.saving;
  }

  private load(): Promise<Map<string, Entry>> {
    if (this.entries) return Promise.resolve(this.entries);
    this.loading ??= this.readFile().then((entries) => (this.entries = entries));
    return this.loading;
  }

  private async readFile(): Promise<Map<string, Entry>> {
    if (this.file === undefined) return new Map();
    try {
      return parseEntries(await fs.readFile(this.file, 'utf8'));
    } catch {
      return new Map();
    }
  }

  private async write(): Promise<void> {
    if (!this.dirty || this.file === undefined || this.entries === undefined) return;
    this.dirty = false;
    const merged = await this.readFile();
    for (const [p, e] of this.entries) {
      const other = merged.get(p);
      if (!other || other.usedAt <= e.usedAt) merged.set(p, e);
    }
    const kept = [...merged].sort((a, b) => b[1].usedAt - a[1].usedAt).slice(0, this.maxEntries);
    this.entries = new Map(kept);
    const text = JSON.stringify({ v: fileVersion, entries: kept.map(([p, e]) => ({ path: p, ...e })) });
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, text, { mode: 0o600 });
  }
}

function identityKey(absPath: string, s: BigIntStats): string {
  return [absPath, s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join('\u0000');
}

function entryKey(absPath: string, e: Entry): string {
  return [absPath, e.dev, e.ino, e.size, e.mtimeNs, e.ctimeNs].join('\u0000');
}

/** The entries of a cache file; anything malformed is left out, and a file that is not ours gives none. */
function parseEntries(text: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const json = parseJsonOrUndefined(text);
  if (!isObject(json) || json.v !== fileVersion || !Array.isArray(json.entries)) return out;
  for (const raw of json.entries as unknown[]) {
    if (!isObject(raw) || typeof raw.path !== 'string' || !path.isAbsolute(raw.path)) continue;
    const { dev, ino, size, mtimeNs, ctimeNs, sha256, usedAt } = raw;
    const numbers = [dev, ino, size, mtimeNs, ctimeNs];
    if (!numbers.every((n) => typeof n === 'string' && bigintText.test(n))) continue;
    if (typeof sha256 !== 'string' || !sha256Pattern.test(sha256) || typeof usedAt !== 'number' || !Number.isFinite(usedAt)) continue;
    out.set(raw.path, { dev: dev as string, ino: ino as string, size: size as string, mtimeNs: mtimeNs as string, ctimeNs: ctimeNs as string, sha256, usedAt });
  }
  return out;
}

const shared = new Map<string, InputHashCache>();

/**
 * The cache every run of this process shares, in `input-hashes.json` of the cache folder
 * (`runcomfyCacheDir`, or `RUNCOMFY_CACHE_DIR` from `env`).
 */
export function sharedInputHashCache(env: NodeJS.ProcessEnv = process.env): InputHashCache {
  const file = path.join(runcomfyCacheDir(env), 'input-hashes.json');
  let cache = shared.get(file);
  if (!cache) {
    cache = new InputHashCache(file);
    shared.set(file, cache);
  }
  return cache;
}
