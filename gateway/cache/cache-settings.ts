// The gateway's response cache settings (the Redis of `backend: redis` CachePolicies), a part of
// its settings table so that `npm run docs` lists them with the others.
import { durationMs, setting, str } from '../../lib/config.js';

/** The rows; spread into GATEWAY_SETTINGS. */
export const CACHE_SETTINGS = {
  cacheRedisUrl: setting({
    name: 'WEFT_GATEWAY_CACHE_REDIS_URL',
    type: str('URL'),
    default: '',
    doc: 'the Redis that CachePolicies with `backend: redis` store in, `redis://[user:password@]host:port[/db]`; empty: such policies bypass the cache',
  }),
  cacheRedisTimeoutMs: setting({ name: 'WEFT_GATEWAY_CACHE_REDIS_TIMEOUT_MS', type: durationMs({ min: 1, max: 10_000 }), default: 500, doc: 'how long a cache call to Redis may take before the request bypasses the cache' }),
  cacheRedisKeepMs: setting({
    name: 'WEFT_GATEWAY_CACHE_REDIS_KEEP_MS',
    type: durationMs({ min: 0, max: 7 * 86_400_000 }),
    default: 600_000,
    doc: 'how long Redis keeps an entry with an ETag or Last-Modified past its freshness lifetime, so it can still be revalidated',
  }),
};

/** The parsed cache settings. */
export interface CacheSettings {
  readonly redisUrl: string;
  readonly redisTimeoutMs: number;
  readonly redisKeepMs: number;
}

/** Reads the rows' values; an address that is not a Redis URL is a problem. */
export function cacheSettingsOf(v: { cacheRedisUrl: string; cacheRedisTimeoutMs: number; cacheRedisKeepMs: number }, problem: (m: string) => void): CacheSettings {
  if (v.cacheRedisUrl !== '' && !/^rediss?:\/\/./.test(v.cacheRedisUrl)) problem('WEFT_GATEWAY_CACHE_REDIS_URL must be redis://host:port');
  return { redisUrl: v.cacheRedisUrl, redisTimeoutMs: v.cacheRedisTimeoutMs, redisKeepMs: v.cacheRedisKeepMs };
}
