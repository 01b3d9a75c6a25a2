// The response cache on the gateway's admin port: GET /debug/cache (entries and bytes per
// CachePolicy) and POST /debug/cache/purge?route=<namespace>/<name>, from loopback clients only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { refuse } from '../respond.js';
import type { ResponseCaches } from './cache-policy.js';

// The admin port may listen on the pod address: only a client on the pod itself may purge.
function fromLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.replace(/^::ffff:/i, '');
  return a === '::1' || a.startsWith('127.');
}

/** GET /debug/cache: each CachePolicy's store. */
export function serveCacheDebug(res: ServerResponse, caches: ResponseCaches): void {
  const body = `${JSON.stringify({ stores: caches.describe() }, null, 2)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** POST /debug/cache/purge?route=ns/name: drops every stored response of that route. */
export function purgeCache(req: IncomingMessage, res: ServerResponse, caches: ResponseCaches): void {
  req.resume();
  const from = req.socket.remoteAddress;
  if (!fromLoopback(from)) return refuse(res, 'WEFT_ERR_ADMIN_FORBIDDEN', `/debug/cache/purge answers loopback clients only, not ${from ?? 'an unknown address'}`);
  const route = new URL(req.url ?? '/', 'http://admin').searchParams.get('route') ?? '';
  if (!/^[^/\s]+\/[^/\s]+$/.test(route)) return refuse(res, 'WEFT_ERR_CACHE_PURGE', `route must be <namespace>/<name>, not ${JSON.stringify(route)}`);
  const body = `${JSON.stringify({ route, purged: caches.purgeRoute(route) })}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
