import { ComfyClient } from '../api/comfyClient';
import { Emitter, type Event } from '../base/event';
import { DisposableObject } from '../base/lifecycle';
import { LruCache } from '../base/lruCache';

/** How busy a ComfyUI server is: prompts running and waiting. */
export interface QueueSize {
  readonly running: number;
  readonly pending: number;
}

/** Clients kept at most: a user works with a handful of servers, and each client may hold a large `/object_info`. */
const maxClients = 8;

/**
 * Queue sizes of the ComfyUI servers the Machines view shows (Ready machines, local servers),
 * read on demand while the view is visible. One ComfyClient per server URL is kept, so the
 * run engine and diagnostics share its cached `/object_info`; the least recently used are
 * dropped beyond a few, and {@link ComfyServerDirectory.retain} drops those of servers that are gone.
 */
export class ComfyServerDirectory extends DisposableObject {
  private readonly _onDidChangeQueues = this._register(new Emitter<void>());
  readonly onDidChangeQueues: Event<void> = this._onDidChangeQueues.event;
  private readonly clients = new LruCache<string, ComfyClient>(maxClients);
  private readonly sizes = new Map<string, QueueSize>();
  private readonly lifetime = new AbortController();

  constructor() {
    super();
    this._register({ dispose: () => this.lifetime.abort() });
  }

  /** The client for a ComfyUI base URL (created once per URL). Throws a ConfigError for a bad URL. */
  client(url: string, source?: string): ComfyClient {
    let c = this.clients.get(url);
    if (!c) {
      c = new ComfyClient({ baseUrl: url, baseUrlSource: source, retry: { maxRetries: 1 } });
      this.clients.set(url, c);
    }
    return c;
  }

  /** Forgets the clients, node lists and queue sizes of every server not in `urls` (a machine that is gone, a local server removed). */
  retain(urls: Iterable<string>): void {
    const keep = new Set(urls);
    for (const url of this.clients.keys()) if (!keep.has(url)) this.clients.delete(url);
    for (const url of [...this.sizes.keys()]) if (!keep.has(url)) this.sizes.delete(url);
  }

  /** The last known queue size of a server, if it was read. */
  queueSize(url: string): QueueSize | undefined {
    return this.sizes.get(url);
  }

  /** Reads the queues of `urls` (failures just leave the size unknown) and forgets other servers. */
  async refreshQueues(urls: readonly string[]): Promise<void> {
    const wanted = new Set(urls);
    for (const url of [...this.sizes.keys()]) if (!wanted.has(url)) this.sizes.delete(url);
    await Promise.all(
      urls.map(async (url) => {
        try {
          const q = await this.client(url).getQueue(this.lifetime.signal);
          this.sizes.set(url, { running: q.running.length, pending: q.pending.length });
        } catch {
          this.sizes.delete(url);
        }
      }),
    );
    if (!this.isDisposed) this._onDidChangeQueues.fire();
  }
}
