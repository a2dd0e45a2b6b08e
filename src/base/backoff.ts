/** How a retry loop waits: the first delay, doubled each time up to a ceiling. */
export interface BackoffOptions {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `baseDelayMs` doubled per attempt up
 * to `maxDelayMs`, then jittered into its upper half so that clients that failed together spread out.
 * `random` returns a number in [0, 1), like `Math.random`.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}
