import * as vscode from 'vscode';
import { ApiError, isCancellation } from '../api/errors';
import { CommandIds } from './commandIds';

/** A next step offered beside an error message. */
interface Action {
  readonly title: string;
  readonly run: () => Thenable<unknown>;
}

/**
 * Registers a command whose failures become one clear message with a next step, and a log entry.
 * Cancellation is silent. The handler's return value is passed through (tests and automation use it).
 */
export function registerCommand<A extends unknown[]>(
  id: string,
  handler: (...args: A) => unknown,
  log: vscode.LogOutputChannel,
): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: A) => {
    try {
      return await handler(...args);
    } catch (e) {
      if (isCancellation(e)) return undefined;
      log.error(`${id} failed: ${describeError(e)}`);
      const actions = actionsFor(e);
      const pick = await vscode.window.showErrorMessage(describeError(e), ...actions.map((a) => a.title));
      await actions.find((a) => a.title === pick)?.run();
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
  if (e instanceof ApiError && e.kind === 'auth') {
    return [{ title: 'Sign In', run: () => vscode.commands.executeCommand(CommandIds.signIn) }, showLog];
  }
  if (e instanceof ApiError && (e.kind === 'unsafeUrl' || e.kind === 'config')) {
    return [{ title: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'runcomfy') }, showLog];
  }
  return [showLog];
}
