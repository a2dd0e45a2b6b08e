import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseComfyUrl } from '../api/comfyClient';
import { maskUrl } from '../api/redact';
import { systemClock } from '../base/clock';
import { RunComfyAccount } from '../core/account';
import { ComfyServerDirectory } from '../core/comfyServerDirectory';
import { cliInputPolicy } from '../core/inputPolicy';
import { formatCostEstimate } from '../core/machineMath';
import { defaultRateTable } from '../core/pricing';
import { RunRegistry } from '../core/runRegistry';
import { runcomfyTools } from '../core/tools/runcomfyTools';
import { ToolError, invokeTool, toolErrorOf, validateToolInput, type ToolConfirmation, type ToolContext, type ToolDefinition, type ToolHost, type ToolInput, type ToolLocalServer, type ToolOutcome } from '../core/tools/toolDefinition';
import { resolveToolPath } from '../core/tools/toolPaths';
import { type CliCommand, type CliContext, type OptionValues } from './cli';
import { resolveRunComfyConfig } from './env';
import { ExitCode, UsageError } from './exitCodes';
import { version } from '../../package.json';

const usage = 'mcp [--allow-spend] [--max-cost <usd>] [--local-server <name>=<url>]... [--allow-inputs-from <dir>]... [--out <dir>]';

/** Error codes of calls that were refused before anything reached RunComfy: their reserved budget is given back. */
const nothingSentCodes = new Set(['invalid_input', 'auth', 'invalidRequest', 'notFound', 'config', 'unsafeUrl', 'version_not_found', 'machine_not_found', 'machine_not_ready', 'ambiguous_machine', 'not_signed_in']);

/**
 * `runcomfy mcp`: the agent tools of `src/core/tools/` over the Model Context Protocol on stdin and
 * stdout (nothing else is written to stdout; diagnostics go to stderr). Spending tools (launch,
 * extend, queue on a machine) are listed but refused, with a result saying why, unless the server
 * was started with `--allow-spend`; `--max-cost` caps what one session may commit by launching and
 * extending. Stop and the read-only tools always work.
 */
export const mcpCommand: CliCommand = {
  name: 'mcp',
  usage,
  summary: 'Serve the RunComfy tools to an AI agent (MCP over stdio): machines, runs, checks.',
  options: {
    'allow-spend': { type: 'boolean' },
    'max-cost': { type: 'string' },
    'local-server': { type: 'string', multiple: true },
    'allow-inputs-from': { type: 'string', multiple: true },
    out: { type: 'string' },
  },
  help: [
    'Start it from an MCP client (VS Code\'s mcp.json, Claude Desktop, …) with RUNCOMFY_TOKEN and RUNCOMFY_USER_ID',
    'in its environment. Tools:',
    `  ${runcomfyTools.map((t) => t.name).join(', ')}.`,
    '',
    '--allow-spend          Allow the tools that spend money: launch_machine, extend_machine and queue_workflow',
    '                       on a machine. Without it they are listed but refused with a result that says so.',
    '                       stop_machine and the read-only tools are always allowed.',
    '--max-cost USD         The most this session may commit by launching and extending, at pay-as-you-go',
    '                       prices (rate x requested time); a call that would exceed it is refused.',
    '--local-server N=URL   A ComfyUI of yours the tools may queue on by name (repeatable); free to use.',
    '--allow-inputs-from D  Another folder whose media files a workflow may upload (repeatable).',
    '--out DIR              Where runs save their outputs (default ./runcomfy-outputs).',
    '',
    'Workflow paths are read only as .json files inside the current directory (symbolic links followed).',
  ].join('\n'),
  async run(ctx, args, values) {
    if (args.length > 0) throw new UsageError(`mcp takes no arguments, got "${args.join(' ')}". Usage: runcomfy ${usage}`);
    const session = new McpSession(ctx, values, await sessionOptions(values));
    try {
      await session.serve();
      return ExitCode.ok;
    } finally {
      session.dispose();
    }
  },
};

interface SessionOptions {
  readonly allowSpend: boolean;
  readonly maxCostUsd: number | undefined;
  readonly localServers: readonly ToolLocalServer[];
  readonly allowInputsFrom: readonly string[];
  readonly outputRoot: string;
}

async function sessionOptions(values: OptionValues): Promise<SessionOptions> {
  const rawCost = typeof values['max-cost'] === 'string' ? values['max-cost'].trim().replace(/^\$/, '') : undefined;
  const maxCostUsd = rawCost === undefined ? undefined : Number(rawCost);
  if (maxCostUsd !== undefined && (!/^\d+(\.\d+)?$/.test(rawCost!) || !Number.isFinite(maxCostUsd))) {
    throw new UsageError(`--max-cost must be an amount in US dollars such as 5 or 2.50, got "${String(values['max-cost'])}".`);
  }
  const localServers = strings(values['local-server']).map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`--local-server takes <name>=<url>, such as desk=http://127.0.0.1:8188; got "${spec}".`);
    return { name: spec.slice(0, eq).trim(), url: parseComfyUrl(spec.slice(eq + 1), `--local-server ${spec.slice(0, eq).trim()}`).href };
  });
  const allowInputsFrom = strings(values['allow-inputs-from']);
  for (const dir of allowInputsFrom) {
    const info = await fs.stat(path.resolve(dir)).catch(() => undefined);
    if (!info?.isDirectory()) throw new UsageError(`--allow-inputs-from ${dir}: ${info ? 'not a folder' : 'no such folder'}.`);
  }
  return {
    allowSpend: values['allow-spend'] === true,
    maxCostUsd,
    localServers,
    allowInputsFrom,
    outputRoot: path.resolve(typeof values.out === 'string' ? values.out : 'runcomfy-outputs'),
  };
}

function strings(v: OptionValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** One MCP session: the tool host over the CLI's environment, the spending gate and the server. */
class McpSession {
  private readonly runs = new RunRegistry(systemClock);
  private readonly servers = new ComfyServerDirectory();
  private account: RunComfyAccount | undefined;
  /** Dollars committed by launches and extensions of this session (reserved before each call). */
  private committedUsd = 0;
  private readonly cwd = process.cwd();
  private readonly host: ToolHost;

  constructor(
    private readonly ctx: CliContext,
    private readonly values: OptionValues,
    private readonly options: SessionOptions,
  ) {
    this.host = {
      account: () => this.signedIn(),
      rates: defaultRateTable,
      clock: systemClock,
      runs: this.runs,
      localServers: () => options.localServers,
      comfyClient: (url) => this.servers.client(url),
      openWorkflow: async (raw) => {
        const resolved = await resolveToolPath(raw, [this.cwd], `the current directory of the MCP server (${this.cwd})`);
        return {
          absPath: resolved.absPath,
          displayPath: resolved.displayPath,
          text: await fs.readFile(resolved.absPath, 'utf8'),
          inputPolicy: cliInputPolicy(resolved.absPath, this.cwd, options.allowInputsFrom),
        };
      },
      outputLocation: () => Promise.resolve({ root: options.outputRoot }),
      runStarted: (_engine, info) => ctx.progress(`Queueing ${info.workflow} on ${info.target.kind === 'machine' ? info.target.label : info.target.name} (${maskUrl(info.comfyUrl)}).`),
    };
  }

  /** Serves until the client closes stdin (or Ctrl-C), then lets launches and stops in flight land. */
  async serve(): Promise<void> {
    const server = new McpServer({ name: 'runcomfy', version }, { instructions: instructions(this.options) });
    for (const tool of runcomfyTools) {
      server.registerTool(
        tool.name,
        {
          title: tool.title,
          description: tool.modelDescription,
          inputSchema: z.fromJSONSchema(tool.inputSchema as z.core.JSONSchema.JSONSchema),
          outputSchema: z.fromJSONSchema(tool.outputSchema as z.core.JSONSchema.JSONSchema),
          annotations: { title: tool.title, readOnlyHint: tool.readOnly, destructiveHint: tool.name === 'stop_machine', idempotentHint: tool.readOnly, openWorldHint: true },
        },
        (input: unknown, extra: { signal: AbortSignal }) => this.call(tool, input, extra.signal),
      );
    }
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = resolve;
      process.stdin.once('end', resolve);
      this.ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.connect(transport);
    this.ctx.progress(`runcomfy mcp: serving ${runcomfyTools.length} tools on stdio${this.options.allowSpend ? `; spending allowed${this.options.maxCostUsd === undefined ? '' : ` up to $${this.options.maxCostUsd.toFixed(2)}`}` : '; spending tools refused (no --allow-spend)'}.`);
    await closed;
    await this.landMoneyOperations();
    await server.close();
  }

  /** A stop is retried until it lands, even when the client went away; only Ctrl-C ends the wait. */
  private async landMoneyOperations(): Promise<void> {
    const money = this.account?.machines.money;
    if (!money) return;
    while (!this.ctx.signal.aborted && !(await money.whenIdle(10_000))) {
      this.ctx.progress(`runcomfy mcp: waiting for ${money.inFlight.map((o) => (o.kind === 'stop' ? `the stop of machine ${o.serverId}` : 'a launch')).join(', ')} to land…`);
    }
  }

  private async call(tool: ToolDefinition, input: unknown, signal: AbortSignal): Promise<CallToolResult> {
    const context: ToolContext = { host: this.host, signal };
    const problems = validateToolInput(tool.inputSchema, input ?? {});
    if (problems.length > 0) return mcpResult({ ok: false, error: { code: 'invalid_input', message: `Invalid input for ${tool.name}: ${problems.join(' ')}` } });
    let confirmation: ToolConfirmation | undefined;
    try {
      confirmation = await tool.confirmation?.(input as ToolInput, context);
    } catch (e) {
      return mcpResult({ ok: false, error: toolErrorOf(e) });
    }
    const refusal = confirmation?.spends ? this.spendingRefusal(tool, confirmation) : undefined;
    if (refusal) return mcpResult({ ok: false, error: { code: refusal.code, message: refusal.message } });
    const reserved = confirmation?.spends ? (confirmation.newCostUsd ?? 0) : 0;
    this.committedUsd += reserved;
    const outcome = await invokeTool(tool, input, context, [this.ctx.env.RUNCOMFY_TOKEN]);
    // Only a call refused before anything was sent gives its money back: a launch whose answer was lost may have happened.
    if (!outcome.ok && nothingSentCodes.has(outcome.error.code)) this.committedUsd -= reserved;
    return mcpResult(outcome);
  }

  /** Why a spending call may not go ahead in this session, or undefined when it may. */
  private spendingRefusal(tool: ToolDefinition, c: ToolConfirmation): ToolError | undefined {
    const what = `${c.message} ${c.detail.replace(/\n/g, ' ')}`;
    if (!this.options.allowSpend) {
      return new ToolError(
        'spending_not_allowed',
        `${tool.name} spends money and this MCP server was started without --allow-spend, so nothing was done. Tell the user; they can add --allow-spend (and --max-cost) to the server's arguments, or queue on a local server instead. It would have been: ${what}`,
      );
    }
    const cap = this.options.maxCostUsd;
    if (cap === undefined) return undefined;
    if (c.newCostUsd === undefined) return new ToolError('over_budget', `The cost of this call is unknown (no rate for the machine type), and this session is capped at $${cap.toFixed(2)} (--max-cost); nothing was done.`);
    if (this.committedUsd + c.newCostUsd > cap + 1e-9) {
      return new ToolError(
        'over_budget',
        `This call may cost up to ${formatCostEstimate(c.newCostUsd)}, and this session has already committed ${formatCostEstimate(this.committedUsd)} of its $${cap.toFixed(2)} cap (--max-cost); nothing was done. Choose a shorter time or a smaller machine, or ask the user to raise --max-cost.`,
      );
    }
    return undefined;
  }

  private signedIn(): RunComfyAccount {
    if (this.account) return this.account;
    let config;
    try {
      config = resolveRunComfyConfig(this.ctx.env, this.values);
    } catch (e) {
      throw new ToolError('not_signed_in', `RunComfy is not configured for this MCP server: ${(e as Error).message} Local ComfyUI servers still work.`);
    }
    const token = config.token;
    this.account = new RunComfyAccount({
      apiUrl: config.apiUrl,
      apiUrlSource: config.apiUrlSource,
      userId: config.userId,
      getToken: () => Promise.resolve(token),
      slowPollMs: 30_000,
      onRetry: (n) => this.ctx.progress(`${n.operation}: retrying in ${Math.round(n.delayMs / 1000)} s (${n.reason.message})`),
      onWarning: (m) => this.ctx.progress(`Warning: ${m}`),
      authAdvice: 'Check the API token and the user id (RUNCOMFY_TOKEN and RUNCOMFY_USER_ID in the MCP server\'s environment).',
    });
    return this.account;
  }

  dispose(): void {
    this.account?.dispose();
    this.runs.dispose();
    this.servers.dispose();
  }
}

/** Compact JSON as text, and the same object as structured content (errors: text only, flagged). */
function mcpResult(outcome: ToolOutcome): CallToolResult {
  if (!outcome.ok) return { content: [{ type: 'text', text: JSON.stringify({ error: outcome.error }) }], isError: true };
  return { content: [{ type: 'text', text: JSON.stringify(outcome.data) }], structuredContent: outcome.data };
}

function instructions(options: SessionOptions): string {
  const spend = options.allowSpend
    ? `Spending tools are allowed${options.maxCostUsd === undefined ? '' : `, up to $${options.maxCostUsd.toFixed(2)} of launches and extensions in this session`}.`
    : 'Spending tools (launch_machine, extend_machine, queue_workflow on a machine) are refused in this session (no --allow-spend).';
  return `RunComfy cloud GPUs for ComfyUI workflows. Machines bill per second while Ready: stop them with stop_machine when the work is done. ${spend} Workflow paths are relative to ${process.cwd()}.`;
}
