// The one validity check of a certificate (not yet valid / valid / expired) and a watch that
// re-judges a readiness reason at the instants it can change: the proxy's and gateway's leaf and
// `weft ca`'s issuer are judged by the same rule and flip at the same moments.
import type { TimerHandle, Timers } from '../timers.js';

/** A certificate's validity window (X.509 notBefore and notAfter, both inclusive). */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Why a certificate cannot be used at `nowMs`, or undefined when it can. */
export function validityProblem(what: string, v: Validity, nowMs: number): string | undefined {
  if (nowMs < v.notBefore.getTime()) return `${what} is not valid until ${v.notBefore.toISOString()}`;
  if (nowMs > v.notAfter.getTime()) return `${what} expired at ${v.notAfter.toISOString()}`;
  return undefined;
}

/**
 * The next instant after `nowMs` at which `validityProblem` changes its answer: notBefore while
 * it is ahead, the first millisecond past notAfter while valid, none once expired.
 */
export function nextValidityChangeMs(v: Validity, nowMs: number): number | undefined {
  if (nowMs < v.notBefore.getTime()) return v.notBefore.getTime();
  if (nowMs <= v.notAfter.getTime()) return v.notAfter.getTime() + 1;
  return undefined;
}

/** A judgement at one instant: the reason it is not ready (none: ready), and when to look again. */
export interface Judgement {
  readonly reason: string | undefined;
  readonly nextChangeMs: number | undefined;
}

/** What a readiness watch judges with and whom it tells. */
export interface ReadinessWatchOptions {
  /** Judges the current state at `nowMs` (pure apart from reading the current material). */
  readonly judge: (nowMs: number) => Judgement;
  /** Told once per change of the reason (undefined: ready again); logs the change. */
  readonly onChange: (reason: string | undefined, previous: string | undefined) => void;
  readonly timers: Timers;
}

/**
 * Holds a readiness reason that time alone can change: re-judged on demand (each /ready), when
 * the material changes (`refresh`), and by a timer at the next instant the judgement says it can
 * change, so an expiry flips readiness (and is logged) at that instant, not at the next probe.
 */
export class ReadinessWatch {
  readonly #o: ReadinessWatchOptions;
  #reason: string | undefined;
  #judged = false;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: ReadinessWatchOptions) {
    this.#o = opts;
  }

  /** The reason in force right now (re-judged), undefined when ready. */
  reason(): string | undefined {
    this.refresh();
    return this.#reason;
  }

  /** Re-judges now, tells of a change, and re-arms the timer for the next possible change. */
  refresh(): void {
    if (this.#closed) return;
    const now = this.#o.timers.now();
    const j = this.#o.judge(now);
    if (!this.#judged || j.reason !== this.#reason) {
      const previous = this.#reason;
      this.#reason = j.reason;
      this.#judged = true;
      this.#o.onChange(j.reason, previous);
    }
    this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (j.nextChangeMs !== undefined) {
      this.#timer = this.#o.timers.setTimeout(() => this.refresh(), Math.max(0, j.nextChangeMs - now));
      // A pending re-check alone must not keep a process alive that is otherwise done.
      this.#timer.unref();
    }
  }

  /** Stops the timer. */
  close(): void {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#timer);
  }
}
