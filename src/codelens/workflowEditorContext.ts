import * as vscode from 'vscode';
import { DisposableObject } from '../base/lifecycle';
import { ContextKeys } from '../commands/commandIds';
import { type ContextKeyService } from '../util/contextKeys';
import { type WorkflowDocuments } from './workflowDocuments';

/** Edits settle this long before the key follows them (the analysis of a large workflow is not free). */
const settleMs = 300;

/**
 * Keeps `runcomfy.editorIsWorkflow` (the `when` of the editor's Queue button and context menu) true
 * exactly while the active editor shows a document the Queue CodeLens serves (see
 * `WorkflowDocuments.queueableAnalysis`): it follows the active editor, and edits that make or
 * unmake a workflow. `runcomfy.editorIsUiWorkflow` follows it for the UI-format ones (Export API Format…).
 */
export class WorkflowEditorContext extends DisposableObject {
  private pending: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly documents: WorkflowDocuments,
    private readonly contextKeys: ContextKeyService,
  ) {
    super();
    this._register(vscode.window.onDidChangeActiveTextEditor(() => this.sync()));
    this._register(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document !== vscode.window.activeTextEditor?.document) return;
        clearTimeout(this.pending);
        this.pending = setTimeout(() => this.sync(), settleMs);
      }),
    );
    this._register({ dispose: () => clearTimeout(this.pending) });
    this.sync();
  }

  private sync(): void {
    clearTimeout(this.pending);
    const doc = vscode.window.activeTextEditor?.document;
    const analysis = doc !== undefined && !doc.isClosed ? this.documents.queueableAnalysis(doc) : undefined;
    void this.contextKeys.set(ContextKeys.editorIsWorkflow, analysis !== undefined);
    void this.contextKeys.set(ContextKeys.editorIsUiWorkflow, analysis?.format === 'ui');
  }
}
