import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseOpaquePorts, sameSnapshot, snapshotFromKube, type KubeEndpointSlice, type KubeService, type TargetRef } from '../../../../mesh/discovery/kube-snapshot.js';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../../../fixtures/kube/${name}`, import.meta.url), 'utf8')) as T;
const id = (target: TargetRef, ns: string): string | undefined => (target.name ? `spiffe://cluster.local/ns/${ns}/sa/sa-${target.name}` : undefined);

const service = (ports: { name?: string; port: number; targetPort?: number | string; protocol?: string }[]): KubeService => ({
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { ports },
});
const slice = (name: string, ports: { name?: string; port: number }[], endpoints: { ip: string; ready?: boolean | null; pod?: string }[], addressType = 'IPv4'): KubeEndpointSlice => ({
  metadata: { name, namespace: 'shop' },
  addressType,
  ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
  endpoints: endpoints.map((e) => ({
    addresses: [e.ip],
    ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    targetRef: { kind: 'Pod', name: e.pod ?? `pod-${e.ip}`, namespace: 'shop' },
  })),
});
const ref = { namespace: 'shop', name: 'orders', port: 80 };

t.test('resolves a named target port through the slice port of the same name (docs example)', async (t) => {
  const svc = fixture<KubeService>('service-named-port.json');
  const sl = fixture<KubeEndpointSlice>('endpointslice-controller.json');
  const snap = snapshotFromKube({ namespace: 'default', name: 'nginx-service', port: 80 }, svc, [sl], id);
  t.same(snap.endpoints, [{ address: '10.244.0.5', port: 80, identity: 'spiffe://cluster.local/ns/default/sa/sa-nginx', ready: true, podName: 'nginx', serving: true, terminating: false }]);
  const other = slice('s', [{ name: 'name-of-service-port', port: 8081 }], [{ ip: '10.0.0.9' }]);
  const named = snapshotFromKube({ namespace: 'default', name: 'nginx-service', port: 80 }, svc, [sl, other], id);
  t.same(named.endpoints?.map((e) => `${e.address}:${e.port}`), ['10.0.0.9:8081', '10.244.0.5:80'], 'each slice carries its own resolved port');
});

t.test('only ready endpoints are ready; unset ready means ready', async (t) => {
  const snap = snapshotFromKube(ref, service([{ port: 80, targetPort: 8080 }]), [
    slice('a', [{ port: 8080 }], [{ ip: '10.0.0.1', ready: true }, { ip: '10.0.0.2', ready: false }, { ip: '10.0.0.3' }, { ip: '10.0.0.4', ready: null }]),
  ], id);
  t.same(snap.endpoints?.map((e) => [e.address, e.ready]), [['10.0.0.1', true], ['10.0.0.2', false], ['10.0.0.3', true], ['10.0.0.4', true]]);
});

t.test('merges several slices, dedupes a pod seen twice (ready wins), skips FQDN slices', async (t) => {
  const snap = snapshotFromKube(ref, service([{ name: 'http', port: 80, targetPort: 'web' }]), [
    slice('a', [{ name: 'http', port: 8080 }], [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false }]),
    slice('b', [{ name: 'http', port: 8080 }], [{ ip: '10.0.0.2', ready: true }, { ip: '10.0.0.3' }]),
    slice('c', [{ name: 'http', port: 8080 }], [{ ip: 'orders.example.com' }], 'FQDN'),
  ], id);
  t.same(snap.endpoints?.map((e) => [e.address, e.ready]), [['10.0.0.1', true], ['10.0.0.2', true], ['10.0.0.3', true]]);
});

t.test('an unknown Service or port is an unknown service; no slices is a known empty one', async (t) => {
  t.equal(snapshotFromKube(ref, undefined, [], id).endpoints, undefined);
  t.equal(snapshotFromKube(ref, service([{ port: 81 }]), [], id).endpoints, undefined);
  t.equal(snapshotFromKube(ref, service([{ port: 80, protocol: 'UDP' }]), [], id).endpoints, undefined, 'UDP ports are not ours');
  t.same(snapshotFromKube(ref, service([{ port: 80 }]), [], id).endpoints, []);
});

t.test('a named port a slice lacks cannot be resolved; a numeric targetPort can', async (t) => {
  const noPorts = slice('a', [], [{ ip: '10.0.0.1' }]);
  t.same(snapshotFromKube(ref, service([{ port: 80, targetPort: 'web' }]), [noPorts], id).endpoints, []);
  t.same(snapshotFromKube(ref, service([{ port: 80, targetPort: 9376 }]), [noPorts], id).endpoints?.map((e) => e.port), [9376]);
});

t.test('an endpoint whose pod identity is not known yet is listed but not ready', async (t) => {
  const snap = snapshotFromKube(ref, service([{ port: 80 }]), [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1' }])], () => undefined);
  t.same(snap.endpoints, [{ address: '10.0.0.1', port: 80, identity: '', ready: false, podName: 'pod-10.0.0.1', serving: true, terminating: false }]);
});

t.test('sameSnapshot tells pickers apart only when something routing-relevant changed', async (t) => {
  const a = snapshotFromKube(ref, service([{ port: 80 }]), [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1' }])], id);
  const b = snapshotFromKube(ref, service([{ port: 80 }]), [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1' }])], id);
  const c = snapshotFromKube(ref, service([{ port: 80 }]), [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1', ready: false }])], id);
  t.ok(sameSnapshot(a, b));
  t.notOk(sameSnapshot(a, c));
  t.notOk(sameSnapshot(undefined, a));
  t.ok(sameSnapshot({ ref, endpoints: undefined }, { ref, endpoints: undefined }));
});

/** A slice endpoint with explicit conditions. */
const conditioned = (ip: string, conditions: { ready: boolean; serving: boolean; terminating: boolean }): KubeEndpointSlice => ({
  metadata: { name: `s-${ip}`, namespace: 'shop' },
  addressType: 'IPv4',
  ports: [{ port: 80, protocol: 'TCP' }],
  endpoints: [{ addresses: [ip], conditions, targetRef: { kind: 'Pod', name: `pod-${ip}`, namespace: 'shop' } }],
});
const readyOf = (endpoints: readonly { address: string; ready: boolean }[] | undefined): string[] => (endpoints ?? []).filter((e) => e.ready).map((e) => e.address);

t.test('terminating fallback: with no ready endpoint, terminating-but-serving ones take requests', async (t) => {
  const draining = conditioned('10.0.0.1', { ready: false, serving: true, terminating: true });
  const dead = conditioned('10.0.0.2', { ready: false, serving: false, terminating: true });
  const snap = snapshotFromKube(ref, service([{ port: 80 }]), [draining, dead], id);
  t.same(readyOf(snap.endpoints), ['10.0.0.1'], 'only the serving one');
  t.match(snap.endpoints?.[0], { terminating: true, serving: true, ready: true });
  t.match(snap.endpoints?.[1], { terminating: true, serving: false, ready: false });
});

t.test('terminating fallback: a ready endpoint wins over terminating-but-serving ones', async (t) => {
  const draining = conditioned('10.0.0.1', { ready: false, serving: true, terminating: true });
  const fresh = conditioned('10.0.0.3', { ready: true, serving: true, terminating: false });
  t.same(readyOf(snapshotFromKube(ref, service([{ port: 80 }]), [draining, fresh], id).endpoints), ['10.0.0.3']);
});

t.test('terminating fallback: an endpoint whose identity is unknown never takes requests', async (t) => {
  const draining = conditioned('10.0.0.1', { ready: false, serving: true, terminating: true });
  t.same(readyOf(snapshotFromKube(ref, service([{ port: 80 }]), [draining], () => undefined).endpoints), []);
});

t.test('not ready and not terminating is not a fallback (a pod failing its probe)', async (t) => {
  const failing = conditioned('10.0.0.1', { ready: false, serving: false, terminating: false });
  t.same(readyOf(snapshotFromKube(ref, service([{ port: 80 }]), [failing], id).endpoints), []);
});

t.test('the pod lookup may add the meshed flag and opaque ports; the Service annotation lists its own', async (t) => {
  const svc: KubeService = { metadata: { name: 'db', namespace: 'shop', annotations: { 'config.weft.dev/opaque-ports': '5432, 7000-7002,bad,0' } }, spec: { ports: [{ port: 80 }] } };
  const snap = snapshotFromKube(ref, svc, [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1' }])], (target, ns) => ({ identity: `spiffe://cluster.local/ns/${ns}/sa/db`, meshed: true, opaquePorts: [3306] }));
  t.same(snap.opaquePorts, [5432, 7000, 7001, 7002]);
  t.match(snap.endpoints?.[0], { meshed: true, opaquePorts: [3306], identity: 'spiffe://cluster.local/ns/shop/sa/db', ready: true });
  const unmeshed = snapshotFromKube(ref, svc, [slice('a', [{ port: 80 }], [{ ip: '10.0.0.1' }])], () => ({ identity: 'spiffe://cluster.local/ns/shop/sa/db', meshed: false }));
  t.equal(unmeshed.endpoints?.[0]?.meshed, false);
  t.notOk(sameSnapshot(snap, unmeshed), 'the meshed flag is part of the snapshot');
});

t.test('parseOpaquePorts reads lists and ranges and skips what is not a port', async (t) => {
  t.same(parseOpaquePorts('3306'), [3306]);
  t.same(parseOpaquePorts(' 25 , 8000-8002 '), [25, 8000, 8001, 8002]);
  t.equal(parseOpaquePorts(''), undefined);
  t.equal(parseOpaquePorts('x,70000,5-1'), undefined);
  t.equal(parseOpaquePorts('1-5000'), undefined, 'a range over 1024 ports is refused');
});

t.test("each endpoint carries the port's appProtocol: the slice's, else the Service's", async (t) => {
  const svc: KubeService = { metadata: { name: 'orders', namespace: 'shop' }, spec: { ports: [{ port: 80, targetPort: 8080, appProtocol: 'kubernetes.io/h2c' }] } };
  const fromService = snapshotFromKube(ref, svc, [slice('a', [{ port: 8080 }], [{ ip: '10.0.0.1' }])], id);
  t.equal(fromService.endpoints?.[0]?.appProtocol, 'kubernetes.io/h2c');
  const withSlice = slice('b', [{ port: 8080 }], [{ ip: '10.0.0.2' }]);
  const sliced: KubeEndpointSlice = { ...withSlice, ports: [{ port: 8080, protocol: 'TCP', appProtocol: 'grpc' }] };
  t.equal(snapshotFromKube(ref, svc, [sliced], id).endpoints?.[0]?.appProtocol, 'grpc');
  t.equal(snapshotFromKube(ref, service([{ port: 80, targetPort: 8080 }]), [slice('c', [{ port: 8080 }], [{ ip: '10.0.0.3' }])], id).endpoints?.[0]?.appProtocol, undefined, 'none said: none');
});
