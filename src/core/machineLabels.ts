import { maskUrl } from '../api/redact';
import { type Machine } from '../api/runcomfyTypes';
import { formatTooltipTime, type TimeZoneOptions } from '../base/timeFormat';
import { formatCostEstimate, formatDuration, machineFigures, timeLeftMs } from './machineMath';
import { serverTypeDescription, type RateTable } from './pricing';
import { type RunTarget } from './runRegistry';

/**
 * How a machine is presented: the same words in the tree, the status bar, quick picks and the CLI.
 * Pure functions of the machine, a clock reading and the rate table.
 */

/**
 * `Ready · 42 min left`: what a tree row shows first, short enough for a default-width sidebar
 * (about 35 characters beside the label). Cost, type and the rest are in {@link machineDetails}.
 */
export function machineRowDescription(machine: Machine, nowMs: number): string {
  // A machine being deleted has no time left that matters: its billing is ending.
  const left = machine.status === 'Deleting' ? undefined : timeLeftMs(machine, nowMs);
  return left === undefined ? machine.status : `${machine.status} · ${formatShortDuration(left)} left`;
}

/** `Ready · 42 min left · ~$1.23 · large`: the row's words, then cost and type, for wider places (quick picks). */
export function machineDescription(machine: Machine, nowMs: number, rates?: RateTable): string {
  const cost = machineFigures(machine, nowMs, rates).costSoFar;
  const parts = [machineRowDescription(machine, nowMs)];
  if (cost !== undefined) parts.push(formatCostEstimate(cost));
  parts.push(machine.serverType ?? 'unknown type');
  return parts.join(' · ');
}

/** `42 min`, `1 h 05 min`, `45 s`: minutes are enough in a one-line description that refreshes. */
export function formatShortDuration(ms: number): string {
  const totalS = Math.max(0, Math.floor(ms / 1000));
  if (totalS < 60) return `${totalS} s`;
  const totalMin = Math.floor(totalS / 60);
  if (totalMin < 60) return `${totalMin} min`;
  return `${Math.floor(totalMin / 60)} h ${String(totalMin % 60).padStart(2, '0')} min`;
}

/** A short, stable name for a machine: the first block of its id (`761af3a7`). */
export function machineShortId(machine: Pick<Machine, 'serverId'>): string {
  return machine.serverId.split('-')[0] ?? machine.serverId;
}

/** True while the machine is in a transition the UI shows as in progress. */
export function isTransitioning(machine: Machine): boolean {
  return machine.status === 'Starting' || machine.status === 'Deleting';
}

/**
 * The tree item's contextValue: space-separated tokens that `package.json` menus match with regexes
 * (`viewItem =~ /\bstoppable\b/`). Unknown statuses get no action but Stop: stopping is always allowed
 * unless the machine is already going away.
 */
export function machineContextValue(machine: Machine): string {
  const tokens = ['machine', statusToken(machine.status)];
  if (machine.isReady) tokens.push('extendable');
  if (machine.status !== 'Deleting') tokens.push('stoppable');
  if (machine.isReady && machine.mainServiceUrl) tokens.push('openable');
  return tokens.join(' ');
}

function statusToken(status: string): string {
  switch (status) {
    case 'Ready':
      return 'ready';
    case 'Starting':
      return 'starting';
    case 'Deleting':
      return 'deleting';
    default:
      return 'unknownStatus';
  }
}

/** A codicon id (and theme colour id) for the machine's status; spinning while it starts or stops. */
export function machineIcon(machine: Machine): { readonly id: string; readonly color?: string } {
  if (isTransitioning(machine)) return { id: 'loading~spin' };
  if (machine.isReady) return { id: 'vm-running', color: 'charts.green' };
  return { id: 'vm-outline', color: 'charts.yellow' };
}

/**
 * Label/value rows for a tooltip, what matters first: status, time and money, then every field the API
 * sent, the URL masked. Times are local with UTC beside them (`zone` fixes the local zone for tests).
 */
export function machineDetails(machine: Machine, nowMs: number, rates?: RateTable, zone: TimeZoneOptions = {}): [string, string][] {
  const f = machineFigures(machine, nowMs, rates);
  const time = (ms: number | undefined) => (ms === undefined ? '—' : formatTooltipTime(ms, { ...zone, nowMs }));
  const rows: [string, string][] = [
    ['Status', machine.status],
    ['Time left', f.timeLeftMs === undefined ? '—' : formatDuration(f.timeLeftMs)],
    ['Stops at', time(machine.estimatedStoppingAtMs)],
    ['Cost so far', formatCostEstimate(f.costSoFar)],
    ['Cost if it runs to the end', formatCostEstimate(f.maxCost)],
    ['Rate', f.hourlyRate === undefined ? 'unknown (set runcomfy.pricing)' : `~$${f.hourlyRate.toFixed(2)}/h`],
    ['Type', machine.serverType === undefined ? '—' : serverTypeDescription(machine.serverType)],
    ['Machine', machine.serverId],
    ['ComfyUI', machine.mainServiceUrl ? maskUrl(machine.mainServiceUrl) : 'not yet (machine is not Ready)'],
    ['Ready since', time(machine.serviceReadyAtMs)],
    ['Planned duration', machine.estimatedDurationS === undefined ? '—' : formatDuration(machine.estimatedDurationS * 1000)],
  ];
  const known = new Set(['server_id', 'server_type', 'current_status', 'main_service_url', 'service_ready_at', 'estimated_stopping_at', 'estimated_duration', 'user_id']);
  for (const [k, v] of Object.entries(machine.wire)) {
    // Unknown fields are shown too, but a URL among them may be a capability like main_service_url.
    if (!known.has(k)) rows.push([k, typeof v === 'string' ? (/^https?:\/\//i.test(v) ? maskUrl(v) : v) : JSON.stringify(v)]);
  }
  return rows;
}

/** The run target of a machine, labelled by its type and short id ("medium machine 761af3a7"). */
export function machineTarget(m: Machine): RunTarget {
  return { kind: 'machine', serverId: m.serverId, label: `${m.serverType ?? 'unknown type'} machine ${machineShortId(m)}` };
}
