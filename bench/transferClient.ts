/**
 * The measured side of the transfer benchmarks, run in a process of its own:
 *
 *   node out/bench/transferClient.js upload <comfyUrl> <file>
 *   node out/bench/transferClient.js download <comfyUrl> <output filename> <output root>
 *   node out/bench/transferClient.js outputs <comfyUrl> <filename prefix> <count> <output root>
 *
 * Like a run, it first asks `/system_stats` (the run engine's readiness probe, which also loads the
 * HTTP client), then measures the transfer alone: its time, the process's CPU time, and its peak
 * RSS above the RSS just before it. `outputs` saves `<prefix>-<i>.bin` for each i below count the
 * way a run saves its outputs: `ComfyClient.download` into `OutputSaver` slots reserved in order,
 * four at a time, each told the response's length. Prints one JSON line.
 */
import * as fs from 'node:fs';
import { ComfyClient } from '../src/api/comfyClient';
import { OutputSaver } from '../src/core/outputSaver';
import { PeakMemory } from './memory';

export interface TransferResult {
  readonly seconds: number;
  /** User + system CPU time of the client process during the transfer. */
  readonly cpuSeconds: number;
  readonly bytes: number;
  readonly rssBeforeMiB: number;
  readonly rssPeakMiB: number;
  readonly memoryMethod: string;
}

/** Saves every file, `width` at a time, in order of reservation, as the run engine does. */
async function saveAll(client: ComfyClient, saver: OutputSaver, names: readonly string[], width: number): Promise<number> {
  const refs = names.map((filename) => ({ filename, subfolder: '', type: 'output' }));
  const slots = refs.map((ref) => saver.reserve(ref));
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    for (let i = next++; i < refs.length; i = next++) {
      const ref = refs[i];
      const saved = await client.download(ref, (body, info) => saver.saveStream(ref, body, undefined, slots[i], info.contentLength));
      bytes += saved.bytes;
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return bytes;
}

async function main(): Promise<void> {
  const [mode, comfyUrl, name, ...rest] = process.argv.slice(2);
  const client = new ComfyClient({ baseUrl: comfyUrl });
  await client.getSystemStats();
  const outputRoot = mode === 'outputs' ? rest[1] : rest[0];
  const saver = mode === 'upload' ? undefined : await OutputSaver.create({ root: outputRoot, workflowName: 'bench', promptId: mode, time: Date.now() });
  const memory = new PeakMemory();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let bytes: number;
  if (mode === 'upload') {
    await client.uploadFile(name);
    bytes = fs.statSync(name).size;
  } else if (mode === 'download' && saver) {
    const ref = { filename: name, subfolder: '', type: 'output' };
    bytes = (await client.download(ref, (body, info) => saver.saveStream(ref, body, undefined, undefined, info.contentLength))).bytes;
  } else if (mode === 'outputs' && saver) {
    const names = Array.from({ length: Number(rest[0]) }, (_, i) => `${name}-${String(i).padStart(3, '0')}.bin`);
    bytes = await saveAll(client, saver, names, 4);
  } else {
    throw new Error(`usage: transferClient upload <url> <file> | download <url> <name> <dir> | outputs <url> <prefix> <count> <dir>; got ${mode}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const result: TransferResult = {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    bytes,
    rssBeforeMiB: memory.beforeMiB,
    rssPeakMiB: memory.peakMiB(),
    memoryMethod: memory.method,
  };
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
