import * as fs from 'node:fs';

const MiB = 1024 * 1024;

function statusKiB(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Peak resident memory of this process from a starting point on. Linux resets the peak (`VmHWM`)
 * when 5 is written to `/proc/self/clear_refs`, so the peak is the peak of the measured work alone;
 * where that is not allowed, the process-lifetime peak (`maxRSS`) stands in, which can only
 * overstate the growth.
 */
export class PeakMemory {
  readonly beforeMiB: number;
  readonly method: 'VmHWM after clear_refs' | 'maxRSS (lifetime peak)';

  constructor() {
    let cleared = false;
    try {
      fs.writeFileSync('/proc/self/clear_refs', '5');
      cleared = statusKiB('VmHWM') !== undefined;
    } catch {
      cleared = false;
    }
    this.method = cleared ? 'VmHWM after clear_refs' : 'maxRSS (lifetime peak)';
    this.beforeMiB = (statusKiB('VmRSS') ?? process.memoryUsage().rss / 1024) / 1024;
  }

  /** The highest resident size since construction, in MiB. */
  peakMiB(): number {
    const hwm = this.method === 'VmHWM after clear_refs' ? statusKiB('VmHWM') : undefined;
    return hwm !== undefined ? hwm / 1024 : (process.resourceUsage().maxRSS * 1024) / MiB;
  }
}
