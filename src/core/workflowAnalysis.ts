import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ParseErrorCode } from 'jsonc-parser';
import { type ApiPrompt } from '../api/comfyTypes';
import { jsonc } from '../api/lazy';
import { checkInputSync, inputLabel, refusalMessage, workflowFolderPolicy, type InputPolicy, type InputVerdict } from './inputPolicy';
import { hasMediaExtension } from './mediaSignature';
import { uiNodeRange } from './uiNodeRanges';

/**
 * A span of the text. `offset`/`length` count UTF-16 code units from the start; lines and columns
 * are 1-based (columns in UTF-16 code units, as VS Code counts them). The end is exclusive.
 */
export interface TextRange {
  offset: number;
  length: number;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/**
 * What kind of problem was found. Where ComfyUI's own validation reports the same thing, the code is
 * ComfyUI's error `type` (`required_input_missing`, `value_not_in_list`, …), so diagnostics found
 * locally and `node_errors` sent by a server can be matched up.
 */
export type WorkflowProblemCode =
  | 'syntax_error'
  | 'not_an_object'
  | 'empty_workflow'
  | 'ui_format'
  | 'request_body'
  | 'duplicate_node_id'
  | 'duplicate_input'
  | 'node_not_object'
  | 'missing_class_type'
  | 'missing_inputs'
  | 'link_to_missing_node'
  | 'bad_output_index'
  | 'unknown_node_class'
  | 'prompt_no_outputs'
  | 'required_input_missing'
  | 'bad_linked_input'
  | 'return_type_mismatch'
  | 'invalid_input_type'
  | 'value_smaller_than_min'
  | 'value_bigger_than_max'
  | 'value_not_in_list'
  | 'custom_validation_failed'
  | 'literal_for_link_input'
  | 'input_not_allowed'
  /** A UI-format workflow whose conversion leaves an input out (a webcam capture, …). */
  | 'conversion_warning'
  /** A UI-format workflow that cannot be converted (a broken graph). */
  | 'conversion_failed';

/** One finding, ready to become an editor diagnostic or a CLI message. */
export interface WorkflowProblem {
  severity: 'error' | 'warning';
  /** Says what is wrong, where, and what to do. */
  message: string;
  /**
   * The first sentence of `message` (what is wrong, and where, without the advice), set by the checks
   * against a server's node list: the question asked before queueing quotes it.
   */
  summary?: string;
  range: TextRange;
  nodeId?: string;
  inputName?: string;
  code: WorkflowProblemCode;
}

/** A link written in an input: `[nodeId, outputIndex]`. */
export interface WorkflowLink {
  nodeId: string;
  outputIndex: number;
}

/** One input of a node, with where its value is written. */
export interface WorkflowInput {
  name: string;
  valueRange: TextRange;
  /** Set when the value is a well-formed link (`["<id>", <integer ≥ 0>]`), whether or not the target exists. */
  link?: WorkflowLink;
}

/** One node of an API-format workflow, with where its parts are written. */
export interface WorkflowNode {
  id: string;
  /** Absent when the node has no string `class_type` (a problem says so). */
  classType?: string;
  /** `_meta.title`, when the export carried one. */
  title?: string;
  /** The node id key, quotes included. */
  keyRange: TextRange;
  /** The whole node value (`{ … }`). */
  range: TextRange;
  classTypeRange?: TextRange;
  /** The `"inputs"` key, quotes included. */
  inputsKeyRange?: TextRange;
  /** In the order written. */
  inputs: WorkflowInput[];
}

/**
 * An input that names a local file: upload it, then put the server's name in its place, if
 * `verdict` allows it. A refused one is also an `input_not_allowed` problem.
 */
export interface LocalFileInput {
  nodeId: string;
  classType: string;
  inputName: string;
  /** The value as written in the workflow. */
  value: string;
  /** The file it names, resolved against the workflow's folder. */
  absPath: string;
  valueRange: TextRange;
  /** `uploadInput`: an input known to take an uploaded file (LoadImage `image`, …); `mediaPath`: any other input whose value is a media file that exists. */
  reason: 'uploadInput' | 'mediaPath';
  /** Whether the input policy lets the file be uploaded, and if not, why. */
  verdict: InputVerdict;
}

/** The outcome of {@link analyzeWorkflow}. Plain data: safe to serialise or post to another process. */
export interface WorkflowAnalysis {
  /** `api`: a prompt (maybe with problems); `ui`: the editor's save format; `other`: JSON of another shape; `invalid`: not JSON. */
  format: 'api' | 'ui' | 'other' | 'invalid';
  /** A JSON object whose values are all objects with a string `class_type` (and at least one). */
  isApiFormat: boolean;
  /** The parsed document; undefined when it is not valid JSON. */
  document: unknown;
  /** The same document typed as a prompt, set only when it has no `error` problems: this is what may be queued. */
  prompt?: ApiPrompt;
  /** In the order written. Empty unless `format` is `api`. */
  nodes: WorkflowNode[];
  localFiles: LocalFileInput[];
  problems: WorkflowProblem[];
}

/** What {@link analyzeWorkflow} needs to know about where the workflow lives. */
export interface AnalyzeOptions {
  /** The workflow file's folder. Without it, no local file inputs are looked for. */
  fileDir?: string;
  /** Which local files may be uploaded; default: those below `fileDir`. */
  inputPolicy?: InputPolicy;
}

/** Inputs that take a file the server must have (the editor offers an upload button for them). */
const UPLOAD_INPUTS: Readonly<Record<string, readonly string[]>> = {
  LoadImage: ['image'],
  LoadImageMask: ['image'],
  LoadVideo: ['file', 'video'],
  LoadAudio: ['audio'],
  Load3D: ['model_file'],
  Load3DAnimation: ['model_file'],
  VHS_LoadVideo: ['video'],
  VHS_LoadVideoFFmpeg: ['video'],
  VHS_LoadAudioUpload: ['audio'],
};

/** Inputs that name something the server writes, never a file to upload, whatever they look like. */
const OUTPUT_NAME_INPUTS = new Set(['filename_prefix']);

/** LoadImage accepts `name.png [output]`: a file already on the server, in another folder. */
const ANNOTATED_NAME = /\s\[(input|output|temp)\]$/;

/** How to get an API-format workflow out of ComfyUI, for messages and the "How to Export" answer. */
export const EXPORT_HINT =
  'In ComfyUI choose Workflow → Export (API) (older interfaces: enable "Dev mode options" in the settings, then use "Save (API Format)") and open the exported file instead.';

/**
 * Analyses the text of a workflow file: syntax, format, node structure, links, local file inputs
 * and where each node and input is written.
 *
 * `JSON.parse` makes the values, and one pass of a scanner that may assume valid JSON finds the
 * positions; `jsonc-parser` is only used to explain syntax errors. That split keeps a 5 MB
 * workflow within a small multiple of `JSON.parse`: jsonc-parser's scanner alone, building
 * nothing, takes about 5× as long as `JSON.parse`, and its `parseTree` 8× to 16×.
 */
export function analyzeWorkflow(text: string, options: AnalyzeOptions = {}): WorkflowAnalysis {
  // A byte order mark is not JSON, but editors on Windows write one; a space keeps every offset.
  const source = text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
  let document: unknown;
  try {
    document = JSON.parse(source);
  } catch (e) {
    return {
      format: 'invalid',
      isApiFormat: false,
      document: undefined,
      nodes: [],
      localFiles: [],
      problems: syntaxProblems(source, e),
    };
  }
  return new Analyzer(source, document, options).run();
}

/** The largest document analysed as it is edited: API workflows are kilobytes, a few megabytes with embedded images. */
export const maxAnalysedLength = 8 * 1024 * 1024;

/** URI schemes of documents a user edits; output channels, diffs and other virtual documents are never workflows to check. */
const editableSchemes = new Set(['file', 'untitled', 'vscode-remote']);

/**
 * True when an open document can be a workflow worth analysing: JSON (or any file named like a
 * workflow), one the user edits, and not huge. Everything else is never read as a whole.
 */
export function mayBeWorkflowDocument(doc: { readonly languageId: string; readonly scheme: string; readonly namedLikeWorkflow: boolean; readonly length: number }): boolean {
  if (!editableSchemes.has(doc.scheme) || doc.length > maxAnalysedLength) return false;
  return doc.namedLikeWorkflow || doc.languageId === 'json' || doc.languageId === 'jsonc';
}

/**
 * A cheap guess, for deciding whether to offer "Run" on a JSON file not named `workflow_api.json`:
 * the text starts like an object of objects and mentions `class_type`. Confirm with {@link analyzeWorkflow}.
 */
export function looksLikeApiWorkflow(text: string): boolean {
  return /^\uFEFF?\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{/.test(text.slice(0, 4096)) && text.includes('"class_type"');
}

/** True when `value` is a JSON object whose values are all objects with a string `class_type` (and there is at least one). */
export function isApiFormat(value: unknown): value is ApiPrompt {
  if (!isPlainObject(value)) return false;
  let count = 0;
  for (const key in value) {
    const node = value[key];
    if (!isPlainObject(node) || typeof node.class_type !== 'string') return false;
    count++;
  }
  return count > 0;
}

/**
 * Describes a node for messages: `Node 32 “Load Model” (CheckpointLoaderSimple)`; without a title
 * (or one that only repeats the class) `Node 7 (KSampler)`; `Node 7` when its class is unknown.
 * The title is the workflow's `_meta.title`, untrusted text: shown on one line and cut to a length.
 */
export function nodeLabel(nodeId: string, classType?: string, title?: string): string {
  const shown = title === undefined ? '' : oneLineTitle(title);
  const named = shown && shown !== classType ? ` “${shown}”` : '';
  return classType ? `Node ${nodeId}${named} (${classType})` : `Node ${nodeId}${named}`;
}

/** Titles longer than this are cut in messages: a title is a name, not a paragraph. */
const MAX_TITLE_LENGTH = 60;

function oneLineTitle(title: string): string {
  // Line breaks and control characters would break the message; bidi controls would reorder it.
  const flat = title.replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '').replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ').trim();
  return flat.length > MAX_TITLE_LENGTH ? `${flat.slice(0, MAX_TITLE_LENGTH - 1)}…` : flat;
}

type JsonObject = Record<string, unknown>;

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** Line starts, found once, for the error paths (syntax errors, a document that is not an object). */
class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      if (c === 13 || c === 10) this.starts.push(i + 1);
    }
  }

  range(offset: number, length: number): TextRange {
    const [line, column] = this.position(offset);
    const [endLine, endColumn] = this.position(offset + length);
    return { offset, length, line, column, endLine, endColumn };
  }

  private position(offset: number): [line: number, column: number] {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return [lo + 1, offset - s[lo] + 1];
  }
}

/** Readable messages for jsonc-parser's error names. */
const SYNTAX_MESSAGES: Readonly<Record<string, string>> = {
  InvalidSymbol: 'Unexpected character',
  InvalidNumberFormat: 'Invalid number',
  PropertyNameExpected: 'Expected a property name in double quotes',
  ValueExpected: 'Expected a value',
  ColonExpected: 'Expected a colon',
  CommaExpected: 'Expected comma',
  CloseBraceExpected: 'Expected a closing brace "}"',
  CloseBracketExpected: 'Expected a closing bracket "]"',
  EndOfFileExpected: 'Expected end of file (there is text after the JSON value)',
  InvalidCommentToken: 'Comments are not allowed in JSON',
  UnexpectedEndOfComment: 'Unterminated comment',
  UnexpectedEndOfString: 'Unterminated string',
  UnexpectedEndOfNumber: 'Unterminated number',
  InvalidUnicode: 'Invalid unicode escape',
  InvalidEscapeCharacter: 'Invalid escape character in string',
  InvalidCharacter: 'Invalid character in string (control characters such as line breaks must be escaped)',
};

/** At most this many syntax errors are reported: after the first few, the rest are usually echoes of it. */
const MAX_SYNTAX_ERRORS = 20;

function syntaxProblems(text: string, parseError: unknown): WorkflowProblem[] {
  const j = jsonc();
  const lines = new LineIndex(text);
  const problems: WorkflowProblem[] = [];
  const errors: { code: ParseErrorCode; offset: number; length: number }[] = [];
  try {
    j.visit(
      text,
      { onError: (code, offset, length) => errors.push({ code, offset, length }) },
      { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
    );
  } catch {
    // jsonc-parser recurses per nesting level: absurdly deep text overflows the stack. JSON.parse's
    // own message (below) still says what and where.
    errors.length = 0;
  }
  for (const { code, offset, length } of errors.slice(0, MAX_SYNTAX_ERRORS)) {
    const range = lines.range(offset, length);
    const what = SYNTAX_MESSAGES[j.printParseErrorCode(code)] ?? 'Invalid JSON';
    problems.push({
      severity: 'error',
      code: 'syntax_error',
      range,
      message: `${what} at line ${range.line}, column ${range.column}. Fix the JSON before running the workflow.`,
    });
  }
  if (problems.length === 0) {
    // jsonc-parser found nothing (it is more lenient about a few things) or gave up: use JSON.parse's
    // message, whose "at position N" is the offset.
    const detail = parseError instanceof Error ? parseError.message : String(parseError);
    const at = /at position (\d+)/.exec(detail);
    const offset = at ? Math.min(Number(at[1]), text.length) : text.length;
    const range = lines.range(offset, 0);
    problems.push({
      severity: 'error',
      code: 'syntax_error',
      range,
      message: `The file is not valid JSON (${detail.replace(/\.$/, '')}) at line ${range.line}, column ${range.column}. Fix the JSON before running the workflow.`,
    });
  }
  return problems;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

// A span in the scanner's arrays: six numbers, all 0-based.
const S_OFFSET = 0;
const S_LINE = 1;
const S_COLUMN = 2;
const S_END = 3;
const S_END_LINE = 4;
const S_END_COLUMN = 5;
const SPAN = 6;
// A node record: the spans of its key, its value, its class_type value and its "inputs" key, then
// where its input records are. A span that is absent has offset -1.
const N_KEY = 0;
const N_VALUE = SPAN;
const N_CLASS = 2 * SPAN;
const N_INPUTS_KEY = 3 * SPAN;
const N_INPUTS_FIRST = 4 * SPAN;
/** Number of input records, or -1 when `inputs` is absent or not an object. */
const N_INPUTS_COUNT = 4 * SPAN + 1;
const N_STRIDE = 4 * SPAN + 2;
// An input record: where its key starts and ends, then the span of its value. The key's line is
// only needed for a rare warning, and is then found from the offset.
const I_KEY_START = 0;
const I_KEY_END = 1;
const I_VALUE = 2;
const I_STRIDE = 2 + SPAN;

/**
 * Finds where the nodes, their `class_type`, `inputs` and input values are written, with their
 * lines and columns, in one pass over text that `JSON.parse` has accepted. Valid JSON lets it skip
 * string bodies with `indexOf` and trust the grammar, and keeps line breaks out of strings, so
 * lines are counted while skipping whitespace. Results go to flat typed arrays rather than
 * objects: a large workflow has hundreds of thousands of them, and objects that live until the
 * end of the pass make the garbage collector the slowest part.
 */
class SpanScanner {
  nodes = new Int32Array(N_STRIDE * 256);
  nodeCount = 0;
  inputs = new Int32Array(I_STRIDE * 8192);
  inputCount = 0;
  /** The top-level object's span (offset -1 when the document is not an object). */
  readonly whole = new Int32Array(SPAN).fill(-1);
  private line = 0;
  private lineStart = 0;

  constructor(private readonly text: string) {}

  /** Scans the top-level object; does nothing when the text holds another kind of value. */
  scan(): this {
    const start = this.skipWs(0);
    if (this.text.charCodeAt(start) === OPEN_BRACE) {
      this.markStart(this.whole, 0, start);
      this.markEnd(this.whole, 0, this.scanTopLevel(start));
    }
    return this;
  }

  /** The key written from `start` to `end`, quotes included (keys are usually free of escapes, so a slice). */
  key(start: number, end: number): string {
    const raw = this.text.slice(start + 1, end - 1);
    return raw.includes('\\') ? (JSON.parse(this.text.slice(start, end)) as string) : raw;
  }

  private markStart(a: Int32Array, at: number, offset: number): void {
    a[at + S_OFFSET] = offset;
    a[at + S_LINE] = this.line;
    a[at + S_COLUMN] = offset - this.lineStart;
  }

  private markEnd(a: Int32Array, at: number, offset: number): void {
    a[at + S_END] = offset;
    a[at + S_END_LINE] = this.line;
    a[at + S_END_COLUMN] = offset - this.lineStart;
  }

  /** Returns the offset after the top-level object. */
  private scanTopLevel(start: number): number {
    const t = this.text;
    let i = this.skipWs(start + 1);
    if (t.charCodeAt(i) === CLOSE_BRACE) return i + 1;
    for (;;) {
      if ((this.nodeCount + 1) * N_STRIDE > this.nodes.length) this.nodes = grow(this.nodes);
      const r = this.nodeCount++ * N_STRIDE;
      const n = this.nodes;
      n[r + N_CLASS] = -1;
      n[r + N_INPUTS_KEY] = -1;
      n[r + N_INPUTS_COUNT] = -1;
      this.markStart(n, r + N_KEY, i);
      i = this.stringEnd(i);
      this.markEnd(n, r + N_KEY, i);
      i = this.skipWs(this.skipWs(i) + 1);
      this.markStart(n, r + N_VALUE, i);
      i = t.charCodeAt(i) === OPEN_BRACE ? this.scanNode(i, r) : this.valueEnd(i);
      // scanNode may have grown the arrays: index them afresh.
      this.markEnd(this.nodes, r + N_VALUE, i);
      i = this.skipWs(i);
      if (t.charCodeAt(i) !== COMMA) return i + 1;
      i = this.skipWs(i + 1);
    }
  }

  /** Scans the node object at `start` (record at `r`); returns the offset after it. */
  private scanNode(start: number, r: number): number {
    const t = this.text;
    let i = this.skipWs(start + 1);
    if (t.charCodeAt(i) === CLOSE_BRACE) return i + 1;
    for (;;) {
      const keyStart = i;
      const keyEnd = this.stringEnd(i);
      // Keys never span lines: the line here is the key's, whatever whitespace follows.
      const keyLine = this.line;
      const keyLineStart = this.lineStart;
      i = this.skipWs(this.skipWs(keyEnd) + 1);
      if (isKey(t, keyStart, keyEnd, 'class_type')) {
        this.markStart(this.nodes, r + N_CLASS, i);
        i = this.valueEnd(i);
        this.markEnd(this.nodes, r + N_CLASS, i);
      } else if (isKey(t, keyStart, keyEnd, 'inputs')) {
        this.setSpan(this.nodes, r + N_INPUTS_KEY, keyStart, keyEnd, keyLine, keyLineStart);
        if (t.charCodeAt(i) === OPEN_BRACE) {
          const first = this.inputCount;
          i = this.scanInputs(i);
          this.nodes[r + N_INPUTS_FIRST] = first;
          this.nodes[r + N_INPUTS_COUNT] = this.inputCount - first;
        } else {
          i = this.valueEnd(i);
          this.nodes[r + N_INPUTS_COUNT] = -1;
        }
      } else {
        i = this.valueEnd(i);
      }
      i = this.skipWs(i);
      if (t.charCodeAt(i) !== COMMA) return i + 1;
      i = this.skipWs(i + 1);
    }
  }

  private scanInputs(start: number): number {
    const t = this.text;
    let i = this.skipWs(start + 1);
    if (t.charCodeAt(i) === CLOSE_BRACE) return i + 1;
    for (;;) {
      if ((this.inputCount + 1) * I_STRIDE > this.inputs.length) this.inputs = grow(this.inputs);
      const r = this.inputCount++ * I_STRIDE;
      const a = this.inputs;
      a[r + I_KEY_START] = i;
      i = this.stringEnd(i);
      a[r + I_KEY_END] = i;
      i = this.skipWs(this.skipWs(i) + 1);
      this.markStart(a, r + I_VALUE, i);
      i = this.valueEnd(i);
      this.markEnd(a, r + I_VALUE, i);
      i = this.skipWs(i);
      if (t.charCodeAt(i) !== COMMA) return i + 1;
      i = this.skipWs(i + 1);
    }
  }

  private setSpan(a: Int32Array, at: number, start: number, end: number, line: number, lineStart: number): void {
    a[at + S_OFFSET] = start;
    a[at + S_LINE] = line;
    a[at + S_COLUMN] = start - lineStart;
    a[at + S_END] = end;
    a[at + S_END_LINE] = line;
    a[at + S_END_COLUMN] = end - lineStart;
  }

  /** Skips whitespace from `i`, counting line breaks; returns the offset of the next token. */
  private skipWs(i: number): number {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === SPACE || c === TAB) {
        i++;
      } else if (c === LF) {
        this.line++;
        this.lineStart = ++i;
      } else if (c === CR) {
        if (t.charCodeAt(++i) === LF) i++;
        this.line++;
        this.lineStart = i;
      } else {
        return i;
      }
    }
  }

  /** The offset after the closing quote of the string starting at `start`. */
  private stringEnd(start: number): number {
    const t = this.text;
    let from = start + 1;
    for (;;) {
      const q = t.indexOf('"', from);
      let k = q - 1;
      while (t.charCodeAt(k) === BACKSLASH) k--;
      if ((q - 1 - k) % 2 === 0) return q + 1;
      from = q + 1;
    }
  }

  /** The offset after the value starting at `start`, counting the line breaks inside it. */
  private valueEnd(start: number): number {
    const t = this.text;
    const c = t.charCodeAt(start);
    if (c === QUOTE) return this.stringEnd(start);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      let depth = 0;
      let i = start;
      for (;;) {
        const ch = t.charCodeAt(i);
        if (ch === QUOTE) {
          i = this.stringEnd(i);
        } else if (ch === LF || ch === CR || ch === SPACE || ch === TAB) {
          i = this.skipWs(i);
        } else {
          if (ch === OPEN_BRACE || ch === OPEN_BRACKET) depth++;
          else if ((ch === CLOSE_BRACE || ch === CLOSE_BRACKET) && --depth === 0) return i + 1;
          i++;
        }
      }
    }
    let i = start + 1;
    for (;;) {
      const ch = t.charCodeAt(i);
      // Literals (numbers, true, false, null) end at a delimiter, whitespace or the end of the text (NaN).
      if (ch === COMMA || ch === CLOSE_BRACE || ch === CLOSE_BRACKET || ch === COLON || ch === SPACE || ch === LF || ch === CR || ch === TAB || ch !== ch) {
        return i;
      }
      i++;
    }
  }
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The link an input's value makes, when it is a well-formed one (`["<id>", <integer ≥ 0>]`), whether or not the target exists. */
function linkOf(value: unknown): WorkflowLink | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [nodeId, outputIndex] = value as unknown[];
  return typeof nodeId === 'string' && typeof outputIndex === 'number' && Number.isInteger(outputIndex) && outputIndex >= 0 ? { nodeId, outputIndex } : undefined;
}

function scannedInput(name: string, a: Int32Array, q: number, value: unknown): WorkflowInput {
  const input: WorkflowInput = { name, valueRange: spanRange(a, q + I_VALUE) };
  const link = linkOf(value);
  if (link) input.link = link;
  return input;
}

/**
 * A node whose input list is made when first asked for. The analysis checks every input straight
 * from the parsed values and the scanner's records; the list, with an object and a range per
 * input, is only needed by the object_info check and quick fixes. Making it up front was most of
 * the analysis time of a workflow with 100,000 inputs (and of the garbage collection after it).
 */
class ScannedNode implements WorkflowNode {
  classType?: string;
  title?: string;
  classTypeRange?: TextRange;
  inputsKeyRange?: TextRange;
  #list: WorkflowInput[] | undefined = [];
  #source: { values: JsonObject; spans: Int32Array; first: number } | undefined;

  constructor(
    readonly id: string,
    readonly keyRange: TextRange,
    readonly range: TextRange,
  ) {}

  get inputs(): WorkflowInput[] {
    if (this.#list === undefined) {
      const { values, spans, first } = this.#source!;
      this.#source = undefined;
      const list: WorkflowInput[] = [];
      let j = first;
      for (const name in values) list.push(scannedInput(name, spans, j++ * I_STRIDE, values[name]));
      this.#list = list;
    }
    return this.#list;
  }

  set inputs(list: WorkflowInput[]) {
    this.#list = list;
    this.#source = undefined;
  }

  /** Takes the inputs from the parsed object, whose keys are the scanner's records from `first` on, in order. */
  inputsFrom(values: JsonObject, spans: Int32Array, first: number): void {
    this.#list = undefined;
    this.#source = { values, spans, first };
  }

  /** The node as a plain object, inputs included, whether or not they were asked for yet. */
  toJSON(): WorkflowNode {
    return { ...this, inputs: this.inputs };
  }
}

/** The range of a span in the scanner's arrays. */
function spanRange(a: Int32Array, at: number): TextRange {
  const offset = a[at + S_OFFSET];
  return {
    offset,
    length: a[at + S_END] - offset,
    line: a[at + S_LINE] + 1,
    column: a[at + S_COLUMN] + 1,
    endLine: a[at + S_END_LINE] + 1,
    endColumn: a[at + S_END_COLUMN] + 1,
  };
}

function startsWithDigit(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** Whether the key string at [start, end) is `"name"`, without making a string of it. */
function isKey(text: string, start: number, end: number, name: string): boolean {
  const length = name.length;
  if (end - start !== length + 2) return false;
  // A loop beats startsWith here: names are short, and this runs for every input of a large file.
  for (let k = 0; k < length; k++) if (text.charCodeAt(start + 1 + k) !== name.charCodeAt(k)) return false;
  return true;
}

class Analyzer {
  private readonly problems: WorkflowProblem[] = [];
  private readonly nodes: WorkflowNode[] = [];
  private readonly localFiles: LocalFileInput[] = [];
  private inputPolicy: InputPolicy | undefined;
  /** Node id → index of the record that counts (the last, if an id is repeated). */
  private readonly lastRecord = new Map<string, number>();
  /** Nodes that are objects with a string `class_type`: when that is all of them, the file is in API format. */
  private wellFormedNodes = 0;
  /** Built only when a rare warning needs a position the scanner did not record. */
  private lineIndex: LineIndex | undefined;

  constructor(
    private readonly text: string,
    private readonly document: unknown,
    private readonly options: AnalyzeOptions,
  ) {}

  run(): WorkflowAnalysis {
    const doc = this.document;
    if (!isPlainObject(doc)) {
      const whole = new LineIndex(this.text).range(0, this.text.length);
      this.error('not_an_object', whole, `The workflow must be a JSON object of nodes ({"1": {"class_type": …, "inputs": {…}}, …}), but this file holds ${describeJsonType(doc)}. ${EXPORT_HINT}`);
      return this.result('other');
    }
    const scan = new SpanScanner(this.text).scan();
    const whole = spanRange(scan.whole, 0);
    const n = scan.nodes;
    const ids: string[] = [];
    for (let k = 0; k < scan.nodeCount; k++) {
      const at = k * N_STRIDE + N_KEY;
      const id = scan.key(n[at + S_OFFSET], n[at + S_END]);
      ids.push(id);
      this.lastRecord.set(id, k);
    }
    const keyRange = (key: string) => {
      const k = this.lastRecord.get(key);
      return k === undefined ? whole : spanRange(n, k * N_STRIDE + N_KEY);
    };

    if (Array.isArray(doc.nodes) && Array.isArray(doc.links)) {
      this.error('ui_format', keyRange('nodes'), `This is a ComfyUI editor workflow (it has "nodes" and "links"), not the API format a server can queue. ${EXPORT_HINT}`);
      this.uiLocalFiles(doc.nodes, whole);
      return this.result('ui');
    }
    if (isApiFormat(doc.prompt)) {
      this.error('request_body', keyRange('prompt'), 'This looks like a POST /prompt request body: the workflow is under "prompt". Save the value of "prompt" on its own as the workflow file.');
      return this.result('other');
    }
    if (ids.length === 0) {
      this.error('empty_workflow', whole, 'The workflow has no nodes. Export a workflow in API format from ComfyUI (Workflow → Export (API)).');
      return this.result('api');
    }
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      const r = k * N_STRIDE;
      if (this.lastRecord.get(id) !== k) {
        this.warning('duplicate_node_id', spanRange(n, r + N_KEY), `Node id "${id}" is written more than once; only the last one is used. Give each node its own id or remove the extra one.`, id);
      } else {
        this.analyzeNode(scan, r, id, doc[id]);
      }
    }
    return this.result('api');
  }

  private analyzeNode(scan: SpanScanner, r: number, id: string, value: unknown): void {
    const n = scan.nodes;
    const keyRange = spanRange(n, r + N_KEY);
    const node = new ScannedNode(id, keyRange, spanRange(n, r + N_VALUE));
    this.nodes.push(node);
    if (!isPlainObject(value)) {
      this.error('node_not_object', keyRange, `Node ${id} must be an object with "class_type" and "inputs", but it is ${describeJsonType(value)}. Is this an API-format workflow? ${EXPORT_HINT}`, id);
      return;
    }
    const classType = value.class_type;
    if (typeof classType === 'string') this.wellFormedNodes++;
    if (n[r + N_CLASS] >= 0) node.classTypeRange = spanRange(n, r + N_CLASS);
    if (typeof classType === 'string' && classType.length > 0) {
      node.classType = classType;
    } else if (classType === undefined) {
      this.error('missing_class_type', keyRange, `Node ${id} has no "class_type". Add the node's class name (for example "class_type": "KSampler"): ComfyUI refuses a prompt with a node missing it.`, id);
    } else {
      this.error('missing_class_type', node.classTypeRange ?? keyRange, `Node ${id}: "class_type" must be a non-empty string naming the node class (for example "KSampler"), but it is ${classType === '' ? 'empty' : describeJsonType(classType)}.`, id);
    }
    const meta = value._meta;
    if (isPlainObject(meta) && typeof meta.title === 'string') node.title = meta.title;

    const label = nodeLabel(id, node.classType, node.title);
    const inputs = value.inputs;
    if (n[r + N_INPUTS_KEY] >= 0) node.inputsKeyRange = spanRange(n, r + N_INPUTS_KEY);
    if (inputs === undefined) {
      this.error('missing_inputs', keyRange, `${label} has no "inputs". Add "inputs": {} (with the node's inputs, if it has any).`, id);
      return;
    }
    const count = n[r + N_INPUTS_COUNT];
    if (!isPlainObject(inputs) || count < 0) {
      this.error('missing_inputs', node.inputsKeyRange ?? keyRange, `${label}: "inputs" must be an object of input name → value, but it is ${describeJsonType(inputs)}.`, id);
      return;
    }
    const a = scan.inputs;
    const first = n[r + N_INPUTS_FIRST];
    // Usually the parsed object's keys are exactly the written names, in the same order: then
    // a for-in walk pairs each key (a string JSON.parse already made) and its value with the next
    // record, without making strings or arrays. Names that start with a digit may be array
    // indices, which objects put first, and repeated names leave fewer keys than records: those
    // take the slow path.
    let keyCount = 0;
    let ordered = true;
    for (const name in inputs) {
      keyCount++;
      if (startsWithDigit(name)) ordered = false;
    }
    if (ordered && keyCount === count) {
      let j = 0;
      for (const name in inputs) this.checkInput(node, label, a, (first + j++) * I_STRIDE, name, inputs[name]);
      node.inputsFrom(inputs, a, first);
      return;
    }
    const list: WorkflowInput[] = [];
    const names: string[] = [];
    for (let j = 0; j < count; j++) names.push(scan.key(a[(first + j) * I_STRIDE + I_KEY_START], a[(first + j) * I_STRIDE + I_KEY_END]));
    // JSON.parse keeps the last of repeated keys; so do the ranges, and the earlier ones get a warning.
    const lastOf = new Map<string, number>();
    names.forEach((name, j) => lastOf.set(name, j));
    for (let j = 0; j < count; j++) {
      const name = names[j];
      const q = (first + j) * I_STRIDE;
      if (lastOf.get(name) === j) {
        this.checkInput(node, label, a, q, name, inputs[name]);
        list.push(scannedInput(name, a, q, inputs[name]));
        continue;
      }
      const start = a[q + I_KEY_START];
      this.lineIndex ??= new LineIndex(this.text);
      this.warning('duplicate_input', this.lineIndex.range(start, a[q + I_KEY_END] - start), `${label}: input "${name}" is written more than once; only the last value is used. Remove the extra one.`, node.id, name);
    }
    node.inputs = list;
  }

  /**
   * Checks one input's value where the scanner wrote it down (record at `q`); a range object is
   * made only for a problem or a local file.
   */
  private checkInput(node: WorkflowNode, label: string, a: Int32Array, q: number, name: string, value: unknown): void {
    if (Array.isArray(value)) this.checkLinkShape(label, node.id, a, q, name, value);
    else if (typeof value === 'string' && node.classType && this.options.fileDir) this.considerLocalFile(node.classType, node.id, a, q, name, value);
  }

  /** Flags a two-element list that is clearly meant as a link but is malformed, or links to a node that is not there. */
  private checkLinkShape(label: string, nodeId: string, a: Int32Array, q: number, name: string, v: unknown[]): void {
    if (v.length !== 2) return;
    const target = v[0];
    const index = v[1];
    const at = () => spanRange(a, q + I_VALUE);
    if (typeof target === 'number' && typeof index === 'number') {
      this.error('bad_linked_input', at(), `${label}, input "${name}": a link's node id must be a string: write ["${target}", ${index}] instead of [${target}, ${index}].`, nodeId, name);
      return;
    }
    if (typeof target !== 'string' || typeof index !== 'number') return;
    if (!Number.isInteger(index) || index < 0) {
      this.error('bad_output_index', at(), `${label}, input "${name}": output index ${index} of the link to node ${target} must be a whole number ≥ 0 (0 is the first output).`, nodeId, name);
      return;
    }
    if (!this.lastRecord.has(target)) {
      this.error('link_to_missing_node', at(), `${label}, input "${name}": links to node ${target}, which is not in this workflow. Link it to an existing node or re-export the workflow.`, nodeId, name);
    }
  }

  /**
   * An input names a local file to upload when it is a known upload input, or any other input
   * whose value has a media extension and is relative (an absolute one may be a path on the
   * server, for a custom node), and a file exists there. Whether it may be uploaded is the input
   * policy's verdict, given here so that diagnostics, CodeLens and the run all say the same.
   */
  private considerLocalFile(classType: string, nodeId: string, a: Int32Array, q: number, inputName: string, value: string): void {
    const fileDir = this.options.fileDir;
    if (!fileDir || value.length === 0 || value.length > 1024) return;
    const known = UPLOAD_INPUTS[classType]?.includes(inputName) ?? false;
    if (!known && (OUTPUT_NAME_INPUTS.has(inputName) || !hasMediaExtension(value))) return;
    if (ANNOTATED_NAME.test(value) || !isLocalPath(value)) return;
    const absolute = path.isAbsolute(value);
    if (!known && absolute) return;
    // Workflows written on Windows use backslashes; elsewhere they are separators too for this purpose.
    const absPath = absolute ? path.resolve(value) : path.resolve(fileDir, value.replace(/\\/g, '/'));
    if (!fileExists(absPath)) return;
    this.inputPolicy ??= this.options.inputPolicy ?? workflowFolderPolicy(path.join(fileDir, 'workflow'));
    const verdict = checkInputSync(absPath, this.inputPolicy);
    const valueRange = spanRange(a, q + I_VALUE);
    this.localFiles.push({ nodeId, classType, inputName, value, absPath, valueRange, reason: known ? 'uploadInput' : 'mediaPath', verdict });
    if (!verdict.allowed) this.error('input_not_allowed', valueRange, refusalMessage(inputLabel(nodeId, classType, inputName), value, verdict), nodeId, inputName);
  }

  /**
   * The local files the upload nodes of a UI-format workflow name (LoadImage and friends, whose
   * upload widget is their first widget value), found without a server's node list and checked as
   * an API file's are, placed on the node's `"type"` in the file. Muted and bypassed nodes are never
   * sent, so they upload nothing; nodes inside subgraphs are not looked at.
   */
  private uiLocalFiles(nodes: unknown[], whole: TextRange): void {
    if (!this.options.fileDir) return;
    const uploads: Record<string, { class_type: string; inputs: Record<string, string> }> = {};
    const paths = new Map<string, string>();
    nodes.forEach((node, i) => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      const inputs = typeof n.type === 'string' && Object.hasOwn(UPLOAD_INPUTS, n.type) ? UPLOAD_INPUTS[n.type] : undefined;
      const value = Array.isArray(n.widgets_values) ? (n.widgets_values[0] as unknown) : undefined;
      if (!inputs || typeof value !== 'string' || n.mode === 2 || n.mode === 4 || (typeof n.id !== 'number' && typeof n.id !== 'string')) return;
      uploads[String(n.id)] = { class_type: n.type as string, inputs: { [inputs[0]]: value } };
      paths.set(String(n.id), `nodes[${i}]`);
    });
    if (paths.size === 0) return;
    for (const f of analyzeWorkflow(JSON.stringify(uploads), this.options).localFiles) {
      const range = uiNodeRange(this.text, paths.get(f.nodeId)!) ?? whole;
      this.localFiles.push({ ...f, valueRange: range });
      if (!f.verdict.allowed) this.error('input_not_allowed', range, refusalMessage(inputLabel(f.nodeId, f.classType, f.inputName), f.value, f.verdict), f.nodeId, f.inputName);
    }
  }

  private result(format: WorkflowAnalysis['format']): WorkflowAnalysis {
    const hasErrors = this.problems.some((p) => p.severity === 'error');
    const analysis: WorkflowAnalysis = {
      format,
      isApiFormat: format === 'api' && this.nodes.length > 0 && this.wellFormedNodes === this.nodes.length,
      document: this.document,
      nodes: this.nodes,
      localFiles: this.localFiles,
      problems: this.problems,
    };
    if (analysis.isApiFormat && !hasErrors) analysis.prompt = this.document as ApiPrompt;
    return analysis;
  }

  private error(code: WorkflowProblemCode, range: TextRange, message: string, nodeId?: string, inputName?: string): void {
    this.problems.push(problem('error', code, range, message, nodeId, inputName));
  }

  private warning(code: WorkflowProblemCode, range: TextRange, message: string, nodeId?: string, inputName?: string): void {
    this.problems.push(problem('warning', code, range, message, nodeId, inputName));
  }
}

/** Builds a problem, leaving out absent optional fields so results compare and serialise cleanly. */
export function problem(
  severity: WorkflowProblem['severity'],
  code: WorkflowProblemCode,
  range: TextRange,
  message: string,
  nodeId?: string,
  inputName?: string,
): WorkflowProblem {
  const p: WorkflowProblem = { severity, message, range, code };
  if (nodeId !== undefined) p.nodeId = nodeId;
  if (inputName !== undefined) p.inputName = inputName;
  return p;
}

/** On one line and no URL: something a user would write for a local file. */
function isLocalPath(value: string): boolean {
  return !/\p{Cc}/u.test(value) && !value.includes('://');
}

function fileExists(absPath: string): boolean {
  try {
    return fs.statSync(absPath, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}
