// When a failed attempt is sent again (pure decisions shared by the proxy and the gateway): the
// retry policy (attempts, status codes, gRPC statuses, backoff, whether non-idempotent methods
// may be resent), the request timeouts, and the run that tracks one request's retries against
// its service's budget.
import type { RetryBudget } from './retry-budget.js';

/** How one route (or the mesh-wide default) retries. */
export interface RetryPolicy {
  /** Retries after the first attempt (Gateway API `retry.attempts`); 0: none. */
  readonly attempts: number;
  /** Response statuses that are retried (Gateway API `retry.codes`). */
  readonly codes: ReadonlySet<number>;
  /** gRPC statuses (grpc-status of a trailers-only answer) that are retried. */
  readonly grpcStatuses: ReadonlySet<number>;
  /** Base pause before a retry, in ms; doubles per retry, jittered (Gateway API `retry.backoff`). */
  readonly backoffMs: number;
  /** POST, PATCH and other non-idempotent methods may be retried too (the route says so). */
  readonly nonIdempotent: boolean;
  /** A request body is kept for a resend only while it fits in this many bytes. */
  readonly bufferBytes: number;
}

/** The request timeouts of a route (Gateway API `timeouts`), in ms; 0 means none. */
export interface RequestTimeouts {
  /** The whole request, retries included, until the response ends. */
  readonly requestMs: number;
  /** One attempt, until its response headers arrive. */
  readonly backendRequestMs: number;
}

/** No timeouts. */
export const NO_TIMEOUTS: RequestTimeouts = Object.freeze({ requestMs: 0, backendRequestMs: 0 });

/** Why an attempt failed, as far as retrying is concerned. */
export type AttemptFailure =
  /** Nothing reached the endpoint (refused dial, TLS failure): always safe to send elsewhere. */
  | { readonly kind: 'connect' }
  /** The endpoint answered this status. */
  | { readonly kind: 'status'; readonly status: number }
  /** The endpoint answered this gRPC status (trailers-only). */
  | { readonly kind: 'grpc'; readonly grpcStatus: number }
  /** The attempt ran past backendRequest. */
  | { readonly kind: 'timeout' }
  /** The stream was reset after the request went out. */
  | { readonly kind: 'reset' };

/** What to do after a failed attempt. */
export type RetryVerdict =
  | { readonly retry: true; readonly reason: string; readonly delayMs: number }
  | { readonly retry: false; readonly why: 'not_retryable' | 'attempts' | 'budget' };

// RFC 9110 9.2.2: sending these twice has the effect of sending them once.
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether a request of `method` may be resent after the endpoint saw it. */
export function methodRetryable(method: string, policy: RetryPolicy): boolean {
  return policy.nonIdempotent || IDEMPOTENT.has(method);
}

/** The reason a failure is retried under `policy` ('' when it is not). */
export function retryReason(policy: RetryPolicy, failure: AttemptFailure): string {
  switch (failure.kind) {
    case 'connect':
      return 'connect';
    case 'status':
      return policy.codes.has(failure.status) ? `status_${failure.status}` : '';
    case 'grpc':
      return policy.grpcStatuses.has(failure.grpcStatus) ? `grpc_${failure.grpcStatus}` : '';
    case 'timeout':
      // A per-attempt timeout is answered 504: retried when 504 is.
      return policy.codes.has(504) ? 'timeout' : '';
    case 'reset':
      return policy.codes.has(502) ? 'reset' : '';
  }
}

/** One request's retries: each failed attempt asks next() whether to go again. */
export class RetryRun {
  readonly #policy: RetryPolicy;
  readonly #budget: RetryBudget | undefined;
  readonly #random: () => number;
  /** Retries made so far. */
  retries = 0;

  /** `budget` is the service's (undefined: unbudgeted); the request is deposited now. */
  constructor(policy: RetryPolicy, budget: RetryBudget | undefined, random: () => number) {
    this.#policy = policy;
    this.#budget = budget;
    this.#random = random;
    budget?.deposit();
  }

  /** The policy this run follows. */
  get policy(): RetryPolicy {
    return this.#policy;
  }

  /** Decides after a failed attempt; a yes has taken its retry from the budget. */
  next(failure: AttemptFailure): RetryVerdict {
    const reason = retryReason(this.#policy, failure);
    if (reason === '') return NOT_RETRYABLE;
    if (this.retries >= this.#policy.attempts) return OUT_OF_ATTEMPTS;
    if (this.#budget && !this.#budget.withdraw()) return OUT_OF_BUDGET;
    this.retries += 1;
    return { retry: true, reason, delayMs: backoff(this.#policy.backoffMs, this.retries, this.#random) };
  }
}

const NOT_RETRYABLE: RetryVerdict = { retry: false, why: 'not_retryable' };
const OUT_OF_ATTEMPTS: RetryVerdict = { retry: false, why: 'attempts' };
const OUT_OF_BUDGET: RetryVerdict = { retry: false, why: 'budget' };

/** The pause before retry number `n` (1-based): base doubling per retry, jittered to 50-100 %. */
export function backoff(baseMs: number, n: number, random: () => number): number {
  if (baseMs <= 0) return 0;
  const ceiling = baseMs * 2 ** Math.min(n - 1, 10);
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** gRPC status names as they may be written in a retry policy, by number. */
export const GRPC_STATUS_NAMES: Readonly<Record<string, number>> = {
  cancelled: 1,
  unknown: 2,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  aborted: 10,
  internal: 13,
  unavailable: 14,
};

/**
 * Parses a `retry on` list: a status (`503`), `5xx`, `gateway-error` (502, 503, 504), or a gRPC
 * status name (`unavailable`); returns the codes or the problem with the first bad item.
 */
export function parseRetryOn(items: readonly string[]): { codes: Set<number>; grpcStatuses: Set<number> } | string {
  const codes = new Set<number>();
  const grpcStatuses = new Set<number>();
  for (const raw of items) {
    const item = raw.trim().toLowerCase();
    if (item === '') continue;
    if (item === '5xx') {
      for (let s = 500; s < 600; s++) codes.add(s);
    } else if (item === 'gateway-error') {
      codes.add(502).add(503).add(504);
    } else if (/^[45]\d\d$/.test(item)) {
      codes.add(Number(item));
    } else if (GRPC_STATUS_NAMES[item] !== undefined) {
      grpcStatuses.add(GRPC_STATUS_NAMES[item]);
    } else {
      return `${JSON.stringify(raw)} is not a 4xx/5xx status, 5xx, gateway-error or a gRPC status name (${Object.keys(GRPC_STATUS_NAMES).join(', ')})`;
    }
  }
  return { codes, grpcStatuses };
}
