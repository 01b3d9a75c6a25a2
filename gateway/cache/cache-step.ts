// The cache step of the gateway's request path (after the filters and the backend choice, before
// the endpoint pick): a fresh stored response answers at once with Age and Cache-Status (RFC 9211);
// otherwise a response tap is left for the forward step, which stores what may be stored while it
// streams to the client, and answers a stale entry's 304 revalidation from the store.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { endToEndHeaders } from '../../mesh/headers.js';
import { CONTINUE, HANDED_OVER, wait, type Step, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { firstValue } from '../policies/policy.js';
import { modifyHeaders, type HeaderMap } from '../routes/filters.js';
import type { CacheConfig, ResponseCaches } from './cache-policy.js';
import {
  ageSeconds,
  currentAgeMs,
  freshFor,
  freshnessLifetimeMs,
  hasValidator,
  headerText,
  initialAgeMs,
  invalidates,
  NOT_MODIFIED_HEADERS,
  notModified,
  parseCacheControl,
  primaryKey,
  requestBypass,
  servableTo,
  storability,
  updatedHeaders,
  type Directives,
  type StoredHeaders,
  type Timing,
} from './http-cache-rules.js';
import type { Lookup, StoredResponse } from './response-store.js';
import type { RedisResponseStore } from './redis-store.js';

/** The cache step; without a CachePolicy on the request's route it only continues. */
export function cacheStep(caches: ResponseCaches, clock: () => number): Step<Exchange> {
  return (x) => {
    const policy = x.policies.cache;
    if (!policy || x.upgrade || !x.match) return CONTINUE;
    const req = x.req;
    const method = req.method ?? 'GET';
    const key = primaryKey(x.host, x.path + x.search, x.consumer);
    if (policy.value.backend === 'redis') return redisCacheStep(x, caches.redisStoreFor(policy.name), { cfg: policy.value, key, clock });
    const store = caches.storeFor(policy.name, policy.value);
    if (invalidates(method)) {
      store.invalidate(key);
      return CONTINUE;
    }
    const reqCc = bypassed(x);
    if (reqCc === undefined) return CONTINUE;
    return answerOrTap(x, store.lookup(key, req.headers), { store, cfg: policy.value, key, reqCc, clock });
  };
}

// The request's Cache-Control, or undefined when the request does not use the cache (Cache-Status set).
function bypassed(x: Exchange): Directives | undefined {
  // The cache would hold the backend's bytes, not the edited ones: a route that edits response
  // bodies is not cached (docs/caching.md).
  if (x.transform?.value.responseBody) {
    x.res.setHeader('cache-status', 'weft; fwd=bypass; detail=response-transform');
    return undefined;
  }
  const reqCc = parseCacheControl(x.req.headers['cache-control']);
  const bypass = requestBypass(x.req.method ?? 'GET', x.req.headers, reqCc);
  if (bypass !== undefined) {
    x.res.setHeader('cache-status', `weft; fwd=bypass; detail=${bypass}`);
    return undefined;
  }
  return reqCc;
}

// A `backend: redis` policy: the same rules as memory, the chain waiting for Redis' answer; when
// Redis cannot answer (or the gateway has none) the request is forwarded as if there were no cache.
function redisCacheStep(x: Exchange, store: RedisResponseStore | undefined, c: { cfg: CacheConfig; key: string; clock: () => number }): StepResult {
  if (!store) {
    x.res.setHeader('cache-status', 'weft; fwd=bypass; detail=no-redis');
    return CONTINUE;
  }
  if (invalidates(x.req.method ?? 'GET')) return wait(store.invalidate(c.key).then((): StepResult => CONTINUE));
  const reqCc = bypassed(x);
  if (reqCc === undefined) return CONTINUE;
  return wait(
    store.lookup(c.key, x.req.headers).then((found): StepResult => {
      if (found === undefined) {
        store.bypasses++;
        x.res.setHeader('cache-status', 'weft; fwd=bypass; detail=redis-unavailable');
        return CONTINUE;
      }
      return answerOrTap(x, found, { store, cfg: c.cfg, key: c.key, reqCc, clock: c.clock });
    }),
  );
}

/** Where the cache step keeps responses: the memory store, or a Redis one (writes in the background). */
interface EntrySink {
  hits: number;
  misses: number;
  store(key: string, reqHeaders: IncomingHttpHeaders, r: { status: number; headers: StoredHeaders; directives: Directives; body: Buffer; timing: Timing; route: string }): unknown;
  updated(entry: StoredResponse, key: string): void;
}

// After the lookup: a fresh entry answers (handed over); otherwise a response tap for forward.
function answerOrTap(x: Exchange, found: Lookup, c: { store: EntrySink; cfg: CacheConfig; key: string; reqCc: Directives; clock: () => number }): StepResult {
  const { store, key, reqCc, clock } = c;
  const req = x.req;
  const now = clock();
  let fwd = found.kind === 'vary-miss' ? 'vary-miss' : 'miss';
  let stale: StoredResponse | undefined;
  if (found.kind === 'found' && servableTo(req.headers, found.entry.directives)) {
    const e = found.entry;
    if (freshFor(e.timing, e.directives, reqCc, firstValue(req.headers.pragma), now)) {
      const ttl = Math.floor((e.timing.lifetimeMs - currentAgeMs(e.timing, now)) / 1000);
      x.backend = 'cache';
      store.hits++;
      serveStored(x, e, now, `weft; hit; ttl=${ttl}`, notModified(req.headers, e.headers) ? 304 : e.status);
      return HANDED_OVER;
    }
    // Stale, or the request or the response asked for a check with the origin.
    fwd = currentAgeMs(e.timing, now) >= e.timing.lifetimeMs ? 'stale' : 'request';
    if (hasValidator(e.headers)) {
      stale = e;
      // The origin is asked about the stored response; the client's own conditions are answered here.
      const etag = headerText(e.headers.etag);
      const modified = headerText(e.headers['last-modified']);
      // x.headers is a per-request dictionary already; delete does not cost a shared hidden class.
      if (etag !== undefined) x.headers['if-none-match'] = etag;
      else delete x.headers['if-none-match'];
      if (modified !== undefined) x.headers['if-modified-since'] = modified;
      else delete x.headers['if-modified-since'];
    }
  }
  store.misses++;
  x.responseTap = responseTap(x, { store, cfg: c.cfg, key, fwd, stale, reqCc, requestTimeMs: now, clock });
  return CONTINUE;
}


interface TapContext {
  readonly store: EntrySink;
  readonly cfg: CacheConfig;
  readonly key: string;
  /** The Cache-Status fwd parameter: miss, vary-miss, stale or request. */
  readonly fwd: string;
  /** The stored response being revalidated, if any. */
  readonly stale: StoredResponse | undefined;
  readonly reqCc: Directives;
  readonly requestTimeMs: number;
  readonly clock: () => number;
}

// What the forward step calls with the backend's response: true when the 304 of a revalidation
// was answered from the store; false to let forward stream it (stored on the way when it may be).
function responseTap(x: Exchange, c: TapContext): (ures: IncomingMessage) => boolean {
  return (ures) => {
    const status = ures.statusCode ?? 502;
    const responseTimeMs = c.clock();
    const headers = endToEndHeaders(ures.headers);
    const route = routeOf(x);
    if (c.stale && status === 304) {
      const e = c.stale;
      e.headers = updatedHeaders(e.headers, headers);
      e.directives = parseCacheControl(e.headers['cache-control']);
      e.timing = { initialAgeMs: initialAgeMs(headers, c.requestTimeMs, responseTimeMs), responseTimeMs, lifetimeMs: freshnessLifetimeMs(e.status, e.headers, e.directives, c.cfg.defaultTtlMs).ms };
      c.store.updated(e, c.key);
      ures.resume();
      if (x.res.writableEnded || x.res.destroyed) return true;
      serveStored(x, e, responseTimeMs, `weft; fwd=${c.fwd}; fwd-status=304`, notModified(x.req.headers, e.headers) ? 304 : e.status);
      return true;
    }
    const fwd = `weft; fwd=${c.fwd}; fwd-status=${status}`;
    const resCc = parseCacheControl(headers['cache-control']);
    const verdict = storability({ method: x.req.method ?? 'GET', headers: x.req.headers, cc: c.reqCc }, { status, headers, cc: resCc }, c.cfg.defaultTtlMs);
    if (!verdict.store) {
      x.res.setHeader('cache-status', `${fwd}; detail=${verdict.why}`);
      return false;
    }
    const declared = Number(headerText(headers['content-length']) ?? NaN);
    if (declared > c.cfg.maxEntryBytes) {
      x.res.setHeader('cache-status', `${fwd}; detail=too-large`);
      return false;
    }
    // Kept while it streams to the client, up to maxEntryBytes; past that, dropped and passed on only.
    const chunks: Buffer[] = [];
    let bytes = 0;
    let over = false;
    ures.on('data', (chunk: Buffer) => {
      if (over) return;
      bytes += chunk.length;
      if (bytes > c.cfg.maxEntryBytes) {
        over = true;
        chunks.length = 0;
      } else chunks.push(chunk);
    });
    ures.on('end', () => {
      if (over || !ures.complete) return;
      const timing = { initialAgeMs: initialAgeMs(headers, c.requestTimeMs, responseTimeMs), responseTimeMs, lifetimeMs: verdict.lifetimeMs };
      c.store.store(c.key, x.req.headers, { status, headers, directives: resCc, body: Buffer.concat(chunks, bytes), timing, route });
    });
    // "stored" only when the length is known to fit; a body of unknown length may still outgrow the cap.
    x.res.setHeader('cache-status', Number.isNaN(declared) ? fwd : `${fwd}; stored`);
    return false;
  };
}

// The route a stored response belongs to, as purge names it.
function routeOf(x: Exchange): string {
  const r = x.match?.rule.route;
  return r ? `${r.namespace}/${r.name}` : '-';
}

// Answers from a stored response: its headers (only the validators and freshness ones on a 304),
// Age, Cache-Status, then the route's response filters, CORS and RateLimit headers as forward adds them.
function serveStored(x: Exchange, e: StoredResponse, nowMs: number, cacheStatus: string, status: number): void {
  let rh: HeaderMap = {};
  if (status === 304) {
    for (const n of NOT_MODIFIED_HEADERS) if (e.headers[n] !== undefined) rh[n] = e.headers[n];
  } else {
    Object.assign(rh, e.headers);
    if (status !== 204) rh['content-length'] = String(e.body.length);
  }
  rh.age = String(ageSeconds(e.timing, nowMs));
  rh['cache-status'] = cacheStatus;
  for (const m of x.responseMods) rh = modifyHeaders(rh, m);
  Object.assign(rh, x.corsHeaders, x.limitHeaders);
  x.res.writeHead(status, rh as OutgoingHttpHeaders);
  if (status === 304 || status === 204 || x.req.method === 'HEAD') x.res.end();
  else x.res.end(e.body);
}
