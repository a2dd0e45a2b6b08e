import { type Clock, systemClock } from './clock';
import { type Disposable } from './lifecycle';

/** A function that runs at most once per `ms`, trailing: a burst of calls becomes one call now and one at the end. */
export interface Throttled extends Disposable {
  run(): void;
}

export function throttle(fn: () => void, ms: number, clock: Clock = systemClock): Throttled {
  let lastMs = -Infinity;
  let timer: Disposable | undefined;
  return {
    run() {
      if (timer) return;
      const wait = lastMs + ms - clock.now();
      if (wait <= 0) {
        lastMs = clock.now();
        fn();
        return;
      }
      timer = clock.setTimeout(() => {
        timer = undefined;
        lastMs = clock.now();
        fn();
      }, wait);
    },
    dispose() {
      timer?.dispose();
      timer = undefined;
    },
  };
}
