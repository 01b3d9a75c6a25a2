// A route's `retry` (Gateway API HTTPRouteRetry, or GRPCRoute's in a mesh route) as the retry
// engine's policy: the one translation the gateway and the mesh routes share.
import type { RetryPolicy } from './retry-policy.js';

/** The buffer a retried body must fit in (bytes): larger bodies are never resent. */
export const ROUTE_RETRY_BUFFER_BYTES = 64 * 1024;

/** A route's retry fields: statuses, retries, base backoff; gRPC statuses and non-idempotent methods optional. */
export interface RouteRetryFields {
  readonly codes: readonly number[];
  readonly attempts: number;
  readonly backoffMs: number;
  readonly grpcStatuses?: readonly number[];
  readonly nonIdempotent?: boolean;
}

/** The engine's policy for a route's retry fields. */
export function routeRetryPolicy(r: RouteRetryFields): RetryPolicy {
  return {
    attempts: r.attempts,
    codes: new Set(r.codes),
    grpcStatuses: new Set(r.grpcStatuses ?? []),
    backoffMs: r.backoffMs,
    nonIdempotent: r.nonIdempotent ?? false,
    bufferBytes: ROUTE_RETRY_BUFFER_BYTES,
  };
}
