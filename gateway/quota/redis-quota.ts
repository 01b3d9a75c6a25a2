// The `redis` quota backend: one Lua script checks every window of a plan and counts in all of
// them or none, atomically in Redis, on Redis's clock, so every gateway replica shares one exact
// count that outlives gateway restarts. When Redis cannot answer, the request is counted by the
// local backend instead (fail-open, the default) or refused 503 (fail-closed); each such request
// is counted in a metric, the change is logged once each way, and Redis is used again as soon as
// it answers (the client reconnects by itself).
import type { Redis } from 'ioredis';
import type { Counter, Gauge } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import type { QuotaWindow } from '../consumers/directory.js';
import type { Timers } from '../../lib/timers.js';
import { bucketsOf, decide, judgeWindow, type QuotaDecision, type SlidingWindowQuota } from './sliding-window.js';

/**
 * KEYS: one hash per window (field: bucket number, value: count). ARGV: per window its limit,
 * bucket width (ms) and bucket count. Drops buckets that no longer count, sums the rest, counts
 * the request in the current bucket of every window only when all have room. Returns Redis's
 * clock (ms) and, per window, its buckets before this request as a flat [bucket, count, ...].
 */
export const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { now }
local allowed = true
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 3 - 2])
  local width = tonumber(ARGV[i * 3 - 1])
  local count = tonumber(ARGV[i * 3])
  local cur = math.floor(now / width)
  local flat = redis.call('HGETALL', KEYS[i])
  local kept = {}
  local held = 0
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b < cur - count then
      redis.call('HDEL', KEYS[i], flat[j])
    else
      local c = tonumber(flat[j + 1])
      held = held + c
      kept[#kept + 1] = b
      kept[#kept + 1] = c
    end
  end
  if held >= limit then allowed = false end
  out[#out + 1] = kept
end
if allowed then
  for i = 1, #KEYS do
    local width = tonumber(ARGV[i * 3 - 1])
    local count = tonumber(ARGV[i * 3])
    redis.call('HINCRBY', KEYS[i], tostring(math.floor(now / width)), 1)
    redis.call('PEXPIRE', KEYS[i], width * (count + 2))
  end
end
return out
`;

/** How a Redis take went: counted there, or by the fallback, or not at all (fail-closed). */
export type RedisTake = { readonly kind: 'counted'; readonly decision: QuotaDecision } | { readonly kind: 'unavailable' };

/** What the Redis backend is built from. */
export interface RedisQuotaOptions {
  /** A connected ioredis client (enableOfflineQueue off, so a down Redis fails at once). */
  readonly redis: Redis;
  /** Counts when Redis cannot answer (fail-open). */
  readonly fallback: SlidingWindowQuota;
  /** True: refuse (503) when Redis cannot answer; false: count locally. */
  readonly failClosed: boolean;
  readonly log: Logger;
  /** Requests counted by the fallback or refused because Redis could not answer, by mode. */
  readonly fallbacks: Counter<'mode'>;
  /** 1 while the last call to Redis answered. */
  readonly up: Gauge;
  /** Milliseconds a call may take before the request is counted by the fallback. */
  readonly timeoutMs: number;
  readonly timers: Timers;
}

/** Takes plan quota from Redis, falling back to local counting when it cannot. */
export class RedisQuota {
  readonly #o: RedisQuotaOptions;
  #healthy = true;

  constructor(opts: RedisQuotaOptions) {
    this.#o = opts;
    opts.redis.defineCommand('weftQuotaTake', { lua: TAKE_SCRIPT });
    opts.up.set(1);
  }

  /** Takes one request for `key` in every window; `nowMs` is only used by the fallback. */
  async take(key: string, windows: readonly QuotaWindow[], nowMs: number): Promise<RedisTake> {
    const keys = windows.map((w) => `weft:quota:{${key}}:${w.name}`);
    const args: number[] = [];
    for (const w of windows) {
      const b = bucketsOf(w.windowMs);
      args.push(w.requests, b.widthMs, b.count);
    }
    try {
      const reply = await this.#bounded(this.#call(keys, args));
      this.#mark(true, undefined);
      return { kind: 'counted', decision: judgeReply(windows, reply) };
    } catch (err) {
      this.#mark(false, err);
      this.#o.fallbacks.inc({ mode: this.#o.failClosed ? 'closed' : 'open' });
      if (this.#o.failClosed) return { kind: 'unavailable' };
      return { kind: 'counted', decision: this.#o.fallback.take(key, windows, nowMs) };
    }
  }

  /** What `key` has used in each window, from Redis (usage reports); undefined when it cannot answer. */
  async peek(key: string, windows: readonly QuotaWindow[]): Promise<readonly number[] | undefined> {
    try {
      const t = await this.#bounded(this.#o.redis.time());
      const now = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
      const out: number[] = [];
      for (const w of windows) {
        const flat = await this.#bounded(this.#o.redis.hgetall(`weft:quota:{${key}}:${w.name}`));
        const counts = new Map(Object.entries(flat).map(([b, c]): [number, number] => [Number(b), Number(c)]).sort((a, b) => a[0] - b[0]));
        out.push(judgeWindow(w, counts, now).held);
      }
      return out;
    } catch {
      return undefined;
    }
  }

  // A call that takes longer than timeoutMs counts as Redis not answering.
  #bounded<T>(p: Promise<T>): Promise<T> {
    const timers = this.#o.timers;
    return new Promise<T>((resolve, reject) => {
      const timer = timers.setTimeout(() => reject(new Error(`no answer from Redis in ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs);
      p.then(
        (v) => {
          timers.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          timers.clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  #call(keys: readonly string[], args: readonly number[]): Promise<unknown> {
    const r = this.#o.redis as Redis & { weftQuotaTake(n: number, ...a: (string | number)[]): Promise<unknown> };
    return r.weftQuotaTake(keys.length, ...keys, ...args);
  }

  // Logged once per change of state, not per request.
  #mark(ok: boolean, err: unknown): void {
    this.#o.up.set(ok ? 1 : 0);
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    if (ok) this.#o.log.info({ backend: 'redis' }, 'quota backend answers again; counting in Redis');
    else {
      const mode = this.#o.failClosed ? 'refusing plan requests (fail-closed)' : 'counting in this replica (fail-open)';
      this.#o.log.warn({ backend: 'redis', code: 'WEFT_ERR_QUOTA_UNAVAILABLE', err: (err as Error).message }, `quota backend unreachable; ${mode}`);
    }
  }
}

/** Reads the script's reply: Redis's clock, then each window's buckets before this request. */
export function judgeReply(windows: readonly QuotaWindow[], reply: unknown): QuotaDecision {
  if (!Array.isArray(reply) || reply.length !== windows.length + 1) throw new Error('unexpected reply from the quota script');
  const now = Number(reply[0]);
  const counts = windows.map((_, i) => {
    const flat = reply[i + 1] as unknown[];
    const pairs: [number, number][] = [];
    for (let j = 0; j + 1 < flat.length; j += 2) pairs.push([Number(flat[j]), Number(flat[j + 1])]);
    // A hash has no order; the judge reads buckets oldest first.
    return new Map(pairs.sort((a, b) => a[0] - b[0]));
  });
  return decide(windows, counts, now);
}
