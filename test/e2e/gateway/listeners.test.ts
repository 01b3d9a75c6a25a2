// Listeners kept apart by the real `weft gateway`, in local mode (route file) and in kubernetes
// mode (test API server): the port in the Host picks the listener on the shared socket, a
// dedicated socket (WEFT_GATEWAY_LISTENER_ADDRS) serves its port or its Gateway alone, a
// Gateway's route never serves on another Gateway's listener, and a redirect keeps the listener's port.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';
import { KubeMesh, type KubePod } from '../../support/kube-mesh.js';
import { randomBase, get } from '../../support/local-mesh.js';
import { startEchoApp } from '../../support/echo-app.js';

// The upstream HTTPRouteListenerPortMatching shape (ports 80, 8080 and 8090 for foo.com only)
// plus a second Gateway, `other`, with a socket of its own for port 80.
const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ports, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - { name: listener-1, port: 80, protocol: HTTP }
    - { name: listener-2, port: 8080, protocol: HTTP }
    - { name: listener-4, port: 8090, protocol: HTTP, hostname: foo.com }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v1, namespace: test }
spec:
  parentRefs: [{ name: ports, sectionName: listener-1 }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v2, namespace: test }
spec:
  parentRefs: [{ name: ports, port: 8080 }]
  rules:
    - backendRefs: [{ name: v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /moved } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: elsewhere.test } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v3, namespace: test }
spec:
  parentRefs: [{ name: ports, sectionName: listener-4 }]
  rules: [{ backendRefs: [{ name: v3, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: only-other, namespace: test }
spec:
  parentRefs: [{ name: other }]
  hostnames: [other.test]
  rules: [{ backendRefs: [{ name: o, port: 80 }] }]
`;

t.test('local mode: the Host port, dedicated sockets and Gateways kept apart', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  for (const s of ['v1', 'v2', 'v3', 'o']) await mesh.addService(s);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const addr = mesh.address();
  const gw = await mesh.startGateway(file, { WEFT_GATEWAY_LISTENER_ADDRS: `http:8090=${addr}:0,http:80:test/other=${addr}:0` });
  const port8090 = gw.listeners.get('http:8090');
  const otherPort = gw.listeners.get('http:80:test/other');
  if (port8090 === undefined || otherPort === undefined) return t.fail(`dedicated sockets missing from the start line: ${JSON.stringify([...gw.listeners])}`);
  const backend = async (url: string, host: string): Promise<string> => {
    const r = await request(url, { headers: { host } });
    return r.status === 200 ? (echoed(r.body)?.backend ?? `200 ${r.body}`) : String(r.status);
  };
  const shared = `${gw.http}/`;
  t.equal(await backend(shared, 'foo.com'), 'v1', 'no port in Host: the port-80 listener');
  t.equal(await backend(shared, 'foo.com:80'), 'v1');
  t.equal(await backend(shared, 'foo.com:8080'), 'v2', 'foo.com:8080 reaches the 8080 listener\'s route');
  t.equal(await backend(shared, 'bar.com:8080'), 'v2');
  t.equal(await backend(shared, 'foo.com:8090'), 'v1', 'port 8090 has its own socket: on the shared one the Host port falls back to 80');
  t.equal(await backend(shared, 'other.test'), 'v1', 'Gateway other\'s listener is served by its own socket, not the shared one');

  const dedicated = `http://${addr}:${port8090}/`;
  t.equal(await backend(dedicated, 'foo.com:8090'), 'v3', 'the 8090 socket serves the 8090 listener');
  t.equal(await backend(dedicated, 'foo.com'), 'v3', 'a Host without port there means 8090');
  t.equal(await backend(dedicated, 'bar.com:8090'), '404', 'bar.com:8090 is no host of the 8090 listener: 404');

  const other = `http://${addr}:${otherPort}/`;
  t.equal(await backend(other, 'other.test'), 'o', 'Gateway other\'s socket serves its route');
  t.equal(await backend(other, 'foo.com'), '404', 'and no route of Gateway ports, though both have a port-80 listener');

  const moved = await request(`${gw.http}/moved/x?q=1`, { headers: { host: 'bar.com:8080' } });
  t.equal(moved.status, 302);
  t.equal(moved.headers.location, 'http://elsewhere.test:8080/moved/x?q=1', 'a redirect keeps the 8080 listener\'s port');
  const moved80 = await request(`${gw.http}/moved/x`, { headers: { host: 'bar.com' } });
  t.equal(moved80.status, 200, 'the port-80 listener has no redirect rule');
});

t.test('kubernetes mode: listeners by sectionName and port, the Host port, a dedicated socket, Gateways apart', async (t) => {
  const base = randomBase();
  const gwPod: KubePod = { name: 'weft-gateway-0', address: `${base}.2`, serviceAccount: 'weft-gateway' };
  const pods: KubePod[] = ['a', 'b', 'c'].map((s, i) => ({ name: `${s}-0`, address: `${base}.${20 + i}`, serviceAccount: s }));
  const mesh = await KubeMesh.create();
  const apps = await Promise.all(pods.map((p) => startEchoApp({ pod: p.name, address: p.address, port: 8080 })));
  t.teardown(async () => {
    await mesh.close();
    for (const a of apps) await a.close();
  });
  await mesh.startCa(`${base}.1`);
  mesh.addPod(gwPod);
  for (const p of pods) {
    mesh.addPod(p);
    mesh.addService(p.serviceAccount);
    mesh.setEndpoints(p.serviceAccount, [p]);
    await mesh.startProxy(p);
  }
  const ns = mesh.namespace;
  const gwApi = 'gateway.networking.k8s.io/v1';
  mesh.api.apply({
    apiVersion: gwApi,
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: ns },
    spec: {
      gatewayClassName: 'weft',
      listeners: [
        { name: 'web', port: 80, protocol: 'HTTP' },
        { name: 'alt', port: 8080, protocol: 'HTTP' },
        { name: 'admin', port: 9000, protocol: 'HTTP', hostname: 'admin.test' },
      ],
    },
  });
  mesh.api.apply({ apiVersion: gwApi, kind: 'Gateway', metadata: { name: 'second', namespace: ns }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'web', port: 8080, protocol: 'HTTP' }] } });
  const route = (name: string, parentRef: Record<string, unknown>, backend: string, hostnames?: string[]) =>
    mesh.api.apply({
      apiVersion: gwApi,
      kind: 'HTTPRoute',
      metadata: { name, namespace: ns },
      spec: { parentRefs: [parentRef], ...(hostnames ? { hostnames } : {}), rules: [{ backendRefs: [{ name: backend, port: 80 }] }] },
    });
  route('on-web', { name: 'edge', sectionName: 'web' }, 'a');
  route('on-alt', { name: 'edge', port: 8080 }, 'b', ['shop.test']);
  route('on-admin', { name: 'edge', sectionName: 'admin' }, 'c');
  route('on-second', { name: 'second' }, 'c', ['second.test']);

  const proc = await mesh.startGateway(gwPod, { WEFT_GATEWAY_LISTENER_ADDRS: `http:9000=${gwPod.address}:9000` });
  const shared = `http://${gwPod.address}:8080/`;
  const pod = async (url: string, host: string): Promise<string> => {
    const r = await get(url, { host });
    return r.status === 200 ? ((JSON.parse(r.body) as { pod: string }).pod ?? r.body) : String(r.status);
  };
  // The routes arrive by watch: wait for the last one to be served before judging the rest.
  let last = await pod(shared, 'second.test:8080');
  for (const deadline = Date.now() + 10_000; last !== 'c-0' && Date.now() < deadline; last = await pod(shared, 'second.test:8080')) {
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(last, 'c-0', 'Gateway second\'s route serves on its port-8080 listener');
  t.equal(await pod(shared, 'shop.test'), 'a-0', 'no port: the port-80 listener (route bound by sectionName web)');
  t.equal(await pod(shared, 'shop.test:8080'), 'b-0', 'shop.test:8080: the 8080 listener\'s route');
  t.equal(await pod(shared, 'other.test:8080'), '404', 'port 8080 has no catch-all: 404, never the port-80 route');
  t.equal(await pod(shared, 'second.test'), 'a-0', 'Gateway second\'s route does not serve on port 80 (edge\'s catch-all does)');
  t.equal(await pod(shared, 'admin.test:9000'), 'a-0', 'port 9000 has a socket of its own: not served here');
  const dedicated = `http://${gwPod.address}:9000/`;
  t.equal(await pod(dedicated, 'admin.test'), 'c-0', 'the dedicated socket serves the 9000 listener');
  t.equal(await pod(dedicated, 'shop.test'), '404', 'and only its hostname');
  t.equal((await get(`${proc.admin}/ready`)).status, 200);
});
