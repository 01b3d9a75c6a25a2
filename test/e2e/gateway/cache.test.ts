// Response caching on the real gateway process, in front of a meshed echo backend that counts
// what it receives and sends back the response headers each request asks for (resp-<name>=value):
// hits, Age and Cache-Status, Vary, private and no-store, Authorization and consumers, revalidation
// with a 304 from the backend, a client's own If-None-Match, the byte cap's LRU eviction, an entry
// over maxEntryBytes, and purge by route on the admin port.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request, type GatewayProc } from '../../support/gateway-mesh.js';
import { hashKey } from '../../../gateway/policies/api-key.js';
import { metric } from '../../support/local-mesh.js';

const doc = (apiVersion: string, kind: string, name: string, spec: string): string => `---
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: ${name}, namespace: test }
spec:
${spec}`;
const route = (name: string, host: string): string => doc('gateway.networking.k8s.io/v1', 'HTTPRoute', name, `  parentRefs: [{ name: edge }]
  hostnames: [${host}]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`);
const cachePolicy = (name: string, target: string, spec: string): string => doc('weft.dev/v1alpha1', 'CachePolicy', name, `  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }
${spec}`);
const routes = [
  `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`,
  route('cached', 'cache.test'),
  route('small', 'small.test'),
  route('keyed', 'keyed.test'),
  cachePolicy('main', 'cached', '  maxBytes: 1000000\n  maxEntryBytes: 100000\n'),
  cachePolicy('small', 'small', '  maxBytes: 10000\n  maxEntryBytes: 5000\n'),
  cachePolicy('keyed', 'keyed', '  defaultTtl: 60s\n'),
  doc('weft.dev/v1alpha1', 'ApiKeyPolicy', 'keys', `  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: keyed }
  consumers: [{ name: alice, keySha256: ${hashKey('alice-key')} }, { name: bob, keySha256: ${hashKey('bob-key')} }]
`),
].join('');

type Answer = Awaited<ReturnType<typeof request>>;

t.test('response caching through the real gateway', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app', 1);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const gw: GatewayProc = await mesh.startGateway(file);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  t.teardown(() => agent.destroy());
  const url = (path: string, resp: Record<string, string> = {}): string => {
    const q = new URLSearchParams(Object.entries(resp).map(([k, v]) => [`resp-${k}`, v])).toString();
    return q ? `${path}?${q}` : path;
  };
  const get = (host: string, pathAndQuery: string, headers: Record<string, string> = {}): Promise<Answer> => request(`${gw.http}${pathAndQuery}`, { headers: { host, ...headers }, agent });
  // What the backend received for a path, in order (the conditional request of a revalidation included).
  const seen = (path: string) => mesh.received.filter((r) => r.url === path || r.url.startsWith(`${path}?`));

  await t.test('a cacheable GET: 100 requests, the backend is hit once; Age and Cache-Status on every hit', async (t) => {
    const path = url('/hits', { 'cache-control': 'max-age=60' });
    const first = await get('cache.test', path);
    t.equal(first.status, 200);
    t.equal(first.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'the first is a miss, stored');
    const rest = await Promise.all(Array.from({ length: 99 }, () => get('cache.test', path)));
    t.equal(seen('/hits').length, 1, 'the backend saw exactly one request of 100');
    t.same([...new Set(rest.map((r) => r.status))], [200]);
    t.ok(rest.every((r) => /^weft; hit; ttl=\d+$/.test(String(r.headers['cache-status']))), 'every other answer says hit');
    t.ok(rest.every((r) => r.body === first.body), 'with the stored body');
    t.equal(rest[0]?.headers['x-echo-backend'], 'app', "and the backend's headers");
    t.equal(rest[0]?.headers['content-type'], 'application/json');
    const age0 = Number(rest[0]?.headers.age);
    t.ok(age0 >= 0 && age0 <= 1, `Age ${age0} right after storing`);
    // Age follows the real clock: ask until it has moved on by a second (at most 3 s).
    let later: Answer | undefined;
    let polls = 0;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      polls++;
      later = await get('cache.test', path);
      if (Number(later.headers.age) > age0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(Number(later?.headers.age), age0 + 1, 'Age grows with the clock');
    const ttl = Number(/^weft; hit; ttl=(\d+)$/.exec(String(later?.headers['cache-status']))?.[1]);
    t.ok(ttl + age0 + 1 === 59 || ttl + age0 + 1 === 60, `and the ttl shrinks (ttl ${ttl} + Age ${age0 + 1} is the 60 s of max-age, rounded down)`);
    t.equal(seen('/hits').length, 1, 'still one backend request');
    t.ok((await metric(gw.admin, 'weft_gateway_requests_total', { route: 'test/cached/0', backend: 'cache' })) >= 99, 'the request metric counts the hits with backend="cache"');
    t.equal(await metric(gw.admin, 'weft_gateway_cache_requests_total', { policy: 'CachePolicy test/main', result: 'hit' }), 99 + polls, 'the cache metric counts every hit');
    t.equal(await metric(gw.admin, 'weft_gateway_cache_requests_total', { policy: 'CachePolicy test/main', result: 'miss' }), 1, 'and one miss');
    const forced = await get('cache.test', path, { 'cache-control': 'no-cache' });
    t.equal(forced.headers['cache-status'], 'weft; fwd=request; fwd-status=200; stored', 'a request with no-cache goes to the backend');
    t.equal(seen('/hits').length, 2);
  });

  await t.test("Age counts the backend's own Age and Date", async (t) => {
    const path = url('/aged', { 'cache-control': 'max-age=600', age: '100' });
    await get('cache.test', path);
    const hit = await get('cache.test', path);
    t.ok(Number(hit.headers.age) >= 100 && Number(hit.headers.age) <= 101, `Age ${hit.headers.age}: the 100 s the response had already spent in caches`);
    const dated = url('/dated', { 'cache-control': 'max-age=600', date: new Date(Date.now() - 30_000).toUTCString() });
    await get('cache.test', dated);
    const hit2 = await get('cache.test', dated);
    t.ok(Number(hit2.headers.age) >= 29 && Number(hit2.headers.age) <= 32, `Age ${hit2.headers.age}: Date 30 s ago`);
  });

  await t.test('Vary: Accept-Language stores two variants', async (t) => {
    const path = url('/vary', { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
    const en1 = await get('cache.test', path, { 'accept-language': 'en' });
    const fr1 = await get('cache.test', path, { 'accept-language': 'fr' });
    t.equal(fr1.headers['cache-status'], 'weft; fwd=vary-miss; fwd-status=200; stored', 'another language is a vary miss');
    const en2 = await get('cache.test', path, { 'accept-language': 'en' });
    const fr2 = await get('cache.test', path, { 'accept-language': 'fr' });
    t.match(en2.headers['cache-status'], /^weft; hit/);
    t.match(fr2.headers['cache-status'], /^weft; hit/);
    t.equal(echoed(en2.body)?.headers['accept-language'], 'en', 'each language gets its own variant');
    t.equal(echoed(fr2.body)?.headers['accept-language'], 'fr');
    t.equal(en2.body, en1.body);
    t.equal(fr2.body, fr1.body);
    t.equal(seen('/vary').length, 2, 'the backend was asked once per language');
  });

  await t.test('private and no-store are never served from the cache', async (t) => {
    for (const [name, cc] of [['private', 'private, max-age=60'], ['no-store', 'no-store, max-age=60']] as const) {
      const path = url(`/${name}`, { 'cache-control': cc });
      const answers = [await get('cache.test', path), await get('cache.test', path), await get('cache.test', path)];
      t.equal(seen(`/${name}`).length, 3, `${name}: every request reached the backend`);
      t.same(answers.map((a) => a.headers['cache-status']), Array(3).fill(`weft; fwd=miss; fwd-status=200; detail=${name}`), `${name}: Cache-Status says why`);
      t.ok(answers.every((a) => a.headers.age === undefined), `${name}: no Age`);
    }
  });

  await t.test('a request with Authorization: a non-public response is not shared; a public one is', async (t) => {
    const path = url('/authz', { 'cache-control': 'max-age=60' });
    const alice = await get('cache.test', path, { authorization: 'Bearer alice' });
    const bob = await get('cache.test', path, { authorization: 'Bearer bob' });
    t.equal(alice.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; detail=authorization');
    t.equal(echoed(bob.body)?.headers.authorization, 'Bearer bob', "bob gets the backend's answer to bob, not alice's");
    t.equal(seen('/authz').length, 2);
    // A response stored for a request without Authorization is not given to one with it either.
    await get('cache.test', path);
    const withAuth = await get('cache.test', path, { authorization: 'Bearer carol' });
    t.equal(echoed(withAuth.body)?.headers.authorization, 'Bearer carol', 'the stored anonymous answer is not used for a request with Authorization');
    t.equal(seen('/authz').length, 4);
    const pub = url('/authz-public', { 'cache-control': 'public, max-age=60' });
    await get('cache.test', pub, { authorization: 'Bearer alice' });
    const pubHit = await get('cache.test', pub, { authorization: 'Bearer bob' });
    t.match(pubHit.headers['cache-status'], /^weft; hit/, 'public: stored and shared (RFC 9111 3.5)');
    t.equal(seen('/authz-public').length, 1);
  });

  await t.test('on an authenticated route each consumer has its own entries', async (t) => {
    const path = url('/mine');
    const a1 = await get('keyed.test', path, { 'x-api-key': 'alice-key' });
    const b1 = await get('keyed.test', path, { 'x-api-key': 'bob-key' });
    const a2 = await get('keyed.test', path, { 'x-api-key': 'alice-key' });
    const b2 = await get('keyed.test', path, { 'x-api-key': 'bob-key' });
    t.equal(a1.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', "the route's defaultTtl makes a response without Cache-Control storable");
    t.equal(b1.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', "bob does not get alice's entry");
    t.match(a2.headers['cache-status'], /^weft; hit/);
    t.match(b2.headers['cache-status'], /^weft; hit/);
    t.equal(a2.body, a1.body);
    t.equal(b2.body, b1.body);
    t.equal(seen('/mine').length, 2, 'one backend request per consumer');
    t.equal((await get('keyed.test', path)).status, 401, 'no key: refused before the cache');
  });

  await t.test('after expiry the entry is revalidated with If-None-Match: the backend answers 304 and the entry is refreshed', async (t) => {
    const path = url('/reval', { 'cache-control': 'max-age=1', etag: '"v1"' });
    const first = await get('cache.test', path);
    t.equal(first.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored');
    // Ask until the entry has gone stale (max-age=1): answers before that are hits.
    let stale: Answer | undefined;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      const a = await get('cache.test', path);
      if (!String(a.headers['cache-status']).startsWith('weft; hit')) {
        stale = a;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(stale?.headers['cache-status'], 'weft; fwd=stale; fwd-status=304', 'stale: revalidated, the backend said 304');
    t.equal(stale?.status, 200, 'the client, which asked unconditionally, gets the stored 200');
    t.equal(stale?.body, first.body, 'with the stored body');
    const asked = seen('/reval');
    t.equal(asked.length, 2, 'the backend saw the first request and one revalidation');
    t.equal(asked[1]?.headers['if-none-match'], '"v1"', 'the revalidation carried If-None-Match with the stored ETag');
    const after = await get('cache.test', path);
    t.match(after.headers['cache-status'], /^weft; hit/, 'the refreshed entry is fresh again');
    t.equal(Number(after.headers.age), 0);
    t.equal(seen('/reval').length, 2);
  });

  await t.test("a client's own If-None-Match matching a fresh entry gets 304 from the gateway", async (t) => {
    const path = url('/etag', { 'cache-control': 'max-age=60', etag: '"e1"' });
    await get('cache.test', path);
    const cond = await get('cache.test', path, { 'if-none-match': 'W/"e1"' });
    t.equal(cond.status, 304);
    t.equal(cond.body, '');
    t.equal(cond.headers.etag, '"e1"');
    t.equal(cond.headers['cache-control'], 'max-age=60');
    t.match(cond.headers['cache-status'], /^weft; hit/);
    const other = await get('cache.test', path, { 'if-none-match': '"e0"' });
    t.equal(other.status, 200, 'another ETag: the full stored answer');
    t.equal(seen('/etag').length, 1, 'neither reached the backend');
  });

  await t.test('the byte cap evicts the least recently used; an entry over maxEntryBytes passes through uncached', async (t) => {
    // Each answer echoes the 3,000-byte header: about 3.6 kB stored, so two fit in 10,000 bytes and three do not.
    const pad = { 'x-pad': 'p'.repeat(3000) };
    const cc = { 'cache-control': 'max-age=60' };
    for (const p of ['/lru-a', '/lru-b']) t.equal((await get('small.test', url(p, cc), pad)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', `${p} stored`);
    t.match((await get('small.test', url('/lru-a', cc), pad)).headers['cache-status'], /^weft; hit/, 'a is used again: b is now the least recently used');
    await get('small.test', url('/lru-c', cc), pad);
    t.match((await get('small.test', url('/lru-a', cc), pad)).headers['cache-status'], /^weft; hit/, 'a is still stored');
    t.match((await get('small.test', url('/lru-c', cc), pad)).headers['cache-status'], /^weft; hit/, 'c is stored');
    t.equal((await get('small.test', url('/lru-b', cc), pad)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'b was evicted');
    t.same([seen('/lru-a').length, seen('/lru-b').length, seen('/lru-c').length], [1, 2, 1]);
    const store = (JSON.parse((await request(`${gw.admin}/debug/cache`)).body) as { stores: { policy: string; bytes: number; maxBytes: number; evictions: number }[] }).stores.find((s) => s.policy === 'CachePolicy test/small');
    t.ok(store && store.bytes <= store.maxBytes && store.evictions >= 2, `the store stays under its cap (${JSON.stringify(store)})`);
    t.equal(await metric(gw.admin, 'weft_gateway_cache_evictions_total', { policy: 'CachePolicy test/small' }), store?.evictions, 'evictions are a metric');
    t.equal(await metric(gw.admin, 'weft_gateway_cache_bytes', { policy: 'CachePolicy test/small' }), store?.bytes, 'and the bytes charged');
    const big = await get('small.test', url('/big', cc), { 'x-pad': 'p'.repeat(6000) });
    t.equal(big.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; detail=too-large');
    t.ok(big.body.length > 6000, 'and is answered whole');
    await get('small.test', url('/big', cc), { 'x-pad': 'p'.repeat(6000) });
    t.equal(seen('/big').length, 2, 'it was not stored');
    // Bodies of unknown length: kept while they stream, stored only when they end within maxEntryBytes.
    const chunked = { 'cache-control': 'max-age=60', 'transfer-encoding': 'chunked' };
    const bigChunked = await get('small.test', url('/chunked-big', chunked), { 'x-pad': 'p'.repeat(6000) });
    t.equal(bigChunked.headers['transfer-encoding'], 'chunked', 'the length was not known ahead');
    t.equal(bigChunked.headers['cache-status'], 'weft; fwd=miss; fwd-status=200', 'not said to be stored');
    t.equal(echoed(bigChunked.body)?.headers['x-pad'], 'p'.repeat(6000), 'the client got the whole body');
    await get('small.test', url('/chunked-big', chunked), { 'x-pad': 'p'.repeat(6000) });
    t.equal(seen('/chunked-big').length, 2, 'past maxEntryBytes while streaming: not stored');
    const smallChunked = await get('small.test', url('/chunked-small', chunked));
    const again = await get('small.test', url('/chunked-small', chunked));
    t.match(again.headers['cache-status'], /^weft; hit/, 'within maxEntryBytes: stored once it ended');
    t.equal(again.body, smallChunked.body);
    t.equal(seen('/chunked-small').length, 1);
  });

  await t.test("purge by route on the admin port empties that route's entries only", async (t) => {
    const path = url('/hits', { 'cache-control': 'max-age=60' });
    t.match((await get('cache.test', path)).headers['cache-status'], /^weft; hit/);
    const bad = await request(`${gw.admin}/debug/cache/purge`, { method: 'POST' });
    t.equal(bad.status, 400);
    t.equal(bad.headers['weft-error'], 'WEFT_ERR_CACHE_PURGE');
    const purged = await request(`${gw.admin}/debug/cache/purge?route=test/cached`, { method: 'POST' });
    t.equal(purged.status, 200);
    const n = (JSON.parse(purged.body) as { purged: number }).purged;
    t.ok(n >= 8, `${n} entries of test/cached purged`);
    const before = seen('/hits').length;
    t.equal(before, 2);
    t.equal((await get('cache.test', path)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'the next request goes to the backend');
    t.equal(seen('/hits').length, before + 1);
    t.match((await get('small.test', url('/lru-b', { 'cache-control': 'max-age=60' }), { 'x-pad': 'p'.repeat(3000) })).headers['cache-status'], /^weft; hit/, "another route's entries stay");
  });

  await t.test('an HTTP/2 (h2c) client is answered from the same store', async (t) => {
    const path = url('/h2', { 'cache-control': 'max-age=60', etag: '"h2"' });
    const h1 = await get('cache.test', path);
    const session = http2.connect(gw.http);
    t.teardown(() => session.close());
    const h2get = (headers: Record<string, string> = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': path, ':authority': 'cache.test', ...headers });
        let body = '';
        let head: http2.IncomingHttpHeaders = {};
        stream.setEncoding('utf8');
        stream.on('response', (h) => (head = h));
        stream.on('data', (d: string) => (body += d));
        stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body }));
        stream.on('error', reject);
      });
    const hit = await h2get();
    t.equal(hit.status, 200);
    t.match(hit.headers['cache-status'], /^weft; hit/);
    t.equal(hit.body, h1.body);
    const cond = await h2get({ 'if-none-match': '"h2"' });
    t.equal(cond.status, 304, 'a conditional h2 request gets 304 from the gateway');
    t.equal(seen('/h2').length, 1);
  });

  await t.test('methods: POST invalidates the stored GET; HEAD is answered from it; Range bypasses', async (t) => {
    const path = url('/doc', { 'cache-control': 'max-age=60' });
    const full = await get('cache.test', path);
    const head = await request(`${gw.http}${path}`, { method: 'HEAD', headers: { host: 'cache.test' }, agent });
    t.match(head.headers['cache-status'], /^weft; hit/, 'HEAD from the stored GET');
    t.equal(head.headers['content-length'], String(Buffer.byteLength(full.body)));
    const ranged = await get('cache.test', path, { range: 'bytes=0-3' });
    t.equal(ranged.headers['cache-status'], 'weft; fwd=bypass; detail=range');
    await request(`${gw.http}${path}`, { method: 'POST', headers: { host: 'cache.test' }, body: 'x', agent });
    t.equal((await get('cache.test', path)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'after a POST the GET goes to the backend again');
  });
});
