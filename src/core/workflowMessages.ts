import { type NodeErrorReport } from '../api/comfyClient';
import { type NodeValidationError } from '../api/comfyTypes';
import { nodeLabel, type WorkflowProblem } from './workflowAnalysis';

/**
 * The sentence every surface uses for problems known before queueing (the checks against the
 * target's node list): the first problem's summary, and how many more there are.
 * `Node 32 “Load Model” (HeldoutNoSuchNode) is not installed on this machine (and 2 more problems).`
 * The editor asks "Queue anyway?" after it; the CLI says how to queue anyway (`--force`).
 */
export function knownProblemsSentence(problems: readonly WorkflowProblem[]): string {
  const first = problems[0];
  if (!first) return '';
  const sentence = (first.summary ?? first.message).replace(/\.$/, '');
  const more = problems.length - 1;
  return more > 0 ? `${sentence} (and ${more} more problem${more === 1 ? '' : 's'}).` : `${sentence}.`;
}

/** What a message needs to know about a node of the workflow to name it. */
export interface NodeNaming {
  readonly classType?: string;
  readonly title?: string;
}

/** A `POST /prompt` rejection as the ComfyUI client parsed it (`WorkflowRejectedError`). */
export interface PromptRejection {
  /** ComfyUI's `error.type`. */
  readonly errorType: string;
  /** ComfyUI's `error.message`. */
  readonly errorMessage: string;
  /** ComfyUI's `error.details`. */
  readonly details: string;
  readonly nodeErrors: readonly NodeErrorReport[];
}

/**
 * What the user reads when ComfyUI rejects a prompt: each problem in words, naming nodes by id,
 * title and class (from the workflow, `nodeOf`), without ComfyUI's error types or `Node ID '#32'`
 * (those stay in the raw error, which the log keeps at debug level).
 * `ComfyUI rejected the workflow: node 32 “Load Model” (CheckpointLoaderSimple): ckpt_name 'x.safetensors' is not in the list.`
 * Several problems are listed on the same line, separated by semicolons.
 */
export function rejectionMessage(r: PromptRejection, nodeOf: (id: string) => NodeNaming | undefined): string {
  const name = (id: string, classType?: string) => {
    const known = nodeOf(id);
    return nodeInSentence(id, known?.classType ?? classType, known?.title);
  };
  const problems = r.nodeErrors.flatMap((n) => n.errors.map((e) => `${name(n.nodeId, n.classType === '?' ? undefined : n.classType)}: ${serverNodeErrorText(e)}`));
  if (problems.length === 0) problems.push(promptLevelProblem(r, name));
  const count = problems.length > 1 ? ` (${problems.length} problems)` : '';
  return `ComfyUI rejected the workflow${count}: ${problems.map((p) => p.trim().replace(/\.$/, '')).join('; ')}.`;
}

/**
 * One of ComfyUI's per-input validation errors in words: `ckpt_name 'x.safetensors' is not in the
 * list`, `width 0 is below the minimum of 1`, `required input height is missing`. Error types it
 * does not know read as ComfyUI wrote them, without the type.
 */
export function serverNodeErrorText(e: NodeValidationError): string {
  const input = typeof e.extra_info.input_name === 'string' ? e.extra_info.input_name : undefined;
  const received = 'received_value' in e.extra_info ? pythonRepr(e.extra_info.received_value) : undefined;
  const [type, options] = Array.isArray(e.extra_info.input_config) ? e.extra_info.input_config : [];
  switch (e.type) {
    case 'required_input_missing':
      return `required input ${input ?? e.details} is missing`;
    case 'value_not_in_list':
      if (input && received) return `${input} ${received} is not in the list`;
      break;
    case 'value_smaller_than_min':
      if (input && received && typeof options?.min === 'number') return `${input} ${received} is below the minimum of ${options.min}`;
      break;
    case 'value_bigger_than_max':
      if (input && received && typeof options?.max === 'number') return `${input} ${received} is above the maximum of ${options.max}`;
      break;
    case 'invalid_input_type':
      if (input && received && typeof type === 'string') return `${input} ${received} is not a valid ${type}`;
      break;
    case 'return_type_mismatch': {
      const got = e.extra_info.received_type;
      if (input && typeof got === 'string' && typeof type === 'string') return `${input} takes ${type}, but is linked to an output of type ${got}`;
      break;
    }
    case 'bad_linked_input':
      if (input) return `${input} is a list, but a link must be ["<node id>", <output index>]`;
      break;
    case 'custom_validation_failed':
      // LoadImage: "image - Invalid image file: does_not_exist.png".
      if (e.details) return e.details.replace(/^(\S+) - /, '$1: ');
      break;
  }
  const what = e.message || e.type;
  return e.details && e.details !== what ? `${what}: ${e.details}` : what;
}

/** The problem of a rejection without node errors: an unknown class, a node without class, no output. */
function promptLevelProblem(r: PromptRejection, name: (id: string, classType?: string) => string): string {
  // `details` is "Node ID '#32'" for the two invalid_prompt cases.
  const id = /^Node ID '#(.*)'$/.exec(r.details.trim())?.[1];
  if (r.errorType === 'invalid_prompt' && id !== undefined) {
    const unknown = /^Cannot execute because node (.+) does not exist\.?$/.exec(r.errorMessage.trim())?.[1];
    if (unknown) return `${name(id, unknown)} is not installed on this server`;
    if (r.errorMessage.includes('missing the class_type')) return `${name(id)} has no class_type`;
  }
  if (r.errorType === 'prompt_no_outputs') return 'it has no output node (such as SaveImage or PreviewImage), so there is nothing to run';
  const what = r.errorMessage || r.errorType;
  return r.details && r.details !== what ? `${what}: ${r.details}` : what;
}

/** A value as ComfyUI's messages quote it (Python's repr for strings: single quotes), cut to a length. */
function pythonRepr(v: unknown): string {
  const text = typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** {@link nodeLabel} inside a sentence: `node 32 “Load Model” (CheckpointLoaderSimple)`. */
export function nodeInSentence(nodeId: string, classType?: string, title?: string): string {
  return nodeLabel(nodeId, classType, title).replace(/^Node /, 'node ');
}
