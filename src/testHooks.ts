import * as vscode from 'vscode';
import { type AccountManager } from './auth/accountManager';
import { type CredentialStore } from './auth/credentialStore';
import { TestCommandIds } from './commands/commandIds';
import { machineDescription } from './core/machineLabels';
import { type RunRegistry } from './core/runRegistry';
import { type ScriptedAnswer, type ScriptedPrompter } from './ui/scriptedPrompter';
import { type MoneyStatusBar } from './ui/moneyStatusBar';
import { type ContextKeyService } from './util/contextKeys';
import { type MachinesTreeDataProvider } from './views/machinesTreeDataProvider';
import { type WorkflowsTreeDataProvider } from './views/workflowsTreeDataProvider';

/** True when the host test runner started VS Code (it sets this variable for the extension host). */
export function testHooksEnabled(): boolean {
  return process.env.RUNCOMFY_TEST_HOOKS === '1';
}

interface TestHookDeps {
  readonly context: vscode.ExtensionContext;
  readonly credentials: CredentialStore;
  readonly contextKeys: ContextKeyService;
  readonly accounts: AccountManager;
  readonly prompter: ScriptedPrompter;
  readonly statusBar: MoneyStatusBar;
  readonly machinesTree: MachinesTreeDataProvider;
  readonly workflowsTree: WorkflowsTreeDataProvider;
  readonly runs: RunRegistry;
}

interface TreeItemState {
  label?: string;
  description?: string | boolean;
  contextValue?: string;
  icon?: string;
  children?: TreeItemState[];
}

/** A tree as the user sees it: labels, descriptions, menu tokens and icons, `depth` levels deep. */
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
        children: depth > 1 ? await snapshot(provider, depth - 1, n) : undefined,
      };
    }),
  );
}

/**
 * Hidden commands for the host tests, which drive the extension only through commands and never
 * import `src/`: one returns the extension's state, one scripts the answers to its questions, one
 * writes a secret as another window would. Registered only under the test runner.
 */
export function registerTestHooks(deps: TestHookDeps): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(TestCommandIds.state, async () => {
      const account = deps.accounts.accountOrUndefined;
      const now = Date.now();
      return {
        credentials: (await deps.credentials.get()) ?? null,
        contextKeys: deps.contextKeys.snapshot(),
        logDirectory: deps.context.logUri.fsPath,
        account: account ? { userId: account.userId, apiUrl: account.client.baseUrl.href } : null,
        accountState: deps.accounts.state.kind,
        machines: (account?.machines.machines ?? []).map((m) => ({ ...m.wire, description: machineDescription(m, now) })),
        machinesTree: await snapshot(deps.machinesTree, 2),
        workflowsTree: await snapshot(deps.workflowsTree, 2),
        statusBar: deps.statusBar.state,
        runs: deps.runs.runs.map((r) => ({ id: r.id, workflowName: r.workflowName, phase: r.phase, promptId: r.promptId ?? null, outputs: r.outputs.length, live: r.finishedAtMs === undefined })),
        prompts: deps.prompter.seen,
      };
    }),
    vscode.commands.registerCommand(TestCommandIds.script, (answers: ScriptedAnswer[], reset = true) => {
      if (reset) deps.prompter.reset();
      deps.prompter.script(answers);
    }),
    // Writes a secret behind the CredentialStore's back, as another VS Code window would.
    vscode.commands.registerCommand(TestCommandIds.storeSecret, (key: string, value: string | undefined) =>
      value === undefined ? deps.context.secrets.delete(key) : deps.context.secrets.store(key, value),
    ),
  );
}
