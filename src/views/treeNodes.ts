import { type RunTarget } from '../core/runRegistry';
import { type LocalServerSetting } from '../util/config';

/**
 * The elements of the RunComfy trees. Commands receive them as their first argument when invoked
 * from a tree, so each carries exactly what a command needs to find its target again.
 */
export interface WorkflowNode { readonly kind: 'workflow'; readonly workflowId: string }
export interface VersionNode { readonly kind: 'version'; readonly workflowId: string; readonly versionId: string }
export interface MachineNode { readonly kind: 'machine'; readonly serverId: string }
export interface LocalServerNode { readonly kind: 'localServer'; readonly server: LocalServerSetting }
export interface RunNode { readonly kind: 'run'; readonly runId: string }
/** A sweep in the Runs view (its runs are its children). */
export interface SweepNode { readonly kind: 'sweep'; readonly sweepId: string }
/** One run of a sweep, by its index in the plan. */
export interface SweepRunNode { readonly kind: 'sweepRun'; readonly sweepId: string; readonly index: number }
/** "Earlier runs" in the Runs view: run folders of earlier sessions under the output folders, found when expanded. */
export interface EarlierRunsNode { readonly kind: 'earlierRuns' }
/** A run folder of an earlier session (found under an output folder, `run.json` inside). */
export interface PastRunNode { readonly kind: 'pastRun'; readonly runDir: string }
export interface QueueNode { readonly kind: 'queue'; readonly parent: string }
/** "Saved in ComfyUI" under a Ready machine or a local server: the workflows its web UI saved. */
export interface SavedFolderNode { readonly kind: 'savedFolder'; readonly target: RunTarget }
/** One saved workflow; `path` is below `workflows/` and passed `savedWorkflowPathProblem`. */
export interface SavedWorkflowNode { readonly kind: 'savedWorkflow'; readonly target: RunTarget; readonly path: string }
/** A one-line message in place of content: an error with a retry, "loading…". */
export interface MessageNode {
  readonly kind: 'message';
  readonly text: string;
  readonly detail?: string;
  readonly icon: string;
  readonly command?: string;
  /** The command's arguments (the node a Retry reloads). */
  readonly args?: readonly unknown[];
}

export type TreeNode = WorkflowNode | VersionNode | MachineNode | LocalServerNode | RunNode | SweepNode | SweepRunNode | EarlierRunsNode | PastRunNode | QueueNode | SavedFolderNode | SavedWorkflowNode | MessageNode;

/** True when `v` is a tree node of `kind` (commands get `unknown` arguments). */
export function isNode<K extends TreeNode['kind']>(v: unknown, kind: K): v is Extract<TreeNode, { kind: K }> {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === kind;
}
