/** Human-readable output helpers for CLI commands: tables, aligned fields, JSON (times: src/base/timeFormat.ts). */

import { printableText } from '../base/untrustedText';

/** A table column. Numbers and amounts read better right-aligned. */
export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/**
 * A plain-text table with a header row, columns padded to their widest cell, two spaces apart.
 * Cells are server text: escaped before measuring, so a line break or tab in one cannot break the layout.
 */
export function formatTable(columns: readonly Column[], rawRows: readonly (readonly string[])[]): string {
  const rows = rawRows.map((r) => r.map((cell) => printableText(cell)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return c.align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n') + '\n';
}

/** `Label:  value` lines with the values aligned; values are escaped like table cells. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  return fields.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${printableText(value)}`).join('\n') + '\n';
}

/** Pretty JSON with a final newline, for `--json`. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
