import * as vscode from 'vscode';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
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
  readonly outputDirectory: string;
  readonly codeLensEnabled: boolean;
}

const SECTION = 'runcomfy';

/**
 * Reads the `runcomfy.*` settings. Keys that decide where the token goes or what the account spends
 * are read from the user (global) level only: VS Code already ignores application-scoped keys in
 * workspace settings, and reading `globalValue` makes that a property of this code too.
 */
export class ConfigService extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<RunComfyConfig>());
  readonly onDidChange: Event<RunComfyConfig> = this._onDidChange.event;
  private current: RunComfyConfig;

  constructor() {
    super();
    this.current = readConfig();
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SECTION)) return;
        this.current = readConfig();
        this._onDidChange.fire(this.current);
      }),
    );
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
    return {
      outputDirectory: c.get<string>('outputDirectory', 'runcomfy-outputs'),
      codeLensEnabled: c.get<boolean>('codeLens.enabled', true),
    };
  }

  /** Saves the local servers list at the user level (application scope). */
  async setLocalServers(servers: readonly LocalServerSetting[]): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update('localServers', servers, vscode.ConfigurationTarget.Global);
  }
}

function readConfig(): RunComfyConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  const userLevel = <T>(key: string, fallback: T): T => {
    const i = c.inspect<T>(key);
    return i?.globalValue ?? i?.defaultValue ?? fallback;
  };
  const { rates, problem } = readRates(userLevel<Record<string, unknown>>('pricing', {}));
  return {
    apiUrl: userLevel('apiUrl', 'https://api.runcomfy.net'),
    defaultMachineType: c.get<string>('defaultMachineType', 'medium'),
    defaultDurationMinutes: positive(c.get<number>('defaultDurationMinutes', 60), 60),
    pollIntervalSeconds: Math.max(5, positive(userLevel('pollIntervalSeconds', 30), 30)),
    rates,
    pricingProblem: problem,
    warnBeforeStopMinutes: Math.max(0, c.get<number>('warnBeforeStopMinutes', 10)),
    autoStopIdleMinutes: Math.max(0, userLevel('autoStopIdleMinutes', 0)),
    localServers: userLevel<unknown[]>('localServers', []).filter(isLocalServer),
  };
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
