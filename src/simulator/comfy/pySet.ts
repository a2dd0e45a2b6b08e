/**
 * CPython 3.11 `set` iteration order for strings. ComfyUI builds several lists that clients see
 * from sets (the outputs to execute, hence execution order; `executed`; `current_outputs`; history
 * `outputs` key order; the order of validation errors), so their order is "arbitrary" per process:
 * it follows `hash(str)` (SipHash-1-3 keyed by PYTHONHASHSEED) and the set's probing. Emulating
 * both with a fixed seed makes the simulator deterministic and lets it reproduce the recorded order.
 */

const MASK64 = (1n << 64n) - 1n;
const LINEAR_PROBES = 9;
const PERTURB_SHIFT = 5n;

/**
 * The PYTHONHASHSEED under which every set-derived order in the 0.3.64 recordings comes out as
 * recorded (outputs `["7","3","6","4"]`, history outputs `4, 6, 3`, `executed ["1","20"]`,
 * `current_outputs ["1","2"]`, run B `["14","12"]`, EmptyImage's missing-input order). Found by
 * search; checked against a real CPython 3.11 run with this seed.
 */
export const RECORDED_HASH_SEED = 24745;

function rotl(x: bigint, b: bigint): bigint {
  return ((x << b) | (x >> (64n - b))) & MASK64;
}

function sipRound(v: [bigint, bigint, bigint, bigint]): void {
  v[0] = (v[0] + v[1]) & MASK64;
  v[2] = (v[2] + v[3]) & MASK64;
  v[1] = rotl(v[1], 13n) ^ v[0];
  v[3] = rotl(v[3], 16n) ^ v[2];
  v[0] = rotl(v[0], 32n);
  v[2] = (v[2] + v[1]) & MASK64;
  v[0] = (v[0] + v[3]) & MASK64;
  v[1] = rotl(v[1], 17n) ^ v[2];
  v[3] = rotl(v[3], 21n) ^ v[0];
  v[2] = rotl(v[2], 32n);
}

function siphash13(k0: bigint, k1: bigint, data: Uint8Array): bigint {
  const v: [bigint, bigint, bigint, bigint] = [k0 ^ 0x736f6d6570736575n, k1 ^ 0x646f72616e646f6dn, k0 ^ 0x6c7967656e657261n, k1 ^ 0x7465646279746573n];
  let i = 0;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (; data.length - i >= 8; i += 8) {
    const mi = view.getBigUint64(i, true);
    v[3] ^= mi;
    sipRound(v);
    v[0] ^= mi;
  }
  let t = 0n;
  for (let j = 0; i + j < data.length; j++) t |= BigInt(data[i + j]) << BigInt(8 * j);
  const b = ((BigInt(data.length) << 56n) & MASK64) | t;
  v[3] ^= b;
  sipRound(v);
  v[0] ^= b;
  v[2] ^= 0xffn;
  sipRound(v);
  sipRound(v);
  sipRound(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/** The bytes CPython hashes for a str: its internal 1-, 2- or 4-byte-per-character buffer. */
function unicodeBytes(s: string): Uint8Array {
  const cps = [...s].map((c) => c.codePointAt(0)!);
  const max = Math.max(0, ...cps);
  const width = max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
  const out = new Uint8Array(cps.length * width);
  const view = new DataView(out.buffer);
  cps.forEach((cp, i) => {
    if (width === 1) out[i] = cp;
    else if (width === 2) view.setUint16(i * 2, cp, true);
    else view.setUint32(i * 4, cp, true);
  });
  return out;
}

/** `hash(str)` of CPython 3.11 under a given PYTHONHASHSEED, as an unsigned 64-bit value. */
export class PyStrHasher {
  private readonly k0: bigint;
  private readonly k1: bigint;
  private readonly memo = new Map<string, bigint>();

  constructor(seed: number) {
    // lcg_urandom() fills _Py_HashSecret from the seed; SipHash uses its first 16 bytes.
    const secret = new Uint8Array(24);
    let x = seed >>> 0;
    for (let i = 0; i < secret.length; i++) {
      x = (Math.imul(x, 214013) + 2531011) >>> 0;
      secret[i] = (x >>> 16) & 0xff;
    }
    const view = new DataView(secret.buffer);
    this.k0 = seed === 0 ? 0n : view.getBigUint64(0, true);
    this.k1 = seed === 0 ? 0n : view.getBigUint64(8, true);
  }

  hash(s: string): bigint {
    let h = this.memo.get(s);
    if (h === undefined) {
      h = s.length === 0 ? 0n : siphash13(this.k0, this.k1, unicodeBytes(s));
      // Py_hash_t -1 is reserved for errors; CPython turns it into -2.
      if (h === MASK64) h = MASK64 - 1n;
      if (this.memo.size < 10_000) this.memo.set(s, h);
    }
    return h;
  }
}

interface Entry {
  key: string;
  hash: bigint;
}

/** A CPython set of strings: same table, probing and resizing, so iteration order matches. */
export class PySet implements Iterable<string> {
  private table: (Entry | undefined)[] = new Array<Entry | undefined>(8);
  private mask = 7;
  private fill = 0;
  private used = 0;

  constructor(private readonly hasher: PyStrHasher) {}

  /** `set()` then `.add(x)` for each x. */
  static of(hasher: PyStrHasher, keys: Iterable<string>): PySet {
    const s = new PySet(hasher);
    for (const k of keys) s.add(k);
    return s;
  }

  /** `set(d)` for a dict `d`: CPython sizes the table for the dict first. */
  static fromDict(hasher: PyStrHasher, keys: readonly string[]): PySet {
    const s = new PySet(hasher);
    if ((s.fill + keys.length) * 5 >= s.mask * 3) s.resize((s.used + keys.length) * 2);
    for (const k of keys) s.add(k);
    return s;
  }

  get size(): number {
    return this.used;
  }

  has(key: string): boolean {
    return this.table.some((e) => e?.key === key);
  }

  add(key: string): void {
    const h = this.hasher.hash(key);
    let i = Number(h & BigInt(this.mask));
    let perturb = h;
    for (;;) {
      let probes = i + LINEAR_PROBES <= this.mask ? LINEAR_PROBES : 0;
      let j = i;
      for (;;) {
        const e = this.table[j];
        if (e === undefined) {
          this.table[j] = { key, hash: h };
          this.fill++;
          this.used++;
          if (this.fill * 5 >= this.mask * 3) this.resize(this.used > 50000 ? this.used * 2 : this.used * 4);
          return;
        }
        if (e.hash === h && e.key === key) return;
        if (probes-- === 0) break;
        j++;
      }
      perturb >>= PERTURB_SHIFT;
      i = Number((BigInt(i) * 5n + 1n + perturb) & BigInt(this.mask));
    }
  }

  /** `s.union(other)` with an empty other, i.e. CPython's copy of a set (same-size tables copy verbatim). */
  copy(): PySet {
    const r = new PySet(this.hasher);
    if ((r.fill + this.used) * 5 >= r.mask * 3) r.resize((r.used + this.used) * 2);
    if (r.mask === this.mask) {
      r.table = [...this.table];
    } else {
      for (const e of this.table) if (e) r.insertClean(e);
    }
    r.fill = this.used;
    r.used = this.used;
    return r;
  }

  /** `a.union(b)`: a copy of this set, then b's keys added in b's table order. */
  union(other: PySet): PySet {
    const r = this.copy();
    if (other.used === 0) return r;
    if ((r.fill + other.used) * 5 >= r.mask * 3) r.resize((r.used + other.used) * 2);
    for (const key of other) r.add(key);
    return r;
  }

  [Symbol.iterator](): Iterator<string> {
    return this.table.filter((e): e is Entry => e !== undefined).map((e) => e.key)[Symbol.iterator]();
  }

  private resize(minUsed: number): void {
    let size = 8;
    while (size <= minUsed) size <<= 1;
    const old = this.table;
    this.table = new Array<Entry | undefined>(size);
    this.mask = size - 1;
    this.fill = this.used;
    for (const e of old) if (e) this.insertClean(e);
  }

  private insertClean(e: Entry): void {
    let perturb = e.hash;
    let i = Number(e.hash & BigInt(this.mask));
    for (;;) {
      if (this.table[i] === undefined) {
        this.table[i] = e;
        return;
      }
      if (i + LINEAR_PROBES <= this.mask) {
        for (let j = 1; j <= LINEAR_PROBES; j++) {
          if (this.table[i + j] === undefined) {
            this.table[i + j] = e;
            return;
          }
        }
      }
      perturb >>= PERTURB_SHIFT;
      i = Number((BigInt(i) * 5n + 1n + perturb) & BigInt(this.mask));
    }
  }
}
