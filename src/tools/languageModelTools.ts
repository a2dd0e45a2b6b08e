import * as vscode from 'vscode';
import { markdownText } from '../base/untrustedText';
import { runcomfyTools } from '../core/tools/runcomfyTools';
import { invokeTool, toolErrorOf, validateToolInput, type ToolConfirmation, type ToolContext, type ToolDefinition, type ToolHost, type ToolInput, type ToolOutcome } from '../core/tools/toolDefinition';
import { type Prompter } from '../ui/prompter';
import { plainMarkdown } from '../util/markdown';

/** The VS Code name of a core tool: its MCP name under our prefix (tool names are global to the window). */
export function languageModelToolName(tool: Pick<ToolDefinition, 'name'>): string {
  return `runcomfy_${tool.name}`;
}

/** Where a spending or stopping tool asks the user. */
export type ToolConfirmationPlace =
  /**
   * VS Code asks, from `prepareInvocation`'s confirmationMessages: in the chat, or, when the tool is
   * invoked outside a chat, in VS Code's own modal dialog (checked in code-server 4.100.3).
   */
  | 'vscode'
  /** Our Prompter asks, in `invoke`: the host tests' scripted answers reach it (VS Code's dialog they cannot). */
  | 'prompter';

/** A prepared question is trusted for this long; an older one is asked again. */
const preparedLifetimeMs = 5 * 60_000;

/**
 * Registers every core tool (`src/core/tools/`) with `vscode.lm`. The manifest's
 * `contributes.languageModelTools` declares the same names, words and schemas (a unit test keeps them equal).
 */
export function registerLanguageModelTools(host: ToolHost, prompter: Prompter, place: ToolConfirmationPlace): vscode.Disposable {
  return vscode.Disposable.from(...runcomfyTools.map((tool) => vscode.lm.registerTool(languageModelToolName(tool), new RunComfyLanguageModelTool(tool, host, prompter, place))));
}

/**
 * One core tool as a VS Code language model tool. A tool that spends money or stops a machine asks
 * first with the palette's words (rate, the most it can cost): through VS Code's confirmation when
 * `prepareInvocation` produced one for exactly this input, else through the Prompter in `invoke`, so
 * no call spends unconfirmed, even when preparing failed or a caller skipped it. Results and errors
 * are compact JSON in one `LanguageModelTextPart`.
 */
class RunComfyLanguageModelTool implements vscode.LanguageModelTool<ToolInput> {
  /** Inputs VS Code confirmed (prepared with confirmationMessages), by their JSON, with when. */
  private readonly prepared = new Map<string, number>();

  constructor(
    private readonly tool: ToolDefinition,
    private readonly host: ToolHost,
    private readonly prompter: Prompter,
    private readonly place: ToolConfirmationPlace,
  ) {}

  async prepareInvocation(options: vscode.LanguageModelToolInvocationPrepareOptions<ToolInput>, token: vscode.CancellationToken): Promise<vscode.PreparedToolInvocation> {
    const key = JSON.stringify(options.input ?? {});
    this.prepared.delete(key);
    const invocationMessage = `${this.tool.title}…`;
    if (!this.tool.confirmation || this.place !== 'vscode' || validateToolInput(this.tool.inputSchema, options.input ?? {}).length > 0) return { invocationMessage };
    // A question that cannot be worked out (machine gone, not signed in) is left to invoke, which reports why.
    const question = await this.confirmationFor(options.input, token).catch(() => undefined);
    if (!question) return { invocationMessage };
    this.prepared.set(key, this.host.clock.now());
    return { invocationMessage, confirmationMessages: { title: question.message, message: plainMarkdown(question.detail.split('\n').map((line) => `${markdownText(line)}  `)) } };
  }

  async invoke(options: vscode.LanguageModelToolInvocationOptions<ToolInput>, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const input = options.input ?? {};
    const context = this.context(token);
    try {
      if (this.tool.confirmation && !this.takePrepared(JSON.stringify(input)) && validateToolInput(this.tool.inputSchema, input).length === 0) {
        const question = await this.confirmationFor(input, token);
        if (question && !(await this.prompter.confirm(question.message, question.detail, question.confirmLabel))) {
          return result({ ok: false, error: { code: 'declined', message: 'The user declined; nothing was done. Do not retry unless they ask.' } });
        }
      }
      return result(await invokeTool(this.tool, input, context));
    } catch (e) {
      return result({ ok: false, error: toolErrorOf(e) });
    } finally {
      context.dispose();
    }
  }

  private confirmationFor(input: ToolInput, token: vscode.CancellationToken): Promise<ToolConfirmation | undefined> {
    const context = this.context(token);
    return this.tool.confirmation!(input, context).finally(() => {
      context.dispose();
    });
  }

  private takePrepared(key: string): boolean {
    const at = this.prepared.get(key);
    this.prepared.delete(key);
    return at !== undefined && this.host.clock.now() - at < preparedLifetimeMs;
  }

  private context(token: vscode.CancellationToken): ToolContext & vscode.Disposable {
    const aborter = new AbortController();
    const sub = token.onCancellationRequested(() => aborter.abort());
    if (token.isCancellationRequested) aborter.abort();
    return {
      host: this.host,
      signal: aborter.signal,
      dispose: () => {
        sub.dispose();
      },
    };
  }
}

function result(outcome: ToolOutcome): vscode.LanguageModelToolResult {
  return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(JSON.stringify(outcome.ok ? outcome.data : { error: outcome.error }))]);
}
