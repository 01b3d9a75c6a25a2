// Cleartext HTTP/2 with prior knowledge on the plain socket of the real `weft gateway`: a
// node:http2 client and HTTP/1.1 clients share the port; the h2c request is routed by
// :authority and reaches the meshed backend.
import t from 'tap';
import http2 from 'node:http2';
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
metadata: { name: web, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [h2c.test]
  rules: [{ backendRefs: [{ name: web, port: 80 }] }]
`;

function h2get(session: http2.ClientHttp2Session, authority: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path, ':authority': authority, ':scheme': 'http' });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

t.test('prior-knowledge h2c and HTTP/1.1 share the plain socket', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('web');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw = await mesh.startGateway(file);

  const session = http2.connect(gw.http);
  t.teardown(() => session.close());
  const [a, b] = await Promise.all([h2get(session, 'h2c.test', '/one'), h2get(session, 'h2c.test', '/two?x=1')]);
  t.equal(a.status, 200, 'an h2c request is served');
  t.equal(echoed(a.body)?.backend, 'web', 'by the meshed backend');
  t.equal(echoed(b.body)?.url, '/two?x=1', 'two streams on one connection, each routed');
  const miss = await h2get(session, 'other.test', '/');
  t.equal(miss.status, 404, 'an :authority no route serves: 404 on the h2c stream');

  const h1 = await request(`${gw.http}/three`, { headers: { host: 'h2c.test' } });
  t.equal(echoed(h1.body)?.url, '/three', 'HTTP/1.1 on the same port still works');
});
