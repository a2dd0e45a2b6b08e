import { type ComfyClient, type SavedWorkflowList } from '../api/comfyClient';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';

/**
 * The workflows saved on each server (its `/userdata` list), fetched when first asked for and kept
 * until refreshed: a tree that redraws every few seconds must not list a server's folder each time.
 * A failed list is kept too, so the error row stays until the user retries. Keyed by target
 * (`machine:<id>`, `local:<url>`), never by a machine's URL.
 */
export class SavedWorkflowCatalog extends DisposableObject {
  private readonly lists = new Map<string, Promise<SavedWorkflowList>>();
  private readonly _onDidChange = this._register(new Emitter<string>());
  /** Fires with the key of a list that was dropped (refresh, a save): the next `list` fetches it again. */
  readonly onDidChange: Event<string> = this._onDidChange.event;

  /** The list of `key`, fetched with `client` unless kept from before. */
  list(key: string, client: () => ComfyClient): Promise<SavedWorkflowList> {
    let pending = this.lists.get(key);
    if (!pending) {
      pending = Promise.resolve().then(() => client().listSavedWorkflows());
      // Kept rejected on purpose (the error row); nobody else may see an unhandled rejection.
      pending.catch(() => undefined);
      this.lists.set(key, pending);
    }
    return pending;
  }

  /** Forgets the list of `key`, so it is fetched again. */
  refresh(key: string): void {
    this.lists.delete(key);
    this._onDidChange.fire(key);
  }

  /** Forgets the lists of servers no longer shown. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of [...this.lists.keys()]) if (!keys.has(key)) this.lists.delete(key);
  }
}
