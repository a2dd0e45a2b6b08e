/**
 * The analysis benchmark, in a process of its own (a clean heap):
 *
 *   node out/bench/analysisClient.js <mixed|dense> <repetitions>
 *
 * Writes the generated workflow as `workflow_api.json` in a temp folder, with the images its
 * LoadImage nodes name beside it (local file inputs are looked up on disk, as in the editor), then times, interleaved, `JSON.parse` of the text,
 * `analyzeWorkflow` of it, and what the editor does for a freshly changed document: the CodeLens
 * provider asking `WorkflowDocuments` for the analysis (not cached) and building the lenses. The
 * first two rounds warm the JIT and are not counted. Prints one JSON line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeWorkflow } from '../src/core/workflowAnalysis';
import { installVscodeStub, vscodeStub } from './vscodeStub';
import { generateWorkflow, type WorkflowShape } from './workflowGen';

export interface AnalysisResult {
  readonly bytes: number;
  readonly nodes: number;
  readonly inputs: number;
  readonly parseMs: number[];
  readonly analyzeMs: number[];
  readonly codeLensMs: number[];
  readonly lenses: number;
}

function time(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const shape = process.argv[2] as WorkflowShape;
  const repetitions = Number(process.argv[3] ?? 15);
  installVscodeStub();
  const { WorkflowDocuments } = await import('../src/codelens/workflowDocuments');
  const { WorkflowCodeLensProvider } = await import('../src/codelens/workflowCodeLensProvider');
  type Provider = InstanceType<typeof WorkflowCodeLensProvider>;

  const text = generateWorkflow(shape);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runcomfy-bench-analysis-'));
  const file = path.join(dir, 'workflow_api.json');
  fs.writeFileSync(file, text);
  // The images LoadImage nodes name exist beside the workflow, so each such node gets its upload lens.
  for (const m of text.matchAll(/"image": "(inputs\/[^"]+)"/g)) {
    fs.mkdirSync(path.join(dir, 'inputs'), { recursive: true });
    // A PNG signature: the input policy uploads only files whose first bytes match their name.
    fs.writeFileSync(path.join(dir, m[1]), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  }
  try {
    const uri = vscodeStub.Uri.file(file);
    let version = 0;
    // A document as the provider sees one: a new version each time, so nothing comes from the cache.
    const document = () => ({ uri, version: ++version, getText: () => text });
    const account = { accountOrUndefined: undefined, onDidChangeAccount: () => ({ dispose: () => undefined }) };
    const config = { value: {}, forResource: () => ({ codeLensEnabled: true, outputDirectory: 'runcomfy-outputs' }), onDidChange: () => ({ dispose: () => undefined }) };
    const provider = new WorkflowCodeLensProvider(
      new WorkflowDocuments(),
      account as unknown as ConstructorParameters<typeof WorkflowCodeLensProvider>[1],
      config as unknown as ConstructorParameters<typeof WorkflowCodeLensProvider>[2],
    );
    const provide = (p: Provider) => p.provideCodeLenses(document() as unknown as Parameters<Provider['provideCodeLenses']>[0]);

    const analysis = analyzeWorkflow(text, { fileDir: dir });
    const result: AnalysisResult = {
      bytes: Buffer.byteLength(text),
      nodes: analysis.nodes.length,
      inputs: analysis.nodes.reduce((n, node) => n + node.inputs.length, 0),
      parseMs: [],
      analyzeMs: [],
      codeLensMs: [],
      lenses: provide(provider).length,
    };
    if (analysis.problems.length > 0) throw new Error(`the generated workflow has problems: ${analysis.problems[0].message}`);
    for (let i = 0; i < repetitions + 2; i++) {
      const parse = time(() => JSON.parse(text));
      const analyze = time(() => analyzeWorkflow(text, { fileDir: dir }));
      const lens = time(() => provide(provider));
      if (i < 2) continue;
      result.parseMs.push(parse);
      result.analyzeMs.push(analyze);
      result.codeLensMs.push(lens);
    }
    console.log(JSON.stringify(result));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
