import * as path from 'node:path';

/**
 * Longest file or folder name we write, in UTF-8 bytes. File systems allow 255; the margin leaves
 * room for a ` (12)` collision suffix and keeps deep run folders under Windows' path limits longer.
 */
export const MAX_NAME_BYTES = 200;

/** A name made safe, and why it differs from the one asked for (empty when it does not). */
export interface SafeName {
  name: string;
  reasons: string[];
}

/** A relative path made safe: its segments (the last is the file name) and every reason for a change. */
export interface SafeRelativePath {
  segments: string[];
  reasons: string[];
}

/** Characters Windows refuses in names; `/` and `\` also separate paths everywhere. */
const FORBIDDEN_CHARS = /[<>:"/\\|?*]/g;
const CONTROL_CHARS = /\p{Cc}/gu;
/** Direction overrides can make `evil\u202Egnp.exe` look like `evilexe.png`. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
/** Device names Windows reserves in every folder, with any extension (`nul.txt` is the null device too). */
const RESERVED_WINDOWS_NAME = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]) *(\.|$)/i;
const TRAILING_DOTS_AND_SPACES = /[. ]+$/;
/** An extension kept whole when a long name is shortened. */
const EXTENSION = /\.[^.]{1,16}$/;

/**
 * Makes one path segment (a file or folder name) safe to create on Linux, macOS and Windows: no
 * separators, no `..`, no control characters, no reserved device names, no trailing dots or spaces,
 * not empty and not too long. The result never leaves the folder it is joined to.
 */
export function safeSegment(raw: string): SafeName {
  const reasons: string[] = [];
  if (raw === '.' || raw === '..') return { name: '_', reasons: [`"${raw}" names a folder, not a file`] };
  let name = raw.replace(CONTROL_CHARS, '_');
  if (name !== raw) reasons.push('control characters replaced');
  const visible = name.replace(BIDI_CONTROLS, '_');
  if (visible !== name) reasons.push('text-direction characters replaced');
  name = visible;
  if (/[/\\]/.test(name)) reasons.push('path separators replaced');
  if (/[<>:"|?*]/.test(name)) reasons.push(/^[A-Za-z]:/.test(name) ? 'drive letter and characters Windows forbids replaced' : 'characters Windows forbids in names replaced');
  name = name.replace(FORBIDDEN_CHARS, '_');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    name = shorten(name);
    reasons.push(`shortened to ${MAX_NAME_BYTES} bytes`);
  }
  if (TRAILING_DOTS_AND_SPACES.test(name)) {
    name = name.replace(TRAILING_DOTS_AND_SPACES, '');
    reasons.push('trailing dots or spaces removed (Windows drops them)');
  }
  if (name === '') {
    name = '_';
    reasons.push('empty name');
  }
  if (RESERVED_WINDOWS_NAME.test(name)) {
    name = `_${name}`;
    reasons.push('a device name reserved on Windows');
  }
  return { name, reasons };
}

/**
 * Makes a server-sent subfolder and file name safe: the subfolder's own segments are kept as
 * nested folders (empty and `.` segments dropped, each other segment made safe with
 * {@link safeSegment}, `..` neutralised), and the file name becomes exactly one segment.
 */
export function safeRelativePath(subfolder: string, filename: string): SafeRelativePath {
  const segments: string[] = [];
  const reasons: string[] = [];
  if (/^([/\\]|[A-Za-z]:)/.test(subfolder)) reasons.push('absolute subfolder made relative');
  for (const part of subfolder.split(/[/\\]+/)) {
    if (part === '' || part === '.') continue;
    const safe = safeSegment(part);
    segments.push(safe.name);
    for (const r of safe.reasons) reasons.push(`folder ${JSON.stringify(part)}: ${r}`);
  }
  const file = safeSegment(filename);
  segments.push(file.name);
  for (const r of file.reasons) reasons.push(`file name: ${r}`);
  return { segments, reasons };
}

/**
 * Joins `segments` to `root` and proves the result is strictly inside it. Safe segments always
 * are; this is the last line of defence, so a mistake elsewhere fails loudly instead of writing
 * outside the folder.
 * @throws Error when the path would not be inside `root`.
 */
export function resolveInside(root: string, segments: readonly string[]): string {
  const base = path.resolve(root);
  const full = path.resolve(base, ...segments);
  if (!isStrictlyInside(base, full)) {
    throw new Error(`Refusing to write ${JSON.stringify(segments.join('/'))}: it is not inside ${base}.`);
  }
  return full;
}

/**
 * True when `candidate` lies below the folder `root` (not `root` itself). Both are absolute. Uses
 * `path.relative`, so the platform's rules apply (on Windows: either separator, any letter case),
 * and a sibling that merely starts with the same letters (`/work` and `/work-old`) is outside.
 */
export function isStrictlyInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** Cuts the stem (never the extension, never inside a character) until the name fits. */
function shorten(name: string): string {
  const ext = EXTENSION.exec(name)?.[0] ?? '';
  const budget = MAX_NAME_BYTES - Buffer.byteLength(ext);
  let stem = '';
  let bytes = 0;
  for (const ch of name.slice(0, name.length - ext.length)) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > budget) break;
    stem += ch;
    bytes += b;
  }
  return stem + ext;
}
