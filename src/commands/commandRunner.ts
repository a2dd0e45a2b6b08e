import * as vscode from 'vscode';
import { ApiError, isCancellation } from '../api/errors';
import { CommandIds } from './commandIds';
import { UserError } from './userError';

/** A next step offered beside an error message. */
interface Action {
  readonly title: string;
  readonly run: () => Thenable<unknown>;
}

/**
 * Registers a command whose failures become one clear message with a next step, and a log entry
 * (the same message; the command id and the stack at debug level).
 * Cancellation is silent. The handler's return value is passed through (tests and automation use it);
 * under the host tests (`rethrowForTests`) the error also reaches the caller, so a test can assert on it.
 */
export function registerCommand<A extends unknown[]>(
  id: string,
  handler: (...args: A) => unknown,
  log: vscode.LogOutputChannel,
  rethrowForTests = false,
): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: A) => {
    try {
      return await handler(...args);
    } catch (e) {
      if (isCancellation(e)) return undefined;
      // The log says what the user read; which command failed, and the stack, only at debug level.
      log.error(describeError(e));
      log.debug(`${id} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      const actions = actionsFor(e);
      // Not awaited: an error notification can stay open for a long time, the command is over.
      void vscode.window.showErrorMessage(describeError(e), ...actions.map((a) => a.title)).then((pick) => actions.find((a) => a.title === pick)?.run());
      if (rethrowForTests) throw e;
      return undefined;
    }
  });
}

/** The message shown for `e`; API errors already carry a safe, complete message. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

function actionsFor(e: unknown): Action[] {
  const showLog: Action = { title: 'Show Log', run: () => vscode.commands.executeCommand(CommandIds.showLog) };
  if (e instanceof UserError) {
    return e.actions.map((a) => ({ title: a.title, run: () => vscode.commands.executeCommand(a.command, ...(a.args ?? [])) }));
  }
  if (e instanceof ApiError && e.kind === 'auth') {
    return [{ title: 'Sign In', run: () => vscode.commands.executeCommand(CommandIds.signIn) }, showLog];
  }
  if (e instanceof ApiError && (e.kind === 'unsafeUrl' || e.kind === 'config')) {
    return [{ title: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'runcomfy') }, showLog];
  }
  return [showLog];
}
