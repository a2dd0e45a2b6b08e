import * as vscode from 'vscode';
import { targetLabel } from '../core/runRegistry';
import { isNode } from '../views/treeNodes';
import { type Services } from './services';
import { UserError } from './userError';

/** Interrupt Run: the run given (a tree node), the only live one, or a pick among the live ones. Only our prompt is stopped. */
export async function interruptRun(services: Services, arg?: unknown): Promise<boolean> {
  const active = services.runs.activeRuns;
  let id = isNode(arg, 'run') ? arg.runId : undefined;
  if (!id) {
    if (active.length === 0) throw new UserError('No run is in progress.');
    id =
      active.length === 1
        ? active[0].id
        : await services.prompter.pick(
            active.map((r) => ({ label: r.workflowName, description: `${r.phase} on ${targetLabel(r.target)}`, value: r.id })),
            { title: 'Interrupt which run?' },
          );
  }
  const run = services.runs.get(id);
  services.log.info(`Interrupting ${run?.workflowName ?? id}${run?.promptId ? ` (prompt ${run.promptId})` : ''}.`);
  return services.runs.interrupt(id);
}

/** What Open Outputs showed: the run folder, and where. */
export interface RevealedOutputs {
  folder: string;
  via: 'revealInExplorer' | 'revealFileInOS';
}

/**
 * Open Outputs: reveals the run folder (its files and `run.json`). Inside a workspace folder it is
 * shown in the Explorer, where the user already is and which works the same in a remote window;
 * outside every workspace folder the Explorer cannot show it, so the OS file manager does.
 */
export async function openRunOutputs(services: Services, arg?: unknown): Promise<RevealedOutputs> {
  const run = isNode(arg, 'run') ? services.runs.get(arg.runId) : services.runs.runs.find((r) => r.outputs.length > 0);
  if (!run) throw new UserError('That run is no longer listed.');
  const folder = run.result?.runDir;
  if (run.outputs.length === 0 || !folder) throw new UserError(`${run.workflowName} saved no outputs.`);
  const uri = vscode.Uri.file(folder);
  const via = vscode.workspace.getWorkspaceFolder(uri) ? 'revealInExplorer' : 'revealFileInOS';
  await vscode.commands.executeCommand(via, uri);
  return { folder, via };
}
