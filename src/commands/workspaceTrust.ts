import * as vscode from 'vscode';
import { type ErrorAction, UserError } from './userError';

/** VS Code's own "Manage Workspace Trust" editor, where the user trusts the folder. */
export const manageWorkspaceTrust: ErrorAction = { title: 'Manage Workspace Trust', command: 'workbench.trust.manage' };

/** Why queueing is off in Restricted Mode, in one sentence the lens tooltip and the error share. */
export const RESTRICTED_QUEUE_REASON =
  'Queueing is off in Restricted Mode: it uploads files of this workspace and runs what its workflows say, and you have not trusted this folder.';

/**
 * Refuses a queue (and so an upload) of workspace files while the workspace is not trusted, with the
 * way to trust it. Signing in, the views, Extend and Stop never call this: a machine that bills must
 * always be stoppable, whatever the folder.
 * @throws UserError in Restricted Mode.
 */
export function requireTrustedWorkspace(): void {
  if (vscode.workspace.isTrusted) return;
  throw new UserError(`${RESTRICTED_QUEUE_REASON} Trust the folder to queue from it; your machines can still be extended and stopped.`, [manageWorkspaceTrust]);
}
