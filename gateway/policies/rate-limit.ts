// RateLimitPolicy: its parser, its step, and fixed-window request counting. take() checks and
// increments in one synchronous step, so concurrent requests on one event loop can never both
// pass the last slot. Pure apart from the state it owns; the clock comes in as an argument.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { parseDuration } from '../routes/paths.js';
import { CONTINUE, refusal, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyEnv, type PolicyExchange, type PolicyModule, type RateCounter, type RateDecision } from './policy.js';

export type { RateDecision } from './policy.js';

/** A parsed RateLimitPolicy. */
export interface RateLimitConfig {
  /** Requests per window for the whole gateway cluster. */
  readonly limit: number;
  readonly windowMs: number;
  /** What is counted: per consumer (API key / JWT), client IP, the whole route, or a header's value. */
  readonly key: { readonly type: 'Consumer' | 'ClientIP' | 'Route' } | { readonly type: 'Header'; readonly header: string };
}

/**
 * Counts requests per key in windows aligned to multiples of the window length since the epoch,
 * so every replica's windows start together.
 */
export class RateLimiter implements RateCounter {
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

/** Reads a RateLimitPolicy spec. */
export function parseRateLimitPolicy(spec: Json, r: FieldReader): RateLimitConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'requests', 'window', 'key']);
  const limit = r.int(spec, 'requests', 'spec', { required: true, min: 1 }) ?? 1;
  const windowText = r.str(spec, 'window', 'spec', { required: true }) ?? '1m';
  const windowMs = parseDuration(windowText);
  if (typeof windowMs === 'string') r.problem('spec.window', windowMs);
  else if (windowMs < 1) r.problem('spec.window', 'must be positive');
  const k = r.obj(spec, 'key', 'spec') ?? {};
  const type = (r.str(k, 'type', 'spec.key', { oneOf: ['Consumer', 'ClientIP', 'Route', 'Header'] }) ?? 'ClientIP') as RateLimitConfig['key']['type'];
  let key: RateLimitConfig['key'] = { type: type === 'Header' ? 'Route' : type };
  if (type === 'Header') {
    const header = r.str(k, 'header', 'spec.key', { required: true });
    if (header) key = { type: 'Header', header: header.toLowerCase() };
  }
  const cfg: RateLimitConfig = { limit, windowMs: typeof windowMs === 'number' ? windowMs : 60_000, key };
  return cfg;
}

/** Counts the request against its key's window; RateLimit-* headers go on the answer either way. */
export function rateLimitStep(x: PolicyExchange, policy: Named<RateLimitConfig>, env: PolicyEnv): StepResult {
  const cfg = policy.value;
  const k = cfg.key;
  const value = 'header' in k ? (firstValue(x.req.headers[k.header]) ?? '') : k.type === 'Consumer' ? (x.consumer ?? `ip:${x.client}`) : k.type === 'ClientIP' ? x.client : x.route;
  // take() checks and counts in one synchronous step: no await between the two.
  const d = env.limiter.take(`${policy.name}|${x.route}|${value}`, replicaShare(cfg.limit, env.readyReplicas()), cfg.windowMs, env.clock());
  x.limitHeaders = { 'ratelimit-limit': String(d.limit), 'ratelimit-remaining': String(d.remaining), 'ratelimit-reset': String(d.resetSeconds) };
  if (d.allowed) return CONTINUE;
  const headers: Record<string, string> = {
    'ratelimit-limit': String(d.limit),
    'ratelimit-remaining': String(d.remaining),
    'ratelimit-reset': String(d.resetSeconds),
    'retry-after': String(d.resetSeconds),
  };
  Object.assign(headers, x.corsHeaders);
  return refusal('WEFT_ERR_RATE_LIMITED', `limit of ${d.limit} per window used up`, headers, policy.name);
}

/** The RateLimitPolicy kind. */
export const rateLimitPolicy: PolicyModule<RateLimitConfig> = { kind: 'RateLimitPolicy', parse: parseRateLimitPolicy, step: rateLimitStep };
