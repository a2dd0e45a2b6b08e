/**
 * The measured side of the second-run benchmark, a run in a process of its own (as each CLI run is):
 *
 *   node out/bench/runClient.js local <comfyUrl> <input file> <output root> <cache dir> <color>
 *   node out/bench/runClient.js server <comfyUrl> <server name> <output root> <cache dir> <color>
 *
 * Both queue the same small workflow (an image made, blurred and saved, plus a PreviewAny of the
 * input's name, which the server does not read). `local` names a local file, which the run puts on
 * the server first (hash cache in `<cache dir>`, `HEAD /view`, upload if missing); `server` names the
 * server's copy directly: a run with no input to upload. `color` varies the image so the server
 * runs the nodes each time instead of serving them from its cache. Prints one JSON line.
 */
import * as path from 'node:path';
import { type ApiPrompt } from '../src/api/comfyTypes';
import { InputHashCache } from '../src/core/inputHashCache';
import { workflowFolderPolicy } from '../src/core/inputPolicy';
import { RunEngine } from '../src/core/runEngine';

export interface RunClientResult {
  readonly seconds: number;
  readonly status: string;
  /** Bytes this run uploaded (from its `uploaded` events). */
  readonly uploadedBytes: number;
  readonly reference: string;
}

async function main(): Promise<void> {
  const [mode, comfyUrl, input, outputRoot, cacheDir, color] = process.argv.slice(2);
  const prompt: ApiPrompt = {
    '1': { class_type: 'EmptyImage', inputs: { width: 256, height: 256, batch_size: 1, color: Number(color) } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1 } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'bench/second-run' } },
    '4': { class_type: 'PreviewAny', inputs: { source: mode === 'server' ? input : path.basename(input) } },
  };
  const started = performance.now();
  const engine = new RunEngine({
    prompt,
    localInputs: mode === 'local' ? [{ nodeId: '4', inputName: 'source', absPath: input }] : [],
    inputPolicy: workflowFolderPolicy(path.join(path.dirname(input), 'workflow_api.json')),
    hashCache: new InputHashCache(path.join(cacheDir, 'input-hashes.json')),
    comfyUrl,
    outputRoot,
    workflowName: 'bench',
  });
  let uploadedBytes = 0;
  let reference = mode === 'server' ? input : '';
  engine.onEvent((e) => {
    if (e.type === 'uploaded') {
      uploadedBytes += e.bytes;
      reference = e.reference;
    }
  });
  const result = await engine.run();
  const seconds = (performance.now() - started) / 1000;
  engine.dispose();
  if (result.status !== 'success') throw new Error(`the run ended ${result.status}: ${result.error?.message ?? ''}`);
  const out: RunClientResult = { seconds, status: result.status, uploadedBytes, reference };
  console.log(JSON.stringify(out));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
