import * as vscode from 'vscode';
import { savedWorkflowPathProblem } from '../api/comfyClient';
import { type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { type RunTarget, targetLabel } from '../core/runRegistry';

/** The scheme of the read-only views of workflows saved on a server. */
export const SAVED_WORKFLOW_SCHEME = 'runcomfy-saved';

/** Which server a saved-workflow document comes from: a machine by id, a local server by its name (never a URL). */
export type SavedWorkflowSource = { readonly kind: 'machine'; readonly serverId: string; readonly label: string } | { readonly kind: 'local'; readonly name: string };

/**
 * The document of a saved workflow: the tab reads `Blue square (Desk GPU).json`, the server named by
 * its label; the query says where to read it (a machine's id or a local server's name, and the path),
 * so neither the title nor the URI ever holds a ComfyUI URL.
 */
export function savedWorkflowUri(target: RunTarget, rel: string): vscode.Uri {
  const server = targetLabel(target).replace(/[/\\]/g, '_');
  const slash = rel.lastIndexOf('/');
  const dir = slash >= 0 ? rel.slice(0, slash + 1) : '';
  const file = rel.slice(slash + 1);
  const m = /^(.*?)(\.json)?$/i.exec(file)!;
  const title = `${m[1]} (${server})${m[2] ?? ''}`;
  const query = new URLSearchParams(target.kind === 'machine' ? { machine: target.serverId, label: target.label, path: rel } : { local: target.name, path: rel });
  return vscode.Uri.from({ scheme: SAVED_WORKFLOW_SCHEME, path: `/${dir}${title}`, query: query.toString() });
}

/** The source and path of a saved-workflow document, or undefined when the URI is not one of ours (or names an unsafe path). */
export function parseSavedWorkflowUri(uri: vscode.Uri): { readonly source: SavedWorkflowSource; readonly path: string } | undefined {
  if (uri.scheme !== SAVED_WORKFLOW_SCHEME) return undefined;
  const q = new URLSearchParams(uri.query);
  const rel = q.get('path');
  if (rel === null || savedWorkflowPathProblem(rel) !== undefined) return undefined;
  const machine = q.get('machine');
  const local = q.get('local');
  if (machine) return { source: { kind: 'machine', serverId: machine, label: q.get('label') ?? `machine ${machine}` }, path: rel };
  if (local) return { source: { kind: 'local', name: local }, path: rel };
  return undefined;
}

/** The name a saved workflow's runs and files go by: its file name without `.json`. */
export function savedWorkflowName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1).replace(/\.json$/i, '');
}

/**
 * Serves `runcomfy-saved:` documents: the workflow's text, read from its server when VS Code opens
 * the document, and again when that server's list is refreshed (Refresh, Retry, a Save to ComfyUI),
 * so an open view follows the server. Such documents are read-only.
 */
export class SavedWorkflowDocumentProvider extends DisposableObject implements vscode.TextDocumentContentProvider {
  private readonly _onDidChange = this._register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this._onDidChange.event;

  constructor(
    private readonly read: (source: SavedWorkflowSource, rel: string) => Promise<string>,
    /** The catalog key of a source (`machine:<id>`, `local:<url>`), undefined for a server no longer listed. */
    private readonly keyOf: (source: SavedWorkflowSource) => string | undefined,
    refreshed: Event<string>,
  ) {
    super();
    this._register(
      refreshed((key) => {
        for (const doc of vscode.workspace.textDocuments) {
          const parsed = parseSavedWorkflowUri(doc.uri);
          if (parsed && this.keyOf(parsed.source) === key) this._onDidChange.fire(doc.uri);
        }
      }),
    );
  }

  provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const parsed = parseSavedWorkflowUri(uri);
    if (!parsed) return Promise.reject(new Error(`${uri.path} does not name a saved workflow (reopen it from the Machines view).`));
    return this.read(parsed.source, parsed.path);
  }
}
