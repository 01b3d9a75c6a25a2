// Plan quotas with the `redis` backend against a real redis-server started by the test (a free
// loopback port, no persistence, its own directory): two gateway replicas share one exact count
// over several routes, a restarted gateway keeps it, a stopped Redis lets requests flow on local
// counting (counted in a metric), and once Redis is back the count is exact again.
import t from 'tap';
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, request, type GatewayProc } from '../../support/gateway-mesh.js';
import { get, metric } from '../../support/local-mesh.js';
import { hashKey } from '../../../gateway/policies/api-key.js';
import { freePort, startRedis, stopRedis } from '../../support/redis-server.js';

const doc = (apiVersion: string, kind: string, name: string, spec: string): string => `---
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: ${name}, namespace: test }
spec:
${spec}`;
const routes = [
  doc('gateway.networking.k8s.io/v1', 'Gateway', 'edge', `  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`),
  doc('gateway.networking.k8s.io/v1', 'HTTPRoute', 'orders', `  parentRefs: [{ name: edge }]
  hostnames: [orders.test]
  rules:
    - { matches: [{ path: { type: PathPrefix, value: /a } }], backendRefs: [{ name: app, port: 80 }] }
    - { matches: [{ path: { type: PathPrefix, value: /b } }], backendRefs: [{ name: app, port: 80 }] }
`),
  doc('gateway.networking.k8s.io/v1', 'HTTPRoute', 'catalogue', `  parentRefs: [{ name: edge }]
  hostnames: [catalogue.test]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`),
  doc('weft.dev/v1alpha1', 'ApiKeyPolicy', 'keys', `  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: edge }
`),
  doc('weft.dev/v1alpha1', 'Plan', 'gold', `  limits: [{ requests: 100, per: minute }]
`),
  doc('weft.dev/v1alpha1', 'Consumer', 'alice', `  plan: gold
  apiKeys: [{ keySha256: ${hashKey('alice-key')} }]
`),
  doc('weft.dev/v1alpha1', 'Consumer', 'bob', `  plan: gold
  apiKeys: [{ keySha256: ${hashKey('bob-key')} }]
`),
].join('');

t.test('redis quota backend', async (t) => {
  const mesh = await GatewayMesh.create();
  const redisDir = join(mesh.dir, 'redis');
  await mkdir(redisDir);
  const port = await freePort();
  let redis = await startRedis(port, redisDir);
  t.teardown(async () => {
    await stopRedis(redis);
    await mesh.close();
  });
  await mesh.addService('app', 2);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const env = { WEFT_GATEWAY_QUOTA_BACKEND: 'redis', WEFT_GATEWAY_QUOTA_REDIS_URL: `redis://127.0.0.1:${port}` };
  const gws: GatewayProc[] = [await mesh.startGateway(file, env), await mesh.startGateway(file, env)];
  const targets: [string, string][] = [['orders.test', '/a/x'], ['orders.test', '/b/y'], ['catalogue.test', '/']];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  t.teardown(() => agent.destroy());
  const call = (gw: GatewayProc, i: number, key: string) => {
    const [host, path] = targets[i % targets.length] as [string, string];
    return request(`${gw.http}${path}`, { headers: { host, 'x-api-key': key }, agent });
  };
  // 1,000 requests, 70 % to the first replica and 30 % to the second, over three rules of two routes.
  const burst = async (key: string): Promise<{ ok: number; limited: number; statuses: string }> => {
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => call(gws[i % 10 < 7 ? 0 : 1] as GatewayProc, i, key)));
    const by = (s: number): number => results.filter((r) => r.status === s).length;
    return { ok: by(200), limited: by(429), statuses: JSON.stringify(Object.fromEntries([...new Set(results.map((r) => r.status))].map((s) => [s, by(s)]))) };
  };

  await t.test('two replicas, uneven traffic over several routes: exactly 100 of 1,000 pass', async (t) => {
    const r = await burst('alice-key');
    t.equal(r.ok, 100, `exactly 100 got 200 (${r.statuses})`);
    t.equal(r.limited, 900);
    for (const gw of gws) {
      const said = (await gw.log()).split('\n').filter((l) => l.includes('quota backend')).join('\n');
      t.equal(await metric(gw.admin, 'weft_gateway_quota_fallback_total'), 0, `Redis counted every request ${said}`);
    }
  });

  await t.test('a restarted gateway keeps the count', async (t) => {
    await (gws[0] as GatewayProc).stop();
    gws[0] = await mesh.startGateway(file, env);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(gws[0] as GatewayProc, i, 'alice-key')));
    t.same([...new Set(results.map((r) => r.status))], [429], 'still over after the restart');
    t.equal((await call(gws[0], 0, 'bob-key')).status, 200, 'another consumer is not');
    const usage = JSON.parse((await get(`${(gws[1] as GatewayProc).admin}/debug/usage`)).body) as { source: string; consumers: { consumer: string; windows: { used: number }[] }[] };
    t.equal(usage.source, 'redis', 'usage is read from Redis');
    t.same(usage.consumers.map((c) => [c.consumer, c.windows[0]?.used]), [['alice', 100], ['bob', 1]], "the other replica reports both replicas' use");
  });

  await t.test('Redis stopped: requests keep flowing on local counts, and the fallback is counted', async (t) => {
    await stopRedis(redis);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => call(gws[i % 2] as GatewayProc, i, 'bob-key')));
    t.same([...new Set(results.map((r) => r.status))], [200], 'fail-open: every request answered 200');
    for (const gw of gws) {
      t.ok((await metric(gw.admin, 'weft_gateway_quota_fallback_total', { mode: 'open' })) >= 20, 'each replica counted its fallbacks');
      t.equal(await metric(gw.admin, 'weft_gateway_quota_redis_up'), 0);
    }
    t.match(await (gws[1] as GatewayProc).log(), /quota backend unreachable; counting in this replica \(fail-open\)/, 'the change is logged');
  });

  await t.test('Redis back: exact again, without a restart', async (t) => {
    redis = await startRedis(port, redisDir);
    // Each replica reconnects by itself; a probe request per replica shows when it counts in Redis again.
    for (const gw of gws) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        await call(gw, 0, 'bob-key');
        if ((await metric(gw.admin, 'weft_gateway_quota_redis_up')) === 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      t.equal(await metric(gw.admin, 'weft_gateway_quota_redis_up'), 1, 'the replica counts in Redis again');
    }
    const before = await Promise.all(gws.map((gw) => metric(gw.admin, 'weft_gateway_quota_fallback_total')));
    // The new Redis started empty (no persistence): alice's count starts again, exact across replicas.
    const r = await burst('alice-key');
    t.equal(r.ok, 100, `exactly 100 got 200 (${r.statuses})`);
    t.same(await Promise.all(gws.map((gw) => metric(gw.admin, 'weft_gateway_quota_fallback_total'))), before, 'no fallback during the burst');
    t.match(await (gws[1] as GatewayProc).log(), /quota backend answers again/, 'the recovery is logged');
  });
});
