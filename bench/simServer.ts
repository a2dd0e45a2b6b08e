/**
 * The simulators for the benchmark, in a process of their own so their CPU and memory stay out of
 * the measured clients: a ComfyUI simulator that accepts 2 GiB uploads (ComfyUI's own limit is set
 * by `--max-upload-size`), and a RunComfy simulator with its default rate limit (1 request/s, burst 3).
 * Prints one JSON line with both URLs, then serves until SIGTERM.
 */
import { startComfySimulator } from '../src/simulator/comfySimulator';
import { startRunComfySimulator } from '../src/simulator/runcomfySimulator';

async function main(): Promise<void> {
  const comfy = await startComfySimulator({ maxUploadSizeMb: 2048 });
  const runcomfy = await startRunComfySimulator({ bootMs: 0 });
  console.log(JSON.stringify({ comfyUrl: comfy.url, runcomfyUrl: runcomfy.url, rateLimit: runcomfy.config.rateLimit }));
  const stop = () => void Promise.all([comfy.close(), runcomfy.close()]).then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
