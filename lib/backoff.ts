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
  /**
   * The delay is at least this fraction of the ceiling (0, the default: full jitter; 0.5: the same
   * article's "equal jitter"). A floor bounds how many retries fit in a given time whatever the
   * random draws, which a loop that must not hammer a server (re-lists on 410) needs.
   */
  readonly minFraction?: number;
}

/**
 * Delay before retry number `attempt` (0-based): uniform in [f * c, c] where c = min(maxMs,
 * initialMs * 2^attempt) and f = minFraction (0 by default) (pure; `random` is uniform in [0, 1):
 * Math.random in production, seeded in tests).
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = backoffCeilingMs(attempt, policy);
  const floor = Math.min(1, Math.max(0, policy.minFraction ?? 0)) * ceiling;
  return Math.round(floor + random() * (ceiling - floor));
}

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, policy: BackoffPolicy): number {
  // The exponent is capped so that a long outage cannot overflow to Infinity.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
}
