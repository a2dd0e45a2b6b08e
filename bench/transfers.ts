import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { contentDerivedName, hashFile } from '../src/api/comfyClient';
import { admin, run, runNode } from './processes';
import { interleaved, row, type BenchRow } from './results';
import { type TransferResult } from './transferClient';

const MiB = 1024 * 1024;
export const transferBytes = 1024 * MiB;

/** Temp files and folders made by the benchmark; removed however the run ends. */
const temps = new Set<string>();
export function removeTemps(): void {
  for (const p of temps) fs.rmSync(p, { recursive: true, force: true });
  temps.clear();
}

function tempPath(name: string): string {
  const p = path.join(os.tmpdir(), `runcomfy-bench-${process.pid}-${name}`);
  temps.add(p);
  return p;
}

/** Writes `bytes` of a non-repeating pattern (no file system can store it sparsely or deduplicate it). */
function writeBigFile(file: string, bytes: number): void {
  const block = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, 'w');
  try {
    for (let written = 0, n = 0; written < bytes; n++) {
      for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761 + n * 40503) >>> 0, i);
      written += fs.writeSync(fd, block, 0, Math.min(block.length, bytes - written));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** `curl`'s own `time_total`, which like the client's figure leaves out process start-up. */
async function curlSeconds(args: readonly string[]): Promise<number> {
  const out = await run('curl', ['-sS', '--fail', '-w', '%{time_total}', ...args]);
  return Number(out.trim().split('\n').pop());
}

const mibPerSecond = (bytes: number, seconds: number) => bytes / MiB / seconds;

/**
 * The client's `uploadFile` (which hashes the file for its content-derived name, then streams a
 * multipart body) against `curl -F` posting the same file under the same name to the same route.
 * The simulator forgets earlier uploads before each one, so neither side meets a name already taken.
 */
export async function benchUpload(comfyUrl: string, runs: number): Promise<BenchRow[]> {
  const file = tempPath('upload.bin');
  writeBigFile(file, transferBytes);
  const name = contentDerivedName(file, await hashFile(file));
  const client: TransferResult[] = [];
  const curl: number[] = [];
  const measureClient = async () => {
    await admin(comfyUrl, '/__sim/reset');
    client.push(await runNode<TransferResult>('transferClient', ['upload', comfyUrl, file]));
  };
  const measureCurl = async () => {
    await admin(comfyUrl, '/__sim/reset');
    curl.push(await curlSeconds(['-o', '/dev/null', '-F', 'type=input', '-F', `image=@${file};filename=${name}`, `${comfyUrl}/upload/image`]));
  };
  for (let i = 0; i < runs; i++) {
    await interleaved(i, measureClient, measureCurl);
    logRound('upload', i, runs, client[i], curl[i]);
  }
  await admin(comfyUrl, '/__sim/reset');
  fs.rmSync(file, { force: true });
  return transferRows('upload', 'curl -F to the same /upload/image', client, curl);
}

/**
 * The client's `download` into an `OutputSaver` (what a run does with each output) against
 * `curl -o` fetching the same file from the same `/view` route into a file in the same folder.
 */
export async function benchDownload(comfyUrl: string, runs: number): Promise<BenchRow[]> {
  const filename = 'bench-download.bin';
  await admin(comfyUrl, '/__sim/output-file', { filename, bytes: transferBytes });
  const client: TransferResult[] = [];
  const curl: number[] = [];
  const measureClient = async () => {
    const dir = tempPath(`download-${client.length}`);
    client.push(await runNode<TransferResult>('transferClient', ['download', comfyUrl, filename, dir]));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const measureCurl = async () => {
    const out = tempPath(`curl-${curl.length}.bin`);
    curl.push(await curlSeconds(['-o', out, `${comfyUrl}/view?filename=${filename}&subfolder=&type=output`]));
    fs.rmSync(out, { force: true });
  };
  for (let i = 0; i < runs; i++) {
    await interleaved(i, measureClient, measureCurl);
    logRound('download', i, runs, client[i], curl[i]);
  }
  await admin(comfyUrl, '/__sim/reset');
  return transferRows('download', 'curl -o from the same /view', client, curl);
}

function logRound(kind: string, i: number, runs: number, client: TransferResult, curl: number): void {
  console.log(`  ${kind} ${i + 1}/${runs}: client ${client.seconds.toFixed(2)} s, curl ${curl.toFixed(2)} s, client RSS +${(client.rssPeakMiB - client.rssBeforeMiB).toFixed(1)} MiB`);
}

function transferRows(kind: 'upload' | 'download', baseline: string, client: readonly TransferResult[], curl: readonly number[]): BenchRow[] {
  const growth = client.map((c) => c.rssPeakMiB - c.rssBeforeMiB);
  return [
    row(
      `${kind} 1 GiB: throughput`,
      'MiB/s',
      client.map((c) => mibPerSecond(c.bytes, c.seconds)),
      curl.map((s) => mibPerSecond(transferBytes, s)),
      'ratio ≥ 0.8',
      (_v, _b, r) => r >= 0.8,
      `baseline: ${baseline}`,
    ),
    row(
      `${kind} 1 GiB: client peak RSS`,
      'MiB',
      client.map((c) => c.rssPeakMiB),
      client.map((c) => c.rssBeforeMiB),
      'peak − baseline ≤ 64 MiB',
      () => Math.max(...growth) <= 64,
      `baseline: the client process's RSS just before the transfer; growth per run ${growth.map((g) => g.toFixed(1)).join(', ')} MiB (${client[0]?.memoryMethod ?? ''}); passes only if every run stays within 64 MiB`,
    ),
  ];
}
