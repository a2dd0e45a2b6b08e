import { startComfySimulator } from '../../../src/simulator/comfySimulator';

/**
 * Runs a ComfyUI simulator in a child process (see runSimulatorProcess.ts), so a test can measure
 * its own memory without the server's. Options come as JSON in argv[2]; the URL and folders go
 * back over IPC; disconnecting closes it.
 */
void startComfySimulator(JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startComfySimulator>[0]).then((sim) => {
  process.send?.({ url: sim.url, input: sim.folders.input, output: sim.folders.output });
  process.on('disconnect', () => void sim.close().then(() => process.exit(0)));
});
