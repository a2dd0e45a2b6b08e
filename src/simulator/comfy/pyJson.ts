/**
 * JSON the way ComfyUI's Python sees it. A real server parses bodies with `json.loads` into dicts
 * that keep key order (also for numeric-looking node ids, which a JS object would reorder), keeps
 * `10.0` apart from `10`, and answers with `json.dumps` (`", "` / `": "` separators, non-ASCII
 * escaped). Parsing into `Map`s and `PyFloat`s and dumping them back reproduces those bytes.
 */

/** A Python float. Integers stay plain numbers (or bigints), so `10.0` and `10` survive a round trip. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Any value `json.loads` can produce, plus plain objects for replies the simulator builds itself. */
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | PyDict | PyObject;
/** A Python dict: insertion-ordered, string keys. */
export type PyDict = Map<string, PyValue>;
/** A reply object whose key order JS keeps (no integer-like keys), for convenience. */
export interface PyObject {
  [key: string]: PyValue | undefined;
}

/** What `json.loads` raises (`json.decoder.JSONDecodeError`), with Python's message. */
export class PyJsonDecodeError extends Error {
  constructor(msg: string, text: string, pos: number) {
    const line = text.slice(0, pos).split('\n').length;
    const lastNewline = pos === 0 ? -1 : text.lastIndexOf('\n', pos - 1);
    const col = pos - lastNewline;
    super(`${msg}: line ${line} column ${col} (char ${pos})`);
    this.name = 'JSONDecodeError';
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;

/** Parses like Python's `json.loads` (NaN/Infinity allowed, duplicate keys: last value wins in the first key's place). */
export function parsePyJson(text: string): PyValue {
  let pos = 0;
  const skip = () => {
    while (pos < text.length && WS.has(text[pos])) pos++;
  };
  const fail = (msg: string, at = pos): never => {
    throw new PyJsonDecodeError(msg, text, at);
  };

  const parseString = (): string => {
    const start = pos;
    pos++;
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('Unterminated string starting at', start);
      const c = text[pos];
      if (c === '"') {
        pos++;
        return out;
      }
      if (c === '\\') {
        const e = text[pos + 1];
        if (e === undefined) fail('Unterminated string starting at', start);
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('Invalid \\uXXXX escape', pos + 1);
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          pos += 2;
        } else {
          fail('Invalid \\escape', pos);
        }
        continue;
      }
      if (c < ' ') fail('Invalid control character at', pos);
      out += c;
      pos++;
    }
  };

  const parseValue = (depth: number): PyValue => {
    if (depth > 900) fail('maximum recursion depth exceeded');
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const dict: PyDict = new Map();
      skip();
      if (text[pos] === '}') {
        pos++;
        return dict;
      }
      for (;;) {
        skip();
        if (text[pos] !== '"') fail('Expecting property name enclosed in double quotes');
        const key = parseString();
        skip();
        if (text[pos] !== ':') fail("Expecting ':' delimiter");
        pos++;
        dict.set(key, parseValue(depth + 1));
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return dict;
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '[') {
      pos++;
      const list: PyValue[] = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return list;
      }
      for (;;) {
        list.push(parseValue(depth + 1));
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return list;
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '"') return parseString();
    for (const [word, value] of [
      ['null', null],
      ['true', true],
      ['false', false],
      ['NaN', new PyFloat(NaN)],
      ['Infinity', new PyFloat(Infinity)],
      ['-Infinity', new PyFloat(-Infinity)],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (m) {
      pos += m[0].length;
      if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(m[0]));
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    return fail('Expecting value');
  };

  const value = parseValue(0);
  skip();
  if (pos < text.length) fail('Extra data');
  return value;
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expPart] = x.toExponential().split('e') as [string, string];
  const exp = Number(expPart);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1) || '0';
      return `${sign}${intPart}.${frac}`;
    }
    return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : `${Math.abs(exp)}`;
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
}

function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** Python's `json.dumps(value)` with its defaults (what aiohttp's `json_response` and `send_json` send). */
export function pyDumps(value: PyValue | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return escapeString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    return floatJson(value);
  }
  if (value instanceof PyFloat) return floatJson(value.value);
  if (Array.isArray(value)) return `[${value.map((v) => pyDumps(v)).join(', ')}]`;
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${escapeString(k)}: ${pyDumps(v)}`).join(', ')}}`;
}

function floatJson(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return pyFloatRepr(x);
}

/** `copy.deepcopy` for parsed JSON: new Maps and arrays, shared immutable leaves. */
export function pyDeepCopy<T extends PyValue | undefined>(value: T): T {
  return deepCopy(value) as T;
}

function deepCopy(value: PyValue | undefined): PyValue | undefined {
  if (Array.isArray(value)) return value.map((v) => deepCopy(v) ?? null);
  if (value instanceof Map) {
    const copy: PyDict = new Map();
    for (const [k, v] of value) copy.set(k, deepCopy(v) ?? null);
    return copy;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof PyFloat)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepCopy(v)]));
  }
  return value;
}
