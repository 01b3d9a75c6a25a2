// The clock and one-shot timers that anything which waits takes from its caller, so that tests
// drive time with a fake clock and assert on events instead of sleeping.

/** What a scheduled timer gives back: enough to keep it from holding the process open. */
export interface TimerHandle {
  /** Lets the process exit while this timer is pending (a no-op for fake timers). */
  unref(): void;
}

/** A clock plus one-shot timers. Production passes `realTimers`; tests pass a fake. */
export interface Timers {
  /** Milliseconds since the epoch, as Date.now(). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; undefined and already-fired timers are ignored. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

// Node refuses delays above a signed 32-bit count of milliseconds (it fires at once instead).
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Date.now and the global timers, delays clamped to what Node accepts. */
export const realTimers: Timers = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, Math.min(Math.max(0, ms), MAX_DELAY_MS)),
  clearTimeout: (handle: TimerHandle | undefined): void => clearTimeout(handle as NodeJS.Timeout | undefined),
});

/** Resolves after `ms` on `timers`, or at once when `signal` aborts (never rejects). */
export function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      timers.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    handle.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
