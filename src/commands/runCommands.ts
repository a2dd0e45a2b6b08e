import * as path from 'node:path';
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

/** Open Outputs: the run's files in the editor (one directly, several through a pick), or its folder. */
export async function openRunOutputs(services: Services, arg?: unknown): Promise<string[]> {
  const run = isNode(arg, 'run') ? services.runs.get(arg.runId) : services.runs.runs.find((r) => r.outputs.length > 0);
  if (!run) throw new UserError('That run is no longer listed.');
  if (run.outputs.length === 0) throw new UserError(`${run.workflowName} saved no outputs.`);
  const paths =
    run.outputs.length === 1
      ? [run.outputs[0].path]
      : [
          await services.prompter.pick(
            run.outputs.map((o) => ({ label: path.basename(o.path), description: `node ${o.node} · ${o.key}`, detail: o.path, value: o.path })),
            { title: `Outputs of ${run.workflowName}` },
          ),
        ];
  for (const p of paths) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(p), { preview: false });
  return paths;
}
