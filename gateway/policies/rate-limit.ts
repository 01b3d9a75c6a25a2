// Fixed-window request counting. take() checks and increments in one synchronous step, so
// concurrent requests on one event loop can never both pass the last slot. Pure apart from the
// state it owns; the clock comes in as an argument.

/** The outcome of one take(). */
export interface RateDecision {
  readonly allowed: boolean;
  /** The limit this replica enforces (the configured limit divided among replicas). */
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets (RateLimit-Reset / Retry-After). */
  readonly resetSeconds: number;
}

/**
 * Counts requests per key in windows aligned to multiples of the window length since the epoch,
 * so every replica's windows start together.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();
  #lastSweep = 0;

  /** Takes one slot for `key`; `limit` is already divided by the replica count. */
  take(key: string, limit: number, windowMs: number, nowMs: number): RateDecision {
    const start = nowMs - (nowMs % windowMs);
    const resetSeconds = Math.max(1, Math.ceil((start + windowMs - nowMs) / 1000));
    let w = this.#windows.get(key);
    if (!w || w.start !== start) {
      w = { start, count: 0 };
      this.#windows.set(key, w);
    }
    this.#sweep(nowMs, windowMs);
    if (w.count >= limit) return { allowed: false, limit, remaining: 0, resetSeconds };
    w.count += 1;
    return { allowed: true, limit, remaining: limit - w.count, resetSeconds };
  }

  /** Keys currently tracked (for tests and /debug). */
  get size(): number {
    return this.#windows.size;
  }

  // Drops finished windows now and then so idle keys (client IPs) do not pile up.
  #sweep(nowMs: number, windowMs: number): void {
    if (nowMs - this.#lastSweep < Math.max(windowMs, 10_000)) return;
    this.#lastSweep = nowMs;
    for (const [k, w] of this.#windows) if (w.start + windowMs <= nowMs - windowMs) this.#windows.delete(k);
  }
}

/** The share of a cluster-wide limit one replica enforces: floor(limit / replicas), at least 1. */
export function replicaShare(limit: number, readyReplicas: number): number {
  return Math.max(1, Math.floor(limit / Math.max(1, readyReplicas)));
}
