import { admin, getJson, runNode } from './processes';
import { row, type BenchRow } from './results';
import { type PolitenessResult } from './politenessClient';

interface RequestLog {
  readonly status: number;
  readonly tokenSlot: number;
}

/**
 * 50 refreshes against the RunComfy simulator (1 request/s per token, burst 3). The theoretical
 * minimum for R requests is what a perfect client pays at that limit: the first 3 at once, one
 * per second after that, plus one round trip, max(0, R − 3) s + RTT, with RTT one request through
 * the same code (a single refresh() of a new MachineStore, or one call of a new client), measured
 * alone in the same process. Two cases: 50 concurrent MachineStore.refresh() calls, which the
 * store coalesces into one request, and 50 RunComfyClients that each need their own request,
 * paced by the process's shared token bucket.
 */
export async function benchPoliteness(runcomfyUrl: string, runs: { store: number; clients: number }, callers = 50): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const mode of ['store', 'clients'] as const) {
    const value: number[] = [];
    const minimum: number[] = [];
    const refused: number[] = [];
    const made: number[] = [];
    for (let i = 0; i < runs[mode]; i++) {
      // A fresh simulator state: full buckets, an empty request log.
      await admin(runcomfyUrl, '/__sim/reset');
      const r = await runNode<PolitenessResult>('politenessClient', [mode, runcomfyUrl, String(callers)]);
      // The round-trip probes used demo token 2 (slot 2): only slot 1 is the measured client.
      const log = ((await getJson(`${runcomfyUrl}/__sim/requests`)) as RequestLog[]).filter((e) => e.tokenSlot === 1);
      const requests = log.length;
      const limited = log.filter((e) => e.status === 429).length;
      value.push(r.seconds);
      minimum.push(Math.max(0, requests - 3) + r.roundTrip);
      refused.push(limited);
      made.push(requests);
      console.log(`  ${mode} ${i + 1}/${runs[mode]}: ${r.seconds.toFixed(3)} s for ${requests} requests, ${limited} × 429, round trip ${(r.roundTrip * 1000).toFixed(1)} ms`);
    }
    const what = mode === 'store' ? `${callers} concurrent MachineStore.refresh()` : `${callers} RunComfyClients, one request each`;
    rows.push(
      row(
        `politeness: ${what}`,
        's',
        value,
        minimum,
        'no 429 and ratio ≤ 1.1',
        (_v, _b, ratio) => ratio <= 1.1 && refused.every((n) => n === 0),
        `baseline: theoretical minimum at 1/s burst 3 for the ${made.join('/')} requests made: max(0, R − 3) s + one request's round trip measured alone; 429s per run: ${refused.join(', ')}`,
      ),
    );
  }
  return rows;
}
