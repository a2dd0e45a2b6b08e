import * as path from 'node:path';
import * as vscode from 'vscode';
import { editorInputPolicy, type InputPolicy } from '../core/inputPolicy';
import { analyzeWorkflow, looksLikeApiWorkflow, mayBeWorkflowDocument, type WorkflowAnalysis } from '../core/workflowAnalysis';

/** File names that are API-format workflows by convention. */
export function isWorkflowFileName(fsPath: string): boolean {
  const name = path.basename(fsPath).toLowerCase();
  return name === 'workflow_api.json' || name.endsWith('.api.json');
}

/** The documents the CodeLens and diagnostics serve. */
export const workflowDocumentSelector: vscode.DocumentSelector = [
  { language: 'json', scheme: 'file' },
  { language: 'jsonc', scheme: 'file' },
  { pattern: '**/workflow_api.json' },
  { pattern: '**/*.api.json' },
];

/**
 * The analysis of each open workflow document, computed once per document version and shared by
 * the CodeLens provider, the diagnostics and the queue commands. Only documents that can be
 * workflows are analysed (see `mayBeWorkflowDocument`), and a JSON file that is neither named like
 * a workflow nor looks like one is never parsed.
 */
export class WorkflowDocuments {
  private readonly cache = new Map<string, { version: number; analysis: WorkflowAnalysis | undefined }>();

  /** The analysis, or undefined when the document is neither an API- nor a UI-format workflow (nor named like one). */
  analysis(doc: vscode.TextDocument): WorkflowAnalysis | undefined {
    const key = doc.uri.toString();
    const hit = this.cache.get(key);
    if (hit?.version === doc.version) return hit.analysis;
    const named = isWorkflowFileName(doc.uri.fsPath);
    let analysis: WorkflowAnalysis | undefined;
    // Decided before getText(): a huge log or an output channel is never copied out, let alone parsed.
    if (mayBeWorkflowDocument({ languageId: doc.languageId, scheme: doc.uri.scheme, namedLikeWorkflow: named, length: documentLength(doc) })) {
      const text = doc.getText();
      if (named || looksLikeApiWorkflow(text) || looksLikeUiWorkflow(text)) {
        const local = doc.uri.scheme === 'file';
        const a = analyzeWorkflow(text, local ? { fileDir: path.dirname(doc.uri.fsPath), inputPolicy: inputPolicyFor(doc.uri) } : {});
        analysis = named || a.isApiFormat || a.format === 'ui' ? a : undefined;
      }
    }
    this.cache.set(key, { version: doc.version, analysis });
    return analysis;
  }

  /**
   * The analysis of a document the queue commands are offered on: an API- or UI-format workflow the
   * CodeLens serves (a UI-format one is converted against the target when queued). The lens and the editor's Queue button (`runcomfy.editorIsWorkflow`) both ask
   * this, so one is offered exactly where the other is. Only files on this computer's disk qualify:
   * queueing reads inputs beside the workflow and saves outputs there (a virtual workspace has neither).
   */
  queueableAnalysis(doc: vscode.TextDocument): WorkflowAnalysis | undefined {
    if (doc.uri.scheme !== 'file' || vscode.languages.match(workflowDocumentSelector, doc) === 0) return undefined;
    const analysis = this.analysis(doc);
    return analysis?.format === 'api' || analysis?.format === 'ui' ? analysis : undefined;
  }

  forget(doc: vscode.TextDocument): void {
    this.cache.delete(doc.uri.toString());
  }
}

/**
 * A cheap guess for a JSON file with any name: what ComfyUI's Save writes starts as an object and
 * has `"nodes"` and `"links"` near the top. Confirmed by the analysis (`format === 'ui'`).
 */
function looksLikeUiWorkflow(text: string): boolean {
  const head = text.slice(0, 4096);
  return /^\uFEFF?\s*\{/.test(head) && text.includes('"nodes"') && text.includes('"links"');
}

/** The document's length in characters, without copying its text. */
function documentLength(doc: vscode.TextDocument): number {
  return doc.lineCount === 0 ? 0 : doc.offsetAt(doc.lineAt(doc.lineCount - 1).range.end);
}

/** Which local files a workflow may upload: those inside its workspace folder (outside every folder: below its own folder). */
export function inputPolicyFor(uri: vscode.Uri): InputPolicy {
  return editorInputPolicy(uri.fsPath, vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath);
}

/** A core range as a VS Code range (core counts 1-based lines and columns). */
export function toRange(r: { line: number; column: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(r.line - 1, r.column - 1, r.endLine - 1, r.endColumn - 1);
}
