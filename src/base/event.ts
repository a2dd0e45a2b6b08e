import { type Disposable } from './lifecycle';

/** A subscribable event, shaped like `vscode.Event` so the editor layer can forward it directly. */
export type Event<T> = (listener: (e: T) => unknown, thisArg?: unknown, disposables?: Disposable[]) => Disposable;

/** A minimal event emitter with the same surface as `vscode.EventEmitter`, usable without VS Code. */
export class Emitter<T> implements Disposable {
  private listeners = new Set<(e: T) => unknown>();
  private disposed = false;

  readonly event: Event<T> = (listener, thisArg, disposables) => {
    const bound = thisArg === undefined ? listener : listener.bind(thisArg);
    if (!this.disposed) this.listeners.add(bound);
    const sub = { dispose: () => this.listeners.delete(bound) };
    disposables?.push(sub);
    return sub;
  };

  /** Calls every listener; one listener throwing does not stop the others. */
  fire(value: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(value);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}
