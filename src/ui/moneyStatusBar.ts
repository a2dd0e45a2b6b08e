import * as vscode from 'vscode';
import { type AccountManager } from '../auth/accountManager';
import { type Clock, systemClock } from '../base/clock';
import { DisposableObject, type Disposable } from '../base/lifecycle';
import { markdownText } from '../base/untrustedText';
import { CommandIds } from '../commands/commandIds';
import { type ComfyServerDirectory } from '../core/comfyServerDirectory';
import { costSoFar, formatCostEstimate, formatDuration } from '../core/machineMath';
import { machineDescription, machineShortId } from '../core/machineLabels';
import { MoneyGuard } from '../core/moneyGuard';
import { type RunRegistry } from '../core/runRegistry';
import { type ConfigService } from '../util/config';
import { plainMarkdown } from '../util/markdown';
import { type Prompter } from './prompter';

/**
 * The status bar item that keeps money in view: how many machines bill and what they cost so far,
 * in the warning colour when one nears its stop time. It also raises the "stops soon" notification
 * (with "Extend 30 min") and reports idle auto-stops. Hidden while nothing bills.
 */
export class MoneyStatusBar extends DisposableObject {
  private readonly item = this._register(vscode.window.createStatusBarItem('runcomfy.money', vscode.StatusBarAlignment.Left, 50));
  private guard: MoneyGuard | undefined;
  private guardSubs: Disposable[] = [];

  constructor(
    private readonly accounts: AccountManager,
    private readonly config: ConfigService,
    private readonly runs: RunRegistry,
    private readonly servers: ComfyServerDirectory,
    private readonly prompter: Prompter,
    private readonly log: vscode.LogOutputChannel,
    private readonly clock: Clock = systemClock,
  ) {
    super();
    this.item.name = 'RunComfy machines';
    this.item.command = 'runcomfy.machines.focus';
    this._register(accounts.onDidChangeAccount(() => this.follow()));
    this._register(config.onDidChange(() => this.guard?.setOptions(this.options())));
    this._register(accounts.money.onDidChange(() => this.render()));
    this._register({ dispose: () => this.unfollow() });
    this.follow();
  }

  /** What the status bar shows, for the host tests. */
  get state(): { text: string; visible: boolean; warning: boolean; tooltip?: string } {
    const tooltip = this.item.tooltip;
    return { text: this.item.text, visible: this.visible, warning: this.item.backgroundColor !== undefined, tooltip: typeof tooltip === 'string' ? tooltip : tooltip?.value };
  }

  private visible = false;

  private follow(): void {
    this.unfollow();
    const account = this.accounts.accountOrUndefined;
    if (account) {
      const guard = new MoneyGuard(
        account.machines,
        this.runs,
        async (m) => (m.mainServiceUrl ? this.servers.client(m.mainServiceUrl, "the machine's main_service_url").getQueue().then((q) => ({ running: q.running.length, pending: q.pending.length })) : undefined),
        this.options(),
        this.clock,
      );
      this.guard = guard;
      // One list at sign-in (and at start-up) even with the RunComfy views closed: a machine launched
      // elsewhere, or left running before a reload, is billing and must show up at once.
      account.machines.refresh().catch(() => undefined);
      this.guardSubs = [
        guard,
        guard.onDidChange(() => this.render()),
        guard.onWarn((w) => {
          const short = machineShortId(w.machine);
          this.log.warn(`Machine ${w.machine.serverId} stops in ${formatDuration(w.timeLeftMs)} (estimated_stopping_at).`);
          void this.prompter.notify('warning', `RunComfy machine ${short} stops in ${formatDuration(w.timeLeftMs)}.`, 'Extend 30 min').then((a) => {
            if (a) void vscode.commands.executeCommand(CommandIds.extendMachine, { kind: 'machine', serverId: w.machine.serverId }, { minutes: 30 });
          });
        }),
        guard.onIdleStop((s) => {
          const cost = formatCostEstimate(costSoFar(s.machine, this.clock.now(), this.config.value.rates));
          this.log.info(`Stopped machine ${s.machine.serverId} after ${formatDuration(s.idleMs)} idle (runcomfy.autoStopIdleMinutes); cost ${cost}.`);
          void this.prompter.notify('info', `Stopped idle RunComfy machine ${machineShortId(s.machine)} after ${formatDuration(s.idleMs)} with nothing to do (cost ${cost}).`);
        }),
      ];
    }
    this.render();
  }

  private unfollow(): void {
    this.guardSubs.forEach((d) => d.dispose());
    this.guardSubs = [];
    this.guard = undefined;
  }

  private options() {
    const c = this.config.value;
    return { warnBeforeMs: c.warnBeforeStopMinutes * 60_000, autoStopIdleMs: c.autoStopIdleMinutes * 60_000 };
  }

  private render(): void {
    const billing = this.guard?.billing ?? [];
    if (billing.length === 0) {
      this.item.hide();
      this.visible = false;
      return;
    }
    const now = this.clock.now();
    const rates = this.config.value.rates;
    const total = billing.reduce((sum, m) => sum + (costSoFar(m, now, rates) ?? 0), 0);
    const warning = billing.some((m) => this.guard?.nearStop(m));
    this.item.text = `$(vm-running) ${billing.length} · ${formatCostEstimate(total)}`;
    this.item.backgroundColor = warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const stopping = (id: string) => (this.accounts.money.stopping(id) ? ' (stopping: billing ends when RunComfy confirms the stop)' : '');
    this.item.tooltip = plainMarkdown([
      `**RunComfy: ${billing.length} machine${billing.length === 1 ? '' : 's'} billing** (estimates)`,
      '',
      ...billing.map((m) => `- ${markdownText(`${machineShortId(m)}: ${machineDescription(m, now, rates)}`)}${markdownText(stopping(m.serverId))}`),
    ]);
    this.item.accessibilityInformation = { label: `RunComfy: ${billing.length} machines running, about ${formatCostEstimate(total)} so far` };
    this.item.show();
    this.visible = true;
  }
}
