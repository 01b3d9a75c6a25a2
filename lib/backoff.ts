// The one retry backoff of weft: capped exponential with "full jitter" as in AWS's "Exponential
// Backoff and Jitter": the delay is uniform between 0 and min(cap, initial * 2^attempt). Of the
// schemes compared there, full jitter spreads clients that failed together the most for the
// least total wait, which is what many sidecars losing the API server or the CA at once need.

/** Where the exponential starts and where it stops growing. */
export interface BackoffPolicy {
  /** Ceiling of the first delay (attempt 0). */
  readonly initialMs: number;
  /** The ceiling never grows past this. */
  readonly maxMs: number;
}

/**
 * Delay before retry number `attempt` (0-based): uniform in [0, min(maxMs, initialMs * 2^attempt)]
 * (pure; `random` is uniform in [0, 1): Math.random in production, seeded in tests).
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  return Math.round(random() * backoffCeilingMs(attempt, policy));
}

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, policy: BackoffPolicy): number {
  // The exponent is capped so that a long outage cannot overflow to Infinity.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
}
