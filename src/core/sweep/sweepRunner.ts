import { type Clock } from '../../base/clock';
import { type SweepAutoscaler } from './sweepAutoscaler';
import { type SweepDispatcher } from './sweepDispatcher';
import { type SweepLedger } from './sweepLedger';

/** How a sweep ended. */
export type SweepStatus = 'success' | 'partial' | 'failed' | 'interrupted' | 'budget';

/** What {@link runSweep} drives. */
export interface RunSweepOptions {
  readonly dispatcher: SweepDispatcher;
  readonly ledger: SweepLedger;
  readonly autoscaler?: SweepAutoscaler;
  /** Ctrl-C / cancel: our prompts are interrupted, the sweep's machines stopped. */
  readonly signal?: AbortSignal;
  readonly clock: Clock;
  /** How often the budget is checked and autoscale steps. Default 1 s. */
  readonly tickMs?: number;
  /** Said once when the budget ends the sweep: `cap` near `--max-cost`, `launch` when it cannot pay for a machine the waiting runs need. */
  readonly onBudget?: (why: 'cap' | 'launch') => void;
}

/**
 * Runs a sweep to its end: the dispatcher sends the runs; every tick the ledger is checked (near
 * the cap the sweep interrupts our prompts and stops its machines, so billing ends within it) and
 * the autoscaler steps. When the runs are over, every machine the sweep launched is stopped and
 * the stops have landed (or failed for good) before this resolves.
 */
export async function runSweep(o: RunSweepOptions): Promise<SweepStatus> {
  let budget = false;
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    o.dispatcher.stop('interrupted');
    void o.autoscaler?.stopAll();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  let over = false;
  let timer: { dispose(): void } | undefined;
  const tick = async (): Promise<void> => {
    if (over) return;
    if (!budget && !interrupted) {
      if (!o.ledger.mustWindDown()) await o.autoscaler?.tick();
      // Runs wait with no server while the budget cannot pay for a machine to run them: that is the budget's end too.
      const starved = o.autoscaler?.budgetRefusedLaunch === true && o.dispatcher.poolSize === 0 && o.dispatcher.backlog > 0 && !o.autoscaler.mayGrow();
      if (!over && !interrupted && (o.ledger.mustWindDown() || starved)) {
        budget = true;
        o.onBudget?.(starved ? 'launch' : 'cap');
        o.dispatcher.stop('budget');
        void o.autoscaler?.stopAll();
      }
    }
    if (!over) timer = o.clock.setTimeout(() => void tick(), o.tickMs ?? 1000);
  };
  try {
    await tick();
    await o.dispatcher.run();
  } finally {
    over = true;
    timer?.dispose();
    o.signal?.removeEventListener('abort', onAbort);
    await o.autoscaler?.stopAll();
  }
  if (budget) return 'budget';
  if (interrupted) return 'interrupted';
  const ok = o.dispatcher.runs.filter((r) => r.status === 'success').length;
  if (ok === o.dispatcher.runs.length) return 'success';
  return ok === 0 ? 'failed' : 'partial';
}
