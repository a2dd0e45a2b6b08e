import { ServerError } from './errors';
import { isObject } from '../base/json';

/**
 * Wire types of the RunComfy Server API (the "machine API") and their tolerant parsers.
 * The API is thinly documented (see the reference notes), so parsing keeps every object as the
 * server sent it (`wire`, printed verbatim by `runcomfy --json`) and derives a typed view that
 * ignores unknown fields and never rejects an unknown status.
 */

/** The five documented `server_type` values, cheapest first. */
export const knownServerTypes = ['medium', 'large', 'extra-large', '2x-large', '2xl-turbo'] as const;

/** A documented server type, or any other string the API may add later. */
export type ServerType = (typeof knownServerTypes)[number] | (string & {});

/** The documented statuses; anything else is kept verbatim and treated as "not ready". */
export type MachineStatus = 'Starting' | 'Ready' | 'Deleting' | (string & {});

/** A JSON object exactly as the server sent it. */
export type WireObject = Readonly<Record<string, unknown>>;

/** A machine ("server") object with the fields the documentation shows, as they appear on the wire. */
export interface MachineWire extends WireObject {
  readonly server_id: string;
  readonly estimated_duration?: number;
  readonly server_type?: string;
  readonly user_id?: string;
  readonly main_service_url?: string | null;
  readonly current_status?: string;
  readonly service_ready_at?: string | null;
  readonly estimated_stopping_at?: string | null;
}

/** The typed view of a machine. Times are epoch milliseconds (fractional: microseconds survive). */
export interface Machine {
  readonly serverId: string;
  readonly userId: string | undefined;
  readonly serverType: ServerType | undefined;
  /** `current_status` verbatim; `'Unknown'` when the field is missing. */
  readonly status: MachineStatus;
  /** True only for the exact status `Ready`. */
  readonly isReady: boolean;
  /** Planned run time in seconds, counted from `service_ready_at`. */
  readonly estimatedDurationS: number | undefined;
  /** The ComfyUI base URL: a capability, show it only through `maskUrl`. */
  readonly mainServiceUrl: string | undefined;
  readonly serviceReadyAtMs: number | undefined;
  readonly estimatedStoppingAtMs: number | undefined;
  /** The object as received, for `--json` output and for fields this view does not know. */
  readonly wire: MachineWire;
}

/** The body of a launch request, with wire field names. */
export interface LaunchRequest {
  readonly workflow_version_id: string;
  readonly server_type: ServerType;
  /** Seconds, counted from the moment the machine is Ready. */
  readonly estimated_duration: number;
}

/** One entry of the list-workflows answer (one per workflow version), as on the wire. */
export interface WorkflowEntryWire extends WireObject {
  readonly workflow_id?: string;
  readonly workflow_name?: string;
  readonly version_id?: string;
  readonly version_name?: string;
  readonly created_at?: string;
  readonly updated_at?: string;
}

/** A launchable version of a workflow. */
export interface WorkflowVersion {
  /** What a launch sends as `workflow_version_id`. */
  readonly versionId: string;
  readonly versionName: string | undefined;
  readonly createdAtMs: number | undefined;
  readonly updatedAtMs: number | undefined;
}

/** A workflow with its versions, newest first (by `updated_at`, then `created_at`). */
export interface Workflow {
  readonly workflowId: string;
  readonly name: string;
  readonly versions: readonly WorkflowVersion[];
  /** The version to launch when the user does not pick one. */
  readonly latestVersionId: string | undefined;
}

/** What list-workflows returns: the entries verbatim and the same data grouped by workflow. */
export interface WorkflowList {
  readonly entries: readonly WorkflowEntryWire[];
  readonly workflows: readonly Workflow[];
}

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Parses an ISO-8601 timestamp such as `2024-11-08T05:13:44.100554Z` to epoch milliseconds,
 * keeping the microseconds as a fraction (`Date.parse` would drop them). A missing zone means UTC,
 * which is what the API sends. Returns undefined for null, empty or unreadable values.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const m = timestampPattern.exec(value.trim());
  if (!m) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const wholeMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const fractionMs = frac ? Number(`0.${frac}`) * 1000 : 0;
  return wholeMs + fractionMs - zoneOffsetMs(zone);
}

function zoneOffsetMs(zone: string): number {
  if (zone.toUpperCase() === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
}

/**
 * Reads one machine object. Only `server_id` is required; every other field is optional and
 * unknown fields are ignored. `what` names the operation for the error message.
 */
export function parseMachine(raw: unknown, what: string): Machine {
  if (!isObject(raw) || typeof raw.server_id !== 'string' || raw.server_id === '') {
    throw new ServerError(`${what} failed: the answer is not a machine object (no server_id).`);
  }
  const wire = raw as MachineWire;
  const status = typeof wire.current_status === 'string' ? wire.current_status : 'Unknown';
  return {
    serverId: wire.server_id,
    userId: stringOrUndefined(wire.user_id),
    serverType: stringOrUndefined(wire.server_type),
    status,
    isReady: status === 'Ready',
    estimatedDurationS: typeof wire.estimated_duration === 'number' && Number.isFinite(wire.estimated_duration) ? wire.estimated_duration : undefined,
    mainServiceUrl: stringOrUndefined(wire.main_service_url),
    serviceReadyAtMs: parseTimestamp(wire.service_ready_at),
    estimatedStoppingAtMs: parseTimestamp(wire.estimated_stopping_at),
    wire,
  };
}

/** Reads a list of machines: a bare array, or one wrapped as `{servers|data|machines: […]}`. */
export function parseMachineList(raw: unknown, what: string): Machine[] {
  return unwrapList(raw, ['servers', 'data', 'machines'], what).map((m) => parseMachine(m, what));
}

/**
 * Reads the list-workflows answer: a bare array (or `{workflows|data: […]}`) of entries, one per
 * version, grouped here by `workflow_id`. Entries that nest their versions (`versions: […]`) or
 * carry `latest_version_id` are accepted too. Entries without a workflow or version id are skipped
 * in the grouped view but kept in `entries`.
 */
export function parseWorkflowList(raw: unknown, what: string): WorkflowList {
  const entries = unwrapList(raw, ['workflows', 'data'], what).filter(isObject) as WorkflowEntryWire[];
  const groups = new Map<string, { name: string; versions: Map<string, WorkflowVersion>; latest?: string }>();
  for (const e of entries) {
    const workflowId = stringOrUndefined(e.workflow_id) ?? stringOrUndefined(e.id);
    if (!workflowId) continue;
    const group = groups.get(workflowId) ?? { name: '', versions: new Map<string, WorkflowVersion>() };
    groups.set(workflowId, group);
    group.name ||= stringOrUndefined(e.workflow_name) ?? stringOrUndefined(e.name) ?? '';
    group.latest ??= stringOrUndefined(e.latest_version_id);
    const nested = Array.isArray(e.versions) ? e.versions.filter(isObject) : [];
    for (const v of [e, ...nested]) {
      const version = readVersion(v);
      if (version && !group.versions.has(version.versionId)) group.versions.set(version.versionId, version);
    }
  }
  const workflows = [...groups].map(([workflowId, g]): Workflow => {
    const versions = [...g.versions.values()].sort((a, b) => versionTime(b) - versionTime(a));
    return { workflowId, name: g.name || workflowId, versions, latestVersionId: g.latest ?? versions[0]?.versionId };
  });
  workflows.sort((a, b) => a.name.localeCompare(b.name));
  return { entries, workflows };
}

function readVersion(v: WireObject): WorkflowVersion | undefined {
  const versionId = stringOrUndefined(v.version_id) ?? stringOrUndefined(v.workflow_version_id);
  if (!versionId) return undefined;
  return {
    versionId,
    versionName: stringOrUndefined(v.version_name),
    createdAtMs: parseTimestamp(v.created_at),
    updatedAtMs: parseTimestamp(v.updated_at),
  };
}

function versionTime(v: WorkflowVersion): number {
  return v.updatedAtMs ?? v.createdAtMs ?? 0;
}

function unwrapList(raw: unknown, keys: readonly string[], what: string): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (isObject(raw)) {
    for (const k of keys) {
      const inner = raw[k];
      if (Array.isArray(inner)) return inner;
    }
  }
  throw new ServerError(`${what} failed: the answer is not a list (expected a JSON array).`);
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
