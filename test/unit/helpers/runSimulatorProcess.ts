import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { type ComfySimulatorOptions } from '../../../src/simulator/comfySimulator';

/** A ComfyUI simulator in its own process. */
export interface SimulatorProcess {
  readonly url: string;
  readonly input: string;
  readonly output: string;
  close(): Promise<void>;
}

/** Starts the simulator in a child Node process (for memory measurements that must not include the server). */
export async function startSimulatorProcess(options: ComfySimulatorOptions = {}): Promise<SimulatorProcess> {
  const child: ChildProcess = fork(path.join(__dirname, 'runSimulatorChild.js'), [JSON.stringify(options)], { stdio: 'inherit' });
  const info = await new Promise<{ url: string; input: string; output: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { url: string; input: string; output: string }));
    child.once('exit', (code) => reject(new Error(`the simulator process exited with code ${code} before it started`)));
  });
  return {
    ...info,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
