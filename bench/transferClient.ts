/**
 * The measured side of the upload and download benchmarks, run in a process of its own:
 *
 *   node out/bench/transferClient.js upload <comfyUrl> <file>
 *   node out/bench/transferClient.js download <comfyUrl> <output filename> <output root>
 *
 * Like a run, it first asks `/system_stats` (the run engine's readiness probe, which also loads the
 * HTTP client), then measures the transfer alone: its time and the process's peak RSS above the RSS
 * just before it. Prints one JSON line.
 */
import * as fs from 'node:fs';
import { ComfyClient } from '../src/api/comfyClient';
import { OutputSaver } from '../src/core/outputSaver';
import { PeakMemory } from './memory';

export interface TransferResult {
  readonly seconds: number;
  readonly bytes: number;
  readonly rssBeforeMiB: number;
  readonly rssPeakMiB: number;
  readonly memoryMethod: string;
}

async function main(): Promise<void> {
  const [mode, comfyUrl, name, outputRoot] = process.argv.slice(2);
  const client = new ComfyClient({ baseUrl: comfyUrl });
  await client.getSystemStats();
  let saver: OutputSaver | undefined;
  if (mode === 'download') saver = await OutputSaver.create({ root: outputRoot, workflowName: 'bench', promptId: 'download', time: Date.now() });
  const memory = new PeakMemory();
  const started = performance.now();
  let bytes: number;
  if (mode === 'upload') {
    await client.uploadFile(name);
    bytes = fs.statSync(name).size;
  } else if (mode === 'download' && saver) {
    const ref = { filename: name, subfolder: '', type: 'output' };
    bytes = (await client.download(ref, (body) => saver.saveStream(ref, body))).bytes;
  } else {
    throw new Error(`usage: transferClient upload <url> <file> | download <url> <name> <dir>; got ${mode}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const result: TransferResult = { seconds, bytes, rssBeforeMiB: memory.beforeMiB, rssPeakMiB: memory.peakMiB(), memoryMethod: memory.method };
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
