// Load shedding for `weft ca`: a bound on certificate requests in flight, and the Retry-After a
// shed request is told, from how long admitted requests have recently taken. Pure: the caller
// passes the clock and the random source.

/** The answer to a request at the door. */
export type Ticket =
  | { readonly admitted: true; readonly startedAt: number }
  | { readonly admitted: false; readonly retryAfterSeconds: number };

/** Default bound of certificate requests in flight (WEFT_CA_MAX_IN_FLIGHT). */
export const DEFAULT_MAX_IN_FLIGHT = 32;

/** Most a shed client is asked to wait: renewal at 70 % of a leaf leaves hours to spare anyway. */
export const MAX_RETRY_AFTER_SECONDS = 30;
// Weight of the newest duration in the moving average: about the last ten requests count.
const EWMA_WEIGHT = 0.1;

/** Admits at most `limit` requests at once; the rest are told when to come back. */
export class SigningGate {
  readonly #limit: number;
  readonly #random: () => number;
  #inFlight = 0;
  #meanMs = 0;

  constructor(limit: number, random: () => number = Math.random) {
    this.#limit = limit;
    this.#random = random;
  }

  /** Requests admitted and not yet finished. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Recent mean time from admission to answer, in ms (0 before the first). */
  get meanMs(): number {
    return this.#meanMs;
  }

  /** Admits the request, or sheds it with a Retry-After in whole seconds (1 to 30, jittered). */
  enter(now: number): Ticket {
    if (this.#inFlight < this.#limit) {
      this.#inFlight++;
      return { admitted: true, startedAt: now };
    }
    // The requests in flight now finish in about one mean duration; spread the retries over up
    // to twice that so the shed clients do not come back in one wave.
    const base = Math.max(1, Math.ceil(this.#meanMs / 1000));
    const jittered = base + Math.floor(this.#random() * (base + 1));
    return { admitted: false, retryAfterSeconds: Math.min(MAX_RETRY_AFTER_SECONDS, jittered) };
  }

  /** Ends an admitted request (whatever its outcome) and folds its duration into the mean. */
  leave(now: number, startedAt: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    const took = Math.max(0, now - startedAt);
    this.#meanMs = this.#meanMs === 0 ? took : this.#meanMs + EWMA_WEIGHT * (took - this.#meanMs);
  }
}
