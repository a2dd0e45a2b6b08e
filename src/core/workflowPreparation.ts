import * as path from 'node:path';
import { type ApiPrompt, type ObjectInfo } from '../api/comfyTypes';
import { convertUiWorkflow, type DynamicPromptText } from './convert/convertUiWorkflow';
import { UiConversionError } from './convert/errors';
import { workflowFolderPolicy, type InputPolicy } from './inputPolicy';
import { applyOverrides, type Override } from './overrides';
import { type RunLocalInput } from './runEngine';
import { uiNodePathOf, uiNodeRange } from './uiNodeRanges';
import { analyzeWorkflow, type WorkflowAnalysis, type WorkflowProblem } from './workflowAnalysis';

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
  /** `ui` when the file is in the UI format and the prompt was converted from it. */
  readonly convertedFrom?: 'ui';
  /** Why a UI-format file could not be converted (missing classes, a broken graph). */
  readonly conversionError?: UiConversionError;
  /** The dynamic-prompt texts the conversion decided (`{a|b}` choices made for this run), for `run.json`. */
  readonly dynamicPrompts?: readonly DynamicPromptText[];
  /**
   * A problem of the analysed prompt as `file:line:column: message`. For a prompt converted from a
   * UI-format file the position is the node's in that file (its `"type"`), so the CLI and the editor
   * point at the same place; a problem of no node names the file "(converted from the UI format)".
   */
  readonly locate: (problem: WorkflowProblem) => string;
}

/** The node list a UI-format workflow is converted against, and how messages name its server. */
export interface UiConversionTarget {
  readonly objectInfo: ObjectInfo;
  /** "this machine", "Desk GPU", …: names the server in the missing-classes message. */
  readonly where: string;
  /** For `%date:…%` in save-node prefixes; default now. */
  readonly now?: Date;
  /** For `{a|b}` choices in dynamic prompts; default Math.random. */
  readonly random?: () => number;
}

/** A UI-format workflow converted for one target: the prompt to queue and what the conversion left out. */
export interface UiPromptForTarget {
  readonly prompt: ApiPrompt;
  /** One sentence per input only a browser can fill (webcam, …), naming the node. */
  readonly warnings: string[];
  /** Each dynamic-prompt text as saved and as sent (its `{a|b}` choices are made here). */
  readonly dynamicPrompts: readonly DynamicPromptText[];
}

/**
 * Converts a parsed UI-format workflow (what ComfyUI's Save writes) into the API prompt for the
 * target whose `/object_info` is given, as the frontend's Export (API) would. The editor's queue
 * commands, its Export API Format command and the shared {@link prepareWorkflow} all convert here.
 * @throws UiConversionError when a class is unknown to the target or the graph is broken.
 */
export function uiPromptForTarget(document: unknown, target: UiConversionTarget): UiPromptForTarget {
  const result = convertUiWorkflow(document, target.objectInfo, { where: target.where, now: target.now, random: target.random });
  return { prompt: result.prompt, warnings: result.warnings.map((w) => w.message), dynamicPrompts: result.dynamicPrompts };
}

/**
 * Analyses a workflow's text (from disk or an editor buffer) and applies overrides. The prompt is
 * analysed again after overrides, so a `--set` that names a local file uploads it and one that
 * breaks the prompt is caught before anything is sent. `displayPath` names the file in messages.
 * An input naming a file the `inputPolicy` refuses is an error: nothing is uploaded or queued.
 * A UI-format file is converted against `conversion` first (without it, it cannot be queued), and
 * the converted prompt is analysed like an API file, so its uploads pass the same policy.
 */
export function prepareWorkflow(
  text: string,
  absPath: string,
  overrides: readonly Override[] = [],
  displayPath = absPath,
  inputPolicy: InputPolicy = workflowFolderPolicy(absPath),
  conversion?: UiConversionTarget,
): PreparedWorkflow {
  const fileDir = path.dirname(absPath);
  let analysis = analyzeWorkflow(text, { fileDir, inputPolicy });
  const uiDocument = analysis.document;
  const inFile = (p: WorkflowProblem) => `${displayPath}:${p.range.line}:${p.range.column}: ${p.message}`;
  // Positions in the converted text mean nothing in the file: the node's place in the file does.
  const inConverted = (p: WorkflowProblem) => {
    const at = p.nodeId === undefined ? undefined : uiNodePathOf(uiDocument, p.nodeId);
    const range = at === undefined ? undefined : uiNodeRange(text, at);
    return range ? `${displayPath}:${range.line}:${range.column}: ${p.message}` : `${displayPath} (converted from the UI format): ${p.message}`;
  };
  let locate = inFile;
  const located = (a: WorkflowAnalysis, where: (p: WorkflowProblem) => string) => a.problems.map((p) => ({ severity: p.severity, text: where(p) }));
  let found = located(analysis, inFile);
  let convertedFrom: 'ui' | undefined;
  let conversionError: UiConversionError | undefined;
  let dynamicPrompts: readonly DynamicPromptText[] = [];
  if (analysis.format === 'ui' && conversion) {
    try {
      const converted = uiPromptForTarget(analysis.document, conversion);
      analysis = analyzeWorkflow(JSON.stringify(converted.prompt, null, 2), { fileDir, inputPolicy });
      convertedFrom = 'ui';
      dynamicPrompts = converted.dynamicPrompts;
      locate = inConverted;
      found = [...converted.warnings.map((w) => ({ severity: 'warning' as const, text: `${displayPath}: ${w}` })), ...located(analysis, inConverted)];
    } catch (e) {
      if (!(e instanceof UiConversionError)) throw e;
      conversionError = e;
      found = [{ severity: 'error', text: `${displayPath}: ${e.message}` }];
    }
  }
  if (analysis.prompt && overrides.length > 0) {
    analysis = analyzeWorkflow(JSON.stringify(applyOverrides(analysis.prompt, overrides), null, 2), { fileDir, inputPolicy });
    locate = (p) => `${displayPath} with --set: ${p.message}`;
    found = [...found.filter((p) => p.severity === 'warning'), ...located(analysis, locate)];
  }
  const problems = found.filter((p) => p.severity === 'error').map((p) => p.text);
  if (!analysis.prompt && problems.length === 0) problems.push(`${displayPath}: this is not an API-format workflow that can be queued.`);
  return {
    absPath,
    analysis,
    prompt: problems.length === 0 ? analysis.prompt : undefined,
    localInputs: analysis.localFiles.filter((f) => f.verdict.allowed).map((f) => ({ nodeId: f.nodeId, inputName: f.inputName, absPath: f.absPath, value: f.value })),
    inputPolicy,
    locate,
    problems,
    warnings: found.filter((p) => p.severity === 'warning').map((p) => p.text),
    ...(convertedFrom ? { convertedFrom } : {}),
    ...(conversionError ? { conversionError } : {}),
    ...(dynamicPrompts.length > 0 ? { dynamicPrompts } : {}),
  };
}

/** The name a run's folder and lists use: the file name without `.json`, or its folder's name for a plain `workflow_api.json` or `workflow.json`. */
export function workflowDisplayName(absPath: string): string {
  const base = path.basename(absPath).replace(/\.json$/i, '');
  if (/^workflow(_api)?$/i.test(base)) return path.basename(path.dirname(absPath)) || base;
  return base.replace(/\.api$/i, '');
}
