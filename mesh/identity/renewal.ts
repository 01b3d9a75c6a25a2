// The one renewal policy and scheduler of the pod's certificate, for both identity providers
// (local CA directory and `weft ca`): when to renew (pure), and a scheduler that obtains the
// first certificate, renews it on time and retries failures with the shared backoff while the
// current certificate keeps serving. Its clock and timers come from the caller.
import { backoffDelayMs, type BackoffPolicy } from '../../lib/backoff.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import type { TlsMaterial } from './identity-provider.js';

/** Renewal starts at this fraction of the leaf's lifetime, counted from when it was obtained. */
export const RENEW_AT_FRACTION = 0.7;
/** Jitter either way, as a fraction of that lifetime. */
export const RENEW_JITTER_FRACTION = 0.05;
/** Renewal is never left later than this before expiry, however short the leaf. */
export const RENEW_MARGIN_MS = 10_000;
/** Backoff of failed attempts: from up to 0.5 s, doubling, capped at 30 s. */
export const RENEW_RETRY_POLICY: BackoffPolicy = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * When to renew (pure): at about 70 % of the time between obtaining the leaf (`obtainedAtMs`,
 * the real issuance) and its notAfter, jittered by 5 % of that span either way so that pods
 * started together do not renew together; never later than 10 s before expiry, never before
 * `obtainedAtMs`. The leaf's notBefore is not used: issuers backdate it to absorb clock skew,
 * and that hour is no lifetime (counting from it would renew a 24 h leaf an hour early).
 */
export function renewAtMs(obtainedAtMs: number, notAfterMs: number, random: () => number): number {
  const span = Math.max(0, notAfterMs - obtainedAtMs);
  const jitter = (random() * 2 - 1) * RENEW_JITTER_FRACTION * span;
  const at = obtainedAtMs + RENEW_AT_FRACTION * span + jitter;
  return Math.round(Math.max(obtainedAtMs, Math.min(at, notAfterMs - RENEW_MARGIN_MS)));
}

/** Delay before retry number `attempt` (1-based: the first retry after one failure). */
export function renewRetryDelayMs(attempt: number, random: () => number): number {
  return backoffDelayMs(attempt - 1, RENEW_RETRY_POLICY, random);
}

/** What a scheduler needs from its provider. */
export interface RenewalSchedulerOptions {
  /** Obtains a fresh certificate (a new key each time); throws when it cannot. */
  readonly obtain: () => Promise<TlsMaterial>;
  /** Receives each certificate obtained, in order. */
  readonly onMaterial: (material: TlsMaterial) => void;
  /** Told of each failed attempt (1-based) and when the next one is due. */
  readonly onFailure: (err: unknown, attempt: number, retryInMs: number) => void;
  readonly timers: Timers;
  /** Uniform [0, 1) source of the jitter (Math.random in production). */
  readonly random: () => number;
}

/** Obtains, then renews on time and retries on failure, until closed. */
export class RenewalScheduler {
  readonly #o: RenewalSchedulerOptions;
  #timer: TimerHandle | undefined;
  #closed = false;
  #wakeStart: (() => void) | undefined;

  constructor(opts: RenewalSchedulerOptions) {
    this.#o = opts;
  }

  /**
   * Obtains the first certificate and schedules its renewal. With `retry`, failures are retried
   * with backoff until one works or close() is called; without, the first failure is thrown.
   */
  async start(retry: boolean): Promise<void> {
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.#obtain();
        return;
      } catch (err) {
        if (!retry) throw err;
        const delay = renewRetryDelayMs(attempt, this.#o.random);
        this.#o.onFailure(err, attempt, delay);
        await new Promise<void>((resolve) => {
          this.#wakeStart = resolve;
          this.#timer = this.#o.timers.setTimeout(resolve, delay);
          this.#timer.unref();
        });
        this.#wakeStart = undefined;
      }
    }
  }

  /** Cancels the pending renewal or retry; a start() still waiting resolves. */
  close(): void {
    this.#closed = true;
    this.#o.timers.clearTimeout(this.#timer);
    this.#wakeStart?.();
  }

  async #obtain(): Promise<void> {
    const material = await this.#o.obtain();
    if (this.#closed) return;
    const obtainedAt = this.#o.timers.now();
    this.#o.onMaterial(material);
    this.#schedule(renewAtMs(obtainedAt, material.notAfter.getTime(), this.#o.random) - obtainedAt, 0);
  }

  #schedule(delayMs: number, failures: number): void {
    if (this.#closed) return;
    this.#o.timers.clearTimeout(this.#timer);
    this.#timer = this.#o.timers.setTimeout(() => {
      void this.#obtain().catch((err: unknown) => {
        if (this.#closed) return;
        const attempt = failures + 1;
        const delay = renewRetryDelayMs(attempt, this.#o.random);
        this.#o.onFailure(err, attempt, delay);
        this.#schedule(delay, attempt);
      });
    }, Math.max(0, delayMs));
    // A pending renewal alone must not keep a process alive that is otherwise done.
    this.#timer.unref();
  }
}
