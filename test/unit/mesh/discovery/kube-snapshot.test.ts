import t from 'tap';
import { readFileSync } from 'node:fs';
import { sameSnapshot, snapshotFromKube, type KubeEndpointSlice, type KubeService, type TargetRef } from '../../../../mesh/discovery/kube-snapshot.js';

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
  t.same(snap.endpoints, [{ address: '10.244.0.5', port: 80, identity: 'spiffe://cluster.local/ns/default/sa/sa-nginx', ready: true, podName: 'nginx' }]);
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
  t.same(snap.endpoints, [{ address: '10.0.0.1', port: 80, identity: '', ready: false, podName: 'pod-10.0.0.1' }]);
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
