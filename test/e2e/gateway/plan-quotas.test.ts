// Plan quotas on the real gateway process (local backend, one replica): Consumers from the route
// file, a Plan of 100 a minute and 1,000 a day covering two routes (three rules). 1,000 concurrent
// requests of one consumer spread over those rules let exactly 100 through; the 429s carry the
// IETF RateLimit headers and Retry-After; another consumer and an uncovered route are not affected.
import t from 'tap';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';
import { get as plainGet, metric } from '../../support/local-mesh.js';
import { hashKey } from '../../../gateway/policies/api-key.js';

const doc = (apiVersion: string, kind: string, name: string, spec: string): string => `---
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: ${name}, namespace: test }
spec:
${spec}`;
const routes = [
  `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`,
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
  doc('gateway.networking.k8s.io/v1', 'HTTPRoute', 'free', `  parentRefs: [{ name: edge }]
  hostnames: [free.test]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`),
  doc('weft.dev/v1alpha1', 'ApiKeyPolicy', 'keys', `  targetRef: { group: gateway.networking.k8s.io, kind: Gateway, name: edge }
`),
  doc('weft.dev/v1alpha1', 'ApiKeyPolicy', 'free-keys', `  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: free }
  consumers: [{ name: legacy, keySha256: ${hashKey('legacy-key')} }]
`),
  doc('weft.dev/v1alpha1', 'Plan', 'gold', `  limits: [{ requests: 1000, per: day }, { requests: 100, per: minute }]
  routes: [{ name: orders }, { kind: HTTPRoute, name: catalogue }]
`),
  doc('weft.dev/v1alpha1', 'Consumer', 'alice', `  plan: gold
  apiKeys: [{ keySha256: ${hashKey('alice-key')} }]
`),
  doc('weft.dev/v1alpha1', 'Consumer', 'bob', `  plan: gold
  apiKeys: [{ keySha256: ${hashKey('bob-key')} }]
`),
].join('');

t.test('plan quotas, local backend', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app', 2);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const gw = await mesh.startGateway(file);
  const get = (host: string, path: string, key: string, agent?: http.Agent) => request(`${gw.http}${path}`, { headers: { host, 'x-api-key': key }, ...(agent ? { agent } : {}) });

  await t.test('1,000 concurrent requests of one consumer over three rules of two routes: exactly 100 pass', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
    const targets: [string, string][] = [['orders.test', '/a/x'], ['orders.test', '/b/y'], ['catalogue.test', '/']];
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => {
      const [host, path] = targets[i % 3] as [string, string];
      return get(host, path, 'alice-key', agent);
    }));
    agent.destroy();
    const by = (s: number): number => results.filter((r) => r.status === s).length;
    const statuses = JSON.stringify(Object.fromEntries([...new Set(results.map((r) => r.status))].map((s) => [s, by(s)])));
    t.equal(by(200), 100, `exactly 100 passed (statuses ${statuses})`);
    t.equal(by(429), 900, 'the other 900 got 429');
    const passedOn = new Set(results.filter((r) => r.status === 200).map((r) => `${echoed(r.body)?.host}${echoed(r.body)?.url.slice(0, 2)}`));
    t.ok(passedOn.size >= 2, `the 100 were spread over the plan's routes (${[...passedOn].join(', ')})`);
    const refused = results.find((r) => r.status === 429);
    t.equal(refused?.headers['weft-error'], 'WEFT_ERR_RATE_LIMITED');
    t.equal(refused?.headers['ratelimit-limit'], '100', 'the minute window refused');
    t.equal(refused?.headers['ratelimit-remaining'], '0');
    t.equal(refused?.headers['ratelimit-policy'], '100;w=60, 1000;w=86400');
    const retry = Number(refused?.headers['retry-after']);
    t.ok(retry >= 59 && retry <= 62, `Retry-After ${retry} s: when the minute's requests stop counting`);
    const passed = results.find((r) => r.status === 200);
    t.equal(passed?.headers['ratelimit-policy'], '100;w=60, 1000;w=86400', 'an admitted answer carries the policy too');
    t.equal(echoed(passed?.body ?? '')?.headers['x-weft-consumer'], 'alice', 'the consumer is named upstream');
  });

  await t.test('another consumer counts apart; a route outside the plan is not counted', async (t) => {
    const bob = await get('orders.test', '/a', 'bob-key');
    t.equal(bob.status, 200, 'bob has his own count');
    t.equal(bob.headers['ratelimit-remaining'], '99');
    const free = await get('free.test', '/', 'alice-key');
    t.equal(free.status, 200, 'the free route is not in the plan');
    t.equal(free.headers['ratelimit-policy'], undefined, 'and carries no plan headers');
    t.equal((await get('orders.test', '/a', 'alice-key')).status, 429, 'alice is still over on the plan routes');
    t.equal((await get('free.test', '/', 'legacy-key')).status, 200, "a key of the policy's own list");
  });

  await t.test('usage: consumer and plan on the request metric (bounded), and /debug/usage against the quotas', async (t) => {
    const m = (labels: Record<string, string>): Promise<number> => metric(gw.admin, 'weft_gateway_requests_total', labels);
    t.equal(await m({ consumer: 'alice', plan: 'test/gold', status_code: '200' }), 101, "alice's 100 on the plan and 1 on the free route");
    t.equal(await m({ consumer: 'alice', plan: 'test/gold', status_code: '429' }), 901);
    t.equal(await m({ consumer: 'bob', plan: 'test/gold', status_code: '200' }), 1);
    t.equal(await m({ consumer: 'unknown', plan: '-', status_code: '200' }), 1, 'a caller that is not a Consumer object folds into one value');
    t.equal(await m({ consumer: 'legacy' }), 0, 'and is never a label value of its own');
    const usage = JSON.parse((await plainGet(`${gw.admin}/debug/usage`)).body) as { source: string; consumers: { consumer: string; plan: string; windows: { per: string; limit: number; used: number; remaining: number }[] }[] };
    t.equal(usage.source, 'local');
    t.same(usage.consumers.find((c) => c.consumer === 'alice'), {
      consumer: 'alice',
      namespace: 'test',
      plan: 'test/gold',
      windows: [{ per: 'minute', limit: 100, used: 100, remaining: 0 }, { per: 'day', limit: 1000, used: 100, remaining: 900 }],
    });
    t.match(usage.consumers.find((c) => c.consumer === 'bob'), { windows: [{ per: 'minute', used: 1, remaining: 99 }, { per: 'day', used: 1 }] });
  });
});
