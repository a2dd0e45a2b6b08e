import { type AnalysisResult } from './analysisClient';
import { runNode } from './processes';
import { row, type BenchRow } from './results';

/**
 * Workflow analysis and CodeLens provision of a generated 5 MB, 2,000-node `workflow_api.json`
 * against `JSON.parse` of the same text, timed interleaved in one process (see analysisClient.ts);
 * and the same for a denser shape, reported for what it costs, with the same target.
 */
export async function benchAnalysis(repetitions: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const shape of ['mixed', 'dense'] as const) {
    const r = await runNode<AnalysisResult>('analysisClient', [shape, String(repetitions)]);
    const what = `${(r.bytes / 1e6).toFixed(1)} MB, ${r.nodes} nodes, ${r.inputs} inputs`;
    console.log(`  ${shape}: ${what}, ${r.lenses} lenses`);
    const parse = `baseline: JSON.parse of the same text, interleaved; ${what}`;
    rows.push(
      row(`analysis ${shape}: analyzeWorkflow`, 'ms', r.analyzeMs, r.parseMs, 'ratio ≤ 3', (_v, _b, ratio) => ratio <= 3, parse),
      row(`analysis ${shape}: CodeLens provision`, 'ms', r.codeLensMs, r.parseMs, 'ratio ≤ 3', (_v, _b, ratio) => ratio <= 3, `${parse}; analysis (uncached) and ${r.lenses} lenses`),
    );
  }
  return rows;
}
