import * as vscode from 'vscode';
import { type AccountManager } from '../auth/accountManager';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { CommandIds } from '../commands/commandIds';
import { manageWorkspaceTrust, RESTRICTED_QUEUE_REASON } from '../commands/workspaceTrust';
import { inputLabel, refusalMessage } from '../core/inputPolicy';
import { machineShortId } from '../core/machineLabels';
import { type LocalFileInput } from '../core/workflowAnalysis';
import { type ConfigService } from '../util/config';
import { toRange, type WorkflowDocuments } from './workflowDocuments';

/**
 * Lenses above an API- or UI-format workflow: "▶ Queue on RunComfy" (on the Ready machine; "Launch a
 * machine…" when none is Ready) and "Queue on…", plus one per node whose inputs name local files,
 * saying what will be uploaded, and one per file the input policy refuses, with the same words as
 * its diagnostic. They follow machine state and the `runcomfy.codeLens.enabled` setting. In
 * Restricted Mode one lens says queueing needs a trusted folder and opens Manage Workspace Trust.
 */
export class WorkflowCodeLensProvider extends DisposableObject implements vscode.CodeLensProvider {
  private readonly _onDidChangeCodeLenses = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeCodeLenses = this._onDidChangeCodeLenses.event;
  private storeSub: Disposable | undefined;
  private readyKey = '';

  constructor(
    private readonly documents: WorkflowDocuments,
    private readonly accounts: AccountManager,
    private readonly config: ConfigService,
  ) {
    super();
    this._register(config.onDidChange(() => this._onDidChangeCodeLenses.fire()));
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(() => this._onDidChangeCodeLenses.fire()));
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register({ dispose: () => this.storeSub?.dispose() });
    this.follow();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!this.config.forResource(doc.uri).codeLensEnabled) return [];
    const analysis = this.documents.queueableAnalysis(doc);
    if (!analysis) return [];
    const first = analysis.nodes[0];
    const top = first ? new vscode.Range(toRange(first.keyRange).start.line, 0, toRange(first.keyRange).start.line, 0) : new vscode.Range(0, 0, 0, 0);
    if (!vscode.workspace.isTrusted) {
      return [
        new vscode.CodeLens(top, {
          title: '🛡 Queueing needs a trusted folder: Manage Workspace Trust',
          tooltip: `${RESTRICTED_QUEUE_REASON} Click to review and trust it.`,
          command: manageWorkspaceTrust.command,
        }),
      ];
    }
    const ready = this.readyMachines();
    const lenses = [
      ready.length > 0
        ? new vscode.CodeLens(top, {
            title: ready.length === 1 ? `▶ Queue on RunComfy (${ready[0]})` : '▶ Queue on RunComfy',
            tooltip: 'Upload local inputs, queue this workflow on your Ready RunComfy machine, stream progress and save the outputs',
            command: CommandIds.queueWorkflow,
            arguments: [doc.uri],
          })
        : new vscode.CodeLens(top, {
            title: '▶ Launch a machine and queue…',
            tooltip: 'No RunComfy machine is Ready: launch one, wait for it, then queue this workflow',
            command: CommandIds.launchAndQueue,
            arguments: [doc.uri],
          }),
      new vscode.CodeLens(top, {
        title: 'Queue on…',
        tooltip: 'Pick a RunComfy machine or one of your own ComfyUI servers',
        command: CommandIds.queueWorkflowOn,
        arguments: [doc.uri],
      }),
    ];
    const byNode = new Map<string, LocalFileInput[]>();
    for (const f of analysis.localFiles) byNode.set(f.nodeId, [...(byNode.get(f.nodeId) ?? []), f]);
    for (const [nodeId, files] of byNode) {
      // A UI-format file's nodes are not the analysis' nodes: its files sit on their node's "type".
      const at = analysis.nodes.find((n) => n.id === nodeId)?.keyRange ?? files[0].valueRange;
      const allowed = files.filter((f) => f.verdict.allowed);
      if (allowed.length > 0) {
        lenses.push(
          new vscode.CodeLens(toRange(at), {
            title: `↑ uploads ${allowed.map((f) => baseName(f.value)).join(', ')}`,
            tooltip: `${allowed.map((f) => f.absPath).join('\n')}\nUploaded under a name derived from its content, so runs never overwrite each other's inputs. Click to open it.`,
            command: 'vscode.open',
            arguments: [vscode.Uri.file(allowed[0].absPath)],
          }),
        );
      }
      for (const f of files) {
        if (f.verdict.allowed) continue;
        lenses.push(
          new vscode.CodeLens(toRange(f.valueRange), {
            title: `⊘ will not upload ${baseName(f.value)}: ${f.verdict.summary}`,
            tooltip: refusalMessage(inputLabel(f.nodeId, f.classType, f.inputName), f.value, f.verdict),
            command: 'workbench.actions.view.problems',
          }),
        );
      }
    }
    return lenses;
  }

  private readyMachines(): string[] {
    return (this.accounts.accountOrUndefined?.machines.machines ?? []).filter((m) => m.isReady).map((m) => `${m.serverType ?? 'machine'} ${machineShortId(m)}`);
  }

  private follow(): void {
    this.storeSub?.dispose();
    this.storeSub = this.accounts.accountOrUndefined?.machines.onDidChangeMachines(() => {
      // Redraw only when the set of Ready machines changed, not on every poll.
      const key = this.readyMachines().join(',');
      if (key === this.readyKey) return;
      this.readyKey = key;
      this._onDidChangeCodeLenses.fire();
    });
    this.readyKey = this.readyMachines().join(',');
    this._onDidChangeCodeLenses.fire();
  }
}

/** The file name of a value as the workflow wrote it, with either separator. */
function baseName(value: string): string {
  return value.slice(Math.max(value.lastIndexOf('/'), value.lastIndexOf('\\')) + 1);
}
