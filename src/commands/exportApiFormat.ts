import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelledError } from '../api/errors';
import { writeFileAtomic } from '../base/atomicFile';
import { UiConversionError } from '../core/convert/errors';
import { targetLabel, type RunTarget } from '../core/runRegistry';
import { analyzeWorkflow } from '../core/workflowAnalysis';
import { uiPromptForTarget } from '../core/workflowPreparation';
import { CommandIds } from './commandIds';
import { comfyUrlOf, targetPickItems, workflowUri } from './queueWorkflow';
import { type Services } from './services';
import { UserError } from './userError';

/**
 * Export API Format…: converts the UI-format workflow (the given file, or the active editor's) with
 * the node list of a picked target (a Ready machine or a local server; the node list this window
 * already fetched from it is reused) and writes `<name>_api.json` beside it, asking before
 * replacing one. Allowed in Restricted Mode: it uploads nothing and runs nothing; reading a server's
 * node list sends none of the workspace's files. Resolves with the written file.
 */
export async function exportApiFormat(services: Services, uriArg?: unknown): Promise<vscode.Uri> {
  const uri = workflowUri(uriArg);
  const doc = await vscode.workspace.openTextDocument(uri);
  const analysis = analyzeWorkflow(doc.getText());
  const relative = vscode.workspace.asRelativePath(uri, false);
  if (analysis.format === 'api') throw new UserError(`${relative} is already in the API format.`);
  if (analysis.format !== 'ui') throw new UserError(`${relative} is not a ComfyUI workflow saved from the editor (no "nodes" and "links"); nothing to export.`);

  const target = await pickTarget(services, uri);
  const comfyUrl = await comfyUrlOf(services, target);
  const objectInfo = await services.servers.client(comfyUrl).getObjectInfo();
  let converted;
  try {
    converted = uiPromptForTarget(analysis.document, { objectInfo, where: targetLabel(target) });
  } catch (e) {
    if (!(e instanceof UiConversionError)) throw e;
    const actions = e.kind === 'invalidWorkflow' ? [{ title: 'How to Export', command: CommandIds.howToExport }] : [];
    throw new UserError(`${relative} cannot be converted for ${targetLabel(target)}: ${e.message}`, actions);
  }

  const out = apiFormatPath(uri.fsPath);
  const outRelative = vscode.workspace.asRelativePath(vscode.Uri.file(out), false);
  if (await exists(out)) {
    const overwrite = await services.prompter.confirm(`${outRelative} already exists. Replace it?`, `It is replaced by ${relative} converted for ${targetLabel(target)}.`, 'Replace');
    if (!overwrite) throw new CancelledError();
  }
  await writeFileAtomic(out, `${JSON.stringify(converted.prompt, null, 2)}\n`);
  const written = vscode.Uri.file(out);
  await vscode.window.showTextDocument(written, { preview: false });
  if (converted.warnings.length > 0) void services.prompter.notify('warning', `${outRelative} was written, but the conversion left out what only a browser can fill: ${converted.warnings.join(' ')}`);
  return written;
}

/** `flow.json` → `flow_api.json`, beside it. */
export function apiFormatPath(fsPath: string): string {
  return path.join(path.dirname(fsPath), `${path.basename(fsPath).replace(/\.json$/i, '')}_api.json`);
}

/** The last target first when it is still there, then the Ready machines and the local servers. */
async function pickTarget(services: Services, uri: vscode.Uri): Promise<RunTarget> {
  const items = await targetPickItems(services);
  if (items.length === 0) {
    throw new UserError('Converting needs the node list of a ComfyUI server: start a RunComfy machine, or add your own ComfyUI server.', [
      { title: 'Launch Machine', command: CommandIds.launchMachine },
      { title: 'Add Local Server', command: CommandIds.addLocalServer },
    ]);
  }
  const last = services.lastTarget.value;
  const isLast = (t: RunTarget) => last !== undefined && (t.kind === 'local' ? last.kind === 'local' && last.url === t.url : last.kind === 'machine' && last.serverId === t.serverId);
  items.sort((a, b) => Number(isLast(b.value)) - Number(isLast(a.value)));
  return services.prompter.pick(items, { title: `Export ${path.basename(uri.fsPath)} in API format with the node list of…` });
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
