/** The environment variable both simulators read their time scale from. */
export const simTimeScaleVariable = 'RUNCOMFY_SIM_TIME_SCALE';

/**
 * How much slower (> 1) or faster (< 1) than configured the simulators play out their fixed delays:
 * a machine's boot and deletion (RunComfy), a ComfyUI's boot window and its node execution and
 * progress steps. `npm run test:stress` sets it to check that no test relies on those timings.
 * Unset or empty means 1. Throws on anything but a positive finite number, naming the variable.
 */
export function simTimeScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[simTimeScaleVariable]?.trim();
  if (raw === undefined || raw === '') return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new Error(`${simTimeScaleVariable} must be a positive number (for example 0.25 or 4), got ${JSON.stringify(raw)}.`);
  }
  return scale;
}
