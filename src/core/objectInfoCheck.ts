import { type InputSpec, type InputSpecOptions, type NodeClassInfo, type ObjectInfo } from '../api/comfyTypes';
import { nodeLabel, problem, type WorkflowAnalysis, type WorkflowInput, type WorkflowNode, type WorkflowProblem } from './workflowAnalysis';
import { isObject } from '../base/json';

/** ComfyUI lists at most this many combo choices in its own message; so do we. */
const MAX_LISTED_CHOICES = 20;

/** Types ComfyUI converts literals to (`int()`, `float()`, `str()`, `bool()`); any other type must come from a link. */
const PRIMITIVE_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

/**
 * Checks an analysed workflow against a server's node list (`GET /object_info`), the way ComfyUI's
 * own validation does before it queues: unknown node classes, missing required inputs, values
 * out of range, combo values not in the list, links to outputs that do not exist or have the
 * wrong type, and a workflow without output nodes. Problem codes are ComfyUI's error types where
 * it has one. Pure: returns new problems and changes nothing.
 *
 * Unlike the server, every node is checked, not only those an output node depends on, so a
 * dangling node with a mistake is shown too. Nodes are named by id, `_meta.title` and class; each
 * problem's `summary` is its first sentence, and `where` names the server in it ("this machine").
 */
export function checkAgainstObjectInfo(analysis: WorkflowAnalysis, objectInfo: ObjectInfo, where = 'this server'): WorkflowProblem[] {
  if (analysis.format !== 'api' || !isObject(analysis.document)) return [];
  return new ObjectInfoChecker(analysis, analysis.document, objectInfo, where).run();
}

type JsonObject = Record<string, unknown>;

class ObjectInfoChecker {
  private readonly problems: WorkflowProblem[] = [];
  private readonly byId = new Map<string, WorkflowNode>();
  /** Input problems the analysis already reported, as `nodeId\ninputName`, so they are not repeated. */
  private readonly alreadyReported = new Set<string>();
  private readonly localFileInputs = new Set<string>();

  constructor(
    private readonly analysis: WorkflowAnalysis,
    private readonly document: JsonObject,
    private readonly objectInfo: ObjectInfo,
    private readonly where: string,
  ) {
    for (const node of analysis.nodes) this.byId.set(node.id, node);
    for (const p of analysis.problems) if (p.nodeId !== undefined && p.inputName !== undefined) this.alreadyReported.add(`${p.nodeId}\n${p.inputName}`);
    for (const f of analysis.localFiles) this.localFileInputs.add(`${f.nodeId}\n${f.inputName}`);
  }

  run(): WorkflowProblem[] {
    let allKnown = true;
    let hasOutputNode = false;
    for (const node of this.analysis.nodes) {
      if (node.classType === undefined) {
        allKnown = false;
        continue;
      }
      const info = this.info(node.classType);
      if (!info) {
        allKnown = false;
        this.add(
          problem('error', 'unknown_node_class', node.classTypeRange ?? node.keyRange, '', node.id),
          `${nodeLabel(node.id, node.classType, node.title)} is not installed on ${this.where}.`,
          'Install the custom node pack that provides it (ComfyUI-Manager can find it by class name) or replace the node.',
        );
        continue;
      }
      if (info.output_node) hasOutputNode = true;
      const value = this.document[node.id];
      const inputs = isObject(value) && isObject(value.inputs) ? value.inputs : undefined;
      if (inputs) this.checkNode(node, info, inputs);
    }
    const first = this.analysis.nodes[0];
    if (allKnown && !hasOutputNode && first) {
      this.add(
        problem('error', 'prompt_no_outputs', first.keyRange, ''),
        'The workflow has no output node (such as SaveImage, PreviewImage or PreviewAny), so ComfyUI would have nothing to run.',
        'Add one and connect it.',
      );
    }
    return this.problems;
  }

  private info(classType: string): NodeClassInfo | undefined {
    return Object.hasOwn(this.objectInfo, classType) ? this.objectInfo[classType] : undefined;
  }

  private checkNode(node: WorkflowNode, info: NodeClassInfo, inputs: JsonObject): void {
    const label = nodeLabel(node.id, node.classType, node.title);
    const required = info.input.required ?? {};
    const optional = info.input.optional ?? {};
    for (const name of Object.keys(required)) {
      if (Object.hasOwn(inputs, name)) continue;
      const options = required[name][1];
      const hint = options && 'default' in options ? ` (the node's default is ${JSON.stringify(options.default)})` : '';
      this.add(problem('error', 'required_input_missing', node.inputsKeyRange ?? node.keyRange, '', node.id, name), `${label}: required input "${name}" is missing.`, `Add it to "inputs"${hint}.`);
    }
    for (const input of node.inputs) {
      const spec = Object.hasOwn(required, input.name) ? required[input.name] : Object.hasOwn(optional, input.name) ? optional[input.name] : undefined;
      // Undeclared inputs are ignored by the server (extra widgets of old exports, for example).
      if (!spec) continue;
      const value = inputs[input.name];
      if (Array.isArray(value)) this.checkLink(node, label, input, spec, value);
      else this.checkLiteral(node, label, input, spec, value);
    }
  }

  private checkLink(node: WorkflowNode, label: string, input: WorkflowInput, spec: InputSpec, value: unknown[]): void {
    const link = input.link;
    if (!link) {
      if (this.alreadyReported.has(`${node.id}\n${input.name}`)) return;
      this.push('error', 'bad_linked_input', node, input, `${label}, input "${input.name}": a list is read as a link, which must be ["<node id>", <output index>], but this one is ${JSON.stringify(value).slice(0, 80)}.`, "Link it to another node's output, or give a plain value.");
      return;
    }
    const source = this.byId.get(link.nodeId);
    const sourceInfo = source?.classType === undefined ? undefined : this.info(source.classType);
    if (!source || !sourceInfo) return;
    const sourceLabel = nodeLabel(source.id, source.classType, source.title);
    const outputs = sourceInfo.output;
    if (link.outputIndex >= outputs.length) {
      const which = outputs.length === 0 ? 'has no outputs' : `has ${outputs.length} output${outputs.length === 1 ? '' : 's'} (0–${outputs.length - 1})`;
      this.push('error', 'bad_output_index', node, input, `${label}, input "${input.name}": ${sourceLabel} ${which}, so output ${link.outputIndex} does not exist.`, 'Link an existing output.');
      return;
    }
    const received = outputs[link.outputIndex];
    const expected = spec[0];
    if (typeof received === 'string' && typeof expected === 'string' && !typesMatch(received, expected)) {
      this.push('error', 'return_type_mismatch', node, input, `${label}, input "${input.name}" takes ${expected}, but output ${link.outputIndex} of ${sourceLabel} is ${received}.`, `Link an output of type ${expected} instead.`);
    }
  }

  private checkLiteral(node: WorkflowNode, label: string, input: WorkflowInput, spec: InputSpec, value: unknown): void {
    const [type, options = {}] = spec;
    const choices = Array.isArray(type) ? type : type === 'COMBO' && Array.isArray(options.options) ? options.options : undefined;
    if (choices) {
      this.checkCombo(node, label, input, choices, options, value);
      return;
    }
    if (type === 'INT' || type === 'FLOAT') {
      this.checkNumber(node, label, input, type, options, value);
      return;
    }
    if (typeof type === 'string' && !PRIMITIVE_TYPES.has(type) && type !== '*' && /^[A-Z0-9_]+$/.test(type)) {
      this.push('warning', 'literal_for_link_input', node, input, `${label}, input "${input.name}" takes ${type} from another node, but is given a plain value.`, 'Link it as ["<node id>", <output index>].');
    }
  }

  private checkCombo(node: WorkflowNode, label: string, input: WorkflowInput, choices: readonly unknown[], options: InputSpecOptions, value: unknown): void {
    if (choices.includes(value)) return;
    const key = `${node.id}\n${input.name}`;
    if (options.image_upload || options.video_upload || options.audio_upload) {
      // The list is the server's input folder when object_info was fetched: a local file will be
      // uploaded first, and a name in a subfolder or in another folder ("x.png [output]") is not listed.
      if (this.localFileInputs.has(key) || typeof value !== 'string' || /[/\\]|\s\[(input|output|temp)\]$/.test(value)) return;
      this.push('warning', 'custom_validation_failed', node, input, `${label}, input "${input.name}": ${JSON.stringify(value)} is not among the server's input files (as last listed).`, `Put the file next to the workflow and name it by its relative path so it is uploaded, or choose one of: ${listChoices(choices)}.`);
      return;
    }
    this.push('error', 'value_not_in_list', node, input, `${label}, input "${input.name}": ${JSON.stringify(value)} is not one of the allowed values.`, `Use one of: ${listChoices(choices)}.`);
  }

  private checkNumber(node: WorkflowNode, label: string, input: WorkflowInput, type: 'INT' | 'FLOAT', options: InputSpecOptions, value: unknown): void {
    const n = type === 'INT' ? pythonInt(value) : pythonFloat(value);
    if (n === undefined) {
      const what = type === 'INT' ? 'a whole number' : 'a number';
      this.push('error', 'invalid_input_type', node, input, `${label}, input "${input.name}" takes ${what} (${type}), but is given ${JSON.stringify(value).slice(0, 80)}.`, `Write ${what}.`);
      return;
    }
    const { min, max } = options;
    const bounds = `Use a value from ${min ?? '…'} to ${max ?? '…'}.`;
    if (typeof min === 'number' && n < min) {
      this.push('error', 'value_smaller_than_min', node, input, `${label}, input "${input.name}": ${n} is below the minimum of ${min}.`, bounds);
    } else if (typeof max === 'number' && n > max) {
      this.push('error', 'value_bigger_than_max', node, input, `${label}, input "${input.name}": ${n} is above the maximum of ${max}.`, bounds);
    }
  }

  private push(severity: WorkflowProblem['severity'], code: WorkflowProblem['code'], node: WorkflowNode, input: WorkflowInput, summary: string, advice: string): void {
    this.add(problem(severity, code, input.valueRange, '', node.id, input.name), summary, advice);
  }

  /** Records `p` with its summary (what and where) and its message (the summary, then what to do). */
  private add(p: WorkflowProblem, summary: string, advice: string): void {
    this.problems.push({ ...p, message: `${summary} ${advice}`, summary });
  }
}

/** ComfyUI's `validate_node_input`: equal, either side `*`, or (for comma-separated unions) any type in common. */
function typesMatch(received: string, expected: string): boolean {
  if (received === expected) return true;
  const r = received.split(',').map((s) => s.trim());
  const e = new Set(expected.split(',').map((s) => s.trim()));
  if (e.has('*') || r.includes('*')) return true;
  return r.some((t) => e.has(t));
}

/** What Python's `int(value)` gives for a JSON value, or undefined where it raises. */
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) return Number(value.replace(/_/g, ''));
  return undefined;
}

/** What Python's `float(value)` gives for a JSON value, or undefined where it raises. */
function pythonFloat(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const s = value.trim().replace(/_/g, '').toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/.test(s)) return NaN;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s) ? Number(s) : undefined;
}

function listChoices(choices: readonly unknown[]): string {
  const shown = choices.slice(0, MAX_LISTED_CHOICES).map((c) => JSON.stringify(c)).join(', ');
  return choices.length > MAX_LISTED_CHOICES ? `${shown}, … (${choices.length} in all)` : shown;
}
