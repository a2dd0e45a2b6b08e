import { type Machine } from '../api/runcomfyTypes';
import { CommandIds } from './commandIds';
import { type Services } from './services';
import { UserError } from './userError';
import { machineDescription, machineShortId } from '../core/machineLabels';
import { type RateTable } from '../core/pricing';
import { isNode } from '../views/treeNodes';

/**
 * The machine a command acts on: the tree node or id it was given, or the user's pick among the
 * machines that `accepts` (fresh from the API). Throws a UserError with a next step when none fits.
 */
export async function resolveMachine(
  services: Services,
  arg: unknown,
  options: { readonly title: string; readonly accepts: (m: Machine) => boolean; readonly noneMessage: string },
): Promise<Machine> {
  const store = services.accounts.requireAccount().machines;
  const id = isNode(arg, 'machine') ? arg.serverId : typeof arg === 'string' ? arg : undefined;
  if (id) {
    const known = store.machine(id) ?? (await store.refresh()).find((m) => m.serverId === id);
    if (!known) throw new UserError(`Machine ${id} is not in your machine list any more (stopped, or launched with another account).`, [refreshAction]);
    return known;
  }
  const candidates = (await store.refresh()).filter(options.accepts);
  if (candidates.length === 0) throw new UserError(options.noneMessage, [{ title: 'Launch Machine', command: CommandIds.launchMachine }]);
  if (candidates.length === 1) return candidates[0];
  const now = services.clock.now();
  const rates = rateTable(services);
  return services.prompter.pick(
    candidates.map((m) => ({ label: machineShortId(m), description: machineDescription(m, now, rates), detail: m.serverId, value: m })),
    { title: options.title, placeholder: 'Pick a machine' },
  );
}

const refreshAction = { title: 'Refresh', command: CommandIds.refresh };

/** The user's rate table (`runcomfy.pricing` over the documented prices); a bad setting falls back to the defaults, with a warning in the log. */
export function rateTable(services: Services): RateTable {
  const { rates, pricingProblem } = services.config.value;
  if (pricingProblem) services.log.warn(`Ignoring runcomfy.pricing: ${pricingProblem}`);
  return rates;
}
