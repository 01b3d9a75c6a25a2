// The response cache on the gateway's admin port: GET /debug/cache (entries and bytes per
// CachePolicy) and POST /debug/cache/purge?route=<namespace>/<name>, from loopback clients only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { localOnlyRefusal } from '../../lib/local-only.js';
import { refuse } from '../respond.js';
import type { ResponseCaches } from './cache-policy.js';

/** GET /debug/cache: each CachePolicy's store. */
export function serveCacheDebug(res: ServerResponse, caches: ResponseCaches): void {
  const body = `${JSON.stringify({ stores: caches.describe() }, null, 2)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** POST /debug/cache/purge?route=ns/name: drops every stored response of that route. */
export function purgeCache(req: IncomingMessage, res: ServerResponse, caches: ResponseCaches): void {
  req.resume();
  const forbidden = localOnlyRefusal(req);
  if (forbidden) return refuse(res, forbidden.code, forbidden.message);
  const route = new URL(req.url ?? '/', 'http://admin').searchParams.get('route') ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(route)) return refuse(res, 'WEFT_ERR_CACHE_PURGE', `route must be <namespace>/<name>, not ${JSON.stringify(route)}`);
  // Memory stores answer at once; a Redis backend is purged for every replica at once.
  caches.purgeEverywhere(route).then(
    ({ memory, redis }) => {
      if (redis === undefined) return refuse(res, 'WEFT_ERR_CACHE_UNAVAILABLE', `the cache's Redis did not answer; ${memory} entries purged from memory`);
      const body = `${JSON.stringify({ route, purged: memory + redis })}\n`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    (err: unknown) => refuse(res, 'WEFT_ERR_CACHE_UNAVAILABLE', `purge failed: ${(err as Error).message}`),
  );
}
