// Response caching with `backend: redis` against a real redis-server started by the test (a free
// loopback port, no persistence, its own directory): two gateway replicas share one store in front
// of one meshed echo backend that counts what it receives; a purge or a POST on one replica empties
// the entry for both; a stopped Redis makes requests bypass the cache (still 200, counted, logged
// once); once Redis is back, responses are cached again without a restart.
import t, { type Test as Tap } from 'tap';
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, request, type GatewayProc } from '../../support/gateway-mesh.js';
import { metric } from '../../support/local-mesh.js';
import { freePort, startRedis, stopRedis } from '../../support/redis-server.js';

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
const cachePolicy = (name: string, target: string): string => doc('weft.dev/v1alpha1', 'CachePolicy', name, `  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${target} }
  backend: redis
  maxEntryBytes: 5000
`);
const routes = [
  doc('gateway.networking.k8s.io/v1', 'Gateway', 'edge', `  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`),
  route('cached', 'cache.test'),
  route('other', 'other.test'),
  cachePolicy('shared', 'cached'),
  cachePolicy('other', 'other'),
].join('');

type Answer = Awaited<ReturnType<typeof request>>;
interface StoreReport {
  policy: string;
  backend: string;
  stores: number;
  hits: number;
  bypasses: number;
}

t.test('redis response cache shared by two gateway replicas', async (t) => {
  const mesh = await GatewayMesh.create();
  const redisDir = join(mesh.dir, 'redis');
  await mkdir(redisDir);
  const port = await freePort();
  let redis = await startRedis(port, redisDir);
  t.teardown(async () => {
    await stopRedis(redis);
    await mesh.close();
  });
  await mesh.addService('app', 1);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const env = { WEFT_GATEWAY_CACHE_REDIS_URL: `redis://127.0.0.1:${port}`, WEFT_GATEWAY_CACHE_REDIS_TIMEOUT_MS: '300' };
  const gws: [GatewayProc, GatewayProc] = [await mesh.startGateway(file, env), await mesh.startGateway(file, env)];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  t.teardown(() => agent.destroy());
  const url = (path: string, resp: Record<string, string> = {}): string => {
    const q = new URLSearchParams(Object.entries(resp).map(([k, v]) => [`resp-${k}`, v])).toString();
    return q ? `${path}?${q}` : path;
  };
  const get = (gw: GatewayProc, host: string, path: string, method = 'GET'): Promise<Answer> => request(`${gw.http}${path}`, { method, headers: { host }, agent });
  const seen = (path: string) => mesh.received.filter((r) => r.url === path || r.url.startsWith(`${path}?`)).length;
  const report = async (gw: GatewayProc, policy: string): Promise<StoreReport | undefined> => {
    const r = await request(`${gw.admin}/debug/cache`);
    return (JSON.parse(r.body) as { stores: StoreReport[] }).stores.find((s) => s.policy === `CachePolicy test/${policy}`);
  };
  // Redis confirms a store after the client has its answer: wait for that event, not for a time.
  const stored = async (t: Tap, gw: GatewayProc, policy: string, n: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && ((await report(gw, policy))?.stores ?? 0) < n) await new Promise((r) => setTimeout(r, 20));
    t.ok(((await report(gw, policy))?.stores ?? 0) >= n, `${policy}: Redis confirmed ${n} stores`);
  };
  // Stores replica 0 has had confirmed, per policy.
  const storedOn0 = new Map<string, number>();
  const nextOn0 = (policy: string): number => {
    const n = (storedOn0.get(policy) ?? 0) + 1;
    storedOn0.set(policy, n);
    return n;
  };
  const missThenStored = async (t: Tap, gw: GatewayProc, host: string, path: string, policy: string): Promise<Answer> => {
    const a = await get(gw, host, path);
    t.equal(a.headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', `${path}: a miss, stored`);
    if (gw === gws[0]) await stored(t, gw, policy, nextOn0(policy));
    return a;
  };

  await t.test('100 GETs over both replicas: the backend is hit once; Age and a hit on both', async (t) => {
    const path = url('/hits', { 'cache-control': 'max-age=60', etag: '"v1"' });
    const first = await missThenStored(t, gws[0], 'cache.test', path, 'shared');
    const rest = await Promise.all(Array.from({ length: 99 }, (_, i) => get(gws[i % 2 === 0 ? 1 : 0], 'cache.test', path)));
    t.equal(seen('/hits'), 1, 'the backend saw exactly one request of 100');
    t.same([...new Set(rest.map((r) => r.status))], [200]);
    t.ok(rest.every((r) => /^weft; hit; ttl=\d+$/.test(String(r.headers['cache-status']))), 'every other answer says hit');
    t.ok(rest.every((r) => r.body === first.body), 'with the stored body');
    t.ok(rest.every((r) => /^\d+$/.test(String(r.headers.age))), 'and an Age');
    t.equal(rest[0]?.headers.etag, '"v1"', "and the backend's headers");
    const head = await get(gws[1], 'cache.test', path, 'HEAD');
    t.match(head.headers['cache-status'], /^weft; hit/, 'HEAD on the other replica: answered from the stored GET');
    t.equal(head.body, '', 'without a body');
    t.equal(seen('/hits'), 1);
    for (const [i, gw] of gws.entries()) {
      const r = await report(gw, 'shared');
      t.equal(r?.backend, 'redis');
      t.ok((r?.hits ?? 0) >= 49, `replica ${i} answered ${r?.hits} hits from Redis`);
      t.ok((await metric(gw.admin, 'weft_gateway_cache_requests_total', { policy: 'CachePolicy test/shared', result: 'hit' })) >= 49, `replica ${i} counts its hits`);
    }
  });

  await t.test('Vary: a variant stored by one replica answers on the other', async (t) => {
    const path = url('/vary', { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
    const ask = (gw: GatewayProc, lang: string) => request(`${gw.http}${path}`, { headers: { host: 'cache.test', 'accept-language': lang }, agent });
    t.equal((await ask(gws[0], 'en')).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored');
    await stored(t, gws[0], 'shared', nextOn0('shared'));
    t.equal((await ask(gws[1], 'fr')).headers['cache-status'], 'weft; fwd=vary-miss; fwd-status=200; stored', 'another language: a vary-miss');
    await stored(t, gws[1], 'shared', 1);
    t.match((await ask(gws[1], 'en')).headers['cache-status'], /^weft; hit/, 'en stored by replica 0 is a hit on replica 1');
    t.match((await ask(gws[0], 'fr')).headers['cache-status'], /^weft; hit/, 'fr stored by replica 1 is a hit on replica 0');
    t.equal(seen('/vary'), 2, 'the backend was asked once per language');
  });

  await t.test('a stale entry is revalidated by the other replica (304) and refreshed for both', async (t) => {
    const path = url('/reval', { 'cache-control': 'max-age=1', etag: '"r1"' });
    const first = await missThenStored(t, gws[0], 'cache.test', path, 'shared');
    // Ask replica 1 until the entry has gone stale (max-age=1): answers before that are hits.
    let stale: Answer | undefined;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      const a = await get(gws[1], 'cache.test', path);
      if (!String(a.headers['cache-status']).startsWith('weft; hit')) {
        stale = a;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(stale?.headers['cache-status'], 'weft; fwd=stale; fwd-status=304', 'stale: revalidated, the backend said 304');
    t.equal(stale?.body, first.body, 'the stored body');
    const asked = mesh.received.filter((r) => r.url.startsWith('/reval?'));
    t.equal(asked.length, 2, 'the backend saw the first request and one revalidation');
    t.equal(asked[1]?.headers['if-none-match'], '"r1"', 'with If-None-Match');
    await stored(t, gws[1], 'shared', 2);
    const after = await get(gws[0], 'cache.test', path);
    t.match(after.headers['cache-status'], /^weft; hit/, 'the entry refreshed through replica 1 is fresh on replica 0');
    t.equal(Number(after.headers.age), 0);
  });

  await t.test('purge on one replica empties the route for both; a POST invalidates for both', async (t) => {
    const p1 = url('/p1', { 'cache-control': 'max-age=60' });
    const q = url('/q', { 'cache-control': 'max-age=60' });
    await missThenStored(t, gws[0], 'cache.test', p1, 'shared');
    await missThenStored(t, gws[0], 'other.test', q, 'other');
    t.match((await get(gws[1], 'cache.test', p1)).headers['cache-status'], /^weft; hit/);
    const purged = await request(`${gws[1].admin}/debug/cache/purge?route=test/cached`, { method: 'POST' });
    t.equal(purged.status, 200);
    const n = (JSON.parse(purged.body) as { purged: number }).purged;
    t.ok(n >= 3, `${n} entries of test/cached purged (hits, two vary variants, p1)`);
    t.equal((await get(gws[0], 'cache.test', p1)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'replica 0 lost the entry too');
    t.equal(seen('/p1'), 2);
    t.match((await get(gws[0], 'other.test', q)).headers['cache-status'], /^weft; hit/, "another route's entry is kept");
    await stored(t, gws[0], 'shared', nextOn0('shared'));
    t.match((await get(gws[1], 'cache.test', p1)).headers['cache-status'], /^weft; hit/);
    t.equal((await get(gws[1], 'cache.test', url('/p1', { 'cache-control': 'max-age=60' }), 'POST')).status, 200);
    t.equal((await get(gws[0], 'cache.test', p1)).headers['cache-status'], 'weft; fwd=miss; fwd-status=200; stored', 'a POST on replica 1 dropped it for replica 0');
    await stored(t, gws[0], 'shared', nextOn0('shared'));
  });

  await t.test('Redis stopped: every request still answered 200, bypassing the cache, counted and logged once', async (t) => {
    await stopRedis(redis);
    const before = seen('/hits');
    const path = url('/hits', { 'cache-control': 'max-age=60', etag: '"v1"' });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => get(gws[i % 2 === 0 ? 0 : 1], 'cache.test', path)));
    t.same([...new Set(results.map((r) => r.status))], [200], 'every request answered 200');
    t.same([...new Set(results.map((r) => r.headers['cache-status']))], ['weft; fwd=bypass; detail=redis-unavailable']);
    t.equal(seen('/hits') - before, 40, 'each went to the backend');
    const purge = await request(`${gws[0].admin}/debug/cache/purge?route=test/cached`, { method: 'POST' });
    t.equal(purge.status, 503, 'a purge that cannot reach Redis says so');
    t.match(purge.body, /WEFT_ERR_CACHE_UNAVAILABLE/);
    for (const [i, gw] of gws.entries()) {
      t.equal(await metric(gw.admin, 'weft_gateway_cache_requests_total', { policy: 'CachePolicy test/shared', result: 'bypass' }), 20, `replica ${i} counted its 20 bypasses`);
      const lines = (await gw.log()).split('\n').filter((l) => l.includes('response cache backend unreachable'));
      t.equal(lines.length, 1, `replica ${i} logged the outage once`);
    }
  });

  await t.test('Redis back: cached and shared again, without a restart', async (t) => {
    redis = await startRedis(port, redisDir);
    const path = url('/back', { 'cache-control': 'max-age=60' });
    // Each replica reconnects by itself; ask until it no longer bypasses.
    for (const [i, gw] of gws.entries()) {
      let status = '';
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        status = String((await get(gw, 'other.test', url(`/probe${i}`))).headers['cache-status']);
        if (!status.includes('redis-unavailable')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.notMatch(status, /redis-unavailable/, `replica ${i} uses Redis again (${status})`);
      t.match(await gw.log(), /response cache backend answers again/, 'the recovery is logged');
    }
    // The new Redis started empty (no persistence).
    await missThenStored(t, gws[0], 'cache.test', path, 'shared');
    const rest = await Promise.all(Array.from({ length: 10 }, (_, i) => get(gws[i % 2 === 0 ? 0 : 1], 'cache.test', path)));
    t.ok(rest.every((r) => /^weft; hit/.test(String(r.headers['cache-status']))), 'both replicas answer from Redis');
    t.equal(seen('/back'), 1);
  });

  await t.test('Redis hung (SIGSTOP): requests bypass after WEFT_GATEWAY_CACHE_REDIS_TIMEOUT_MS, then cache again', async (t) => {
    const path = url('/hung', { 'cache-control': 'max-age=60' });
    redis.kill('SIGSTOP');
    try {
      const started = Date.now();
      const a = await get(gws[1], 'cache.test', path);
      const took = Date.now() - started;
      t.equal(a.status, 200);
      t.equal(a.headers['cache-status'], 'weft; fwd=bypass; detail=redis-unavailable');
      t.ok(took >= 250 && took < 3000, `answered after the 300 ms timeout (${took} ms)`);
    } finally {
      redis.kill('SIGCONT');
    }
    let status = '';
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      status = String((await get(gws[1], 'cache.test', path)).headers['cache-status']);
      if (/^weft; (hit|fwd=miss; fwd-status=200; stored)/.test(status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(status, /^weft; (hit|fwd=miss; fwd-status=200; stored)/, 'Redis answering again: cached again');
  });

  await t.test('a gateway without WEFT_GATEWAY_CACHE_REDIS_URL does not cache a redis policy', async (t) => {
    const bare = await mesh.startGateway(file);
    const path = url('/bare', { 'cache-control': 'max-age=60' });
    for (let i = 0; i < 2; i++) t.equal((await get(bare, 'cache.test', path)).headers['cache-status'], 'weft; fwd=bypass; detail=no-redis');
    t.equal(seen('/bare'), 2);
    await bare.stop();
  });
});
