import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * One line of `bench/results.json`. `value` and `baseline` were both measured in this run on this
 * machine (medians of the repetitions), except where `note` says the baseline is a constant;
 * `ratio` is `value / baseline`; `target` says in words what passes, and `pass` whether it did.
 */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
  target: string;
  pass: boolean;
  /** What the baseline is, and anything a reader needs to trust the figure. */
  note?: string;
  /** Every repetition's value and baseline, in the order measured. */
  samples?: { value: number[]; baseline: number[] };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Rounds for the table and the JSON: three significant decimals are more than the noise allows. */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Runs round `round` of a measured side and its baseline, alternating which goes first, so a slow
 * spell of the machine does not always hit the same side.
 */
export async function interleaved(round: number, measured: () => Promise<void>, baseline: () => Promise<void>): Promise<void> {
  const [first, second] = round % 2 === 0 ? [measured, baseline] : [baseline, measured];
  await first();
  await second();
}

/** A row from paired samples: medians of each side, and the ratio of the medians. */
export function row(
  name: string,
  unit: string,
  value: readonly number[],
  baseline: readonly number[],
  target: string,
  passes: (value: number, baseline: number, ratio: number) => boolean,
  note?: string,
): BenchRow {
  const v = median(value);
  const b = median(baseline);
  const ratio = v / b;
  return {
    name,
    value: round(v),
    unit,
    baseline: round(b),
    ratio: round(ratio),
    target,
    pass: passes(v, b, ratio),
    note,
    samples: { value: value.map((x) => round(x)), baseline: baseline.map((x) => round(x)) },
  };
}

/** The machine the figures belong to, for the README and the JSON. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

export function printTable(rows: readonly BenchRow[]): void {
  const header = ['name', 'value', 'unit', 'baseline', 'ratio', 'target', 'pass'];
  const cells = rows.map((r) => [r.name, fmt(r.value), r.unit, fmt(r.baseline), fmt(r.ratio), r.target, r.pass ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 || i >= 5 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function writeResults(file: string, rows: readonly BenchRow[]): void {
  fs.writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
}
