// The pure rules of HTTP caching (RFC 9111) for a shared cache: what may be stored, how long it
// is fresh, its age, whether a stored response may answer a request, the cache key with its Vary
// part, and conditional-request matching. No clock of its own: every time comes in as an argument.
import type { IncomingHttpHeaders } from 'node:http';

/** Response headers as stored (end-to-end only). */
export type StoredHeaders = Record<string, string | string[] | undefined>;

/** Parsed Cache-Control: directive name (lowercase) -> argument ("" for a bare directive). */
export type Directives = ReadonlyMap<string, string>;

const NONE: Directives = new Map();

/** Parses Cache-Control (RFC 9111 5.2); repeated headers are one list, quoted arguments unquoted. */
export function parseCacheControl(value: string | readonly string[] | undefined): Directives {
  if (value === undefined) return NONE;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text.trim() === '') return NONE;
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?/g)) {
    const name = (m[1] ?? '').toLowerCase();
    const raw = m[2] ?? '';
    // The first occurrence wins (RFC 9111 4.2.1: a duplicated directive is invalid; be conservative).
    if (!out.has(name)) out.set(name, raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  return out;
}

/** A delta-seconds argument, or undefined when absent or not a non-negative integer. */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined || !/^[0-9]+$/.test(v)) return undefined;
  return Number(v);
}

/** Final statuses a cache understands: a response with explicit freshness may be stored with one. */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501]);
/** Heuristically cacheable by default (RFC 9110 15.1), less 206: ranges are not cached. */
const DEFAULT_CACHEABLE = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** The first value of a header. */
export function headerText(v: string | readonly string[] | undefined): string | undefined {
  return typeof v === 'string' || v === undefined ? v : v.join(', ');
}

/** An HTTP-date in ms, or undefined when absent or unparsable. */
export function httpDateMs(v: string | readonly string[] | undefined): number | undefined {
  const t = headerText(v);
  if (t === undefined) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Why a request does not use the cache at all, or undefined when it may. */
export function requestBypass(method: string, headers: IncomingHttpHeaders, cc: Directives): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return 'method';
  if (headers.range !== undefined) return 'range';
  if (cc.has('no-store')) return 'no-store';
  return undefined;
}

/** Whether a request method invalidates the stored responses of its URI (RFC 9111 4.4). */
export function invalidates(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE';
}

/** The freshness lifetime of a response (RFC 9111 4.2.1), and whether it was explicit. */
export function freshnessLifetimeMs(status: number, headers: StoredHeaders, cc: Directives, defaultTtlMs: number | undefined): { ms: number; explicit: boolean } {
  const shared = deltaSeconds(cc, 's-maxage');
  if (shared !== undefined) return { ms: shared * 1000, explicit: true };
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return { ms: maxAge * 1000, explicit: true };
  if (headers.expires !== undefined) {
    const expires = httpDateMs(headers.expires);
    const date = httpDateMs(headers.date);
    // An invalid Expires (e.g. "0") means already expired.
    if (expires === undefined || date === undefined) return { ms: 0, explicit: true };
    return { ms: Math.max(0, expires - date), explicit: true };
  }
  // The only heuristic is the route's default TTL, for statuses cacheable by default or a public response.
  if (defaultTtlMs !== undefined && (DEFAULT_CACHEABLE.has(status) || cc.has('public'))) return { ms: defaultTtlMs, explicit: false };
  return { ms: 0, explicit: false };
}

/** What a response's storability check answers. */
export type Storability = { readonly store: true; readonly lifetimeMs: number } | { readonly store: false; readonly why: string };

/** Whether a shared cache may store this response to this request (RFC 9111 3, 3.5). */
export function storability(
  req: { readonly method: string; readonly headers: IncomingHttpHeaders; readonly cc: Directives },
  res: { readonly status: number; readonly headers: StoredHeaders; readonly cc: Directives },
  defaultTtlMs: number | undefined,
): Storability {
  if (req.method !== 'GET') return { store: false, why: 'method' };
  if (req.cc.has('no-store')) return { store: false, why: 'request-no-store' };
  if (!UNDERSTOOD.has(res.status)) return { store: false, why: 'status' };
  if (res.cc.has('no-store')) return { store: false, why: 'no-store' };
  if (res.cc.has('private')) return { store: false, why: 'private' };
  // Set-Cookie belongs to one client; storing it would hand one client's cookie to the next.
  if (res.headers['set-cookie'] !== undefined) return { store: false, why: 'set-cookie' };
  if (varyNames(res.headers).includes('*')) return { store: false, why: 'vary-star' };
  if (req.headers.authorization !== undefined && !authorizationAllows(res.cc)) return { store: false, why: 'authorization' };
  const life = freshnessLifetimeMs(res.status, res.headers, res.cc, defaultTtlMs);
  if (!life.explicit && life.ms === 0 && !DEFAULT_CACHEABLE.has(res.status)) return { store: false, why: 'status' };
  // Stale at once with nothing to revalidate by: storing would never answer anyone.
  if (life.ms === 0 && !hasValidator(res.headers)) return { store: false, why: 'no-freshness' };
  return { store: true, lifetimeMs: life.ms };
}

/** RFC 9111 3.5: a response to a request with Authorization is shared only when it says so. */
export function authorizationAllows(cc: Directives): boolean {
  return cc.has('public') || cc.has('s-maxage') || cc.has('must-revalidate');
}

/** Whether a response carries an ETag or Last-Modified to revalidate with. */
export function hasValidator(headers: StoredHeaders): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined;
}

/**
 * The corrected initial age of a response when received (RFC 9111 4.2.3): the larger of the
 * apparent age (response time - Date) and Age plus the time the request took.
 */
export function initialAgeMs(headers: StoredHeaders, requestTimeMs: number, responseTimeMs: number): number {
  const ageText = headerText(headers.age);
  const ageValue = ageText !== undefined && /^[0-9]+$/.test(ageText.trim()) ? Number(ageText.trim()) * 1000 : 0;
  const date = httpDateMs(headers.date);
  const apparent = date === undefined ? 0 : Math.max(0, responseTimeMs - date);
  const corrected = ageValue + (responseTimeMs - requestTimeMs);
  return Math.max(apparent, corrected);
}

/** The times a stored response's age and freshness are computed from. */
export interface Timing {
  /** Corrected initial age when it was received (ms). */
  readonly initialAgeMs: number;
  /** When the response (or its latest 304) was received (ms since the epoch). */
  readonly responseTimeMs: number;
  readonly lifetimeMs: number;
}

/** Current age (ms) of a stored response at `nowMs`. */
export function currentAgeMs(t: Timing, nowMs: number): number {
  return t.initialAgeMs + Math.max(0, nowMs - t.responseTimeMs);
}

/** The Age header value: whole seconds, rounded down. */
export function ageSeconds(t: Timing, nowMs: number): number {
  return Math.floor(currentAgeMs(t, nowMs) / 1000);
}

/**
 * Whether a stored response may answer this request without asking the origin (RFC 9111 4,
 * 4.2, 5.2.1): fresh, not no-cache, and within the request's own max-age. Authorization is
 * checked by `servableTo`.
 */
export function freshFor(t: Timing, stored: Directives, reqCc: Directives, pragma: string | undefined, nowMs: number): boolean {
  if (stored.has('no-cache')) return false;
  if (reqCc.has('no-cache')) return false;
  // Pragma: no-cache counts only when the request has no Cache-Control (RFC 9111 5.4).
  if (reqCc.size === 0 && pragma !== undefined && /no-cache/i.test(pragma)) return false;
  const age = currentAgeMs(t, nowMs);
  if (age >= t.lifetimeMs) return false;
  const reqMax = deltaSeconds(reqCc, 'max-age');
  if (reqMax !== undefined && age > reqMax * 1000) return false;
  const minFresh = deltaSeconds(reqCc, 'min-fresh');
  if (minFresh !== undefined && t.lifetimeMs - age < minFresh * 1000) return false;
  return true;
}

/** Whether a stored response may be used at all for a request with or without Authorization. */
export function servableTo(reqHeaders: IncomingHttpHeaders, stored: Directives): boolean {
  return reqHeaders.authorization === undefined || authorizationAllows(stored);
}

/** The header names a response varies on, lowercase ("*" stays "*"). */
export function varyNames(headers: StoredHeaders): string[] {
  const v = headerText(headers.vary);
  if (v === undefined) return [];
  return v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

/**
 * The secondary key of a request for a response that varies on `names` (RFC 9111 4.1): each
 * named header's values joined, whitespace around commas normalised. Absent and empty differ.
 */
export function varyKey(names: readonly string[], headers: IncomingHttpHeaders): string {
  let out = '';
  for (const n of names) {
    const v = headers[n];
    const text = v === undefined ? '\u0000' : (typeof v === 'string' ? v : v.join(',')).split(',').map((s) => s.trim()).join(',');
    out += `${n}=${text}\n`;
  }
  return out;
}

/** The primary key: method, host, path and query, and the consumer on authenticated routes. */
export function primaryKey(host: string, pathAndQuery: string, consumer: string | undefined): string {
  return consumer === undefined ? `GET ${host}${pathAndQuery}` : `GET ${host}${pathAndQuery} @${consumer}`;
}

/** If-None-Match against an ETag, weak comparison (RFC 9110 13.1.2); "*" matches any. */
export function etagMatches(ifNoneMatch: string | readonly string[] | undefined, etag: string | readonly string[] | undefined): boolean {
  const inm = headerText(ifNoneMatch);
  const tag = headerText(etag);
  if (inm === undefined || tag === undefined) return false;
  if (inm.trim() === '*') return true;
  const opaque = (s: string): string => s.trim().replace(/^W\//, '');
  const want = opaque(tag);
  return inm.split(',').some((c) => opaque(c) === want);
}

/**
 * Whether a client's conditional request is satisfied by a stored response (304): If-None-Match
 * when present, else If-Modified-Since against Last-Modified (RFC 9110 13.2.2).
 */
export function notModified(reqHeaders: IncomingHttpHeaders, stored: StoredHeaders): boolean {
  if (reqHeaders['if-none-match'] !== undefined) return etagMatches(reqHeaders['if-none-match'], stored.etag);
  const since = httpDateMs(reqHeaders['if-modified-since']);
  const modified = httpDateMs(stored['last-modified']);
  return since !== undefined && modified !== undefined && modified <= since;
}

/** Headers a 304 carries from the stored response (RFC 9110 15.4.5). */
export const NOT_MODIFIED_HEADERS: readonly string[] = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];

// Headers a 304 must not overwrite in the stored response (they describe the stored body).
const KEEP_ON_UPDATE = new Set(['content-length', 'content-encoding', 'content-range', 'transfer-encoding']);

/** The stored headers updated with those of a 304 (RFC 9111 3.2, 4.3.4). */
export function updatedHeaders(stored: StoredHeaders, fromNotModified: StoredHeaders): StoredHeaders {
  const out: StoredHeaders = Object.assign({}, stored);
  for (const [k, v] of Object.entries(fromNotModified)) if (v !== undefined && !KEEP_ON_UPDATE.has(k)) out[k] = v;
  return out;
}

/** Bytes an entry is charged for: its body, header names and values, and its key. */
export function entryBytes(key: string, headers: StoredHeaders, bodyBytes: number): number {
  let n = key.length + bodyBytes;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    n += k.length + (typeof v === 'string' ? v.length : v.reduce((a, s) => a + s.length, 0)) + 4;
  }
  return n;
}
