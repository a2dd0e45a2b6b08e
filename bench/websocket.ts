import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { admin, runNode } from './processes';
import { interleaved, row, type BenchRow } from './results';
import { type SocketResult } from './socketClient';

export const flood = { messages: 200_000, previews: 2_000, previewBytes: 256 * 1024 };

/** The most sink calls in any window of `windowMs` (half-open: a call at exactly `t + windowMs` is the next window's). */
export function maxInWindow(timesMs: readonly number[], windowMs = 1000): number {
  const t = [...timesMs].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i] - t[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/**
 * 200,000 progress messages and 2,000 previews of 256 KiB (plus the `executing` messages of a
 * 300-node chain) through the run engine, with the real run log (formatter and batcher) behind
 * it, against a bare `ws` loop that receives and parses the same stream from the same simulator.
 * Throughput is messages per second from the first progress message to the end (for the engine,
 * the end of its run: history, the output download and run.json included).
 */
export async function benchWebsocket(comfyUrl: string, runs: number): Promise<BenchRow[]> {
  const engine: SocketResult[] = [];
  const bare: SocketResult[] = [];
  const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-ws-'));
  const armed = async () => {
    await admin(comfyUrl, '/__sim/reset');
    await admin(comfyUrl, '/__sim/flood', flood);
    await admin(comfyUrl, '/__sim/stall', { ms: 300, atNode: '1' });
  };
  try {
    for (let i = 0; i < runs; i++) {
      const measureEngine = async () => {
        await armed();
        const r = await runNode<SocketResult>('socketClient', ['engine', comfyUrl, outputRoot]);
        if (r.status !== 'success') throw new Error(`the flooded run ended ${r.status}`);
        engine.push(r);
      };
      const measureBare = async () => {
        await armed();
        bare.push(await runNode<SocketResult>('socketClient', ['bare', comfyUrl]));
      };
      await interleaved(i, measureEngine, measureBare);
      const e = engine[i];
      console.log(
        `  websocket ${i + 1}/${runs}: engine ${e.seconds.toFixed(2)} s (${e.text + e.binary} messages, ${e.events} events, ${e.lines} log lines in ${e.appendTimesMs?.length} appends), bare ${bare[i].seconds.toFixed(2)} s (${bare[i].text + bare[i].binary} messages)`,
      );
    }
  } finally {
    fs.rmSync(outputRoot, { recursive: true, force: true });
    await admin(comfyUrl, '/__sim/reset');
  }
  const rate = (r: SocketResult) => (r.text + r.binary) / r.seconds;
  const perSecond = engine.map((e) => maxInWindow(e.appendTimesMs ?? []));
  const arrivals = engine.map((e) => (e.events ?? 0) / e.seconds);
  return [
    row(
      'websocket flood: messages/s through the run engine',
      'msg/s',
      engine.map(rate),
      bare.map(rate),
      'ratio ≥ 0.7',
      (_v, _b, r) => r >= 0.7,
      `baseline: a bare ws loop (permessage-deflate off on both) that parses the same stream; ${flood.messages} progress + ${flood.previews} previews of ${flood.previewBytes / 1024} KiB + a 300-node chain`,
    ),
    row(
      'run log: most appends in any 1 s',
      'appends',
      perSecond,
      arrivals,
      'value ≤ 10',
      () => Math.max(...perSecond) <= 10,
      `baseline: run events per second the log was fed; real RunLogFormatter + LogBatcher, sink counting calls; worst run ${Math.max(...perSecond)}`,
    ),
  ];
}
