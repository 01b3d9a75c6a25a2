// CachePolicy: its parser, and the stores of every CachePolicy kept across configuration
// generations (a reload keeps what is stored; a changed cap applies at once). The cache step
// (cache-step.ts) runs late in the chain, so the registry's step for this kind does nothing.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { parseDuration } from '../routes/paths.js';
import { CONTINUE } from '../chain.js';
import type { PolicyModule } from '../policies/policy.js';
import { ResponseStore } from './response-store.js';
import { RedisResponseStore, type RedisCacheLink } from './redis-store.js';

/** A parsed CachePolicy. */
export interface CacheConfig {
  /** Freshness for responses that give none (Cache-Control max-age, Expires); undefined: none. */
  readonly defaultTtlMs: number | undefined;
  /** Byte cap of the policy's store (bodies, headers and keys). */
  readonly maxBytes: number;
  /** Larger responses pass through uncached (counted while streaming, never buffered whole). */
  readonly maxEntryBytes: number;
  /** Where responses are kept: this replica's memory, or the Redis of the gateway's settings (shared by replicas). */
  readonly backend: 'memory' | 'redis';
}

/** 64 MiB. */
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
/** 1 MiB. */
export const DEFAULT_CACHE_MAX_ENTRY_BYTES = 1024 * 1024;

/** Reads a CachePolicy spec. */
export function parseCachePolicy(spec: Json, r: FieldReader): CacheConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'defaultTtl', 'maxBytes', 'maxEntryBytes', 'backend']);
  let defaultTtlMs: number | undefined;
  const ttl = r.str(spec, 'defaultTtl', 'spec');
  if (ttl !== undefined) {
    const ms = parseDuration(ttl);
    if (typeof ms === 'string') r.problem('spec.defaultTtl', ms);
    else defaultTtlMs = ms;
  }
  const maxBytes = r.int(spec, 'maxBytes', 'spec', { min: 1 }) ?? DEFAULT_CACHE_MAX_BYTES;
  const maxEntryBytes = r.int(spec, 'maxEntryBytes', 'spec', { min: 1 }) ?? Math.min(DEFAULT_CACHE_MAX_ENTRY_BYTES, maxBytes);
  if (maxEntryBytes > maxBytes) r.problem('spec.maxEntryBytes', `must not be over maxBytes (${maxBytes})`);
  const backend = r.str(spec, 'backend', 'spec', { oneOf: ['memory', 'redis'] }) === 'redis' ? 'redis' : 'memory';
  return { defaultTtlMs, maxBytes, maxEntryBytes, backend };
}

/** The CachePolicy kind; its work is the cache step's, placed after the filters and backend choice. */
export const cachePolicy: PolicyModule<CacheConfig> = { kind: 'CachePolicy', parse: parseCachePolicy, step: () => CONTINUE };

/** One store as /debug/cache and the metrics show it. */
export interface CacheStoreReport {
  readonly policy: string;
  readonly backend: 'memory' | 'redis';
  /** Requests that bypassed the cache because its Redis could not answer (0 for memory). */
  readonly bypasses: number;
  readonly entries: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly stores: number;
  readonly evictions: number;
}

/** Every CachePolicy's store, by policy name ("CachePolicy ns/name"), for the life of the process. */
export class ResponseCaches {
  readonly #stores = new Map<string, ResponseStore>();
  readonly #redisStores = new Map<string, RedisResponseStore>();
  readonly #link: RedisCacheLink | undefined;
  readonly #clock: () => number;

  /** `link`: the gateway's Redis for `backend: redis` policies (absent: those bypass the cache). */
  constructor(link?: RedisCacheLink, clock: () => number = Date.now) {
    this.#link = link;
    this.#clock = clock;
  }

  /** The Redis store of a policy; undefined when the gateway has no Redis for the cache. */
  redisStoreFor(name: string): RedisResponseStore | undefined {
    const link = this.#link;
    if (!link) return undefined;
    let s = this.#redisStores.get(name);
    if (!s) {
      s = new RedisResponseStore(name, link, this.#clock);
      this.#redisStores.set(name, s);
    }
    return s;
  }

  /** Purges `route` from the memory stores and from Redis; `redis` is undefined when it could not answer. */
  async purgeEverywhere(route: string): Promise<{ readonly memory: number; readonly redis: number | undefined }> {
    const memory = this.purgeRoute(route);
    const redis = this.#link ? await this.#link.purgeRoute(route) : 0;
    return { memory, redis };
  }

  /** The store of a policy, made on first use; a new cap applies at once. */
  storeFor(name: string, cfg: CacheConfig): ResponseStore {
    let s = this.#stores.get(name);
    if (!s) {
      s = new ResponseStore(cfg.maxBytes);
      this.#stores.set(name, s);
    } else if (s.maxBytes !== cfg.maxBytes) {
      s.resize(cfg.maxBytes);
    }
    return s;
  }

  /** Drops every entry stored for route "namespace/name" in every store; returns how many. */
  purgeRoute(route: string): number {
    let n = 0;
    for (const s of this.#stores.values()) n += s.purgeRoute(route);
    return n;
  }

  /** Entries, bytes and evictions per policy (for /debug/cache). */
  describe(): CacheStoreReport[] {
    const out: CacheStoreReport[] = [...this.#stores].map(([policy, s]) => ({ policy, backend: 'memory', bypasses: 0, entries: s.entries, bytes: s.bytes, maxBytes: s.maxBytes, hits: s.hits, misses: s.misses, stores: s.stores, evictions: s.evictions }));
    // Entries and bytes of a Redis store are Redis' to count (its maxmemory bounds them).
    for (const [policy, s] of this.#redisStores) out.push({ policy, backend: 'redis', bypasses: s.bypasses, entries: 0, bytes: 0, maxBytes: 0, hits: s.hits, misses: s.misses, stores: s.stores, evictions: 0 });
    return out;
  }
}
