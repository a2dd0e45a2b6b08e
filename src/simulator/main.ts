/**
 * `node dist/simulator.js`: the RunComfy simulator and ComfyUI simulators on 127.0.0.1, for
 * `npm start`, the host tests and anyone trying the CLI without an account. Every machine that
 * becomes Ready gets its own ComfyUI simulator as `main_service_url`; one more stands in for a
 * "local" ComfyUI server. Prints one JSON line with the URLs and the demo account once everything
 * listens, then runs until SIGINT/SIGTERM.
 *
 *   --port N                  RunComfy API port (default: any free port)
 *   --local-comfy-port N      the local ComfyUI simulator's port (default: any free port)
 *   --boot-seconds S          time from launch to Ready (default 20)
 *   --delete-seconds S        time a stopped machine stays Deleting (default 3)
 *   --comfy-boot-seconds S    a new machine's ComfyUI answers 502 for this long after Ready (default 0)
 *   --step-ms N               time of one sampler step of an imitated class (default 100, so progress shows)
 *   --run-seconds S           each prompt takes at least this long on every ComfyUI, so a pool of machines
 *                             (each with its own queue) can be watched working through a sweep
 *                             (default: RUNCOMFY_SIM_RUN_SECONDS, else 0)
 *
 * Every ComfyUI simulator here has the model names of `DEMO_MODELS`, so the samples' checkpoint
 * workflow validates as it would on a machine with that checkpoint.
 */
import { parseArgs } from 'node:util';
import { startComfySimulator, type ComfySimulatorOptions } from './comfySimulator';
import { demoTokens, demoUserId } from './runcomfy/demoSeed';
import { startRunComfySimulator } from './runcomfySimulator';

/** Model file names the demo's servers list (names only: the simulator loads no weights). */
const DEMO_MODELS: Record<string, string[]> = {
  checkpoints: ['v1-5-pruned-emaonly-fp16.safetensors', 'sd_xl_base_1.0.safetensors'],
  loras: ['my_style.safetensors'],
  vae: ['vae-ft-mse-840000-ema-pruned.safetensors'],
  upscale_models: ['RealESRGAN_x4plus.pth'],
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'local-comfy-port': { type: 'string', default: '0' },
      'boot-seconds': { type: 'string', default: '20' },
      'delete-seconds': { type: 'string', default: '3' },
      'comfy-boot-seconds': { type: 'string', default: '0' },
      'step-ms': { type: 'string', default: '100' },
      'run-seconds': { type: 'string', default: process.env.RUNCOMFY_SIM_RUN_SECONDS?.trim() || '0' },
    },
    strict: true,
  });
  const number = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
    return n;
  };
  const comfyBootMs = number('comfy-boot-seconds', values['comfy-boot-seconds']) * 1000;
  const runMs = number('run-seconds', values['run-seconds']) * 1000;
  const comfy: ComfySimulatorOptions = { models: DEMO_MODELS, stepDelayMs: number('step-ms', values['step-ms']), runMs };
  const local = await startComfySimulator({ ...comfy, port: number('local-comfy-port', values['local-comfy-port']) });
  const runcomfy = await startRunComfySimulator({
    port: number('port', values.port),
    bootMs: number('boot-seconds', values['boot-seconds']) * 1000,
    deleteMs: number('delete-seconds', values['delete-seconds']) * 1000,
    createComfyBackend: async () => {
      const sim = await startComfySimulator({ ...comfy, bootMs: comfyBootMs });
      return { url: sim.url, close: () => sim.close() };
    },
  });
  console.log(JSON.stringify({ runcomfyUrl: runcomfy.url, userId: demoUserId, tokens: demoTokens, localComfyUrl: local.url }));
  const stop = () => void Promise.all([runcomfy.close(), local.close()]).then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error(`simulator: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
