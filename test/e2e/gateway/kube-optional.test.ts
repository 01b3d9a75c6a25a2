// `weft gateway` in kubernetes mode against a cluster that lacks kinds and holds objects it cannot
// use, with real processes (test API server, weft ca, a proxy in front of an echo app, gateways):
// an Ingress-only cluster (no Gateway API, no ReferenceGrant, no weft.dev CRDs) gets a ready
// gateway serving its Ingress, which picks up the Gateway API when it is installed; a gateway
// started with ReferenceGrant and the weft.dev kinds absent is ready and serves Ingress and
// HTTPRoutes; an unusable HTTPRoute is rejected alone while a pre-existing one keeps serving and
// one added afterwards serves; another class's objects are never judged.
import t, { type Test } from 'tap';
import { KubeMesh, type KubePod } from '../../support/kube-mesh.js';
import { randomBase, get } from '../../support/local-mesh.js';
import { startEchoApp } from '../../support/echo-app.js';
import type { KubeObject } from '../../support/test-apiserver.js';

const GW_API = 'gateway.networking.k8s.io/v1';
const base = randomBase();
const gwIngressOnly: KubePod = { name: 'weft-gateway-opt-a', address: `${base}.2`, serviceAccount: 'weft-gateway' };
const gwLater: KubePod = { name: 'weft-gateway-opt-b', address: `${base}.3`, serviceAccount: 'weft-gateway' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };

const mesh = await KubeMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
await mesh.startCa(`${base}.1`);
for (const pod of [gwIngressOnly, gwLater, hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);
await mesh.startProxy(hello);
const ns = mesh.namespace;

const httpRoute = (name: string, host: string, extra: Record<string, unknown> = {}, parent = 'edge'): KubeObject => ({
  apiVersion: GW_API,
  kind: 'HTTPRoute',
  metadata: { name, namespace: ns },
  spec: { parentRefs: [{ name: parent }], hostnames: [host], rules: [{ backendRefs: [{ name: 'hello', port: 80 }], ...extra }] },
});
const extensionRef = { filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'm' } }] };

async function status(pod: KubePod, host: string): Promise<number> {
  return (await get(`http://${pod.address}:8080/`, { host })).status;
}

async function eventually(t: Test, what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let ok = await check();
  while (!ok && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    ok = await check();
  }
  t.ok(ok, what);
}

const count = (log: string, text: string): number => log.split('\n').filter((l) => l.includes(text)).length;

interface DebugRoutes {
  absentKinds: string[];
  conditions: { kind: string; namespace: string; name: string; generation?: number; type: string; reasons: string[]; servingPrevious?: boolean }[];
}
const debugRoutes = async (admin: string): Promise<DebugRoutes> => JSON.parse((await get(`${admin}/debug/routes`)).body) as DebugRoutes;

// No ReferenceGrant or weft.dev CRDs are registered, and the Gateway API is taken away.
const gatewayApi = mesh.api.removeResource(GW_API);
mesh.api.apply({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'legacy', namespace: ns },
  spec: { ingressClassName: 'weft', rules: [{ host: 'legacy.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'hello', port: { number: 80 } } } }] } }] },
});

t.test('an Ingress-only cluster: ready, serving the Ingress, and the Gateway API picked up when installed', async (t) => {
  const gw = await mesh.startGateway(gwIngressOnly).catch((err: unknown) => err as Error);
  t.notOk(gw instanceof Error, gw instanceof Error ? gw.message : 'ready without the Gateway API, ReferenceGrant or weft.dev kinds');
  if (gw instanceof Error) return;
  t.equal((await get(`${gw.admin}/ready`)).status, 200, '/ready is 200');
  t.equal(await status(gwIngressOnly, 'legacy.test'), 200, 'the Ingress serves');
  t.same((await debugRoutes(gw.admin)).absentKinds.filter((k) => k.startsWith('gateways') || k.startsWith('httproutes') || k.startsWith('referencegrants')), ['gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'referencegrants.gateway.networking.k8s.io'], '/debug/routes lists the absent kinds');
  const log = await gw.log();
  for (const kind of ['gateways', 'httproutes', 'referencegrants', 'apikeypolicies', 'jwtpolicies', 'ratelimitpolicies', 'corspolicies', 'ipaccesspolicies', 'bodylimitpolicies', 'transformpolicies']) {
    t.equal(log.split('\n').filter((l) => l.includes('does not serve this kind') && l.includes(`"resource":"${kind}"`)).length, 1, `${kind}: said once`);
  }

  mesh.api.serveResource(gatewayApi);
  mesh.api.apply({ apiVersion: GW_API, kind: 'Gateway', metadata: { name: 'edge', namespace: ns }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } });
  mesh.api.apply(httpRoute('old', 'old.test'));
  await eventually(t, 'the Gateway API installed later is picked up: the HTTPRoute serves', async () => (await status(gwIngressOnly, 'old.test')) === 200, 40_000);
  t.equal(await status(gwIngressOnly, 'legacy.test'), 200, 'the Ingress still serves');
  t.notOk((await debugRoutes(gw.admin)).absentKinds.some((k) => k.startsWith('httproutes')), 'HTTPRoute is no longer absent');
});

t.test('ReferenceGrant and weft.dev absent: ready and serving; one unusable HTTPRoute is rejected alone', async (t) => {
  // Another controller's Gateway (TLS passthrough, a Secret weft never reads) and its route.
  mesh.api.apply({
    apiVersion: GW_API,
    kind: 'Gateway',
    metadata: { name: 'theirs', namespace: ns },
    spec: { gatewayClassName: 'other-vendor', listeners: [{ name: 'tls', port: 8443, protocol: 'TLS', tls: { mode: 'Passthrough', certificateRefs: [{ name: 'their-cert' }] } }] },
  });
  mesh.api.apply(httpRoute('their-route', 'theirs.test', extensionRef, 'theirs'));
  const gw = await mesh.startGateway(gwLater).catch((err: unknown) => err as Error);
  t.notOk(gw instanceof Error, gw instanceof Error ? gw.message : 'ready with ReferenceGrant and the weft.dev kinds absent');
  if (gw instanceof Error) return;
  t.equal(await status(gwLater, 'old.test'), 200, 'the HTTPRoute serves');
  t.equal(await status(gwLater, 'legacy.test'), 200, 'the Ingress serves');
  t.equal(await status(gwLater, 'theirs.test'), 404, "another class's route is not served");

  mesh.api.apply(httpRoute('broken', 'broken.test', extensionRef));
  await eventually(t, 'the rejection is logged with the object and field', async () => count(await gw.log(), `HTTPRoute ${ns}/broken rejected; it is not served`) === 1);
  t.match(await gw.log(), /spec\.rules\[0\]\.filters\[0\]: ExtensionRef filters are not supported/);
  t.equal(await status(gwLater, 'broken.test'), 404, 'the unusable route is not served');
  t.equal(await status(gwLater, 'old.test'), 200, 'the pre-existing route keeps serving');

  mesh.api.apply(httpRoute('added', 'added.test'));
  await eventually(t, 'a valid route added afterwards serves', async () => (await status(gwLater, 'added.test')) === 200);
  t.equal(await status(gwLater, 'old.test'), 200, 'the pre-existing route still serves');
  t.equal(await status(gwLater, 'broken.test'), 404, 'the unusable route still is not');
  const log = await gw.log();
  t.equal(count(log, `HTTPRoute ${ns}/broken rejected`), 1, 'the rejection is logged once, not on every rebuild');
  t.equal(count(log, 'their-route') + count(log, `${ns}/theirs`), 0, "another class's objects are never judged or mentioned");
  t.equal((await get(`${gw.admin}/ready`)).status, 200, 'still ready');
  const { conditions } = await debugRoutes(gw.admin);
  t.match(conditions, [{ kind: 'HTTPRoute', namespace: ns, name: 'broken', generation: 1, type: 'Rejected', reasons: [/ExtensionRef filters are not supported/] }], 'the rejection is kept for status writing (/debug/routes)');
  t.equal(conditions.length, 1, "nothing else is: not another class's objects");
});
