import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { type HarnessCoverage, type HarnessTimes } from './startupHarness';
import { hostUnavailable, measureInHost } from './startupHost';
import { repoRoot, runNode } from './processes';
import { median, round, row, type BenchRow } from './results';

/**
 * VS Code marks an extension host as unresponsive, and starts profiling it to find the extension
 * to blame, when it leaves a message unanswered for 3 s: `UNRESPONSIVE_TIME = 3 * 1000` in
 * rpcProtocol.ts, present in the pinned 1.100.3 workbench as `static{this.a=3*1e3}`. An activation
 * that blocks the host that long is what VS Code itself flags as slow.
 */
const UNRESPONSIVE_MS = 3000;

const HEAVY_PACKAGES = ['ws', 'undici', 'jsonc-parser'];

interface Builds {
  readonly dir: string;
  /** dist/ as `npm run package` ships it (minified): extension.js and lazy/. */
  readonly shipped: string;
  /** The same, unminified: esbuild then names each module wrapper after its path, which the coverage reads. */
  readonly readable: string;
  /** The three heavy runtime packages, minified, loaded eagerly: what activation would cost if they were imported at the top. */
  readonly eagerDependencies: string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- esbuild.js is CommonJS and exports its options for this
const esbuildConfig = require(path.join(repoRoot, 'esbuild.js')) as { common: esbuild.BuildOptions; builds: esbuild.BuildOptions[] };

/** Builds the extension's bundles with esbuild.js's own options into `<dir>/<name>/` (dist/ is left alone). */
async function buildExtension(dir: string, name: string, minify: boolean): Promise<string> {
  const mine = esbuildConfig.builds.filter((b) => b.outfile === 'dist/extension.js' || String(b.outfile).startsWith('dist/lazy/'));
  if (mine.length < 2) throw new Error('esbuild.js has no builds for dist/extension.js and dist/lazy/');
  const out = path.join(dir, name);
  for (const b of mine) {
    await esbuild.build({ ...b, absWorkingDir: repoRoot, minify, sourcemap: false, outfile: path.join(out, path.relative('dist', String(b.outfile))) });
  }
  return out;
}

async function build(): Promise<Builds> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-startup-'));
  const shipped = await buildExtension(dir, 'shipped', true);
  const readable = await buildExtension(dir, 'readable', false);
  const eagerDependencies = path.join(dir, 'dependencies.js');
  await esbuild.build({
    ...esbuildConfig.common,
    stdin: { contents: `exports.activate = () => {};\n${HEAVY_PACKAGES.map((p) => `require(${JSON.stringify(p)});`).join('\n')}`, resolveDir: repoRoot },
    minify: true,
    sourcemap: false,
    outfile: eagerDependencies,
  });
  return { dir, shipped, readable, eagerDependencies };
}

/** Total size of the files in `dir`, in KiB. */
function kibOf(dir: string): number {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).reduce((n, e) => (e.isFile() ? n + fs.statSync(path.join(e.parentPath, e.name)).size : n), 0) / 1024;
}

/** An installable extension folder for the host: the shipped bundles with the real manifest. */
function stageExtension(dir: string, dist: string): string {
  const ext = path.join(dir, 'runcomfy');
  fs.mkdirSync(ext);
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(ext, 'package.json'));
  fs.cpSync(path.join(repoRoot, 'media'), path.join(ext, 'media'), { recursive: true });
  fs.cpSync(dist, path.join(ext, 'dist'), { recursive: true });
  return ext;
}

/** The smallest extension that activates on the same events, in the same window: what activation costs VS Code itself. */
function stageBaseline(dir: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: unknown; activationEvents: unknown };
  const ext = path.join(dir, 'baseline');
  fs.mkdirSync(ext);
  fs.writeFileSync(
    path.join(ext, 'package.json'),
    JSON.stringify({ name: 'startup-baseline', displayName: 'Startup Baseline', publisher: 'bench', version: '0.0.1', engines: manifest.engines, activationEvents: manifest.activationEvents, main: './extension.js' }),
  );
  fs.writeFileSync(path.join(ext, 'extension.js'), 'exports.activate = () => {};\n');
  return ext;
}

async function harnessTimes(bundle: string, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await runNode<HarnessTimes>('startupHarness', ['time', bundle]);
    out.push(t.loadMs + t.activateResolvedMs);
  }
  return out;
}

/**
 * Start-up: the size of the shipped bundle, which heavy packages run during activation, the time
 * to load the bundle and run activate() in a fresh Node process, and the activation time a real
 * VS Code (the pinned code-server) reports for it.
 */
export async function benchStartup(runs: number): Promise<BenchRow[]> {
  const b = await build();
  try {
    const rows: BenchRow[] = [];
    const bundle = path.join(b.shipped, 'extension.js');
    const size = fs.statSync(bundle).size / 1024;
    const all = kibOf(b.shipped);
    console.log(`  dist/extension.js ${size.toFixed(0)} KiB minified; with dist/lazy/ (${HEAVY_PACKAGES.join(', ')}) ${all.toFixed(0)} KiB`);
    rows.push({
      name: 'start-up: dist/extension.js size',
      value: round(size, 1),
      unit: 'KiB',
      baseline: round(all, 1),
      ratio: round(size / all),
      target: 'reported',
      pass: true,
      note: 'minified as shipped: what activation reads; baseline: all of dist/ that ships, with the packages in dist/lazy/ loaded on first use',
    });

    const coverage = await runNode<HarnessCoverage>('startupHarness', ['coverage', path.join(b.readable, 'extension.js')]);
    console.log(`  heavy packages loaded at activation: ${coverage.heavyAtActivation.join(', ') || 'none'}; after a first use: ${coverage.heavyAfterFirstUse.join(', ')}`);
    rows.push({
      name: 'start-up: heavy packages loaded by activate()',
      value: coverage.heavyAtActivation.length,
      unit: 'packages',
      baseline: coverage.heavyAfterFirstUse.length,
      ratio: round(coverage.heavyAtActivation.length / Math.max(1, coverage.heavyAfterFirstUse.length)),
      target: '0 (loaded on first use)',
      // The method must see the packages when they do load, or a zero proves nothing.
      pass: coverage.heavyAtActivation.length === 0 && coverage.heavyAfterFirstUse.includes('undici') && coverage.heavyAfterFirstUse.includes('jsonc-parser'),
      note: `Node's module cache and V8 coverage of the unminified bundle (${HEAVY_PACKAGES.join(', ')}); baseline: those loaded after a first use (a workflow with a syntax error through the CodeLens provider, one request): ${coverage.heavyAfterFirstUse.join(', ')}`,
    });

    const ours: number[] = [];
    const eager: number[] = [];
    for (let i = 0; i < runs; i++) {
      ours.push(...(await harnessTimes(bundle, 1)));
      eager.push(...(await harnessTimes(b.eagerDependencies, 1)));
    }
    console.log(`  require + activate() in Node: ${median(ours).toFixed(1)} ms; the three packages loaded eagerly: ${median(eager).toFixed(1)} ms`);
    rows.push(
      row('start-up: require + activate() in Node', 'ms', ours, eager, 'reported', () => true, 'a fresh Node process per sample, vscode stubbed (bench/vscodeStub.ts); baseline: requiring ws, undici and jsonc-parser eagerly, nothing else'),
    );

    const unavailable = hostUnavailable();
    if (unavailable) {
      console.log(`  VS Code host: skipped, ${unavailable}`);
      return rows;
    }
    const host = await measureInHost({ dir: stageExtension(b.dir, b.shipped), shownAs: 'RunComfy' }, { dir: stageBaseline(b.dir), shownAs: 'Startup Baseline' }, runs);
    rows.push(
      row(
        'start-up: activation in VS Code 1.100.3',
        'ms',
        host.extension,
        host.baseline,
        `value < ${UNRESPONSIVE_MS} ms`,
        (v) => v < UNRESPONSIVE_MS,
        `"Startup Activation" (code loading + activate call) from Developer: Show Running Extensions, a new window per sample; baseline: an empty extension on the same activation events in the same window; ${UNRESPONSIVE_MS} ms is when VS Code marks the extension host unresponsive`,
      ),
    );
    return rows;
  } finally {
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
}
