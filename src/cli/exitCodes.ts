import { ApiError } from '../api/errors';

/** The CLI's exit codes. Other tools depend on these numbers: never renumber. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  /** Rate limited after retries, or timed out. */
  rateLimitedOrTimeout: 5,
  /** Server or network error. */
  serverOrNetwork: 6,
  /**
   * The workflow was refused before it ran: by local analysis, by the input policy (a file it may not
   * upload), by the check against the target's node list (`queue` without `--force`), or by ComfyUI.
   */
  workflowRejected: 7,
  executionError: 8,
  interrupted: 9,
  /** `sweep`: the budget (`--max-cost`) ended it; what ran is saved. */
  budget: 10,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Maps an error to its exit code. */
export function exitCodeFor(e: unknown): ExitCodeValue {
  if (e instanceof UsageError) return ExitCode.usage;
  if (!(e instanceof ApiError)) return ExitCode.failure;
  switch (e.kind) {
    case 'auth':
      return ExitCode.auth;
    case 'notFound':
      return ExitCode.notFound;
    case 'rateLimited':
    case 'timeout':
      return ExitCode.rateLimitedOrTimeout;
    case 'server':
    case 'network':
      return ExitCode.serverOrNetwork;
    case 'unsafeUrl':
    case 'config':
      return ExitCode.usage;
    case 'workflowRejected':
      return ExitCode.workflowRejected;
    case 'execution':
      return ExitCode.executionError;
    case 'interrupted':
    case 'cancelled':
      return ExitCode.interrupted;
    case 'invalidRequest':
      return ExitCode.failure;
  }
}

/** Wrong flags, missing arguments or missing environment: exit 2 with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
