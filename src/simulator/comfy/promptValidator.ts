import { type FolderPaths } from './folderPaths';
import { type NodeClass } from './nodeClass';
import { PyError, pyEquals, pyFloat, pyInt, pyRepr, pyStr, pyTruthy, pyTypeName } from './pyFormat';
import { PyFloat, type PyDict, type PyObject, type PyValue } from './pyJson';
import { PySet, type PyStrHasher } from './pySet';

/**
 * `execution.validate_prompt` and `validate_inputs` of ComfyUI 0.3.64, error for error: the same
 * types, messages, `extra_info` keys and `dependent_outputs`, the same value coercion (which edits
 * the prompt in place, as the server does), and the same "arbitrary" set orders.
 */

/** What the /prompt handler does with the outcome. */
export interface ValidationResult {
  ok: boolean;
  /** The top-level `error` of a 400 (undefined when ok). */
  error?: PyObject;
  /** The outputs to execute, in ComfyUI's (set) order. */
  outputs: string[];
  /** `node_errors`: per node, or `[]` for the whole-prompt errors of an old server. */
  nodeErrors: Map<string, PyValue> | PyValue[];
}

type Reason = PyObject;
type Verdict = [boolean, Reason[]];

/** Traceback lines the real server sent for a `KeyError` on a missing linked node (recorded). */
const KEY_ERROR_TRACEBACK = [
  '  File "/opt/ComfyUI/execution.py", line 1010, in validate_prompt\n    m = await validate_inputs(prompt_id, prompt, o, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
  "  File \"/opt/ComfyUI/execution.py\", line 788, in validate_inputs\n    o_class_type = prompt[o_id]['class_type']\n                   ~~~~~~^^^^^^\n",
];

function traceback(e: PyError): string[] {
  if (e.pyType === 'KeyError') return KEY_ERROR_TRACEBACK;
  return [`  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n    raise ${e.pyType}(${pyRepr(e.message)})\n`];
}

function asPyError(e: unknown): PyError {
  if (e instanceof PyError) return e;
  throw e;
}

function keyError(key: PyValue): PyError {
  return new PyError('KeyError', pyRepr(key));
}

/** Python's `key in container` for the containers JSON can hold. */
function contains(container: PyValue, key: PyValue): boolean {
  if (container instanceof Map) return typeof key === 'string' && container.has(key);
  if (Array.isArray(container)) return container.some((v) => pyEquals(v, key));
  if (typeof container === 'string') {
    if (typeof key !== 'string') throw new PyError('TypeError', `'in <string>' requires string as left operand, not ${pyTypeName(key)}`);
    return container.includes(key);
  }
  throw new PyError('TypeError', `argument of type '${pyTypeName(container)}' is not iterable`);
}

/** `validate_node_input`: equal types, or comma-separated types that overlap, or `*` on either side. */
function typesCompatible(received: PyValue, expected: PyValue): boolean {
  if (pyEquals(received, expected)) return true;
  if (typeof received !== 'string' || typeof expected !== 'string') return false;
  const a = new Set(received.split(',').map((t) => t.trim()));
  const b = new Set(expected.split(',').map((t) => t.trim()));
  if (a.has('*') || b.has('*')) return true;
  return [...a].some((t) => b.has(t));
}

function isLinkIndex(v: PyValue): v is number | boolean {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'boolean';
}

/** Validates one prompt against the node classes. */
export class PromptValidator {
  constructor(
    private readonly classes: ReadonlyMap<string, NodeClass>,
    private readonly folders: FolderPaths,
    private readonly hasher: PyStrHasher,
    private readonly oldServer: () => boolean,
  ) {}

  /** `validate_prompt(prompt_id, prompt, partial_execution_targets)`; throws a `PyError` where Python would raise (→ 500). */
  validate(prompt: PyValue, partialTargets: PyValue | undefined): ValidationResult {
    const wholePromptError = (type: string, message: string, details: string): ValidationResult => ({
      ok: false,
      error: { type, message, details, extra_info: {} },
      outputs: [],
      nodeErrors: this.oldServer() ? [] : new Map(),
    });
    if (!(prompt instanceof Map)) {
      if ((Array.isArray(prompt) || typeof prompt === 'string') && prompt.length === 0) return wholePromptError('prompt_no_outputs', 'Prompt has no outputs', '');
      throw new PyError('TypeError', `'${pyTypeName(prompt)}' object is not subscriptable`);
    }
    const outputs = new PySet(this.hasher);
    for (const [id, node] of prompt) {
      if (!contains(node, 'class_type')) return wholePromptError('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`);
      if (!(node instanceof Map)) throw new PyError('TypeError', `${pyTypeName(node)} indices must be integers`);
      const classType = node.get('class_type') ?? null;
      if (Array.isArray(classType) || classType instanceof Map) throw new PyError('TypeError', `unhashable type: '${pyTypeName(classType)}'`);
      const cls = typeof classType === 'string' ? this.classes.get(classType) : undefined;
      if (!cls) return wholePromptError('invalid_prompt', `Cannot execute because node ${pyStr(classType)} does not exist.`, `Node ID '#${id}'`);
      if (cls.outputNode && (partialTargets === undefined || contains(partialTargets, id))) outputs.add(id);
    }
    if (outputs.size === 0) return wholePromptError('prompt_no_outputs', 'Prompt has no outputs', '');

    const validated = new Map<string, Verdict>();
    const good = new PySet(this.hasher);
    const failures: [string, Reason[]][] = [];
    const nodeErrors = new Map<string, PyValue>();
    for (const o of outputs) {
      let verdict: Verdict;
      try {
        verdict = this.validateInputs(prompt, o, validated, new Set());
      } catch (e) {
        const err = asPyError(e);
        verdict = [false, [{ type: 'exception_during_validation', message: 'Exception when validating node', details: err.message, extra_info: { exception_type: err.pyType, traceback: traceback(err) } }]];
        validated.set(o, verdict);
      }
      if (verdict[0]) {
        good.add(o);
        continue;
      }
      failures.push([o, verdict[1]]);
      // ComfyUI lists every failing node seen so far as a dependency of this output, related or not.
      for (const [nodeId, [valid, reasons]] of validated) {
        if (valid || reasons.length === 0) continue;
        let entry = nodeErrors.get(nodeId) as PyDict | undefined;
        if (!entry) {
          entry = new Map<string, PyValue>([
            ['errors', reasons],
            ['dependent_outputs', []],
            ['class_type', (prompt.get(nodeId) as PyDict).get('class_type') ?? null],
          ]);
          nodeErrors.set(nodeId, entry);
        }
        (entry.get('dependent_outputs') as PyValue[]).push(o);
      }
    }
    if (good.size === 0) {
      const details = failures.flatMap(([, reasons]) => reasons.map((r) => `${pyStr(r.message as PyValue)}: ${pyStr(r.details as PyValue)}`)).join('\n');
      return { ok: false, error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details, extra_info: {} }, outputs: [], nodeErrors };
    }
    return { ok: true, outputs: [...good], nodeErrors };
  }

  private validateInputs(prompt: PyDict, id: string, validated: Map<string, Verdict>, visiting: Set<string>): Verdict {
    const done = validated.get(id);
    if (done) return done;
    // Python would recurse until RecursionError on a cycle; raising it at the first revisit lands the same way.
    if (visiting.has(id)) throw new PyError('RecursionError', 'maximum recursion depth exceeded');
    visiting.add(id);
    try {
      return this.validateNode(prompt, id, validated, visiting);
    } finally {
      visiting.delete(id);
    }
  }

  private validateNode(prompt: PyDict, id: string, validated: Map<string, Verdict>, visiting: Set<string>): Verdict {
    const node = prompt.get(id);
    if (!(node instanceof Map)) throw keyError(id);
    if (!node.has('inputs')) throw keyError('inputs');
    const inputs = node.get('inputs') ?? null;
    const cls = this.classes.get(node.get('class_type') as string)!;
    const types = cls.objectInfo(this.folders).input;
    const required = types.required ?? {};
    const optional = types.optional ?? {};
    const valid = PySet.fromDict(this.hasher, Object.keys(required)).union(PySet.fromDict(this.hasher, Object.keys(optional)));
    const customArgs = cls.validate?.args ?? [];
    const errors: Reason[] = [];
    let ok = true;

    for (const x of valid) {
      const isRequired = x in required;
      const spec = (isRequired ? required[x] : optional[x]);
      const inputType = spec[0] ?? null;
      const extra = (spec.length > 1 ? spec[1] : {});
      const info: PyValue[] = [inputType, extra];
      if (!(inputs instanceof Map)) {
        if (inputs === null || typeof inputs !== 'object') throw new PyError('TypeError', `argument of type '${pyTypeName(inputs)}' is not iterable`);
        throw new PyError('TypeError', 'list indices must be integers or slices, not str');
      }
      if (!inputs.has(x)) {
        if (isRequired) errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: x, extra_info: { input_name: x } });
        continue;
      }
      let val = inputs.get(x) ?? null;
      if (Array.isArray(val)) {
        if (val.length !== 2) {
          errors.push({ type: 'bad_linked_input', message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]', details: x, extra_info: { input_name: x, input_config: info, received_value: val } });
          continue;
        }
        const [oId, slot] = val as [PyValue, PyValue];
        if (Array.isArray(oId) || oId instanceof Map) throw new PyError('TypeError', `unhashable type: '${pyTypeName(oId)}'`);
        const linked = typeof oId === 'string' ? prompt.get(oId) : undefined;
        if (!(linked instanceof Map)) throw keyError(oId);
        const returnTypes = this.classes.get(linked.get('class_type') as string)!.objectInfo(this.folders).output;
        if (!isLinkIndex(slot)) throw new PyError('TypeError', `tuple indices must be integers or slices, not ${pyTypeName(slot)}`);
        const index = typeof slot === 'boolean' ? Number(slot) : slot < 0 ? returnTypes.length + slot : slot;
        if (index < 0 || index >= returnTypes.length) throw new PyError('IndexError', 'tuple index out of range');
        const receivedType = returnTypes[index];
        if (!customArgs.includes('input_types') && !typesCompatible(receivedType, inputType)) {
          errors.push({
            type: 'return_type_mismatch',
            message: 'Return type mismatch between linked nodes',
            details: `${x}, received_type(${receivedType}) mismatch input_type(${pyStr(inputType)})`,
            extra_info: { input_name: x, input_config: info, received_type: receivedType, linked_node: val },
          });
          continue;
        }
        try {
          if (!this.validateInputs(prompt, oId as string, validated, visiting)[0]) ok = false;
        } catch (e) {
          const err = asPyError(e);
          ok = false;
          validated.set(oId as string, [
            false,
            [
              {
                type: 'exception_during_inner_validation',
                message: 'Exception when validating inner node',
                details: err.message,
                extra_info: { input_name: x, input_config: info, exception_message: err.message, exception_type: err.pyType, traceback: traceback(err), linked_node: val },
              },
            ],
          ]);
        }
        continue;
      }

      try {
        if (val instanceof Map && val.has('__value__')) {
          val = val.get('__value__') ?? null;
          inputs.set(x, val);
        }
        if (inputType === 'INT') val = pyInt(val);
        else if (inputType === 'FLOAT') val = new PyFloat(pyFloat(val));
        else if (inputType === 'STRING') val = pyStr(val);
        else if (inputType === 'BOOLEAN') val = pyTruthy(val);
        if (typeof inputType === 'string' && ['INT', 'FLOAT', 'STRING', 'BOOLEAN'].includes(inputType)) inputs.set(x, val);
      } catch (e) {
        const err = asPyError(e);
        errors.push({
          type: 'invalid_input_type',
          message: `Failed to convert an input value to a ${pyStr(inputType)} value`,
          details: `${x}, ${pyStr(val)}, ${err.message}`,
          extra_info: { input_name: x, input_config: info, received_value: val, exception_message: err.message },
        });
        continue;
      }

      if (customArgs.includes(x)) continue;
      const opts = extra instanceof Map ? Object.fromEntries(extra) : (extra as Record<string, PyValue>);
      const n = (v: PyValue): number | bigint => (v instanceof PyFloat ? v.value : (v as number | bigint));
      const numeric = typeof val === 'number' || typeof val === 'bigint' || val instanceof PyFloat || typeof val === 'boolean';
      if ('min' in opts && opts.min !== undefined && numeric && n(val === true ? 1 : val === false ? 0 : val) < n(opts.min)) {
        errors.push({ type: 'value_smaller_than_min', message: `Value ${pyStr(val)} smaller than min of ${pyStr(opts.min)}`, details: x, extra_info: { input_name: x, input_config: info, received_value: val } });
        continue;
      }
      if ('max' in opts && opts.max !== undefined && numeric && n(val === true ? 1 : val === false ? 0 : val) > n(opts.max)) {
        errors.push({ type: 'value_bigger_than_max', message: `Value ${pyStr(val)} bigger than max of ${pyStr(opts.max)}`, details: x, extra_info: { input_name: x, input_config: info, received_value: val } });
        continue;
      }
      // The v3 schema declares a combo as "COMBO" with its list in the options.
      const comboOptions = Array.isArray(inputType) ? inputType : inputType === 'COMBO' ? ((opts.options as PyValue[] | undefined) ?? []) : undefined;
      if (comboOptions && !comboOptions.some((option) => pyEquals(option, val))) {
        const long = comboOptions.length > 20;
        errors.push({
          type: 'value_not_in_list',
          message: 'Value not in list',
          details: `${x}: '${pyStr(val)}' not in ${long ? `(list of length ${comboOptions.length})` : pyRepr(comboOptions)}`,
          extra_info: { input_name: x, input_config: long ? null : info, received_value: val },
        });
        continue;
      }
    }

    if (cls.validate) {
      const args: Record<string, PyValue> = {};
      if (inputs instanceof Map) {
        for (const name of cls.validate.args) {
          if (!inputs.has(name) || !(name in required || name in optional)) continue;
          const v = inputs.get(name) ?? null;
          args[name] = Array.isArray(v) ? null : v;
        }
      }
      const missing = cls.validate.args.filter((a) => !(a in args));
      if (missing.length > 0) {
        throw new PyError('TypeError', `${cls.name}.VALIDATE_INPUTS() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${missing.map((m) => `'${m}'`).join(' and ')}`);
      }
      const result = cls.validate.check(args, this.folders);
      if (result !== true) {
        for (const x of Object.keys(args)) {
          errors.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: result === false ? x : `${x} - ${pyStr(result)}`, extra_info: { input_name: x } });
        }
      }
    }

    const verdict: Verdict = errors.length > 0 || !ok ? [false, errors] : [true, []];
    validated.set(id, verdict);
    return verdict;
  }
}
