// The retry budget (Linkerd's model): over a sliding window, retries may add at most a ratio of
// the original requests plus a small floor per second, so retries cannot multiply an outage's
// load. Pure: the clock is passed in.

/** The budget's terms. */
export interface RetryBudgetTerms {
  /** Retries allowed per original request (0.2: at most 20 % more requests). */
  readonly ratio: number;
  /** Retries allowed per second whatever the traffic, so a quiet service can still retry. */
  readonly minPerSecond: number;
  /** How long a request or retry counts toward the budget, in ms. */
  readonly ttlMs: number;
}

// The window is kept as ten slots, each a tenth of the TTL: an old slot is dropped whole, so a
// request's weight lasts between 0.9 and 1 TTL (tower's TpsBudget does the same).
const SLOTS = 10;

/** One service's budget: deposit() for every original request, withdraw() before every retry. */
export class RetryBudget {
  readonly #terms: RetryBudgetTerms;
  readonly #now: () => number;
  readonly #slotMs: number;
  readonly #requests = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  #slot = 0;
  #slotStartMs: number;
  /** Retries refused for want of budget, ever. */
  exhausted = 0;

  constructor(terms: RetryBudgetTerms, now: () => number) {
    this.#terms = terms;
    this.#now = now;
    this.#slotMs = Math.max(1, terms.ttlMs / SLOTS);
    this.#slotStartMs = now();
  }

  /** Counts an original request. */
  deposit(): void {
    this.#advance();
    this.#requests[this.#slot] = (this.#requests[this.#slot] ?? 0) + 1;
  }

  /** Takes one retry from the budget; false (and counted as exhausted) when none is left. */
  withdraw(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < SLOTS; i++) {
      requests += this.#requests[i] ?? 0;
      retries += this.#retries[i] ?? 0;
    }
    const allowed = this.#terms.ratio * requests + (this.#terms.minPerSecond * this.#terms.ttlMs) / 1000;
    if (retries + 1 > allowed) {
      this.exhausted += 1;
      return false;
    }
    this.#retries[this.#slot] = (this.#retries[this.#slot] ?? 0) + 1;
    return true;
  }

  // Moves to the slot of now, clearing the slots that fell out of the window.
  #advance(): void {
    const nowMs = this.#now();
    const steps = Math.floor((nowMs - this.#slotStartMs) / this.#slotMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, SLOTS); i++) {
      this.#slot = (this.#slot + 1) % SLOTS;
      this.#requests[this.#slot] = 0;
      this.#retries[this.#slot] = 0;
    }
    this.#slotStartMs += steps * this.#slotMs;
  }
}
