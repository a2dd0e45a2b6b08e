import * as vscode from 'vscode';
import { maskUrl } from './api/redact';
import { type Machine } from './api/runcomfyTypes';
import { TestCommandIds } from './commands/commandIds';
import { machineDescription } from './core/machineLabels';
import { type ScriptedAnswer, type ScriptedPrompter } from './ui/scriptedPrompter';
import { isNode } from './views/treeNodes';

/** True when the host test runner started VS Code (it sets this variable for the extension host). */
export function testHooksEnabled(): boolean {
  return process.env.RUNCOMFY_TEST_HOOKS === '1';
}

/**
 * What the hooks may see. Deliberately narrow: no ExtensionContext (its `secrets`), no
 * CredentialStore, no account client or options (their `getToken`). The objects passed in are the
 * real ones; these types only let the hooks read facts that hold no secret. A unit test and a lint
 * rule keep it that way (test/unit/testHooksGuard.test.ts, eslint.config.mjs).
 */
export interface TestHookDeps {
  readonly logDirectory: string;
  readonly contextKeys: { snapshot(): Record<string, unknown> };
  readonly accounts: {
    readonly state: { readonly kind: string };
    readonly accountOrUndefined: { readonly userId: string; readonly client: { readonly baseUrl: URL }; readonly machines: { readonly machines: readonly Machine[] } } | undefined;
  };
  readonly prompter: Pick<ScriptedPrompter, 'seen' | 'script' | 'reset'>;
  readonly statusBar: { readonly state: { readonly text: string; readonly visible: boolean; readonly warning: boolean; readonly tooltip?: string } };
  readonly machinesTree: vscode.TreeDataProvider<unknown>;
  readonly workflowsTree: vscode.TreeDataProvider<unknown>;
  readonly runsTree: vscode.TreeDataProvider<unknown>;
  readonly runs: { readonly runs: readonly { id: string; workflowName: string; phase: string; promptId?: string; outputs: readonly unknown[]; finishedAtMs?: number }[] };
  /** The run panel: what it last posted and what its webview reported; `receive` takes a message as the webview would post it. */
  readonly panels: { snapshot(): unknown; receive(message: unknown): Promise<void> };
}

interface TreeItemState {
  label?: string;
  description?: string | boolean;
  contextValue?: string;
  icon?: string;
  /** The tooltip's Markdown source (or its plain text), as the hover renders it. */
  tooltip?: string;
  children?: TreeItemState[];
  /** A sweep row's element (plain ids): the argument its menu commands get, so tests invoke them as the menu does. */
  node?: unknown;
}

/** A tree as the user sees it: labels, descriptions, menu tokens, icons and tooltips, `depth` levels deep. */
async function snapshot<T>(provider: vscode.TreeDataProvider<T>, depth: number, parent?: T): Promise<TreeItemState[]> {
  const nodes = (await provider.getChildren(parent)) ?? [];
  return Promise.all(
    nodes.map(async (n) => {
      const item = await provider.getTreeItem(n);
      return {
        label: typeof item.label === 'string' ? item.label : item.label?.label,
        description: item.description,
        contextValue: item.contextValue,
        icon: item.iconPath instanceof vscode.ThemeIcon ? item.iconPath.id : undefined,
        tooltip: item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : item.tooltip,
        children: depth > 1 ? await snapshot(provider, depth - 1, n) : undefined,
        node: isNode(n, 'sweep') ? n : undefined,
      };
    }),
  );
}

/** A machine's wire fields with every URL masked (`main_service_url` is a capability). */
function maskedWire(m: Machine): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m.wire).map(([k, v]) => [k, typeof v === 'string' && /^https?:\/\//i.test(v) ? maskUrl(v) : v]));
}

/**
 * Hidden commands for the host tests, which drive the extension only through commands and never
 * import `src/`: one returns the extension's state, one scripts the answers to its questions.
 * Registered only under the test runner. None returns, stores or passes on a secret: the state
 * says whether the window is signed in and as whom, never with which token, and ComfyUI URLs
 * (capabilities) are masked. Tests sign in through `runcomfy.signIn` with scripted answers.
 */
export function registerTestHooks(deps: TestHookDeps): vscode.Disposable {
  return vscode.Disposable.from(
    // `machinesTreeDepth` 3 also lists "Saved in ComfyUI" (which reads each server's saved workflows).
    vscode.commands.registerCommand(TestCommandIds.state, async (options?: { machinesTreeDepth?: number }) => {
      const account = deps.accounts.accountOrUndefined;
      const now = Date.now();
      return {
        contextKeys: deps.contextKeys.snapshot(),
        logDirectory: deps.logDirectory,
        account: account ? { userId: account.userId, apiUrl: account.client.baseUrl.href } : null,
        accountState: deps.accounts.state.kind,
        machines: (account?.machines.machines ?? []).map((m) => ({ ...maskedWire(m), description: machineDescription(m, now) })),
        machinesTree: await snapshot(deps.machinesTree, options?.machinesTreeDepth ?? 2),
        workflowsTree: await snapshot(deps.workflowsTree, 2),
        runsTree: await snapshot(deps.runsTree, 2),
        statusBar: deps.statusBar.state,
        runs: deps.runs.runs.map((r) => ({ id: r.id, workflowName: r.workflowName, phase: r.phase, promptId: r.promptId ?? null, outputs: r.outputs.length, live: r.finishedAtMs === undefined })),
        prompts: deps.prompter.seen,
      };
    }),
    vscode.commands.registerCommand(TestCommandIds.panel, () => deps.panels.snapshot() ?? { open: false }),
    vscode.commands.registerCommand(TestCommandIds.panelMessage, (message: unknown) => deps.panels.receive(message)),
    vscode.commands.registerCommand(TestCommandIds.script, (answers: ScriptedAnswer[], reset = true) => {
      if (reset) deps.prompter.reset();
      deps.prompter.script(answers);
    }),
  );
}
