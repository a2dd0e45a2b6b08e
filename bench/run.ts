/**
 * `npm run bench`: measures the extension's client code against baselines measured in the same run
 * on the same machine, prints a table and writes `bench/results.json`. Not part of `npm test`: the
 * figures depend on the machine, and no test may assert on time.
 *
 *   node out/bench/run.js [--only upload,download,outputs,inputs,websocket,analysis,politeness,startup,sweep,panel,webview] [--runs N]
 *
 * The simulators run in a process of their own, and each measured client in another, so neither
 * pollutes the other's CPU or memory. Each measurement runs the measured side and its baseline
 * interleaved, several times, and reports medians.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, startService, type Service } from './processes';
import { machine, printTable, writeResults, type BenchRow } from './results';
import { benchDownload, benchOutputs, benchUpload, removeTemps } from './transfers';
import { benchInputs } from './inputs';
import { benchWebsocket } from './websocket';
import { benchAnalysis } from './analysis';
import { benchPoliteness } from './politeness';
import { benchStartup } from './startup';
import { benchSweep } from './sweep';
import { benchPanel } from './panel';
import { benchWebviewMemory } from './webviewMemory';

interface SimInfo {
  readonly comfyUrl: string;
  readonly runcomfyUrl: string;
}

const sections = ['upload', 'download', 'outputs', 'inputs', 'websocket', 'analysis', 'politeness', 'startup', 'sweep', 'panel', 'webview'] as const;
type Section = (typeof sections)[number];

function options(): { only: Set<Section>; runs: number | undefined } {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const only = value('--only')?.split(',') ?? [...sections];
  const unknown = only.filter((s) => !(sections as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--only: unknown section ${unknown.join(', ')}; known: ${sections.join(', ')}`);
  const runs = value('--runs');
  return { only: new Set(only as Section[]), runs: runs === undefined ? undefined : Number(runs) };
}

async function main(): Promise<void> {
  const { only, runs } = options();
  console.log(`RunComfy benchmark on ${machine()}`);
  const rows: BenchRow[] = [];
  let sim: Service<SimInfo> | undefined;
  const stop = () => {
    removeTemps();
    void sim?.stop();
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    sim = await startService<SimInfo>('simServer');
    if (only.has('upload')) {
      console.log('upload: 1 GiB, client vs curl -F (time and CPU)');
      rows.push(...(await benchUpload(sim.info.comfyUrl, runs ?? 3)));
    }
    if (only.has('download')) {
      console.log('download: 1 GiB, client vs curl -o (time and CPU)');
      rows.push(...(await benchDownload(sim.info.comfyUrl, runs ?? 3)));
    }
    if (only.has('outputs')) {
      console.log('outputs: 200 × 1 MiB, client (4 at a time) vs curl --parallel --parallel-max 4');
      rows.push(...(await benchOutputs(sim.info.comfyUrl, runs ?? 3)));
    }
    if (only.has('inputs')) {
      console.log('inputs: a second run of a workflow with a 512 MiB input vs the same run with no input to upload');
      rows.push(...(await benchInputs(sim.info.comfyUrl, runs ?? 5)));
    }
    if (only.has('websocket')) {
      console.log('websocket: flood through the run engine vs a bare ws loop');
      rows.push(...(await benchWebsocket(sim.info.comfyUrl, runs ?? 5)));
    }
    if (only.has('analysis')) {
      console.log('analysis: generated 5 MB workflow_api.json vs JSON.parse');
      rows.push(...(await benchAnalysis(runs ?? 15)));
    }
    if (only.has('politeness')) {
      console.log('politeness: 50 refreshes against the RunComfy simulator at 1/s, burst 3');
      rows.push(...(await benchPoliteness(sim.info.runcomfyUrl, { store: runs ?? 15, clients: runs ?? 3 })));
    }
    if (only.has('startup')) {
      console.log('startup: bundle size, lazy modules, activation in Node and in VS Code');
      rows.push(...(await benchStartup(runs ?? 5)));
    }
    if (only.has('sweep')) {
      console.log('sweep: 64 runs of 1 s on 4 simulated machines (each its own ComfyUI) vs the ideal');
      rows.push(...(await benchSweep(runs ?? 2)));
    }
    if (only.has('panel')) {
      console.log('panel: thumbnail bytes per tile, a 500-output gallery message, a preview flood');
      rows.push(...(await benchPanel(runs ?? 3)));
    }
    if (only.has('webview')) {
      console.log('webview: the run panel in Chromium over 20 runs of 1,000 previews and a 500-output gallery (heap, DOM nodes, listeners)');
      rows.push(...(await benchWebviewMemory(runs ?? 2)));
    }
  } finally {
    removeTemps();
    await sim?.stop();
  }
  console.log('');
  printTable(rows);
  const file = path.join(repoRoot, 'bench', 'results.json');
  writeResults(file, rows);
  console.log(`\nwrote ${path.relative(process.cwd(), file) || file}`);
  if (!fs.existsSync(file)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  removeTemps();
  console.error(e);
  process.exit(1);
});
