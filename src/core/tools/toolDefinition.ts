import { type ComfyClient } from '../../api/comfyClient';
import { ApiError } from '../../api/errors';
import { maskUrl } from '../../api/redact';
import { type Clock } from '../../base/clock';
import { isObject } from '../../base/json';
import { type RunComfyAccount } from '../account';
import { type InputPolicy } from '../inputPolicy';
import { type MoneyConfirmation } from '../moneyConfirmations';
import { type OutputLocation } from '../outputLocation';
import { type RateTable } from '../pricing';
import { type RunEngine } from '../runEngine';
import { type RunRegistry, type RunTarget } from '../runRegistry';

/**
 * The agent tools' shared shape: one definition per tool (name, words, JSON schemas, handler), used by
 * the VS Code language model tools (`src/tools/`) and the MCP server (`src/cli/mcpCommand.ts`), so the
 * two never drift. Plain TypeScript over the core; the host supplies what differs (`ToolHost`).
 */

/** The subset of JSON Schema the tools use (and `validateToolInput` checks). */
export interface JsonSchema {
  readonly type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | readonly ('string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null')[];
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  /** False refuses other keys; a schema types the values of an object used as a map (a sweep's axes). */
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
}

/** A tool's input schema: always an object. */
export interface ObjectSchema extends JsonSchema {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, JsonSchema>>;
}

/** A local ComfyUI server the host lets tools queue on, by name. */
export interface ToolLocalServer {
  readonly name: string;
  readonly url: string;
}

/** A workflow file a tool was given, after the host's path policy accepted it. */
export interface ToolWorkflowFile {
  readonly absPath: string;
  /** How results name it (relative to the workspace folder or the current directory). */
  readonly displayPath: string;
  readonly text: string;
  /** Which local files its inputs may upload. */
  readonly inputPolicy: InputPolicy;
}

/**
 * What a tool runs against, supplied by the VS Code extension or the MCP server. Everything that can
 * refuse (not signed in, a path outside the workspace) throws a `ToolError` saying what to do.
 */
export interface ToolHost {
  /** The signed-in RunComfy account. */
  account(): RunComfyAccount;
  readonly rates: RateTable;
  readonly clock: Clock;
  /** The runs tools started (and, in the editor, every run of the window). */
  readonly runs: RunRegistry;
  /** The ComfyUI servers of this computer a tool may queue on, by name. */
  localServers(): readonly ToolLocalServer[];
  /** The client of a ComfyUI base URL (shared, so its `/object_info` is read once). */
  comfyClient(url: string): ComfyClient;
  /** Resolves and reads a workflow path a tool was given; the path is untrusted (see `resolveToolPath`). */
  openWorkflow(rawPath: string): Promise<ToolWorkflowFile>;
  /** Throws when this host may not queue workspace files now (the editor: an untrusted workspace). */
  assertMayQueue?(): void;
  /** Where a run of `file` saves its outputs. */
  outputLocation(file: ToolWorkflowFile): Promise<OutputLocation>;
  /** Told of every run a tool starts, before it is queued (the editor attaches its log). */
  runStarted?(engine: RunEngine, info: { readonly workflow: string; readonly target: RunTarget; readonly comfyUrl: string }): void;
}

/** What a handler gets besides its input. */
export interface ToolContext {
  readonly host: ToolHost;
  /** Aborted when the caller cancels; a launch or stop already sent goes on (money operations). */
  readonly signal: AbortSignal;
}

/** What a tool asks before it runs: the question, and what it adds to a session's spending. */
export interface ToolConfirmation extends MoneyConfirmation {
  /** True when the call spends money (launch, extend, queue on a machine); false for a stop. */
  readonly spends: boolean;
  /**
   * New money the call commits, in US dollars, for a session's `--max-cost`: rate × time for a
   * launch or an extension; 0 for a queue (the machine bills anyway); undefined when the rate is unknown.
   */
  readonly newCostUsd: number | undefined;
}

/** A tool's JSON result (`structuredContent` in MCP, a `LanguageModelTextPart` in VS Code). */
export type ToolData = Record<string, unknown>;

/** A tool's input: a JSON object (checked against the tool's schema before the tool sees it). */
export type ToolInput = Readonly<Record<string, unknown>>;

/** One tool. `I` is the input as its schema describes it. */
export interface ToolDefinition<I extends ToolInput = ToolInput> {
  /** The MCP tool name (`list_machines`); VS Code's is `runcomfy_` + this. */
  readonly name: string;
  /** What a person sees (VS Code's displayName, MCP's title). */
  readonly title: string;
  /** What `#` in a chat prompt names (VS Code's toolReferenceName). */
  readonly referenceName: string;
  /** For people: what it does, in a line. */
  readonly userDescription: string;
  /** For the model: when to use it, what it costs, what it returns. */
  readonly modelDescription: string;
  readonly tags: readonly string[];
  /** True when some calls spend money: the MCP server needs `--allow-spend` for them. */
  readonly spends: boolean;
  /** Changes nothing anywhere (MCP's readOnlyHint). */
  readonly readOnly: boolean;
  readonly inputSchema: ObjectSchema;
  readonly outputSchema: ObjectSchema;
  /** The question to ask before this call, or undefined when it needs none (a read, a queue on a local server). */
  confirmation?(input: I, context: ToolContext): Promise<ToolConfirmation | undefined>;
  run(input: I, context: ToolContext): Promise<ToolData>;
}

/**
 * A refusal or failure the model can act on: what is wrong and what to do next ("Machine 8c0c… is
 * Starting; try again when it is Ready"). `code` is short and stable, for programs.
 */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How a call ended: data, or an error the model can act on (never a stack trace). */
export type ToolOutcome = { readonly ok: true; readonly data: ToolData } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/**
 * Checks `input` against `schema` (the subset in `JsonSchema`), so both hosts refuse the same
 * inputs with the same words. Returns the problems, empty when the input fits.
 */
export function validateToolInput(schema: ObjectSchema, input: unknown): string[] {
  if (!isObject(input)) return ['The input must be a JSON object.'];
  const problems: string[] = [];
  for (const key of schema.required ?? []) {
    if (input[key] === undefined) problems.push(`"${key}" is required: ${schema.properties[key]?.description ?? ''}`.trim());
  }
  for (const [key, value] of Object.entries(input)) {
    const prop = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    if (!prop) {
      if (schema.additionalProperties === false) problems.push(`"${key}" is not an input of this tool (it takes ${Object.keys(schema.properties).join(', ') || 'nothing'}).`);
      continue;
    }
    if (value === undefined) continue;
    const problem = valueProblem(prop, value);
    if (problem) problems.push(`"${key}" ${problem}`);
  }
  return problems;
}

function valueProblem(schema: JsonSchema, value: unknown): string | undefined {
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string.';
      if (schema.minLength !== undefined && value.trim().length < schema.minLength) return 'must not be empty.';
      if (schema.enum && !schema.enum.includes(value)) return `must be one of ${schema.enum.join(', ')}.`;
      return undefined;
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number.';
      if (schema.type === 'integer' && !Number.isInteger(value)) return 'must be a whole number.';
      if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}.`;
      if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}.`;
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false.';
    case 'object':
      return isObject(value) ? undefined : 'must be a JSON object.';
    default:
      return undefined;
  }
}

/**
 * Runs a tool: validates the input, runs the handler, and turns every failure into an outcome the
 * model can act on. Typed API errors keep their message (which never holds a token or a full ComfyUI
 * URL); anything else says what failed without a stack. Every string of the outcome is scrubbed of
 * `secrets` and of the full ComfyUI URL of every machine the account knows.
 */
export async function invokeTool(tool: ToolDefinition, input: unknown, context: ToolContext, secrets: readonly (string | undefined)[] = []): Promise<ToolOutcome> {
  const problems = validateToolInput(tool.inputSchema, input ?? {});
  const outcome: ToolOutcome =
    problems.length > 0
      ? { ok: false, error: { code: 'invalid_input', message: `Invalid input for ${tool.name}: ${problems.join(' ')}` } }
      : await tool.run((input ?? {}) as ToolInput, context).then(
          (data): ToolOutcome => ({ ok: true, data }),
          (e: unknown): ToolOutcome => ({ ok: false, error: toolErrorOf(e) }),
        );
  const replacements: [string, string][] = [
    ...secrets.filter((s): s is string => !!s && s.length >= 4).map((s): [string, string] => [s, '***']),
    ...machineUrls(context.host).map((u): [string, string] => [u.replace(/\/$/, ''), maskUrl(u)]),
  ];
  return scrub(outcome, replacements) as ToolOutcome;
}

/** The error of an outcome: a ToolError or ApiError as it is, anything else without its stack. */
export function toolErrorOf(e: unknown): { code: string; message: string } {
  if (e instanceof ToolError) return { code: e.code, message: e.message };
  if (e instanceof ApiError) return { code: e.kind, message: e.message };
  return { code: 'internal', message: `Internal error: ${e instanceof Error ? e.message : String(e)}` };
}

/** The full ComfyUI URLs of the account's machines (capabilities: a result shows them masked). */
function machineUrls(host: ToolHost): string[] {
  try {
    return host
      .account()
      .machines.machines.map((m) => m.mainServiceUrl)
      .filter((u): u is string => !!u && maskUrl(u) !== u.replace(/\/$/, ''));
  } catch {
    return [];
  }
}

function scrub(value: unknown, replacements: readonly (readonly [string, string])[]): unknown {
  if (typeof value === 'string') return replacements.reduce((text, [secret, shown]) => text.split(secret).join(shown), value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, replacements));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, replacements)]));
  return value;
}
