import { PyFloat, pyFloatRepr, type PyValue } from './pyJson';

/**
 * The Python semantics ComfyUI's messages are made of: `repr`/`str` (error details quote values
 * with them), `int()`/`float()` coercion during validation (with Python's exception messages) and
 * truthiness. Only what the simulator's node classes and routes need.
 */

/** A Python exception: `pyType` is what `exception_type` / `full_type_name` reports; `frames` its innermost traceback lines. */
export class PyError extends Error {
  constructor(
    readonly pyType: string,
    message: string,
    readonly frames?: readonly string[],
  ) {
    super(message);
    this.name = pyType;
  }
}

/** `type(v).__name__`. */
export function pyTypeName(v: PyValue | undefined): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'int';
  if (v instanceof PyFloat) return 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0xad) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's `repr(v)`. */
export function pyRepr(v: PyValue | undefined): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return reprString(v);
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x)).join(', ')}]`;
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v).filter(([, x]) => x !== undefined);
  return `{${entries.map(([k, x]) => `${reprString(k)}: ${pyRepr(x)}`).join(', ')}}`;
}

/** Python's `str(v)`: strings as they are, everything else as `repr`. */
export function pyStr(v: PyValue | undefined): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/** Python truthiness (`if value:`). */
export function pyTruthy(v: PyValue | undefined): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (v === true) return true;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return v.length > 0;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return Object.keys(v).length > 0;
}

function numeric(v: PyValue | undefined): number | bigint | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (v instanceof PyFloat) return v.value;
  return undefined;
}

/** Python `==` for JSON values (so `1 == 1.0 == True`, as in a combo membership test). */
export function pyEquals(a: PyValue | undefined, b: PyValue | undefined): boolean {
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined || nb !== undefined) {
    if (na === undefined || nb === undefined) return false;
    if (typeof na === 'number' && typeof nb === 'number') return na === nb;
    const exact = (x: number | bigint) => (typeof x === 'bigint' ? x : Number.isInteger(x) ? BigInt(x) : undefined);
    const ba = exact(na);
    return ba !== undefined && ba === exact(nb);
  }
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, x]) => b.has(k) && pyEquals(x, b.get(k)));
  }
  return false;
}

const INT_LITERAL = /^[+-]?\d(?:_?\d)*$/;
const FLOAT_LITERAL = /^[+-]?(?:(?:\d(?:_?\d)*)?\.?\d(?:_?\d)*(?:[eE][+-]?\d(?:_?\d)*)?|\d(?:_?\d)*\.|inf|infinity|nan)$/i;
// Python's str.strip() also drops the information separators U+001C..U+001F.
const SPACE_CLASS = `[\\s${String.fromCharCode(0x1c, 0x1d, 0x1e, 0x1f, 0x85)}]`;
const PY_SPACE = new RegExp(`^${SPACE_CLASS}+|${SPACE_CLASS}+$`, 'g');

/** Python's `int(v)`; throws the `PyError` Python would raise. */
export function pyInt(v: PyValue | undefined): number | bigint {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (v instanceof PyFloat) {
    if (Number.isNaN(v.value)) throw new PyError('ValueError', 'cannot convert float NaN to integer');
    if (!Number.isFinite(v.value)) throw new PyError('OverflowError', 'cannot convert float infinity to integer');
    const t = Math.trunc(v.value);
    return Number.isSafeInteger(t) ? t : BigInt(t);
  }
  if (typeof v === 'string') {
    const s = v.replace(PY_SPACE, '');
    if (!INT_LITERAL.test(s)) throw new PyError('ValueError', `invalid literal for int() with base 10: ${pyRepr(v)}`);
    const big = BigInt(s.replace(/_/g, ''));
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  throw new PyError('TypeError', `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`);
}

/** Python's `float(v)`; throws the `PyError` Python would raise. */
export function pyFloat(v: PyValue | undefined): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'string') {
    const s = v.replace(PY_SPACE, '');
    if (!FLOAT_LITERAL.test(s)) throw new PyError('ValueError', `could not convert string to float: ${pyRepr(v)}`);
    const lower = s.toLowerCase().replace(/_/g, '');
    if (lower.endsWith('nan')) return NaN;
    if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number(lower);
  }
  throw new PyError('TypeError', `float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

