// Filters on a backendRef on the real gateway: header modifiers apply only to requests sent to
// that backend (each backend its own), and a filter a backendRef may not carry (URLRewrite) rejects
// that route alone, with its reason, while the other routes serve.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';

const FILE = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [split.test]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /one } }]
      backendRefs:
        - name: v1
          port: 80
          filters:
            - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend-filter, value: for-v1 }] } }
            - { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-served-by, value: v1 }] } }
    - matches: [{ path: { type: PathPrefix, value: /two } }]
      backendRefs: [{ name: v2, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: rewrite, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [rewrite.test]
  rules:
    - backendRefs:
        - name: v1
          port: 80
          filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /x } } }]
`;

t.test('backendRef filters apply to their backend only; a forbidden one rejects its route alone', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  await mesh.addService('v2');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, FILE);
  const gw = await mesh.startGateway(file);
  const one = await request(`${gw.http}/one`, { headers: { host: 'split.test' } });
  t.equal(one.status, 200);
  t.equal(echoed(one.body)?.backend, 'v1');
  t.equal(echoed(one.body)?.headers['x-backend-filter'], 'for-v1', "the backendRef's request filter ran");
  t.equal(one.headers['x-served-by'], 'v1', "the backendRef's response filter ran");
  const two = await request(`${gw.http}/two`, { headers: { host: 'split.test' } });
  t.equal(echoed(two.body)?.backend, 'v2');
  t.equal(echoed(two.body)?.headers['x-backend-filter'], undefined, 'another backend does not get it');
  t.equal(two.headers['x-served-by'], undefined);
  t.equal((await request(`${gw.http}/`, { headers: { host: 'rewrite.test' } })).status, 404, 'the route with a URLRewrite on a backendRef is not served');
  const { conditions } = JSON.parse((await request(`${gw.admin}/debug/routes`)).body) as { conditions: { name: string; type: string; reasons: string[] }[] };
  t.match(conditions, [{ name: 'rewrite', type: 'Rejected', reasons: [/spec\.rules\[0\]\.backendRefs\[0\]\.filters\[0\]: URLRewrite is not allowed on a backendRef/] }]);
  t.equal(conditions.length, 1, 'only that route is rejected');
});
