// How a stored response travels to and from Redis: a length-prefixed JSON head (status, headers,
// timing, Vary names and values, route) followed by the raw body bytes, the Redis keys of a policy's
// entries and route sets, and how long Redis keeps an entry. Pure: no I/O, no clock.
import { createHash } from 'node:crypto';
import { hasValidator, parseCacheControl, type StoredHeaders, type Timing } from './http-cache-rules.js';
import type { StoredResponse } from './response-store.js';

/** Format version written at the front of every value; another version reads as absent. */
const VERSION = 1;

interface Head {
  readonly v: number;
  readonly status: number;
  readonly headers: StoredHeaders;
  readonly timing: Timing;
  readonly vary: readonly string[];
  readonly varyValues: string;
  readonly route: string;
}

/** One Redis value: [4-byte big-endian head length][JSON head][body]. */
export function encodeEntry(e: StoredResponse): Buffer {
  const head: Head = { v: VERSION, status: e.status, headers: e.headers, timing: e.timing, vary: e.vary, varyValues: e.varyValues, route: e.route };
  const json = Buffer.from(JSON.stringify(head));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(json.length, 0);
  return Buffer.concat([prefix, json, e.body], 4 + json.length + e.body.length);
}

/** Reads a value written by encodeEntry; undefined for anything else (a value that cannot be read is a miss). */
export function decodeEntry(buf: Buffer, bytes: number): StoredResponse | undefined {
  if (buf.length < 4) return undefined;
  const n = buf.readUInt32BE(0);
  if (4 + n > buf.length) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isHead(head)) return undefined;
  return {
    status: head.status,
    headers: head.headers,
    directives: parseCacheControl(head.headers['cache-control']),
    body: buf.subarray(4 + n),
    timing: head.timing,
    vary: head.vary,
    varyValues: head.varyValues,
    route: head.route,
    bytes,
  };
}

function isHead(h: unknown): h is Head {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  const t = o.timing as Record<string, unknown> | undefined;
  return (
    o.v === VERSION &&
    typeof o.status === 'number' &&
    typeof o.headers === 'object' &&
    o.headers !== null &&
    typeof t === 'object' &&
    t !== null &&
    typeof t.initialAgeMs === 'number' &&
    typeof t.responseTimeMs === 'number' &&
    typeof t.lifetimeMs === 'number' &&
    Array.isArray(o.vary) &&
    o.vary.every((v) => typeof v === 'string') &&
    typeof o.varyValues === 'string' &&
    typeof o.route === 'string'
  );
}

// Keys are hashed: a host, path and query can be long and hold any byte, a Redis key should not.
function digest(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

/** The Redis hash of a primary key under a policy; its fields are the Vary variants. */
export function entryKey(policy: string, primaryKey: string): string {
  return `weft:cache:${digest(policy)}:${digest(primaryKey)}`;
}

/** The hash field of a variant: the names it varies on and the request's values for them. */
export function variantField(vary: readonly string[], varyValues: string): string {
  return `${vary.join(',')}\n${varyValues}`;
}

/** The Redis set of the entry keys stored for a route ("namespace/name"), in every policy (purge by route). */
export function routeSetKey(route: string): string {
  return `weft:cache:route:${digest(route)}`;
}

/**
 * How long Redis keeps an entry after it is stored at `nowMs`: the rest of its freshness lifetime,
 * plus `keepMs` when it has a validator (a stale entry can still be revalidated with a 304). At least 1 ms.
 */
export function redisTtlMs(e: Pick<StoredResponse, 'timing' | 'headers'>, nowMs: number, keepMs: number): number {
  const age = e.timing.initialAgeMs + Math.max(0, nowMs - e.timing.responseTimeMs);
  const fresh = Math.max(0, e.timing.lifetimeMs - age);
  return Math.max(1, Math.ceil(fresh + (hasValidator(e.headers) ? keepMs : 0)));
}
