// HTTPRoute `retry` on the real gateway process: the listed status codes are retried as many
// times as `attempts` says (on the mesh's retry engine, within the service's budget); other
// codes, and a POST, are not.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, request } from '../../support/gateway-mesh.js';
import { metric } from '../../support/local-mesh.js';

function route(name: string, host: string, retry: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [${host}]
  rules:
    - backendRefs: [{ name: app, port: 80 }]
      retry: ${retry}
`;
}

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: All } } }
${route('twice', 'twice.test', '{ codes: [503], attempts: 2, backoff: 1ms }')}${route('once', 'once.test', '{ codes: [502, 503], attempts: 1 }')}${route('other', 'other.test', '{ codes: [500], attempts: 2 }')}`;

const mesh = await GatewayMesh.create();
t.teardown(() => mesh.close());
await mesh.addService('app', 2);
const file = join(mesh.dir, 'routes.yaml');
await writeFile(file, ROUTES);
const gw = await mesh.startGateway(file);

// Requests the backends received for a marker in the URL.
const upstreamCount = (marker: string): number => mesh.received.filter((r) => r.url.includes(marker)).length;

t.test('a listed code is retried `attempts` times, on both replicas, then answered', async (t) => {
  const res = await request(`${gw.http}/?status=503&m=twice-get`, { headers: { host: 'twice.test' } });
  t.equal(res.status, 503, 'the last answer goes to the client');
  t.equal(upstreamCount('m=twice-get'), 3, 'the first attempt and two retries');
  t.equal(new Set(mesh.received.filter((r) => r.url.includes('m=twice-get')).map((r) => r.pod)).size, 2, 'a retry goes to the other replica');
  t.ok((await metric(gw.admin, 'weft_retries_total', { service: 'test/app:80', reason: 'status_503' })) >= 2, 'retries counted by reason');
});

t.test('attempts: 1 retries once', async (t) => {
  const res = await request(`${gw.http}/?status=502&m=once-get`, { headers: { host: 'once.test' } });
  t.equal(res.status, 502);
  t.equal(upstreamCount('m=once-get'), 2);
});

t.test('a code not listed is not retried', async (t) => {
  const res = await request(`${gw.http}/?status=503&m=other-get`, { headers: { host: 'other.test' } });
  t.equal(res.status, 503);
  t.equal(upstreamCount('m=other-get'), 1);
});

t.test('a success is not retried, and a POST is not retried (not idempotent)', async (t) => {
  const ok = await request(`${gw.http}/?m=twice-ok`, { headers: { host: 'twice.test' } });
  t.equal(ok.status, 200);
  t.equal(upstreamCount('m=twice-ok'), 1);
  const post = await request(`${gw.http}/?status=503&m=twice-post`, { method: 'POST', headers: { host: 'twice.test', 'content-type': 'text/plain' }, body: 'hello' });
  t.equal(post.status, 503);
  t.equal(upstreamCount('m=twice-post'), 1);
});

t.test('a PUT with a small body is retried with its body', async (t) => {
  const put = await request(`${gw.http}/?status=503&m=twice-put`, { method: 'PUT', headers: { host: 'twice.test', 'content-type': 'text/plain' }, body: 'x'.repeat(1000) });
  t.equal(put.status, 503);
  const seen = mesh.received.filter((r) => r.url.includes('m=twice-put'));
  t.equal(seen.length, 3);
  t.same(seen.map((r) => r.bodyBytes), [1000, 1000, 1000], 'each attempt carried the whole body');
});
