// The gateway's plan quota settings (backend, Redis address, failure mode), a part of its
// settings table so that `npm run docs` lists them with the others.
import { durationMs, oneOf, setting, str } from '../../lib/config.js';

/** The rows; spread into GATEWAY_SETTINGS. */
export const QUOTA_SETTINGS = {
  quotaBackend: setting({
    name: 'WEFT_GATEWAY_QUOTA_BACKEND',
    type: oneOf(['local', 'redis'] as const),
    default: 'local',
    doc: 'where plan quotas are counted: `local` (this replica, lost on restart) or `redis` (shared by every replica, kept across restarts)',
  }),
  quotaRedisUrl: setting({ name: 'WEFT_GATEWAY_QUOTA_REDIS_URL', type: str('URL'), default: '', doc: 'the Redis of the `redis` quota backend, `redis://[user:password@]host:port[/db]`' }),
  quotaFail: setting({
    name: 'WEFT_GATEWAY_QUOTA_FAIL',
    type: oneOf(['open', 'closed'] as const),
    default: 'open',
    doc: 'when Redis cannot answer: `open` counts in this replica instead, `closed` refuses plan requests with 503 `WEFT_ERR_QUOTA_UNAVAILABLE`',
  }),
  quotaRedisTimeoutMs: setting({ name: 'WEFT_GATEWAY_QUOTA_REDIS_TIMEOUT_MS', type: durationMs({ min: 1, max: 10_000 }), default: 2000, doc: 'how long a quota call to Redis may take before Redis counts as unreachable for that request' }),
};

/** The parsed quota settings. */
export interface QuotaSettings {
  readonly backend: 'local' | 'redis';
  readonly redisUrl: string;
  readonly failClosed: boolean;
  readonly redisTimeoutMs: number;
}

/** Reads the rows' values; a `redis` backend without an address is a problem. */
export function quotaSettingsOf(v: { quotaBackend: 'local' | 'redis'; quotaRedisUrl: string; quotaFail: 'open' | 'closed'; quotaRedisTimeoutMs: number }, problem: (m: string) => void): QuotaSettings {
  if (v.quotaBackend === 'redis' && !/^rediss?:\/\/./.test(v.quotaRedisUrl)) problem('WEFT_GATEWAY_QUOTA_BACKEND=redis needs WEFT_GATEWAY_QUOTA_REDIS_URL (redis://host:port)');
  return { backend: v.quotaBackend, redisUrl: v.quotaRedisUrl, failClosed: v.quotaFail === 'closed', redisTimeoutMs: v.quotaRedisTimeoutMs };
}
