// `weft gateway` in kubernetes mode end to end: the test API server, a real `weft ca`, a real
// `weft proxy` in front of an echo app and a real `weft gateway` whose routes come from
// Gateway/HTTPRoute objects (no routes file). /ready waits for the routes; a matched host is
// proxied over mTLS with the CA's certificate; an unmatched host gets 404; a route change applies.
import t from 'tap';
import { KubeMesh, type KubePod } from '../../support/kube-mesh.js';
import { randomBase, get } from '../../support/local-mesh.js';
import { startEchoApp } from '../../support/echo-app.js';
import { ROUTE_RESOURCES } from '../../../gateway/sources/kube-routes.js';
import type { KubeObject } from '../../support/test-apiserver.js';

const base = randomBase();
const gw: KubePod = { name: 'weft-gateway-0', address: `${base}.2`, serviceAccount: 'weft-gateway' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };

const mesh = await KubeMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
// ReferenceGrant and weft's policy kinds are custom resources: register them as their CRDs would.
for (const r of ROUTE_RESOURCES.filter((x) => x.resource === 'referencegrants' || x.group === 'weft.dev')) {
  mesh.api.addResource({ group: r.group, version: r.version, resource: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, namespaced: true });
}
await mesh.startCa(`${base}.1`);
for (const pod of [gw, hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);
await mesh.startProxy(hello);

const route = (path: string): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'web', namespace: mesh.namespace },
  spec: {
    parentRefs: [{ name: 'edge' }],
    hostnames: ['shop.example.com'],
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: 'hello', port: 80 }] }],
  },
});

t.test('routes come from the API server; /ready waits for them', async (t) => {
  const proc = await mesh.startGateway(gw).catch((err: unknown) => err as Error);
  // No Gateway yet: an empty but loaded route set is ready, and everything is unmatched.
  t.notOk(proc instanceof Error, proc instanceof Error ? proc.message : 'the gateway became ready with no route objects');
  if (proc instanceof Error) return;
  const front = `http://${gw.address}:8080`;
  t.equal((await get(`${front}/`, { host: 'shop.example.com' })).status, 404, 'no routes yet: 404');

  mesh.api.apply({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: mesh.namespace },
    spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
  });
  mesh.api.apply(route('/'));
  let res = await get(`${front}/hi`, { host: 'shop.example.com' });
  for (const deadline = Date.now() + 10_000; res.status !== 200 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    res = await get(`${front}/hi`, { host: 'shop.example.com' });
  }
  t.equal(res.status, 200, `the HTTPRoute applied: ${res.body}`);
  const body = JSON.parse(res.body) as { pod: string; caller: string };
  t.equal(body.pod, 'hello-0');
  t.equal(body.caller, mesh.identity('weft-gateway'), 'the backend sidecar saw the gateway certificate from weft ca');

  const unmatched = await get(`${front}/hi`, { host: 'other.example.com' });
  t.equal(unmatched.status, 404, 'an unmatched host gets 404');

  mesh.api.apply(route('/api'));
  let moved = await get(`${front}/hi`, { host: 'shop.example.com' });
  for (const deadline = Date.now() + 10_000; moved.status !== 404 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    moved = await get(`${front}/hi`, { host: 'shop.example.com' });
  }
  t.equal(moved.status, 404, 'a changed HTTPRoute is followed');
  t.equal((await get(`${front}/api/x`, { host: 'shop.example.com' })).status, 200);

  const ready = await get(`${proc.admin}/ready`);
  t.equal(ready.status, 200);
});
