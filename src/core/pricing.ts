import { type knownServerTypes, type ServerType } from '../api/runcomfyTypes';

/** What the UI shows about a server type. */
export interface ServerTypeInfo {
  readonly id: (typeof knownServerTypes)[number];
  /** The name RunComfy's pricing page uses. */
  readonly label: string;
  readonly gpu: string;
  readonly vramGb: number;
  /** Documented pay-as-you-go price, US dollars per hour. */
  readonly payAsYouGoPerHour: number;
}

/**
 * The documented machine types, cheapest first. The mapping from `server_type` to the pricing
 * page's tiers is inferred (same order, same five tiers), so prices are always shown as estimates.
 */
export const serverTypes: readonly ServerTypeInfo[] = [
  { id: 'medium', label: 'Medium', gpu: 'T4 / A4000', vramGb: 16, payAsYouGoPerHour: 0.99 },
  { id: 'large', label: 'Large', gpu: 'A10G / A5000', vramGb: 24, payAsYouGoPerHour: 1.75 },
  { id: 'extra-large', label: 'X-Large', gpu: 'A6000', vramGb: 48, payAsYouGoPerHour: 2.5 },
  { id: '2x-large', label: '2X-Large', gpu: 'A100', vramGb: 80, payAsYouGoPerHour: 4.99 },
  { id: '2xl-turbo', label: '2X-Large Plus', gpu: 'H100', vramGb: 80, payAsYouGoPerHour: 7.49 },
];

/** US dollars per hour, by `server_type`. */
export type RateTable = Readonly<Record<string, number>>;

/** The documented pay-as-you-go prices (Pro accounts pay less; the API does not say which plan applies). */
export const defaultRateTable: RateTable = Object.fromEntries(serverTypes.map((t) => [t.id, t.payAsYouGoPerHour]));

/**
 * The default table with `overrides` applied (a user's plan price, a new server type). Throws a
 * RangeError naming the entry when a rate is not a non-negative number.
 */
export function createRateTable(overrides: Readonly<Record<string, unknown>> = {}): RateTable {
  const table: Record<string, number> = { ...defaultRateTable };
  for (const [type, rate] of Object.entries(overrides)) {
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
      throw new RangeError(`The hourly rate for "${type}" must be a non-negative number of dollars, got ${JSON.stringify(rate)}.`);
    }
    table[type] = rate;
  }
  return table;
}

/** The hourly rate of `serverType`, or undefined when the table does not know it. */
export function hourlyRate(serverType: ServerType | undefined, table: RateTable = defaultRateTable): number | undefined {
  if (serverType === undefined || !Object.hasOwn(table, serverType)) return undefined;
  return table[serverType];
}

/** `large (Large, A10G / A5000, 24 GB VRAM)`, or the type itself when it is not a documented one. */
export function serverTypeDescription(serverType: ServerType): string {
  const info = serverTypes.find((t) => t.id === serverType);
  return info ? `${serverType} (${info.label}, ${info.gpu}, ${info.vramGb} GB VRAM)` : serverType;
}

/** The label of a server type ("X-Large"), or the type itself when it is not a documented one. */
export function serverTypeLabel(serverType: ServerType | undefined): string {
  if (serverType === undefined) return 'unknown type';
  return serverTypes.find((t) => t.id === serverType)?.label ?? serverType;
}
