// API key checks: the presented key is hashed (sha256) and looked up among the policy's
// consumers, so the file never holds a usable key. Pure.
import { createHash } from 'node:crypto';

/** A parsed ApiKeyPolicy. */
export interface ApiKeyConfig {
  /** Where the key is read from. */
  readonly source: { readonly header: string } | { readonly query: string };
  /** sha256 hex of the key -> consumer name. */
  readonly consumers: ReadonlyMap<string, string>;
  /** Request header that carries the consumer's name upstream. */
  readonly consumerHeader: string;
}

/** The outcome of an API key check. */
export type ApiKeyResult = { readonly ok: true; readonly consumer: string } | { readonly ok: false; readonly reason: 'missing' | 'unknown' };

/** sha256 hex of a key, as stored in ApiKeyPolicy consumers. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Checks the presented key (undefined when the request carries none). */
export function checkApiKey(cfg: ApiKeyConfig, presented: string | undefined): ApiKeyResult {
  if (presented === undefined || presented === '') return { ok: false, reason: 'missing' };
  const consumer = cfg.consumers.get(hashKey(presented));
  return consumer === undefined ? { ok: false, reason: 'unknown' } : { ok: true, consumer };
}
