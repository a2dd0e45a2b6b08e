/**
 * The extension bundle in plain Node, with the stub `vscode` module (vscodeStub.ts), in a fresh
 * process per call:
 *
 *   node out/bench/startupHarness.js time <bundle>       require() the bundle and call activate(); prints the times
 *   node out/bench/startupHarness.js coverage <bundle>   which bundled package inits ran during that, and after a first use
 *
 * `coverage` reports which of the lazily loaded packages (dist/lazy/<name>.js beside the bundle)
 * Node has loaded, and uses V8's precise coverage for what is inside the bundle: esbuild wraps every
 * bundled CommonJS/ESM module in a function named after its path
 * (`"node_modules/foo/index.js"(exports, module) {…}`), so a wrapper with a call count above zero is
 * a module whose body ran. The first use is a workflow with a syntax error through the CodeLens
 * provider (jsonc-parser explains it) and Add Local ComfyUI Server (one request: undici), which
 * shows the method sees the packages when they do load.
 */
import { Session } from 'node:inspector/promises';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installVscodeStub, registeredCommands, stubContext, vscodeStub } from './vscodeStub';

export interface HarnessTimes {
  readonly loadMs: number;
  /** Until activate() returned its promise: what VS Code counts as `activateCallTime`. */
  readonly activateCallMs: number;
  /** Until that promise resolved. */
  readonly activateResolvedMs: number;
}

export interface HarnessCoverage {
  /** Bundled package modules whose bodies ran during require + activate(). */
  readonly atActivation: string[];
  /** Heavy packages (undici, ws, jsonc-parser) loaded by then, from dist/lazy/ or run inside the bundle. */
  readonly heavyAtActivation: string[];
  /** Heavy packages loaded once a workflow with an error was analysed and one request was made. */
  readonly heavyAfterFirstUse: string[];
}

const HEAVY = /^node_modules\/(undici|ws|jsonc-parser)\//;

/** The heavy packages loaded so far: files of dist/lazy/ in Node's module cache, and heavy modules run inside the bundle. */
function heavyLoaded(bundle: string, run: readonly string[]): string[] {
  const lazyDir = path.join(path.dirname(bundle), 'lazy') + path.sep;
  const files = Object.keys(require.cache)
    .filter((f) => f.startsWith(lazyDir))
    .map((f) => path.basename(f, '.js'));
  const inside = run.filter((m) => HEAVY.test(m)).map((m) => m.split('/')[1]);
  return [...new Set([...files, ...inside])].sort();
}

interface Extension {
  activate(context: unknown): Promise<void>;
}

/** The path-named module wrappers that ran, from a precise coverage snapshot of `bundle`. */
function modulesRun(coverage: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[], bundle: string): string[] {
  const script = coverage.find((s) => s.url === `file://${bundle}` || s.url === bundle);
  if (!script) throw new Error(`no coverage for ${bundle}`);
  return script.functions.filter((f) => /^(node_modules|src)\//.test(f.functionName) && f.ranges[0].count > 0).map((f) => f.functionName);
}

async function main(): Promise<void> {
  const [mode, bundleArg] = process.argv.slice(2);
  const bundle = path.resolve(bundleArg);
  installVscodeStub();
  if (mode === 'time') {
    const t0 = performance.now();
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the bundle the way the extension host does is the measurement
    const ext = require(bundle) as Extension;
    const t1 = performance.now();
    const activation = ext.activate(stubContext());
    const t2 = performance.now();
    await activation;
    const t3 = performance.now();
    const times: HarnessTimes = { loadMs: t1 - t0, activateCallMs: t2 - t1, activateResolvedMs: t3 - t1 };
    console.log(JSON.stringify(times));
    process.exit(0);
  }
  if (mode !== 'coverage') throw new Error(`usage: startupHarness time|coverage <bundle>; got ${mode}`);
  // The extension's timers do not hold a process open (its host stays up anyway): this does.
  setInterval(() => undefined, 1000);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  let registered: { provideCodeLenses(doc: unknown): unknown } | undefined;
  vscodeStub.languages.registerCodeLensProvider = ((_selector: unknown, provider: { provideCodeLenses(doc: unknown): unknown }) => {
    registered = provider;
    return { dispose: () => undefined };
  }) as typeof vscodeStub.languages.registerCodeLensProvider;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const ext = require(bundle) as Extension;
  await ext.activate(stubContext());
  const atActivation = modulesRun((await session.post('Profiler.takePreciseCoverage')).result, bundle);
  const heavyAtActivation = heavyLoaded(bundle, atActivation);

  // First uses: a workflow with a syntax error (jsonc-parser explains it), and Add Local ComfyUI
  // Server, which checks the server with one request (undici; a refused port is enough).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-startup-'));
  try {
    const file = path.join(dir, 'workflow_api.json');
    fs.writeFileSync(file, '{"1": {"class_type": "EmptyImage", "inputs": {,}}}');
    registered?.provideCodeLenses({ uri: vscodeStub.Uri.file(file), version: 1, getText: () => fs.readFileSync(file, 'utf8') });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await registeredCommands.get('runcomfy.addLocalServer')?.({ name: 'refused', url: 'http://127.0.0.1:9' });
  const afterUse = modulesRun((await session.post('Profiler.takePreciseCoverage')).result, bundle);
  const coverage: HarnessCoverage = {
    atActivation: [...new Set(atActivation)],
    heavyAtActivation: heavyAtActivation,
    heavyAfterFirstUse: heavyLoaded(bundle, afterUse),
  };
  console.log(JSON.stringify(coverage));
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
