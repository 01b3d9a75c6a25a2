// How often the injector logs a skipped pod: every skip at info, but at most a few lines per
// reason per window, so that a namespace of thousands of unmeshed pods cannot flood the log. Pure:
// the caller passes the time.
import type { SkipReason } from './patch.js';

/** Lines per reason per window, and the window. */
export const SKIP_LOG_LIMIT = { linesPerWindow: 10, windowMs: 60_000 } as const;

/** What to do with one skip: log it (saying how many of its reason were left out before), or not. */
export interface SkipLogDecision {
  readonly log: boolean;
  /** Skips of this reason not logged since its last logged line. */
  readonly suppressed: number;
}

/** Counts skips per reason in fixed windows. */
export class SkipLogLimiter {
  readonly #limit: { readonly linesPerWindow: number; readonly windowMs: number };
  readonly #windows = new Map<SkipReason, { start: number; lines: number; suppressed: number }>();

  constructor(limit: { readonly linesPerWindow: number; readonly windowMs: number } = SKIP_LOG_LIMIT) {
    this.#limit = limit;
  }

  /** Decides for one skip of `reason` at time `nowMs`. */
  admit(reason: SkipReason, nowMs: number): SkipLogDecision {
    let w = this.#windows.get(reason);
    if (w === undefined || nowMs - w.start >= this.#limit.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: nowMs, lines: 0, suppressed };
      this.#windows.set(reason, w);
    }
    if (w.lines >= this.#limit.linesPerWindow) {
      w.suppressed += 1;
      return { log: false, suppressed: w.suppressed };
    }
    w.lines += 1;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return { log: true, suppressed };
  }
}
