// CachePolicy: its parser, and the stores of every CachePolicy kept across configuration
// generations (a reload keeps what is stored; a changed cap applies at once). The cache step
// (cache-step.ts) runs late in the chain, so the registry's step for this kind does nothing.
import type { FieldReader, Json } from '../routes/field-reader.js';
import { parseDuration } from '../routes/paths.js';
import { CONTINUE } from '../chain.js';
import type { PolicyModule } from '../policies/policy.js';
import { ResponseStore } from './response-store.js';

/** A parsed CachePolicy. */
export interface CacheConfig {
  /** Freshness for responses that give none (Cache-Control max-age, Expires); undefined: none. */
  readonly defaultTtlMs: number | undefined;
  /** Byte cap of the policy's store (bodies, headers and keys). */
  readonly maxBytes: number;
  /** Larger responses pass through uncached (counted while streaming, never buffered whole). */
  readonly maxEntryBytes: number;
  /** Where responses are kept; only "memory" is built. */
  readonly backend: 'memory';
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
  // A shared Redis store is not built: say so rather than silently caching per replica.
  r.str(spec, 'backend', 'spec', { oneOf: ['memory'] });
  return { defaultTtlMs, maxBytes, maxEntryBytes, backend: 'memory' };
}

/** The CachePolicy kind; its work is the cache step's, placed after the filters and backend choice. */
export const cachePolicy: PolicyModule<CacheConfig> = { kind: 'CachePolicy', parse: parseCachePolicy, step: () => CONTINUE };

/** One store as /debug/cache and the metrics show it. */
export interface CacheStoreReport {
  readonly policy: string;
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
    return [...this.#stores].map(([policy, s]) => ({ policy, entries: s.entries, bytes: s.bytes, maxBytes: s.maxBytes, hits: s.hits, misses: s.misses, stores: s.stores, evictions: s.evictions }));
  }
}
