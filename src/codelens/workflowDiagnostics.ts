import * as vscode from 'vscode';
import { flattenNodeErrors } from '../api/comfyClient';
import { type ObjectInfo } from '../api/comfyTypes';
import { maskUrl } from '../api/redact';
import { type AccountManager } from '../auth/accountManager';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { type RunRegistry } from '../core/runRegistry';
import { convertUiWorkflow } from '../core/convert/convertUiWorkflow';
import { shown, UiConversionError } from '../core/convert/errors';
import { checkAgainstObjectInfo } from '../core/objectInfoCheck';
import { uiNodePathOf, uiNodeRange } from '../core/uiNodeRanges';
import { nodeLabel, problem, type WorkflowAnalysis, type WorkflowProblem } from '../core/workflowAnalysis';
import { serverNodeErrorText } from '../core/workflowMessages';
import { type ConfigService } from '../util/config';
import { toRange, type WorkflowDocuments } from './workflowDocuments';

/** A server whose node list a file is checked against, and how messages name it. */
interface CheckTarget {
  readonly url: string;
  readonly where: 'this machine' | 'this server';
}

/**
 * Problems of open workflow files as diagnostics: what the local analysis finds (syntax, broken
 * links) at once, and unknown node types and out-of-range values checked against a server's
 * `/object_info` (for a UI-format file: what converting it there runs into, at the nodes). An API
 * file is checked against the first Ready machine; a UI-format file against the target it was last
 * queued on in this window, else the first Ready machine, else the first local server that answers.
 * A prompt the server rejected adds its node errors until the file changes.
 */
export class WorkflowDiagnostics extends DisposableObject {
  private readonly collection = this._register(vscode.languages.createDiagnosticCollection('runcomfy'));
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly serverErrors = new Map<string, vscode.Diagnostic[]>();
  /** Node lists by server URL: fetched, failed (skipped until the servers change), or being fetched. */
  private readonly nodeLists = new Map<string, ObjectInfo | 'failed' | 'fetching'>();
  private storeSub: Disposable | undefined;

  constructor(
    private readonly documents: WorkflowDocuments,
    private readonly accounts: AccountManager,
    private readonly servers: ComfyServerDirectory,
    private readonly runs: RunRegistry,
    private readonly config: ConfigService,
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
    this._register(config.onDidChange(() => this.serversChanged()));
    // Queueing a file on a target makes that target the one its diagnostics use.
    this._register(runs.onDidChange(() => this.refreshAll()));
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
    const info = this.nodeLists.get(comfyUrl);
    if (analysis?.format !== 'api' || typeof info !== 'object') return [];
    return checkAgainstObjectInfo(analysis, info, 'this machine').filter((p) => p.severity === 'error');
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
    const target = analysis.format === 'api' ? this.readyMachine() : analysis.format === 'ui' ? this.uiTarget(doc) : undefined;
    const info = target && this.nodeList(target);
    if (target && info) {
      const source = `RunComfy (${maskUrl(target.url)})`;
      const found = analysis.format === 'api' ? checkAgainstObjectInfo(analysis, info, target.where) : conversionProblems(doc.getText(), analysis, info, target.where);
      for (const p of found) problems.push({ p, source });
    }
    const diagnostics = problems.map(({ p, source }) => {
      const d = new vscode.Diagnostic(toRange(p.range), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
      d.source = source;
      d.code = p.code;
      return d;
    });
    this.collection.set(doc.uri, [...diagnostics, ...(this.serverErrors.get(doc.uri.toString()) ?? [])]);
  }

  /** Follows the account's machines: their changes may change every file's target. */
  private follow(): void {
    this.storeSub?.dispose();
    this.storeSub = this.accounts.accountOrUndefined?.machines.onDidChangeMachines(() => this.serversChanged());
    this.serversChanged();
  }

  /** Forgets the node lists of servers that are gone and the failures (a server may answer now), then checks again. */
  private serversChanged(): void {
    const known = new Set([...this.readyMachines().map((m) => m.url), ...this.config.value.localServers.map((s) => s.url)]);
    for (const [url, info] of [...this.nodeLists]) if (!known.has(url) || info === 'failed') this.nodeLists.delete(url);
    this.refreshAll();
  }

  private readyMachines(): CheckTarget[] {
    const machines = this.accounts.accountOrUndefined?.machines.machines ?? [];
    return machines.flatMap((m) => (m.isReady && m.mainServiceUrl ? [{ url: m.mainServiceUrl, where: 'this machine' as const }] : []));
  }

  private readyMachine(): CheckTarget | undefined {
    return this.readyMachines()[0];
  }

  /**
   * A UI-format file's target: the one it was last queued on (while it is still there), else the
   * first Ready machine, else the first local server whose node list could be read (servers are
   * asked in the settings' order; one still being asked holds the later ones back).
   */
  private uiTarget(doc: vscode.TextDocument): CheckTarget | undefined {
    const last = this.runs.runs.find((r) => r.workflowPath === doc.uri.fsPath)?.target;
    const machines = this.readyMachines();
    if (last?.kind === 'local' && this.config.value.localServers.some((s) => s.url === last.url)) return { url: last.url, where: 'this server' };
    if (last?.kind === 'machine') {
      const url = this.accounts.accountOrUndefined?.machines.machine(last.serverId)?.mainServiceUrl;
      if (url && machines.some((m) => m.url === url)) return { url, where: 'this machine' };
    }
    if (machines.length > 0) return machines[0];
    for (const server of this.config.value.localServers) {
      const info = this.nodeLists.get(server.url);
      if (info === 'failed') continue;
      const target = { url: server.url, where: 'this server' as const };
      if (info === undefined) this.nodeList(target);
      return target;
    }
    return undefined;
  }

  /** The server's node list when it is known; otherwise fetches it once and checks every file again when it arrives. */
  private nodeList({ url, where }: CheckTarget): ObjectInfo | undefined {
    const known = this.nodeLists.get(url);
    if (typeof known === 'object') return known;
    if (known !== undefined) return undefined;
    this.nodeLists.set(url, 'fetching');
    this.servers
      .client(url, where === 'this machine' ? "the machine's main_service_url" : 'runcomfy.localServers')
      .getObjectInfo()
      .then(
        (info) => this.nodeLists.get(url) === 'fetching' && this.nodeLists.set(url, info),
        () => this.nodeLists.get(url) === 'fetching' && this.nodeLists.set(url, 'failed'),
      )
      .finally(() => {
        if (!this.isDisposed) this.refreshAll();
      });
    return undefined;
  }

  private refreshAll(): void {
    for (const d of vscode.workspace.textDocuments) this.update(d);
  }
}

/**
 * What converting a UI-format file against a server's node list runs into, at the nodes: each node
 * of a class the server lacks (on its `"type"`), a broken graph (on `"nodes"`), and the inputs the
 * conversion leaves out (warnings, on the node they come from).
 */
function conversionProblems(text: string, analysis: WorkflowAnalysis, objectInfo: ObjectInfo, where: CheckTarget['where']): WorkflowProblem[] {
  const whole = analysis.problems.find((p) => p.code === 'ui_format')?.range ?? { offset: 0, length: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
  try {
    const { warnings } = convertUiWorkflow(analysis.document, objectInfo, { where });
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
        `${nodeLabel(m.nodeId, m.classType, m.title)}: ${where} has no node class "${shown(m.classType)}". Install the custom nodes that provide it (or remove the node), then queue again.`,
        m.nodeId,
      ),
    );
  }
}
