// The `redis` backend of a CachePolicy: entries shared by every gateway replica, one Redis hash per
// primary key (a field per Vary variant), kept for their freshness lifetime plus a revalidation
// window, listed in a set per route for purge. Redis' own maxmemory policy bounds its size. When
// Redis cannot answer, the request bypasses the cache (never fails because of it), the bypass is
// counted, the outage is logged once each way, and Redis is used again as soon as it answers.
import type { IncomingHttpHeaders } from 'node:http';
import { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import type { Timers } from '../../lib/timers.js';
import { entryBytes, varyKey, varyNames, type Directives, type StoredHeaders, type Timing } from './http-cache-rules.js';
import { decodeEntry, encodeEntry, entryKey, redisTtlMs, routeSetKey, variantField } from './redis-entry.js';
import type { Lookup, StoredResponse } from './response-store.js';
import type { CacheSettings } from './cache-settings.js';

/**
 * KEYS: entry hash, route set. ARGV: variant field, value, TTL (ms). Stores the variant, and makes
 * the hash and the route set live at least that long (another variant may need longer).
 */
const STORE_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`;

/** KEYS: route set. Deletes every entry hash it lists and itself; returns the variants deleted. */
const PURGE_SCRIPT = `
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('HLEN', k)
  redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
return n
`;

type ScriptedRedis = Redis & {
  weftCacheStore(...a: (string | Buffer | number)[]): Promise<unknown>;
  weftCachePurge(key: string): Promise<unknown>;
};

/** What every Redis store of a gateway shares: one client, its limits, and the outage state. */
export class RedisCacheLink {
  readonly #redis: ScriptedRedis;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  /** How long past its freshness an entry with a validator is kept for revalidation (ms). */
  readonly keepMs: number;
  #healthy = true;

  constructor(o: { readonly redis: Redis; readonly log: Logger; readonly timers: Timers; readonly timeoutMs: number; readonly keepMs: number }) {
    o.redis.defineCommand('weftCacheStore', { numberOfKeys: 2, lua: STORE_SCRIPT });
    o.redis.defineCommand('weftCachePurge', { numberOfKeys: 1, lua: PURGE_SCRIPT });
    this.#redis = o.redis as ScriptedRedis;
    this.#log = o.log;
    this.#timers = o.timers;
    this.#timeoutMs = o.timeoutMs;
    this.keepMs = o.keepMs;
  }

  /** The client, for the stores' calls. */
  get redis(): ScriptedRedis {
    return this.#redis;
  }

  /** Runs a Redis call bounded by the timeout; undefined (and the outage noted) when Redis cannot answer. */
  async call<T>(p: () => Promise<T>): Promise<T | undefined> {
    try {
      const v = await this.#bounded(p());
      this.#mark(true, undefined);
      return v;
    } catch (err) {
      this.#mark(false, err);
      return undefined;
    }
  }

  /** Drops every entry stored for `route` in every policy; undefined when Redis cannot answer. */
  async purgeRoute(route: string): Promise<number | undefined> {
    const n = await this.call(() => this.#redis.weftCachePurge(routeSetKey(route)));
    return n === undefined ? undefined : Number(n);
  }

  // A call that takes longer than the timeout counts as Redis not answering.
  #bounded<T>(p: Promise<T>): Promise<T> {
    const timers = this.#timers;
    return new Promise<T>((resolve, reject) => {
      const timer = timers.setTimeout(() => reject(new Error(`no answer from Redis in ${this.#timeoutMs} ms`)), this.#timeoutMs);
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

  // Logged once per change of state, not per request.
  #mark(ok: boolean, err: unknown): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    if (ok) this.#log.info({ backend: 'redis' }, 'response cache backend answers again; caching in Redis');
    else this.#log.warn({ backend: 'redis', code: 'WEFT_ERR_CACHE_UNAVAILABLE', err: (err as Error).message }, 'response cache backend unreachable; requests bypass the cache');
  }
}

/** One CachePolicy's entries in Redis; the same calls as the memory store, but awaited. */
export class RedisResponseStore {
  readonly #policy: string;
  readonly #link: RedisCacheLink;
  readonly #clock: () => number;
  /** Requests answered from Redis. */
  hits = 0;
  /** Requests Redis could not answer without the backend. */
  misses = 0;
  /** Responses (and 304 refreshes) Redis confirmed it stored. */
  stores = 0;
  /** Requests that bypassed the cache because Redis could not answer. */
  bypasses = 0;

  constructor(policy: string, link: RedisCacheLink, clock: () => number) {
    this.#policy = policy;
    this.#link = link;
    this.#clock = clock;
  }

  /** The variant of `key` for a request with these headers; undefined when Redis cannot answer. */
  async lookup(key: string, headers: IncomingHttpHeaders): Promise<Lookup | undefined> {
    const k = entryKey(this.#policy, key);
    const all = await this.#link.call(() => this.#link.redis.hgetallBuffer(k));
    if (all === undefined) return undefined;
    let any = false;
    for (const value of Object.values(all)) {
      const e = decodeEntry(value, value.length);
      if (!e) continue;
      any = true;
      if (varyKey(e.vary, headers) === e.varyValues) return { kind: 'found', entry: e };
    }
    return any ? { kind: 'vary-miss' } : { kind: 'miss' };
  }

  /** Stores a response for `key` in the background (a failure only means it is not stored). */
  store(key: string, reqHeaders: IncomingHttpHeaders, r: { status: number; headers: StoredHeaders; directives: Directives; body: Buffer; timing: Timing; route: string }): void {
    const vary = varyNames(r.headers);
    const entry: StoredResponse = { status: r.status, headers: r.headers, directives: r.directives, body: r.body, timing: r.timing, vary, varyValues: varyKey(vary, reqHeaders), route: r.route, bytes: entryBytes(key, r.headers, r.body.length) };
    this.#put(key, entry).then(
      (ok) => {
        if (ok) this.stores++;
      },
      // #put catches Redis' failures itself; nothing else can fail a request's answer after the fact.
      () => undefined,
    );
  }

  /** Writes back an entry whose headers and timing a 304 replaced. */
  updated(entry: StoredResponse, key: string): void {
    this.#put(key, entry).then(
      (ok) => {
        if (ok) this.stores++;
      },
      () => undefined,
    );
  }

  /** Drops every variant of `key` (an unsafe method on its URI); resolves when done or Redis cannot answer. */
  async invalidate(key: string): Promise<void> {
    const k = entryKey(this.#policy, key);
    await this.#link.call(() => this.#link.redis.del(k));
  }

  // True once Redis has stored it.
  async #put(key: string, e: StoredResponse): Promise<boolean> {
    const ttl = redisTtlMs(e, this.#clock(), this.#link.keepMs);
    return undefined !== await this.#link.call(() => this.#link.redis.weftCacheStore(entryKey(this.#policy, key), routeSetKey(e.route), variantField(e.vary, e.varyValues), encodeEntry(e), ttl));
  }
}

/** Connects to the cache's Redis when the settings name one (one connection, no offline queue, so a request never waits for a Redis that is down). */
export function connectCacheRedis(settings: CacheSettings, deps: { readonly log: Logger; readonly timers: Timers }): { readonly link: RedisCacheLink | undefined; close(): void } {
  if (settings.redisUrl === '') return { link: undefined, close: () => undefined };
  const client = new Redis(settings.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnects forever, at most a second apart: recovery needs no restart.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    connectTimeout: 2000,
  });
  // Connection errors are expected while Redis is away; the outage is logged once by the link.
  client.on('error', () => undefined);
  const link = new RedisCacheLink({ redis: client, log: deps.log, timers: deps.timers, timeoutMs: settings.redisTimeoutMs, keepMs: settings.redisKeepMs });
  return { link, close: () => client.disconnect() };
}
