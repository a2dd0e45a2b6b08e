import * as vscode from 'vscode';
import { flattenNodeErrors } from '../api/comfyClient';
import { type ObjectInfo } from '../api/comfyTypes';
import { maskUrl } from '../api/redact';
import { type AccountManager } from '../auth/accountManager';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { convertUiWorkflow } from '../core/convert/convertUiWorkflow';
import { shown, UiConversionError } from '../core/convert/errors';
import { checkAgainstObjectInfo } from '../core/objectInfoCheck';
import { uiNodePathOf, uiNodeRange } from '../core/uiNodeRanges';
import { nodeLabel, problem, type WorkflowAnalysis, type WorkflowProblem } from '../core/workflowAnalysis';
import { serverNodeErrorText } from '../core/workflowMessages';
import { toRange, type WorkflowDocuments } from './workflowDocuments';

/**
 * Problems of open workflow files as diagnostics: what the local analysis finds (syntax, broken
 * links) at once, and, while a machine is Ready, unknown node types and out-of-range values checked
 * against that machine's `/object_info` (for a UI-format file: what converting it there runs into). A prompt the server rejected adds its node errors
 * until the file changes.
 */
export class WorkflowDiagnostics extends DisposableObject {
  private readonly collection = this._register(vscode.languages.createDiagnosticCollection('runcomfy'));
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly serverErrors = new Map<string, vscode.Diagnostic[]>();
  private objectInfo: { url: string; info: ObjectInfo } | undefined;
  private storeSub: Disposable | undefined;

  constructor(
    private readonly documents: WorkflowDocuments,
    private readonly accounts: AccountManager,
    private readonly servers: ComfyServerDirectory,
  ) {
    super();
    this._register(vscode.workspace.onDidOpenTextDocument((d) => this.update(d)));
    this._register(
      vscode.workspace.onDidChangeTextDocument((e) => {
        this.serverErrors.delete(e.document.uri.toString());
        this.schedule(e.document);
      }),
    );
    this._register(
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.collection.delete(d.uri);
        this.serverErrors.delete(d.uri.toString());
        this.documents.forget(d);
      }),
    );
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register({
      dispose: () => {
        this.storeSub?.dispose();
        this.pending.forEach((t) => clearTimeout(t));
      },
    });
    this.follow();
    vscode.workspace.textDocuments.forEach((d) => this.update(d));
  }

  /**
   * The errors the diagnostics show for `doc` from the node list of the server at `comfyUrl`: the
   * problems known before queueing there. Empty when that server's node list is not the one the
   * diagnostics hold (another target, or not fetched yet): nothing is known then, and nothing is fetched.
   */
  knownProblems(doc: vscode.TextDocument, comfyUrl: string): WorkflowProblem[] {
    const analysis = this.documents.analysis(doc);
    if (analysis?.format !== 'api' || this.objectInfo?.url !== comfyUrl) return [];
    return checkAgainstObjectInfo(analysis, this.objectInfo.info, 'this machine').filter((p) => p.severity === 'error');
  }

  /** The server's node errors of a rejected prompt, shown on the nodes until the file changes. */
  showServerErrors(uri: vscode.Uri, rawNodeErrors: unknown, source: string): void {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    const analysis = doc && this.documents.analysis(doc);
    if (!analysis) return;
    const diagnostics = flattenNodeErrors(rawNodeErrors).flatMap((report) =>
      report.errors.map((e) => {
        const node = analysis.nodes.find((n) => n.id === report.nodeId);
        const inputName = typeof e.extra_info.input_name === 'string' ? e.extra_info.input_name : undefined;
        const input = node?.inputs.find((i) => i.name === inputName);
        const range = toRange(input?.valueRange ?? node?.keyRange ?? { line: 1, column: 1, endLine: 1, endColumn: 1 });
        const what = `${nodeLabel(report.nodeId, node?.classType ?? report.classType, node?.title)}: ${serverNodeErrorText(e)}`;
        const d = new vscode.Diagnostic(range, `${what.replace(/\.$/, '')}. Rejected by ${source}.`, vscode.DiagnosticSeverity.Error);
        d.source = 'RunComfy';
        d.code = e.type;
        return d;
      }),
    );
    this.serverErrors.set(uri.toString(), diagnostics);
    if (doc) this.update(doc);
  }

  private schedule(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.set(key, setTimeout(() => {
      this.pending.delete(key);
      this.update(doc);
    }, 300));
  }

  private update(doc: vscode.TextDocument): void {
    if (doc.isClosed) return;
    const analysis = this.documents.analysis(doc);
    if (!analysis) {
      this.collection.delete(doc.uri);
      return;
    }
    // A UI-format file is converted when queued: that it is not the API format is no problem any more.
    const problems: { p: WorkflowProblem; source: string }[] = analysis.problems.filter((p) => p.code !== 'ui_format').map((p) => ({ p, source: 'RunComfy' }));
    if (this.objectInfo && analysis.format === 'api') {
      const source = `RunComfy (${maskUrl(this.objectInfo.url)})`;
      for (const p of checkAgainstObjectInfo(analysis, this.objectInfo.info, 'this machine')) problems.push({ p, source });
    }
    if (this.objectInfo && analysis.format === 'ui') {
      const source = `RunComfy (${maskUrl(this.objectInfo.url)})`;
      for (const p of conversionProblems(doc.getText(), analysis, this.objectInfo.info)) problems.push({ p, source });
    }
    const diagnostics = problems.map(({ p, source }) => {
      const d = new vscode.Diagnostic(toRange(p.range), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      d.source = source;
      d.code = p.code;
      return d;
    });
    this.collection.set(doc.uri, [...diagnostics, ...(this.serverErrors.get(doc.uri.toString()) ?? [])]);
  }

  /** Uses the node list of the first Ready machine; drops it when that machine is gone. */
  private follow(): void {
    this.storeSub?.dispose();
    const store = this.accounts.accountOrUndefined?.machines;
    const check = () => {
      const url = store?.machines.find((m) => m.isReady && m.mainServiceUrl)?.mainServiceUrl ?? undefined;
      if (url === this.objectInfo?.url) return;
      this.objectInfo = undefined;
      this.refreshAll();
      if (!url) return;
      this.servers
        .client(url, "the machine's main_service_url")
        .getObjectInfo()
        .then((info) => {
          this.objectInfo = { url, info };
          this.refreshAll();
        })
        .catch(() => undefined);
    };
    this.storeSub = store?.onDidChangeMachines(check);
    check();
  }

  private refreshAll(): void {
    for (const d of vscode.workspace.textDocuments) this.update(d);
  }
}

/**
 * What converting a UI-format file against the Ready machine's node list runs into, at the nodes:
 * each node of a class the machine lacks (on its `"type"`), a broken graph (on `"nodes"`), and the
 * inputs the conversion leaves out (warnings, on the node they come from).
 */
function conversionProblems(text: string, analysis: WorkflowAnalysis, objectInfo: ObjectInfo): WorkflowProblem[] {
  const whole = analysis.problems.find((p) => p.code === 'ui_format')?.range ?? { offset: 0, length: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
  try {
    const { warnings } = convertUiWorkflow(analysis.document, objectInfo, { where: 'this machine' });
    return warnings.map((w) => {
      const at = uiNodePathOf(analysis.document, w.nodeId);
      return problem('warning', 'conversion_warning', (at === undefined ? undefined : uiNodeRange(text, at)) ?? whole, w.message, w.nodeId, w.input);
    });
  } catch (e) {
    if (!(e instanceof UiConversionError)) throw e;
    if (e.kind !== 'missingClasses') return [problem('error', 'conversion_failed', whole, `This UI-format workflow cannot be converted: ${e.message}`)];
    return e.missing.map((m) =>
      problem(
        'error',
        'unknown_node_class',
        uiNodeRange(text, m.path) ?? whole,
        `${nodeLabel(m.nodeId, m.classType, m.title)}: this machine has no node class "${shown(m.classType)}". Install the custom nodes that provide it (or remove the node), then queue again.`,
        m.nodeId,
      ),
    );
  }
}
