/**
 * Python's `posixpath`, because ComfyUI's path checks (upload folder, /view subfolder, SaveImage
 * prefix) are written with it, and its corner cases (`commonpath` compares components without
 * resolving `..`; `join` restarts at an absolute component) decide what is a 400, a 403 or a file.
 */
import { PyError } from './pyFormat';

/** `os.path.normpath`. */
export function normpath(path: string): string {
  if (path === '') return '.';
  const initial = path.startsWith('/') ? (path.startsWith('//') && !path.startsWith('///') ? 2 : 1) : 0;
  const out: string[] = [];
  for (const comp of path.split('/')) {
    if (comp === '' || comp === '.') continue;
    if (comp !== '..' || (initial === 0 && out.length === 0) || (out.length > 0 && out[out.length - 1] === '..')) out.push(comp);
    else if (out.length > 0) out.pop();
  }
  const joined = out.join('/');
  const result = '/'.repeat(initial) + joined;
  return result || '.';
}

/** `os.path.join(a, *rest)`. */
export function join(a: string, ...rest: string[]): string {
  let path = a;
  for (const b of rest) {
    if (b.startsWith('/')) path = b;
    else if (path === '' || path.endsWith('/')) path += b;
    else path += `/${b}`;
  }
  return path;
}

/** `os.path.dirname`. */
export function dirname(p: string): string {
  const i = p.lastIndexOf('/') + 1;
  let head = p.slice(0, i);
  if (head && head !== '/'.repeat(head.length)) head = head.replace(/\/+$/, '');
  return head;
}

/** `os.path.basename`. */
export function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** `os.path.splitext`: `[root, ext]`, leading dots of the name are not an extension. */
export function splitext(p: string): [string, string] {
  const sep = p.lastIndexOf('/');
  const dot = p.lastIndexOf('.');
  if (dot > sep) {
    for (let i = sep + 1; i < dot; i++) if (p[i] !== '.') return [p.slice(0, dot), p.slice(dot)];
  }
  return [p, ''];
}

/** `os.path.abspath` against the process's working directory. */
export function abspath(p: string): string {
  return normpath(p.startsWith('/') ? p : join(process.cwd(), p));
}

/** `os.path.commonpath`: components compared as strings, `..` not resolved; mixing absolute and relative raises. */
export function commonpath(paths: readonly string[]): string {
  if (paths.length === 0) throw new PyError('ValueError', 'commonpath() arg is an empty sequence');
  const abs = new Set(paths.map((p) => p.startsWith('/')));
  if (abs.size > 1) throw new PyError('ValueError', "Can't mix absolute and relative paths");
  const split = paths.map((p) => p.split('/').filter((c) => c && c !== '.'));
  const cmp = (a: string[], b: string[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return a.length - b.length;
  };
  const s1 = split.reduce((m, s) => (cmp(s, m) < 0 ? s : m));
  const s2 = split.reduce((m, s) => (cmp(s, m) > 0 ? s : m));
  let common = s1;
  for (let i = 0; i < s1.length; i++) {
    if (s1[i] !== s2[i]) {
      common = s1.slice(0, i);
      break;
    }
  }
  return (abs.has(true) ? '/' : '') + common.join('/');
}
