import * as path from 'node:path';
import * as vscode from 'vscode';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { type OutputDirectorySetting, type SettingSource } from '../core/outputLocation';
import { createRateTable, defaultRateTable, type RateTable } from '../core/pricing';

/** A ComfyUI server the user added by URL (their own machine, a tunnel, a colleague's box). */
export interface LocalServerSetting {
  readonly name: string;
  readonly url: string;
}

/** The extension's settings, read once per change. */
export interface RunComfyConfig {
  readonly apiUrl: string;
  readonly defaultMachineType: string;
  readonly defaultDurationMinutes: number;
  readonly pollIntervalSeconds: number;
  /** `runcomfy.pricing` over the documented prices; the documented prices alone when the setting is invalid. */
  readonly rates: RateTable;
  /** Why `runcomfy.pricing` was ignored, when it was. */
  readonly pricingProblem?: string;
  readonly warnBeforeStopMinutes: number;
  readonly autoStopIdleMinutes: number;
  readonly localServers: readonly LocalServerSetting[];
}

/** The `resource`-scoped settings: each workflow reads them for its own workspace folder. */
export interface ResourceConfig {
  readonly outputDirectory: OutputDirectorySetting;
  readonly codeLensEnabled: boolean;
}

const SECTION = 'runcomfy';

/**
 * Reads the `runcomfy.*` settings. Keys that decide where the token goes or what the account spends
 * are read from the user (global) level only: VS Code already ignores application-scoped keys in
 * workspace settings, and reading `globalValue` makes that a property of this code too. Likewise, in
 * Restricted Mode the workspace and folder values of the manifest's `restrictedConfigurations` are
 * skipped here: VS Code 1.100 already hides them from `get` and `inspect` (the restricted host tests
 * check it), and this keeps our reading right in a host that does not.
 */
export class ConfigService extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<RunComfyConfig>());
  readonly onDidChange: Event<RunComfyConfig> = this._onDidChange.event;
  private current: RunComfyConfig;
  private readonly restricted: ReadonlySet<string>;

  /** @param restrictedKeys the manifest's `capabilities.untrustedWorkspaces.restrictedConfigurations` (full keys), its one copy. */
  constructor(restrictedKeys: readonly string[]) {
    super();
    this.restricted = new Set(restrictedKeys);
    this.current = readConfig(this.reader(vscode.workspace.getConfiguration(SECTION)));
    const reread = () => {
      this.current = readConfig(this.reader(vscode.workspace.getConfiguration(SECTION)));
      this._onDidChange.fire(this.current);
    };
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) reread();
      }),
    );
    // Trusting the folder brings its restricted values into force.
    this._register(vscode.workspace.onDidGrantWorkspaceTrust(reread));
  }

  get value(): RunComfyConfig {
    return this.current;
  }

  /**
   * The `resource`-scoped settings as they apply to `uri` (a workflow file): in a multi-root
   * workspace, the value in that file's folder settings wins over the workspace and user values.
   * Read on each call, so there is no per-folder snapshot to keep current.
   */
  forResource(uri: vscode.Uri): ResourceConfig {
    const c = vscode.workspace.getConfiguration(SECTION, uri);
    const read = this.reader(c);
    const output = read<string>('outputDirectory', 'runcomfy-outputs');
    return {
      outputDirectory: { value: output.value, source: output.source, where: describeSource(output.source, uri) },
      codeLensEnabled: read<boolean>('codeLens.enabled', true).value,
    };
  }

  /**
   * Reads a key the way VS Code would (folder over workspace over user over default), except that in
   * Restricted Mode a restricted key's workspace and folder values are skipped; says which level won.
   */
  private reader(c: vscode.WorkspaceConfiguration): Reader {
    const honourWorkspace = (key: string) => vscode.workspace.isTrusted || !this.restricted.has(`${SECTION}.${key}`);
    return <T>(key: string, fallback: T) => {
      const i = c.inspect<T>(key);
      if (honourWorkspace(key)) {
        if (i?.workspaceFolderValue !== undefined) return { value: i.workspaceFolderValue, source: 'workspaceFolder' };
        if (i?.workspaceValue !== undefined) return { value: i.workspaceValue, source: 'workspace' };
      }
      if (i?.globalValue !== undefined) return { value: i.globalValue, source: 'user' };
      return { value: i?.defaultValue ?? fallback, source: 'default' };
    };
  }

  /** Saves the local servers list at the user level (application scope). */
  async setLocalServers(servers: readonly LocalServerSetting[]): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update('localServers', servers, vscode.ConfigurationTarget.Global);
  }
}

type Reader = <T>(key: string, fallback: T) => { value: T; source: SettingSource };

function readConfig(read: Reader): RunComfyConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  const userLevel = <T>(key: string, fallback: T): T => {
    const i = c.inspect<T>(key);
    return i?.globalValue ?? i?.defaultValue ?? fallback;
  };
  const { rates, problem } = readRates(userLevel<Record<string, unknown>>('pricing', {}));
  return {
    apiUrl: userLevel('apiUrl', 'https://api.runcomfy.net'),
    defaultMachineType: read<string>('defaultMachineType', 'medium').value,
    defaultDurationMinutes: positive(read<number>('defaultDurationMinutes', 60).value, 60),
    pollIntervalSeconds: Math.max(5, positive(userLevel('pollIntervalSeconds', 30), 30)),
    rates,
    pricingProblem: problem,
    warnBeforeStopMinutes: Math.max(0, read<number>('warnBeforeStopMinutes', 10).value),
    autoStopIdleMinutes: Math.max(0, userLevel('autoStopIdleMinutes', 0)),
    localServers: userLevel<unknown[]>('localServers', []).filter(isLocalServer),
  };
}

/** The settings file a value came from, in words, for messages about it. */
function describeSource(source: SettingSource, uri: vscode.Uri): string {
  switch (source) {
    case 'workspaceFolder': {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      return folder ? `the folder settings of ${folder.name} (.vscode/settings.json)` : 'the folder settings';
    }
    case 'workspace': {
      const file = vscode.workspace.workspaceFile;
      return file?.scheme === 'file' ? `the workspace settings (${path.basename(file.fsPath)})` : 'the workspace settings (.vscode/settings.json)';
    }
    case 'user':
      return 'your user settings';
    default:
      return 'the default';
  }
}

function readRates(pricing: Readonly<Record<string, unknown>>): { rates: RateTable; problem?: string } {
  try {
    return { rates: createRateTable(pricing) };
  } catch (e) {
    return { rates: defaultRateTable, problem: (e as Error).message };
  }
}

function positive(v: number, fallback: number): number {
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function isLocalServer(v: unknown): v is LocalServerSetting {
  const s = v as Partial<LocalServerSetting> | null;
  return typeof s?.url === 'string' && typeof s.name === 'string';
}
