// What the watch loop does after a watch or list ends, as client-go's reflector decides it: how
// long to wait, whether to re-list, what to count. Pure: the loop feeds it outcomes and its clock.
import { backoffDelayMs, type BackoffPolicy } from '../backoff.js';

/** How one attempt (a list and/or a watch) ended. */
export type WatchOutcome =
  /** The server ended the watch; `healthy`: it had been open long enough to count as a good stream. */
  | { readonly kind: 'closed'; readonly healthy: boolean }
  /** 410: the version is gone (ERROR event, 410 answer to the watch or to a list at a version). */
  | { readonly kind: 'expired' }
  /** Anything else: refused, reset, timed out, an error answer; `retryAfterMs` when the server named a wait. */
  | { readonly kind: 'error'; readonly retryAfterMs: number | undefined };

/** What to do next. */
export interface RetryPlan {
  /** Wait this long first. */
  readonly delayMs: number;
  /** The next attempt starts with a list. */
  readonly relist: boolean;
  /** The restart's `reason` label. */
  readonly reason: 'closed' | 'expired' | 'error' | 'throttled';
  /** The consecutive-failure count after this outcome (the backoff's attempt number). */
  readonly failures: number;
}

/** A server asking for more than this is read as asking for this (a wrong header must not blind weft for hours). */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * The next step after an outcome (pure). A healthy stream that the server ended resumes at once
 * and resets the failure count; everything else, 410s included, waits the backoff for the count
 * of consecutive failures (so a server answering 410 over and over gets re-lists at a falling
 * rate, not a busy loop), and never less than a Retry-After the server sent.
 */
export function planRetry(outcome: WatchOutcome, failures: number, policy: BackoffPolicy, random: () => number): RetryPlan {
  if (outcome.kind === 'closed' && outcome.healthy) return { delayMs: 0, relist: false, reason: 'closed', failures: 0 };
  const backoff = backoffDelayMs(failures, policy, random);
  switch (outcome.kind) {
    case 'closed':
      return { delayMs: backoff, relist: false, reason: 'closed', failures: failures + 1 };
    case 'expired':
      return { delayMs: backoff, relist: true, reason: 'expired', failures: failures + 1 };
    case 'error': {
      if (outcome.retryAfterMs === undefined) return { delayMs: backoff, relist: false, reason: 'error', failures: failures + 1 };
      return { delayMs: Math.max(backoff, Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS)), relist: false, reason: 'throttled', failures: failures + 1 };
    }
  }
}
