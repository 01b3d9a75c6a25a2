// The observing commands' measuring window: the process stays alive for it (unlike lib/timers'
// sleep, whose timer is unref'd) and Ctrl-C ends it early.
import type { Timers } from '../../lib/timers.js';

/** Resolves after `ms` on `timers`, or at once when `signal` aborts. */
export function waitWindow(timers: Timers, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      timers.clearTimeout(handle);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
