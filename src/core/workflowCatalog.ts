import { ApiError, isCancellation } from '../api/errors';
import { type RunComfyClient } from '../api/runcomfyClient';
import { type Workflow, type WorkflowVersion } from '../api/runcomfyTypes';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { formatLocalTime, type TimeZoneOptions } from '../base/timeFormat';

/**
 * The account's workflows and their versions, listed on demand (they change only when the user
 * saves one in the RunComfy web app, so nothing polls them). Concurrent loads share one request.
 */
export class WorkflowCatalog extends DisposableObject {
  private readonly _onDidChange = this._register(new Emitter<void>());
  /** Fires after a load succeeded or failed. */
  readonly onDidChange: Event<void> = this._onDidChange.event;
  private list: readonly Workflow[] | undefined;
  private error: ApiError | undefined;
  private inFlight: Promise<readonly Workflow[]> | undefined;
  private readonly lifetime = new AbortController();

  constructor(private readonly api: Pick<RunComfyClient, 'listWorkflows'>) {
    super();
    this._register({ dispose: () => this.lifetime.abort() });
  }

  /** The workflows as last loaded; undefined before the first load finished. */
  get workflows(): readonly Workflow[] | undefined {
    return this.list;
  }

  get lastError(): ApiError | undefined {
    return this.error;
  }

  /** Loads the list now (sharing a load already in flight). */
  load(): Promise<readonly Workflow[]> {
    this.inFlight ??= this.api
      .listWorkflows(this.lifetime.signal)
      .then(
        (r) => {
          this.list = r.workflows;
          this.error = undefined;
          return r.workflows;
        },
        (e: unknown) => {
          if (!isCancellation(e)) this.error = e instanceof ApiError ? e : new ApiError('network', `List workflows failed: ${String(e)}`);
          throw e;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        if (!this.isDisposed) this._onDidChange.fire();
      });
    return this.inFlight;
  }

  /** The loaded list, loading it first if it never was. */
  async ensureLoaded(): Promise<readonly Workflow[]> {
    return this.list ?? this.load();
  }

  /** The workflow and version for a version id, from the loaded list. */
  findVersion(versionId: string): { workflow: Workflow; versionIndex: number } | undefined {
    for (const workflow of this.list ?? []) {
      const versionIndex = workflow.versions.findIndex((v) => v.versionId === versionId);
      if (versionIndex >= 0) return { workflow, versionIndex };
    }
    return undefined;
  }
}

/**
 * How a version is named in the tree and the launch picker: its name, else when it was saved (local
 * date and time), else the first block of its id.
 */
export function versionLabel(v: WorkflowVersion, zone: TimeZoneOptions = {}): string {
  const date = v.updatedAtMs ?? v.createdAtMs;
  return v.versionName ?? (date === undefined ? v.versionId.slice(0, 8) : formatLocalTime(date, zone));
}
