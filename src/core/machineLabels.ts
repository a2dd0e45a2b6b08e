import { maskUrl } from '../api/redact';
import { type Machine } from '../api/runcomfyTypes';
import { formatCostEstimate, formatDuration, machineFigures } from './machineMath';
import { type RateTable } from './pricing';

/**
 * How a machine is presented: the same words in the tree, the status bar, quick picks and the CLI.
 * Pure functions of the machine, a clock reading and the rate table.
 */

/** `large · Ready · 42 min left · ~$1.23` (parts that are unknown are left out). */
export function machineDescription(machine: Machine, nowMs: number, rates?: RateTable): string {
  const f = machineFigures(machine, nowMs, rates);
  const parts = [machine.serverType ?? 'unknown type', machine.status];
  if (f.timeLeftMs !== undefined) parts.push(`${formatShortDuration(f.timeLeftMs)} left`);
  if (f.costSoFar !== undefined) parts.push(formatCostEstimate(f.costSoFar));
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

/** Label/value rows for a tooltip: every field the API sent, with derived time and money, the URL masked. */
export function machineDetails(machine: Machine, nowMs: number, rates?: RateTable): [string, string][] {
  const f = machineFigures(machine, nowMs, rates);
  const time = (ms: number | undefined) => (ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  const rows: [string, string][] = [
    ['Machine', machine.serverId],
    ['Type', machine.serverType ?? '—'],
    ['Status', machine.status],
    ['ComfyUI', machine.mainServiceUrl ? maskUrl(machine.mainServiceUrl) : 'not yet (machine is not Ready)'],
    ['Ready since', time(machine.serviceReadyAtMs)],
    ['Stops at', time(machine.estimatedStoppingAtMs)],
    ['Planned duration', machine.estimatedDurationS === undefined ? '—' : formatDuration(machine.estimatedDurationS * 1000)],
    ['Time left', f.timeLeftMs === undefined ? '—' : formatDuration(f.timeLeftMs)],
    ['Rate', f.hourlyRate === undefined ? 'unknown (set runcomfy.pricing)' : `~$${f.hourlyRate.toFixed(2)}/h`],
    ['Cost so far', formatCostEstimate(f.costSoFar)],
    ['Cost if it runs to the end', formatCostEstimate(f.maxCost)],
  ];
  const known = new Set(['server_id', 'server_type', 'current_status', 'main_service_url', 'service_ready_at', 'estimated_stopping_at', 'estimated_duration', 'user_id']);
  for (const [k, v] of Object.entries(machine.wire)) {
    // Unknown fields are shown too, but a URL among them may be a capability like main_service_url.
    if (!known.has(k)) rows.push([k, typeof v === 'string' ? (/^https?:\/\//i.test(v) ? maskUrl(v) : v) : JSON.stringify(v)]);
  }
  return rows;
}
