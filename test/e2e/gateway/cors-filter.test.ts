// The Gateway API `CORS` filter through the real `weft gateway`: preflights answered at the edge
// (200 with the allow headers, or 403 without them) and never forwarded; actual requests reach
// the meshed backend and come back with the CORS headers for an allowed origin only.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cors, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [cors.test]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /cors-1 } }]
      filters:
        - type: CORS
          cors:
            allowOrigins: ["https://www.foo.com", "https://*.bar.com"]
            allowMethods: [GET, OPTIONS]
            allowHeaders: [x-header-1, x-header-2]
            exposeHeaders: [x-header-3, x-header-4]
            allowCredentials: true
            maxAge: 3600
      backendRefs: [{ name: v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /plain } }]
      backendRefs: [{ name: v1, port: 80 }]
`;

t.test('the CORS filter answers preflights at the edge and decorates actual responses', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw = await mesh.startGateway(file);
  const before = mesh.received.length;

  const pre = await request(`${gw.http}/cors-1/x`, {
    method: 'OPTIONS',
    headers: { host: 'cors.test', origin: 'https://xpto.www.bar.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'X-Header-1, x-header-2' },
  });
  t.equal(pre.status, 200, 'an allowed preflight: 200');
  t.equal(pre.headers['access-control-allow-origin'], 'https://xpto.www.bar.com', 'a wildcard origin, echoed');
  t.equal(pre.headers['access-control-allow-methods'], 'GET, OPTIONS');
  t.equal(pre.headers['access-control-allow-headers'], 'x-header-1, x-header-2');
  t.equal(pre.headers['access-control-expose-headers'], 'x-header-3, x-header-4');
  t.equal(pre.headers['access-control-allow-credentials'], 'true');
  t.equal(pre.headers['access-control-max-age'], '3600');

  const refused = await request(`${gw.http}/cors-1/x`, { method: 'OPTIONS', headers: { host: 'cors.test', origin: 'https://foobar.com', 'access-control-request-method': 'GET' } });
  t.equal(refused.status, 403, 'a preflight from another origin: 403');
  t.equal(refused.headers['access-control-allow-origin'], undefined, 'without allow headers');
  t.equal(refused.headers['weft-error'], 'WEFT_ERR_CORS_REJECTED');
  t.equal(mesh.received.length, before, 'no preflight reached the backend');

  const actual = await request(`${gw.http}/cors-1/x`, { headers: { host: 'cors.test', origin: 'https://www.foo.com' } });
  t.equal(actual.status, 200);
  t.equal(echoed(actual.body)?.backend, 'v1', 'the actual request reached the backend');
  t.equal(actual.headers['access-control-allow-origin'], 'https://www.foo.com');
  t.equal(actual.headers['access-control-allow-credentials'], 'true');
  t.equal(actual.headers['access-control-expose-headers'], 'x-header-3, x-header-4');
  t.match(actual.headers.vary ?? '', /Origin/);

  const other = await request(`${gw.http}/cors-1/x`, { headers: { host: 'cors.test', origin: 'https://foobar.com' } });
  t.equal(echoed(other.body)?.backend, 'v1', 'an actual request from another origin is still served');
  t.equal(other.headers['access-control-allow-origin'], undefined, 'but gets no CORS headers (the browser withholds the answer)');

  const plainPreflight = await request(`${gw.http}/plain`, { method: 'OPTIONS', headers: { host: 'cors.test', origin: 'https://www.foo.com', 'access-control-request-method': 'GET' } });
  t.equal(echoed(plainPreflight.body)?.method, 'OPTIONS', 'a rule without the filter forwards OPTIONS to the backend');
});
