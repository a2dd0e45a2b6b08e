import { type AccountManager } from '../auth/accountManager';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { type ConfigService } from './config';

/**
 * Keeps the server directory to the servers that still exist: the account's machines that have a
 * ComfyUI URL and the local servers of the settings. When the machine store stops listing a
 * machine (stopped, deleted, another account), its client and `/object_info` are dropped.
 */
export class KnownServers extends DisposableObject {
  private storeSub: Disposable | undefined;

  constructor(
    private readonly servers: ComfyServerDirectory,
    private readonly accounts: AccountManager,
    private readonly config: ConfigService,
  ) {
    super();
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register(config.onDidChange(() => this.retain()));
    this._register({ dispose: () => this.storeSub?.dispose() });
    this.follow();
  }

  private follow(): void {
    this.storeSub?.dispose();
    this.storeSub = this.accounts.accountOrUndefined?.machines.onDidChangeMachines(() => this.retain());
    this.retain();
  }

  private retain(): void {
    const machines = this.accounts.accountOrUndefined?.machines.machines ?? [];
    this.servers.retain([...machines.flatMap((m) => (m.mainServiceUrl ? [m.mainServiceUrl] : [])), ...this.config.value.localServers.map((s) => s.url)]);
  }
}
