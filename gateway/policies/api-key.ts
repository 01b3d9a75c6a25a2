// ApiKeyPolicy: its parser, its step, and the check itself: the presented key is hashed (sha256)
// and looked up among the policy's consumers, so the file never holds a usable key.
import { createHash } from 'node:crypto';
import type { FieldReader, Json } from '../routes/field-reader.js';
import { CONTINUE, refusal, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyExchange, type PolicyModule } from './policy.js';

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

// A client sends the same key on every request: its sha256 (a few microseconds, a hash object and
// a hex string each time) is kept here. Bounded in entries and key length, and emptied when full,
// so a stream of made-up keys costs what it cost without the memo and no more memory than this.
const MEMO_ENTRIES = 1024;
const MEMO_KEY_CHARS = 256;
const keyHashes = new Map<string, string>();

/** hashKey, remembered for the keys clients present again and again. */
export function presentedKeyHash(key: string): string {
  const known = keyHashes.get(key);
  if (known !== undefined) return known;
  const hash = hashKey(key);
  if (key.length <= MEMO_KEY_CHARS) {
    if (keyHashes.size >= MEMO_ENTRIES) keyHashes.clear();
    keyHashes.set(key, hash);
  }
  return hash;
}

const MISSING: ApiKeyResult = Object.freeze({ ok: false, reason: 'missing' });
const UNKNOWN: ApiKeyResult = Object.freeze({ ok: false, reason: 'unknown' });

/** Checks the presented key (undefined when the request carries none). */
export function checkApiKey(cfg: ApiKeyConfig, presented: string | undefined): ApiKeyResult {
  if (presented === undefined || presented === '') return MISSING;
  const consumer = cfg.consumers.get(presentedKeyHash(presented));
  return consumer === undefined ? UNKNOWN : { ok: true, consumer };
}

/** Reads an ApiKeyPolicy spec. */
export function parseApiKeyPolicy(spec: Json, r: FieldReader): ApiKeyConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'header', 'queryParam', 'consumers', 'consumerHeader']);
  const header = r.str(spec, 'header', 'spec');
  const query = r.str(spec, 'queryParam', 'spec');
  if (header !== undefined && query !== undefined) r.problem('spec', 'set header or queryParam, not both');
  const consumers = new Map<string, string>();
  // Without its own list the policy accepts the keys of Consumer objects only.
  r.objs(spec, 'consumers', 'spec').forEach((c, i) => {
    const name = r.str(c, 'name', `spec.consumers[${i}]`, { required: true });
    const hash = r.str(c, 'keySha256', `spec.consumers[${i}]`, { required: true });
    if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) r.problem(`spec.consumers[${i}].keySha256`, 'must be 64 lowercase hex characters (sha256 of the key)');
    else if (name && hash) {
      if (consumers.has(hash)) r.problem(`spec.consumers[${i}].keySha256`, `the same key is given to ${consumers.get(hash)} already`);
      consumers.set(hash, name);
    }
  });
  const cfg: ApiKeyConfig = {
    source: query !== undefined ? { query } : { header: (header ?? 'x-api-key').toLowerCase() },
    consumers,
    consumerHeader: (r.str(spec, 'consumerHeader', 'spec') ?? 'x-weft-consumer').toLowerCase(),
  };
  return cfg;
}

/** Takes the key from its header or query parameter (it never reaches the backend) and names the consumer upstream. */
export function apiKeyStep(x: PolicyExchange, policy: Named<ApiKeyConfig>): StepResult {
  const cfg = policy.value;
  let presented: string | undefined;
  if ('header' in cfg.source) {
    presented = firstValue(x.req.headers[cfg.source.header]);
    // Undefined rather than delete (which would turn the map into a slow dictionary): every
    // writer of the upstream head leaves undefined values out.
    if (x.headers[cfg.source.header] !== undefined) x.headers[cfg.source.header] = undefined;
  } else {
    presented = x.query.get(cfg.source.query) ?? undefined;
    const rest = new URLSearchParams(x.upstreamSearch);
    rest.delete(cfg.source.query);
    const s = rest.toString();
    x.upstreamSearch = s === '' ? '' : `?${s}`;
  }
  let result = checkApiKey(cfg, presented);
  // Not one of the policy's own keys: a Consumer object's (inline or from its Secrets), if any.
  const account = !result.ok && result.reason === 'unknown' && presented !== undefined ? x.consumers.byKeyHash.get(presentedKeyHash(presented)) : undefined;
  if (account) {
    x.account = account;
    result = { ok: true, consumer: account.name };
  }
  if (!result.ok) {
    const where = 'header' in cfg.source ? `header="${cfg.source.header}"` : `query="${cfg.source.query}"`;
    const challenge = `ApiKey realm="weft", ${where}${result.reason === 'unknown' ? ', error="invalid_key"' : ''}`;
    return refusal('WEFT_ERR_UNAUTHORIZED', `API key ${result.reason}`, { 'www-authenticate': challenge }, policy.name);
  }
  x.consumer = result.consumer;
  x.headers[cfg.consumerHeader] = result.consumer;
  return CONTINUE;
}

/** The ApiKeyPolicy kind. */
export const apiKeyPolicy: PolicyModule<ApiKeyConfig> = { kind: 'ApiKeyPolicy', parse: parseApiKeyPolicy, step: apiKeyStep };
