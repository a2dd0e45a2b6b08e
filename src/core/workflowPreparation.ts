import * as path from 'node:path';
import { type ApiPrompt } from '../api/comfyTypes';
import { workflowFolderPolicy, type InputPolicy } from './inputPolicy';
import { applyOverrides, type Override } from './overrides';
import { type RunLocalInput } from './runEngine';
import { analyzeWorkflow, type WorkflowAnalysis } from './workflowAnalysis';

/** A workflow ready to queue: the prompt, the local files to upload, and what analysis found. */
export interface PreparedWorkflow {
  readonly absPath: string;
  readonly analysis: WorkflowAnalysis;
  /** Set only when nothing stops the prompt from being queued. */
  readonly prompt: ApiPrompt | undefined;
  readonly localInputs: RunLocalInput[];
  /** The policy the local inputs were checked against; the run checks each file again as it opens it. */
  readonly inputPolicy: InputPolicy;
  /** Errors, each located (`file:line:column: message`); any error means the run must not start. */
  readonly problems: string[];
  readonly warnings: string[];
}

/**
 * Analyses a workflow's text (from disk or an editor buffer) and applies overrides. The prompt is
 * analysed again after overrides, so a `--set` that names a local file uploads it and one that
 * breaks the prompt is caught before anything is sent. `displayPath` names the file in messages.
 * An input naming a file the `inputPolicy` refuses is an error: nothing is uploaded or queued.
 */
export function prepareWorkflow(
  text: string,
  absPath: string,
  overrides: readonly Override[] = [],
  displayPath = absPath,
  inputPolicy: InputPolicy = workflowFolderPolicy(absPath),
): PreparedWorkflow {
  const fileDir = path.dirname(absPath);
  let analysis = analyzeWorkflow(text, { fileDir, inputPolicy });
  const located = (a: WorkflowAnalysis, where: string, withPosition: boolean) =>
    a.problems.map((p) => ({ severity: p.severity, text: `${where}${withPosition ? `:${p.range.line}:${p.range.column}` : ''}: ${p.message}` }));
  let found = located(analysis, displayPath, true);
  if (analysis.prompt && overrides.length > 0) {
    analysis = analyzeWorkflow(JSON.stringify(applyOverrides(analysis.prompt, overrides), null, 2), { fileDir, inputPolicy });
    found = [...found.filter((p) => p.severity === 'warning'), ...located(analysis, `${displayPath} with --set`, false)];
  }
  const problems = found.filter((p) => p.severity === 'error').map((p) => p.text);
  if (!analysis.prompt && problems.length === 0) problems.push(`${displayPath}: this is not an API-format workflow that can be queued.`);
  return {
    absPath,
    analysis,
    prompt: problems.length === 0 ? analysis.prompt : undefined,
    localInputs: analysis.localFiles.filter((f) => f.verdict.allowed).map((f) => ({ nodeId: f.nodeId, inputName: f.inputName, absPath: f.absPath, value: f.value })),
    inputPolicy,
    problems,
    warnings: found.filter((p) => p.severity === 'warning').map((p) => p.text),
  };
}

/** The name a run's folder and lists use: the file name without `.json`, or its folder's name for a plain `workflow_api.json` or `workflow.json`. */
export function workflowDisplayName(absPath: string): string {
  const base = path.basename(absPath).replace(/\.json$/i, '');
  if (/^workflow(_api)?$/i.test(base)) return path.basename(path.dirname(absPath)) || base;
  return base.replace(/\.api$/i, '');
}
