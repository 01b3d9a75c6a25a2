// The cache's admin endpoints: a purge answers loopback clients only and needs a namespace/name route.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { purgeCache } from '../../../../gateway/cache/cache-admin.js';
import { ResponseCaches } from '../../../../gateway/cache/cache-policy.js';
import { parseCacheControl } from '../../../../gateway/cache/http-cache-rules.js';

t.test('a purge from a non-loopback address is refused 403 and drops nothing', async (t) => {
  const caches = new ResponseCaches();
  const store = caches.storeFor('CachePolicy ns/c', { defaultTtlMs: undefined, maxBytes: 10_000, maxEntryBytes: 1000, backend: 'memory' });
  store.store('k', {}, { status: 200, headers: {}, directives: parseCacheControl(undefined), body: Buffer.from('x'), timing: { initialAgeMs: 0, responseTimeMs: 0, lifetimeMs: 1000 }, route: 'ns/r' });
  // The peer address the handler sees, as a pod-address client would have it.
  let peer = '10.1.2.3';
  const server = http.createServer((req, res) => {
    Object.defineProperty(req.socket, 'remoteAddress', { value: peer, configurable: true });
    purgeCache(req, res, caches);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const post = (path: string) => fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`, { method: 'POST' });
  const refused = await post('/debug/cache/purge?route=ns/r');
  t.equal(refused.status, 403);
  t.equal(refused.headers.get('weft-error'), 'WEFT_ERR_ADMIN_FORBIDDEN');
  t.equal(store.entries, 1, 'nothing dropped');
  peer = '::ffff:127.0.0.1';
  const bad = await post('/debug/cache/purge?route=ns');
  t.equal(bad.status, 400);
  t.equal(bad.headers.get('weft-error'), 'WEFT_ERR_CACHE_PURGE', 'a route that is not namespace/name');
  peer = '::1';
  const ok = await post('/debug/cache/purge?route=ns/r');
  t.same(await ok.json(), { route: 'ns/r', purged: 1 }, 'from loopback');
  t.equal(store.entries, 0);
});
