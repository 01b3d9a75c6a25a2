// Gateway API status in kubernetes mode with real processes: two `weft gateway` replicas against
// the test API server, one Lease. The holder alone writes GatewayClass, Gateway, HTTPRoute and GRPCRoute
// status through the status subresource (conditions with the spec's reasons, observedGeneration,
// addresses, attachedRoutes); a route with an unsupported filter is rejected alone with its
// reason; when the holder stops, the other replica takes the Lease and writes from then on.
import t from 'tap';
import { KubeMesh, type KubePod, type KubeProcess } from '../../support/kube-mesh.js';
import { randomBase } from '../../support/local-mesh.js';
import { ROUTE_RESOURCES } from '../../../gateway/sources/kube-routes.js';
import type { KubeObject } from '../../support/test-apiserver.js';

const GW = 'gateway.networking.k8s.io/v1';
const LEASE_MS = 3000;
const base = randomBase();
const pods: KubePod[] = [
  { name: 'weft-gateway-st-a', address: `${base}.2`, serviceAccount: 'weft-gateway' },
  { name: 'weft-gateway-st-b', address: `${base}.3`, serviceAccount: 'weft-gateway-b' },
];

const mesh = await KubeMesh.create();
t.teardown(() => mesh.close());
for (const r of ROUTE_RESOURCES.filter((x) => x.resource === 'referencegrants' || x.group === 'weft.dev')) {
  mesh.api.addResource({ group: r.group, version: r.version, resource: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, namespaced: true });
}
mesh.api.addResource({ group: 'gateway.networking.k8s.io', version: 'v1', resource: 'gatewayclasses', singular: 'gatewayclass', kind: 'GatewayClass', namespaced: false, statusSubresource: true });
// Who writes status: the authorizer sees every request with its user (one service account per replica here).
const statusWriters: string[] = [];
mesh.api.setAuthorizer((a) => {
  if (a.subresource === 'status' && a.verb === 'update') statusWriters.push(a.user.username);
  return true;
});
await mesh.startCa(`${base}.1`);
for (const pod of pods) mesh.addPod(pod);

const ns = mesh.namespace;
mesh.api.apply({ apiVersion: GW, kind: 'GatewayClass', metadata: { name: 'weft' }, spec: { controllerName: 'weft.dev/gateway-controller' } });
mesh.api.apply({
  apiVersion: GW,
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: ns },
  spec: {
    gatewayClassName: 'weft',
    listeners: [
      { name: 'http', port: 80, protocol: 'HTTP', hostname: '*.example.com' },
      { name: 'grpc', port: 8080, protocol: 'HTTP', hostname: 'grpc.example.org' },
    ],
  },
});
const route = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: ns }, spec });
const backend = { backendRefs: [{ name: 'hello', port: 80 }] };
// The gateway lists and watches Services: `hello` exists, `ghost` does not (yet).
mesh.api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hello', namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } });
mesh.api.apply(route('web', { parentRefs: [{ name: 'edge' }], hostnames: ['shop.example.com'], rules: [backend] }));
mesh.api.apply(route('ghost', { parentRefs: [{ name: 'edge' }], hostnames: ['ghost.example.com'], rules: [backend, { matches: [{ path: { type: 'PathPrefix', value: '/gone' } }], backendRefs: [{ name: 'ghost', port: 8080 }] }] }));
mesh.api.apply(route('magic', { parentRefs: [{ name: 'edge' }], hostnames: ['magic.example.com'], rules: [{ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'm' } }], ...backend }] }));
mesh.api.apply(route('lost', { parentRefs: [{ name: 'nowhere' }], rules: [backend] }));
const grpcRoute = (name: string, service: string): KubeObject => ({
  apiVersion: GW,
  kind: 'GRPCRoute',
  metadata: { name, namespace: ns },
  spec: { parentRefs: [{ name: 'edge', sectionName: 'grpc' }], rules: [{ matches: [{ method: { service } }], ...backend }] },
});
mesh.api.apply(grpcRoute('rpc', 'weft.test.Echo'));
mesh.api.apply(grpcRoute('bad-rpc', 'not a service'));
mesh.api.apply(route('far', { parentRefs: [{ name: 'edge' }], hostnames: ['far.other.org'], rules: [backend] }));

type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime?: string };
const get = (kind: string, name: string, namespace: string | undefined = ns): KubeObject | undefined => mesh.api.get(GW, kind, namespace, name);
const parent = (name: string): { parentRef: Record<string, unknown>; controllerName: string; conditions: Cond[] } | undefined =>
  ((get('HTTPRoute', name)?.status as { parents?: { parentRef: Record<string, unknown>; controllerName: string; conditions: Cond[] }[] } | undefined)?.parents ?? [])[0];
const grpcParent = (name: string): { parentRef: Record<string, unknown>; conditions: Cond[] } | undefined =>
  ((get('GRPCRoute', name)?.status as { parents?: { parentRef: Record<string, unknown>; conditions: Cond[] }[] } | undefined)?.parents ?? [])[0];
const condition = (conds: Cond[] | undefined, type: string): Cond | undefined => conds?.find((c) => c.type === type);
const holder = (): string | undefined => (mesh.api.get('coordination.k8s.io/v1', 'Lease', ns, 'weft-gateway-status')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const procs = new Map<string, KubeProcess>();
for (const pod of pods) {
  procs.set(pod.name, await mesh.startGateway(pod, { WEFT_POD_NAME: pod.name, WEFT_GATEWAY_STATUS_LEASE_MS: String(LEASE_MS), WEFT_GATEWAY_STATUS_ADDRESSES: `${base}.2,gw.example.com` }));
}

t.test('the Lease holder writes every status with the spec reasons and observedGeneration', async (t) => {
  await until('route statuses', () => parent('web') !== undefined && parent('magic') !== undefined && parent('lost') !== undefined && parent('far') !== undefined && parent('ghost') !== undefined);
  const gc = mesh.api.get(GW, 'GatewayClass', undefined, 'weft');
  t.match(condition((gc?.status as { conditions?: Cond[] })?.conditions, 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: 1 }, 'GatewayClass weft is Accepted');

  await until('gateway status', () => (get('Gateway', 'edge')?.status as { listeners?: unknown[] } | undefined)?.listeners !== undefined);
  const gw = get('Gateway', 'edge')?.status as { addresses: unknown[]; conditions: Cond[]; listeners: { name: string; attachedRoutes: number; conditions: Cond[]; supportedKinds: unknown[] }[] };
  t.same(gw.addresses, [{ type: 'IPAddress', value: `${base}.2` }, { type: 'Hostname', value: 'gw.example.com' }]);
  t.match(condition(gw.conditions, 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: 1 });
  t.match(condition(gw.conditions, 'Programmed'), { status: 'True', reason: 'Programmed' });
  t.ok(condition(gw.conditions, 'Accepted')?.lastTransitionTime, 'conditions carry lastTransitionTime');
  const listener = gw.listeners[0];
  t.equal(listener?.name, 'http');
  t.equal(listener?.attachedRoutes, 2, 'only the accepted routes that match the listener are attached (web, ghost)');
  t.same(listener?.supportedKinds, [
    { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' },
    { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' },
  ]);
  t.equal(gw.listeners.find((l) => l.name === 'grpc')?.attachedRoutes, 1, 'the GRPCRoute is attached to its section');
  for (const [type, reason] of [['Accepted', 'Accepted'], ['Programmed', 'Programmed'], ['ResolvedRefs', 'ResolvedRefs'], ['Conflicted', 'NoConflicts']] as const) {
    t.equal(condition(listener?.conditions, type)?.reason, reason, `listener ${type}: ${reason}`);
  }

  const web = parent('web');
  t.same(web?.parentRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: ns, name: 'edge' });
  t.equal(web?.controllerName, 'weft.dev/gateway-controller');
  t.match(condition(web?.conditions, 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: 1 });
  t.match(condition(web?.conditions, 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  t.match(condition(parent('ghost')?.conditions, 'Accepted'), { status: 'True', reason: 'Accepted' }, 'a route with a missing backend is still accepted');
  t.match(condition(parent('ghost')?.conditions, 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound', message: `Service ${ns}/ghost does not exist` });
  t.match(condition(parent('magic')?.conditions, 'Accepted'), { status: 'False', reason: 'UnsupportedValue', message: /ExtensionRef filters are not supported/ }, 'the route with an unsupported filter is rejected alone, with its reason');
  t.match(condition(parent('lost')?.conditions, 'Accepted'), { status: 'False', reason: 'NoMatchingParent' });
  t.match(condition(parent('far')?.conditions, 'Accepted'), { status: 'False', reason: 'NoMatchingListenerHostname' });
  await until('GRPCRoute statuses', () => grpcParent('rpc') !== undefined && grpcParent('bad-rpc') !== undefined);
  t.match(grpcParent('rpc')?.parentRef, { kind: 'Gateway', name: 'edge', sectionName: 'grpc' });
  t.match(condition(grpcParent('rpc')?.conditions, 'Accepted'), { status: 'True', reason: 'Accepted', observedGeneration: 1 }, 'a GRPCRoute is Accepted per parentRef');
  t.match(condition(grpcParent('rpc')?.conditions, 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' });
  t.match(condition(grpcParent('bad-rpc')?.conditions, 'Accepted'), { status: 'False', reason: 'UnsupportedValue', message: /"not a service" is not a gRPC service name/ }, 'a bad GRPCRoute is rejected alone, with its reason');

  const h = holder();
  t.ok(h === pods[0]?.name || h === pods[1]?.name, `one replica holds the Lease (${h})`);
  const expectedUser = `system:serviceaccount:${ns}:${pods.find((p) => p.name === h)?.serviceAccount}`;
  t.same([...new Set(statusWriters)], [expectedUser], 'only the holder wrote status');
});

t.test('a spec change bumps observedGeneration; a status write does not bump generation', async (t) => {
  const before = get('HTTPRoute', 'web');
  t.equal(before?.metadata.generation, 1, 'status writes left the generation alone');
  const sinceTransition = condition(parent('web')?.conditions, 'Accepted')?.lastTransitionTime;
  mesh.api.apply({ ...(before as KubeObject), spec: { parentRefs: [{ name: 'edge' }], hostnames: ['shop.example.com'], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], ...backend }] } });
  t.equal(get('HTTPRoute', 'web')?.metadata.generation, 2);
  await until('observedGeneration 2', () => condition(parent('web')?.conditions, 'Accepted')?.observedGeneration === 2);
  t.equal(condition(parent('web')?.conditions, 'Accepted')?.lastTransitionTime, sinceTransition, 'lastTransitionTime stays while the status does');

  // Fixing the rejected route makes it Accepted.
  const magic = get('HTTPRoute', 'magic') as KubeObject;
  mesh.api.apply({ ...magic, spec: { parentRefs: [{ name: 'edge' }], hostnames: ['magic.example.com'], rules: [backend] } });
  await until('the fixed route accepted', () => condition(parent('magic')?.conditions, 'Accepted')?.status === 'True');
  t.match(condition(parent('magic')?.conditions, 'Accepted'), { reason: 'Accepted', observedGeneration: 2 });
  // Gateways are written after routes: once its count moves, the holder's round is over.
  await until('three attached routes', () => (get('Gateway', 'edge')?.status as { listeners?: { attachedRoutes: number }[] } | undefined)?.listeners?.[0]?.attachedRoutes === 3);

  // The missing Service is created: the Services watch brings it, and the route's references resolve.
  mesh.api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ghost', namespace: ns }, spec: { ports: [{ port: 8080, targetPort: 8080, protocol: 'TCP' }] } });
  await until('ghost resolved', () => condition(parent('ghost')?.conditions, 'ResolvedRefs')?.status === 'True');
  t.match(condition(parent('ghost')?.conditions, 'ResolvedRefs'), { reason: 'ResolvedRefs' }, 'a Service created later resolves the route');
});

t.test('when the holder stops, the other replica takes the Lease within its duration and writes', async (t) => {
  const first = holder() ?? '';
  const other = pods.find((p) => p.name !== first);
  const proc = procs.get(first);
  if (!proc || !other) return t.fail(`no holder process (${first})`);
  const writesBefore = statusWriters.length;
  const stoppedAt = Date.now();
  proc.child.kill('SIGTERM');
  await proc.exited;
  await until('another holder', () => holder() === other.name, LEASE_MS + 5000);
  const tookMs = Date.now() - stoppedAt;
  t.ok(tookMs <= LEASE_MS, `taken over in ${tookMs} ms (lease ${LEASE_MS} ms)`);
  const web = get('HTTPRoute', 'web') as KubeObject;
  mesh.api.apply({ ...web, spec: { ...(web.spec as Record<string, unknown>), hostnames: ['shop.example.com', 'www.example.com'] } });
  await until('observedGeneration 3', () => condition(parent('web')?.conditions, 'Accepted')?.observedGeneration === 3);
  t.same([...new Set(statusWriters.slice(writesBefore))], [`system:serviceaccount:${ns}:${other.serviceAccount}`], 'the new holder alone writes now');
});
