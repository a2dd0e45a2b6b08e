import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { contentDerivedName, hashFile } from '../src/api/comfyClient';
import { admin, runNode } from './processes';
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

/** A temp path for `name`, removed by {@link removeTemps}. */
export function tempPath(name: string): string {
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

/** One curl transfer: its own `time_total` (which like the client's figure leaves out process start-up) and its CPU time. */
interface CurlResult {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

/**
 * Runs curl under bash, whose `times` then prints the CPU time of its children (curl): user and
 * system, the figure beside the client's `process.cpuUsage()`.
 */
async function curlRun(args: readonly string[], wallClock = false): Promise<CurlResult> {
  const started = performance.now();
  const { stdout, stderr } = await runCaptured('bash', ['-c', 'curl "$@" || exit $?; times >&2', 'bash', '-sS', '--fail', ...(wallClock ? [] : ['-w', '%{time_total}']), ...args]);
  const seconds = wallClock ? (performance.now() - started) / 1000 : Number(stdout.trim().split('\n').pop());
  // `times`: the shell's user and system time, then its children's: "0m1.234s 0m0.567s".
  const children = stderr.trim().split('\n').pop() ?? '';
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  return { seconds, cpuSeconds };
}

function runCaptured(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.slice(0, 8).join(' ')} … failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
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
  const curl: CurlResult[] = [];
  const measureClient = async () => {
    await admin(comfyUrl, '/__sim/reset');
    client.push(await runNode<TransferResult>('transferClient', ['upload', comfyUrl, file]));
  };
  const measureCurl = async () => {
    await admin(comfyUrl, '/__sim/reset');
    curl.push(await curlRun(['-o', '/dev/null', '-F', 'type=input', '-F', `image=@${file};filename=${name}`, `${comfyUrl}/upload/image`]));
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
  const curl: CurlResult[] = [];
  const measureClient = async () => {
    const dir = tempPath(`download-${client.length}`);
    client.push(await runNode<TransferResult>('transferClient', ['download', comfyUrl, filename, dir]));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const measureCurl = async () => {
    const out = tempPath(`curl-${curl.length}.bin`);
    curl.push(await curlRun(['-o', out, `${comfyUrl}/view?filename=${filename}&subfolder=&type=output`]));
    fs.rmSync(out, { force: true });
  };
  for (let i = 0; i < runs; i++) {
    await interleaved(i, measureClient, measureCurl);
    logRound('download', i, runs, client[i], curl[i]);
  }
  await admin(comfyUrl, '/__sim/reset');
  return transferRows('download', 'curl -o from the same /view', client, curl);
}

function logRound(kind: string, i: number, runs: number, client: TransferResult, curl: CurlResult): void {
  console.log(
    `  ${kind} ${i + 1}/${runs}: client ${client.seconds.toFixed(2)} s (CPU ${client.cpuSeconds.toFixed(2)} s), curl ${curl.seconds.toFixed(2)} s (CPU ${curl.cpuSeconds.toFixed(2)} s), client RSS +${(client.rssPeakMiB - client.rssBeforeMiB).toFixed(1)} MiB`,
  );
}

function transferRows(kind: 'upload' | 'download', baseline: string, client: readonly TransferResult[], curl: readonly CurlResult[]): BenchRow[] {
  const growth = client.map((c) => c.rssPeakMiB - c.rssBeforeMiB);
  const GiB = 1024 * MiB;
  return [
    row(
      `${kind} 1 GiB: throughput`,
      'MiB/s',
      client.map((c) => mibPerSecond(c.bytes, c.seconds)),
      curl.map((c) => mibPerSecond(transferBytes, c.seconds)),
      'ratio ≥ 0.8',
      (_v, _b, r) => r >= 0.8,
      `baseline: ${baseline}`,
    ),
    row(
      `${kind} 1 GiB: client CPU time`,
      's/GiB',
      client.map((c) => c.cpuSeconds / (c.bytes / GiB)),
      curl.map((c) => c.cpuSeconds / (transferBytes / GiB)),
      'reported',
      () => true,
      `baseline: the same curl's CPU time (user + system, from bash's times); the client's is process.cpuUsage() over the transfer. Unlike throughput, this does not depend on how busy the server is`,
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

/**
 * 200 outputs of 1 MiB the way a run saves them (`ComfyClient.download` into `OutputSaver` slots,
 * four at a time) against `curl --parallel --parallel-max 4` fetching the same files from the same
 * `/view` into one folder; both timed by the wall clock around the transfers.
 */
export async function benchOutputs(comfyUrl: string, runs: number): Promise<BenchRow[]> {
  const count = 200;
  const prefix = 'bench-output';
  await admin(comfyUrl, '/__sim/reset');
  for (let i = 0; i < count; i++) await admin(comfyUrl, '/__sim/output-file', { filename: `${prefix}-${String(i).padStart(3, '0')}.bin`, bytes: MiB });
  const client: TransferResult[] = [];
  const curl: CurlResult[] = [];
  const measureClient = async () => {
    const dir = tempPath(`outputs-${client.length}`);
    client.push(await runNode<TransferResult>('transferClient', ['outputs', comfyUrl, prefix, String(count), dir]));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const measureCurl = async () => {
    const dir = tempPath(`curl-outputs-${curl.length}`);
    fs.mkdirSync(dir, { recursive: true });
    const args: string[] = ['--parallel', '--parallel-max', '4'];
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${String(i).padStart(3, '0')}.bin`;
      args.push('-o', path.join(dir, name), `${comfyUrl}/view?filename=${name}&subfolder=&type=output`);
    }
    curl.push(await curlRun(args, true));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < runs; i++) {
    await interleaved(i, measureClient, measureCurl);
    console.log(`  outputs ${i + 1}/${runs}: client ${client[i].seconds.toFixed(2)} s (CPU ${client[i].cpuSeconds.toFixed(2)} s), curl --parallel ${curl[i].seconds.toFixed(2)} s (CPU ${curl[i].cpuSeconds.toFixed(2)} s)`);
  }
  await admin(comfyUrl, '/__sim/reset');
  const total = count * MiB;
  return [
    row(
      '200 outputs of 1 MiB, 4 at a time: throughput',
      'MiB/s',
      client.map((c) => mibPerSecond(c.bytes, c.seconds)),
      curl.map((c) => mibPerSecond(total, c.seconds)),
      'ratio ≥ 0.8',
      (_v, _b, r) => r >= 0.8,
      'baseline: curl --parallel --parallel-max 4 for the same 200 files from the same /view (its wall clock, start-up included: a few ms)',
    ),
  ];
}
