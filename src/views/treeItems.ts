import * as vscode from 'vscode';
import { type ApiError } from '../api/errors';
import { formatTooltipTime } from '../base/timeFormat';
import { markdownText } from '../base/untrustedText';
import { CommandIds } from '../commands/commandIds';
import { formatShortDuration } from '../core/machineLabels';
import { targetLabel, type RunRecord } from '../core/runRegistry';
import { plainMarkdown } from '../util/markdown';
import { type MessageNode } from './treeNodes';

/** A one-line message item (an error with "click to retry", a loading line). */
export function messageItem(node: MessageNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
  item.iconPath = new vscode.ThemeIcon(node.icon);
  item.tooltip = node.detail ? `${node.text}\n\n${node.detail}` : node.text;
  item.description = node.detail;
  item.contextValue = 'message';
  if (node.command) item.command = { command: node.command, title: node.detail ?? node.text, arguments: node.args ? [...node.args] : undefined };
  return item;
}

/**
 * The row a view shows when loading failed: a refused token reads the same in every view and offers
 * Sign In (never the CLI's variables); anything else says what failed and offers a retry.
 */
export function loadErrorNode(what: string, error: ApiError, userId: string): MessageNode {
  if (error.kind === 'auth') {
    // An auth error without a status is ours (no token yet), not RunComfy's refusal.
    const refused = error.status !== undefined;
    return {
      kind: 'message',
      text: refused ? `RunComfy refused the token for user ${userId}. Sign in again.` : `${what}: ${error.message}`,
      icon: 'error',
      command: CommandIds.signIn,
      detail: 'Sign In',
    };
  }
  return { kind: 'message', text: `${what}: ${error.message}`, icon: 'error', command: CommandIds.refresh, detail: 'Click to retry' };
}

/** A bold title and a table of label/value rows, all escaped: values come from servers. */
export function detailsMarkdown(title: string, rows: readonly (readonly [string, string])[]): vscode.MarkdownString {
  return plainMarkdown([`**${markdownText(title)}**`, '', '| | |', '|---|---|', ...rows.map(([k, v]) => `| ${markdownText(k)} | ${markdownText(v)} |`)]);
}

/** A run in the Runs view or under its machine. */
export function runItem(run: RunRecord, nowMs: number): vscode.TreeItem {
  const item = new vscode.TreeItem(run.workflowName, vscode.TreeItemCollapsibleState.None);
  item.id = `${run.id}@${run.target.kind === 'machine' ? run.target.serverId : run.target.url}`;
  item.description = runDescription(run, nowMs);
  item.iconPath = runIcon(run);
  const live = run.finishedAtMs === undefined;
  item.contextValue = ['run', live ? 'interruptible' : 'finishedRun', run.outputs.length > 0 ? 'hasOutputs' : ''].join(' ').trim();
  item.tooltip = detailsMarkdown(run.workflowName, [
    ['Workflow', run.workflowPath],
    ['Where', targetLabel(run.target)],
    ['Status', run.phase],
    ['Prompt id', run.promptId ?? '—'],
    ['Started', formatTooltipTime(run.startedAtMs, { seconds: true, nowMs })],
    ...(run.finishedAtMs === undefined ? [] : ([['Finished', formatTooltipTime(run.finishedAtMs, { seconds: true, nowMs })]] as const)),
    ['Outputs', String(run.outputs.length)],
    ...(run.result?.error ? ([['Error', run.result.error.message]] as const) : []),
    ...(run.result?.runDir ? ([['Folder', run.result.runDir]] as const) : []),
  ]);
  if (!live && run.outputs.length > 0) item.command = { command: CommandIds.openRunOutputs, title: 'Open Outputs', arguments: [{ kind: 'run', runId: run.id }] };
  return item;
}

function runDescription(run: RunRecord, nowMs: number): string {
  const elapsed = formatShortDuration((run.finishedAtMs ?? nowMs) - run.startedAtMs);
  switch (run.phase) {
    case 'preparing':
      return 'uploading inputs…';
    case 'queued':
      return run.queuePosition ? `queued, position ${run.queuePosition}` : 'queued';
    case 'running': {
      // The step count before the node's title: a long title is cut at the row's end, not the count.
      const step = run.progress ? ` · ${run.progress.value}/${run.progress.max}` : '';
      const node = run.currentNode ? ` · ${run.currentNode.title ?? run.currentNode.classType ?? run.currentNode.id}` : '';
      return `running ${elapsed}${step}${node}`;
    }
    case 'success':
      return `succeeded in ${elapsed} · ${run.outputs.length} output${run.outputs.length === 1 ? '' : 's'}`;
    case 'error':
      return `failed after ${elapsed}`;
    case 'interrupted':
      return `interrupted after ${elapsed}`;
  }
}

function runIcon(run: RunRecord): vscode.ThemeIcon {
  switch (run.phase) {
    case 'success':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 'error':
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 'interrupted':
      return new vscode.ThemeIcon('circle-slash');
    default:
      return new vscode.ThemeIcon('loading~spin');
  }
}
