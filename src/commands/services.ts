import type * as vscode from 'vscode';
import { type AccountManager } from '../auth/accountManager';
import { type CredentialStore } from '../auth/credentialStore';
import { type Clock } from '../base/clock';
import { type WorkflowDiagnostics } from '../codelens/workflowDiagnostics';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { type RunRegistry, type RunTarget } from '../core/runRegistry';
import { type SavedWorkflowCatalog } from '../core/savedWorkflowCatalog';
import { type RunLog } from '../output/runLog';
import { type Prompter } from '../ui/prompter';
import { type ConfigService } from '../util/config';
import { type ContextKeyService } from '../util/contextKeys';

/** What commands work with; built once by the composition root. */
export interface Services {
  readonly credentials: CredentialStore;
  readonly accounts: AccountManager;
  readonly config: ConfigService;
  readonly prompter: Prompter;
  readonly log: vscode.LogOutputChannel;
  readonly runLog: RunLog;
  readonly runs: RunRegistry;
  readonly servers: ComfyServerDirectory;
  /** Each server's saved workflows ("Saved in ComfyUI"), kept until refreshed. */
  readonly saved: SavedWorkflowCatalog;
  readonly clock: Clock;
  readonly contextKeys: ContextKeyService;
  readonly diagnostics: WorkflowDiagnostics;
  /** Where the last run went; "Queue Workflow" goes there again while it is still available. */
  readonly lastTarget: { value: RunTarget | undefined };
}
