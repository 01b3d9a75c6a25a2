// What a policy kind is: its name, the parser of its spec and its step on the request path, and
// the part of the per-request exchange a policy step may read and fill.
import type { FieldReader, Json } from '../routes/field-reader.js';
import type { HeaderMap } from '../routes/filters.js';
import type { GatewayRequest } from '../respond.js';
import type { StepResult } from '../chain.js';
import type { Consumer, ConsumerDirectory } from '../consumers/directory.js';
import type { TransformConfig } from '../transform/transform-config.js';

/** A policy value with the "Kind ns/name" it came from. */
export interface Named<T> {
  readonly name: string;
  readonly value: T;
}

/** Reads a file (JWKS files); injected so parsing stays testable. */
export type ReadText = (path: string) => string;

/** The fields of a request's exchange that policy steps read and fill. */
export interface PolicyExchange {
  readonly req: GatewayRequest;
  /** The query string as sent, parsed. */
  readonly query: URLSearchParams;
  /** The matched route's label (metrics, rate-limit keys). */
  readonly route: string;
  /** The client address (X-Forwarded-For believed only from trusted proxies). */
  readonly client: string;
  /** Who the API key or token named; rate limits count per consumer. */
  consumer: string | undefined;
  /** The configuration's Consumer objects (keys from Secrets, JWT subject and claim mappings). */
  readonly consumers: ConsumerDirectory;
  /** The Consumer object the key or token belongs to, when one does (its plan's quotas apply). */
  account: Consumer | undefined;
  /** Headers sent upstream (hop-by-hop ones already gone). */
  headers: HeaderMap;
  /** The query string sent upstream ("" or "?..."). */
  upstreamSearch: string;
  /** Added to every answer of an allowed cross-origin request. */
  corsHeaders: Readonly<Record<string, string>>;
  /** RateLimit-* headers added to the upstream's response. */
  limitHeaders: Readonly<Record<string, string>>;
  /** The body limit the forward step enforces while streaming. */
  bodyLimit: Named<{ readonly maxBytes: number }> | undefined;
  /** The TransformPolicy in force: its body edits are applied by the body steps. */
  transform: Named<TransformConfig> | undefined;
}

/** What policy steps share across requests; built once by the handler. */
export interface PolicyEnv {
  readonly clock: () => number;
  /** Ready gateway replicas (a rate limit is divided by this). */
  readonly readyReplicas: () => number;
  /** Fixed-window counters, kept across configuration generations. */
  readonly limiter: RateCounter;
}

/** The outcome of one take(). */
export interface RateDecision {
  readonly allowed: boolean;
  /** The limit this replica enforces (the configured limit divided among replicas). */
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets (RateLimit-Reset / Retry-After). */
  readonly resetSeconds: number;
}

/** What the rate-limit step counts with (RateLimiter). */
export interface RateCounter {
  /** Takes one slot for `key`; `limit` is already divided by the replica count. */
  take(key: string, limit: number, windowMs: number, nowMs: number): RateDecision;
}

/** One policy kind: `parse` reads a document's spec (problems go to its reader), `step` enforces it. */
export interface PolicyModule<T> {
  /** The weft.dev/v1alpha1 kind, e.g. "ApiKeyPolicy". */
  readonly kind: string;
  /** The value, or undefined when the spec cannot give one (the problem is recorded). */
  readonly parse: (spec: Json, r: FieldReader, readText: ReadText) => T | undefined;
  /** Runs for a request the policy applies to. */
  readonly step: (x: PolicyExchange, policy: Named<T>, env: PolicyEnv) => StepResult;
}

/** The first value of a header that may repeat. */
export function firstValue(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === 'string' || v === undefined ? v : v[0];
}
