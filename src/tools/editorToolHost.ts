import * as fs from 'node:fs/promises';
import * as vscode from 'vscode';
import { maskUrl } from '../api/redact';
import { inputPolicyFor } from '../codelens/workflowDocuments';
import { outputFolder } from '../commands/outputFolder';
import { type Services } from '../commands/services';
import { UserError } from '../commands/userError';
import { targetLabel } from '../core/runRegistry';
import { ToolError, type ToolHost } from '../core/tools/toolDefinition';
import { resolveToolPath } from '../core/tools/toolPaths';

/**
 * What the agent tools run against in the editor: the window's account, runs, servers and settings.
 * Workflow paths must be `.json` files inside a workspace folder (symbolic links followed); queueing
 * needs a trusted workspace, like the queue commands; outputs go where `runcomfy.outputDirectory`
 * says; runs show in the Runs view and the log like any other.
 */
export function editorToolHost(services: Services): ToolHost {
  return {
    account: () => {
      const account = services.accounts.accountOrUndefined;
      if (!account) throw new ToolError('not_signed_in', 'Not signed in to RunComfy: ask the user to run "RunComfy: Sign In…". Local ComfyUI servers (runcomfy.localServers) still work.');
      return account;
    },
    get rates() {
      return services.config.value.rates;
    },
    clock: services.clock,
    runs: services.runs,
    localServers: () => services.config.value.localServers,
    comfyClient: (url) => services.servers.client(url),
    async openWorkflow(raw) {
      const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
      const resolved = await resolveToolPath(raw, roots, 'the workspace folders');
      const uri = vscode.Uri.file(resolved.absPath);
      // What the user sees: an open editor's text, unsaved edits included (the queue commands do the same).
      const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === resolved.absPath);
      return { absPath: resolved.absPath, displayPath: vscode.workspace.asRelativePath(uri, roots.length > 1), text: open?.getText() ?? (await fs.readFile(resolved.absPath, 'utf8')), inputPolicy: inputPolicyFor(uri) };
    },
    assertMayQueue() {
      if (!vscode.workspace.isTrusted) throw new ToolError('untrusted_workspace', 'This workspace is not trusted (Restricted Mode): queueing its workflows, which uploads its files, needs a trusted folder. Ask the user to trust it.');
    },
    async outputLocation(file) {
      try {
        return await outputFolder(services, vscode.Uri.file(file.absPath));
      } catch (e) {
        if (e instanceof UserError) throw new ToolError('output_folder', e.message);
        throw e;
      }
    },
    runStarted(engine, info) {
      services.runLog.attach(engine.onEvent, { workflow: info.workflow, target: targetLabel(info.target), server: maskUrl(info.comfyUrl) });
    },
  };
}
