// The one place a request waits for an endpoint: when the picker says "queue" (discovery has not
// answered), the request parks here and is picked again each time the picker is replaced, until
// it completes, fails, is cancelled, or the discovery wait runs out.
import { WeftError } from '../../lib/errors.js';
import type { CompletedPick, ServicePicker } from './picker.js';

/** Anything with a replaceable picker (a ServiceBalancer, or a fake in tests). */
export interface PickSource {
  /** The current picker. */
  readonly picker: ServicePicker;
  /** Calls `listener` when the picker is replaced; returns the unsubscribe. */
  onPickerChange(listener: () => void): () => void;
}

/** Timers the queue waits with (the real ones in production, fakes in tests). */
export interface QueueTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's own timers, as QueueTimers. */
export const REAL_TIMERS: QueueTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What a queued pick ends with: an endpoint, or the error to answer with. */
export type PickAnswer = CompletedPick | WeftError;

/** Parks picks that were told "queue" until a picker answers or the wait runs out. */
export class PickQueue {
  readonly #waitMs: number;
  readonly #timers: QueueTimers;
  #parked = 0;

  /**
   * @param waitMs how long a request waits for discovery's first answer (WEFT_DISCOVERY_WAIT_MS)
   * @param timers the timers to wait with
   */
  constructor(waitMs: number, timers: QueueTimers = REAL_TIMERS) {
    this.#waitMs = waitMs;
    this.#timers = timers;
  }

  /** Requests waiting right now. */
  get parked(): number {
    return this.#parked;
  }

  /**
   * Picks from `source`; calls `done` exactly once, synchronously when the picker answers at
   * once, else when a later picker does or the wait runs out (WEFT_ERR_NO_ENDPOINTS). Returns a
   * cancel for a client that left: `done` is then never called.
   */
  pick(source: PickSource, name: string, done: (answer: PickAnswer) => void): () => void {
    const first = source.picker.pick();
    if (first.type === 'complete') {
      done(first);
      return noop;
    }
    if (first.type === 'fail') {
      done(first.error);
      return noop;
    }
    this.#parked += 1;
    let settled = false;
    const settle = (): void => {
      settled = true;
      this.#parked -= 1;
      unsubscribe();
      this.#timers.clearTimeout(timer);
    };
    const unsubscribe = source.onPickerChange(() => {
      if (settled) return;
      const next = source.picker.pick();
      if (next.type === 'queue') return;
      settle();
      done(next.type === 'complete' ? next : next.error);
    });
    const timer = this.#timers.setTimeout(() => {
      if (settled) return;
      settle();
      done(new WeftError('WEFT_ERR_NO_ENDPOINTS', `discovery has not answered for ${name} yet`));
    }, this.#waitMs);
    return () => {
      if (!settled) settle();
    };
  }
}

function noop(): void {}
