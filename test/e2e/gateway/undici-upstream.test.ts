// The gateway with WEFT_GATEWAY_UPSTREAM_CLIENT=undici (the default client into the mesh) on real
// processes: plain requests carry the same head to the backend and the same answer back as on the
// node:http path; bodies (sized, chunked, over the body limit) stream through; large answers stream with
// backpressure; timeouts, a backend that cannot be reached and a client that leaves mid-answer are
// answered as on the node:http path, and the gateway keeps serving afterwards.
import t from 'tap';
import http from 'node:http';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';
import { hashKey } from '../../../gateway/policies/api-key.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [api.test]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 300ms }
      backendRefs: [{ name: app, port: 80 }]
    - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { remove: [x-remove-me], set: [{ name: x-edge, value: undici }] } }]
      backendRefs: [{ name: app, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ghost, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [ghost.test]
  rules: [{ backendRefs: [{ name: ghost, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: upload, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [upload.test]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: BodyLimitPolicy
metadata: { name: upload, namespace: test }
spec: { targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: upload }, maxBytes: 300000 }
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: api }, consumers: [{ name: alice, keySha256: ${hashKey('k-alice')} }] }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: limit, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: api }, requests: 1000, window: 1h, key: { type: Consumer } }
`;

t.test('the undici upstream client', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app');
  // A Service whose only endpoint has no sidecar listening: dialling it is refused.
  const endpoints = JSON.parse(await readFile(mesh.endpointsFile, 'utf8')) as { services: unknown[] };
  endpoints.services.push({
    name: 'ghost',
    namespace: 'test',
    ports: [{ port: 80, targetPort: 8080 }],
    endpoints: [{ address: mesh.address(), identity: 'spiffe://cluster.local/ns/test/sa/ghost', ready: true, podName: 'ghost-0' }],
  });
  await writeFile(`${mesh.endpointsFile}.tmp`, JSON.stringify(endpoints));
  await rename(`${mesh.endpointsFile}.tmp`, mesh.endpointsFile);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw = await mesh.startGateway(file, { WEFT_GATEWAY_UPSTREAM_CLIENT: 'undici' });
  const api = { host: 'api.test', 'x-api-key': 'k-alice' };

  t.test('a plain GET carries the mesh head to the backend and the filtered answer back', async (t) => {
    const res = await request(`${gw.http}/things?a=1`, { headers: { ...api, 'x-custom': 'yes', connection: 'keep-alive, x-hop', 'x-hop': 'no' } });
    t.equal(res.status, 200);
    const seen = echoed(res.body);
    t.equal(seen?.url, '/things?a=1');
    t.equal(seen?.headers['x-custom'], 'yes', 'end-to-end headers are sent on');
    t.notOk(seen?.headers['x-hop'], 'a header named in Connection is not');
    t.notOk(seen?.headers['x-api-key'], 'the API key never reaches the backend');
    t.equal(seen?.headers['x-weft-consumer'], 'alice');
    t.match(seen?.headers['x-forwarded-for'], /^127\./);
    t.equal(seen?.headers['x-forwarded-host'], 'api.test');
    t.equal(seen?.host, 'api.test');
    t.equal(res.headers['x-edge'], 'undici', 'response filters apply');
    t.notOk(res.headers['x-remove-me']);
    t.equal(res.headers['ratelimit-limit'], '1000', 'the rate limit headers go on the answer');
    t.equal(res.headers['x-echo-backend'], 'app');
  });

  t.test("a backend's own error status and a chunked answer pass through", async (t) => {
    const failed = await request(`${gw.http}/x?status=503`, { headers: api });
    t.equal(failed.status, 503);
    t.notOk(failed.headers['weft-error'], 'not a gateway error');
    const chunked = await request(`${gw.http}/c?resp-transfer-encoding=chunked`, { headers: api });
    t.equal(chunked.status, 200);
    t.equal(echoed(chunked.body)?.url, '/c?resp-transfer-encoding=chunked');
  });

  t.test('a request with a body arrives whole', async (t) => {
    const body = Buffer.alloc(100_000, 7);
    const res = await request(`${gw.http}/upload`, { method: 'POST', headers: { ...api, 'content-length': String(body.length) }, body });
    t.equal(res.status, 200);
    t.equal(echoed(res.body)?.bodyBytes, body.length);
    const json = JSON.stringify({ text: 'h\u00e9llo "quoted" \\ end', n: [1, 2, 3] });
    const sent = await request(`${gw.http}/json`, { method: 'PUT', headers: { ...api, 'content-type': 'application/json' }, body: json });
    t.equal(echoed(sent.body)?.body, json, 'the bytes the backend read are the bytes sent');
  });

  // A chunked body of `total` bytes written in 16 KiB pieces, waiting for the gateway to take each.
  const chunkedPost = (host: string, total: number): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${gw.http}/chunked`, { method: 'POST', headers: { host, 'x-api-key': 'k-alice', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      let left = total;
      const more = (): void => {
        while (left > 0) {
          const n = Math.min(left, 16 * 1024);
          left -= n;
          if (!req.write(Buffer.alloc(n, 1))) {
            req.once('drain', more);
            return;
          }
        }
        req.end();
      };
      more();
    });

  t.test('a chunked body under the limit streams whole; one over it is refused with 413', async (t) => {
    const ok = await chunkedPost('upload.test', 250_000);
    t.equal(ok.status, 200);
    t.equal(echoed(ok.body)?.bodyBytes, 250_000);
    const big = await chunkedPost('upload.test', 2_000_000).catch((e: NodeJS.ErrnoException) => ({ status: -1, body: String(e.code) }));
    // The gateway answers as soon as the count passes the limit; the client may see the answer or,
    // still writing, a reset. Either way the gateway serves on.
    if (big.status !== -1) t.equal(big.status, 413, 'refused as too large');
    else t.pass(`the client saw ${big.body} while still sending`);
    t.equal((await chunkedPost('upload.test', 1000)).status, 200, 'the gateway keeps serving');
  });

  t.test('a large answer streams whole to a slow reader', async (t) => {
    const bytes = 8 * 1024 * 1024;
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${gw.http}/big?downloadBytes=${bytes}`, { headers: api, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          // Reads in bursts, so the gateway's writes to this client fill up and must wait.
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    t.equal(got, bytes);
  });

  t.test("the route's timeout answers 504 and the gateway keeps serving", async (t) => {
    const res = await request(`${gw.http}/slow?sleepMs=2000`, { headers: api });
    t.equal(res.status, 504);
    t.equal(res.headers['weft-error'], 'WEFT_ERR_TIMEOUT');
    t.equal((await request(`${gw.http}/slow`, { headers: api })).status, 200);
  });

  t.test('a backend that cannot be reached is answered with a weft error, not a crash', async (t) => {
    const res = await request(`${gw.http}/`, { headers: { host: 'ghost.test' } });
    t.equal(res.status, 502);
    t.equal(res.headers['weft-error'], 'WEFT_ERR_CONNECT');
  });

  t.test('a client that leaves mid-answer costs only its own request', async (t) => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${gw.http}/big?downloadBytes=${32 * 1024 * 1024}`, { headers: api, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      setTimeout(() => reject(new Error('no data')), 10_000).unref();
    });
    const after = await request(`${gw.http}/after`, { headers: api });
    t.equal(after.status, 200);
    t.equal(echoed(after.body)?.url, '/after');
  });
});
