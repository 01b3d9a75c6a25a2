import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { ClusterIndex, podFacts } from '../../../destination/cluster-index.js';
import { endpointsKind, snapshotToWire } from '../../../destination/watch-kinds.js';
import { readSnapshotLine } from '../../../mesh/discovery/remote-wire.js';
import { isWeftError } from '../../../lib/errors.js';

const NS = 'shop';
const pod = (name: string, ip: string, sa: string, annotations: Record<string, string> = { 'weft.dev/injected': 'true' }): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS, annotations },
  spec: { serviceAccountName: sa, containers: [{ name: 'app', image: 'x', env: [{ name: 'SECRET', value: 'hunter2' }] }] },
  status: { phase: 'Running', podIP: ip },
});
const slice = (name: string, service: string, eps: { ip: string; pod: string }[]): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: e.pod, namespace: NS } })),
});
const svc = (name: string, annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS, annotations },
  spec: { ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
});

async function rig(t: Test): Promise<{ api: TestApiServer; index: ClusterIndex }> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  api.apply(svc('orders', { 'config.weft.dev/opaque-ports': '5432' }));
  api.apply(pod('orders-0', '10.1.0.1', 'orders'));
  api.apply(pod('legacy-0', '10.1.0.9', 'legacy', {}));
  api.apply(slice('orders-a', 'orders', [{ ip: '10.1.0.1', pod: 'orders-0' }]));
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const index = new ClusterIndex({ client, trustDomain: 'cluster.local', log: createLogger({ level: 'silent', name: 't' }), registry: new Registry(), backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(async () => {
    await index.stop();
    client.close();
    await api.stop();
  });
  index.start();
  await until(() => index.synced);
  return { api, index };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('podFacts keeps the identity, IPs and meshed flag, and nothing of the spec', async (t) => {
  const facts = podFacts(pod('a-0', '10.0.0.1', 'orders', { 'weft.dev/injected': 'true', 'config.weft.dev/opaque-ports': '3306' }), 'cluster.local');
  t.same(facts, { namespace: NS, name: 'a-0', uid: undefined, identity: 'spiffe://cluster.local/ns/shop/sa/orders', meshed: true, opaquePorts: [3306], ips: ['10.0.0.1'] });
  t.notMatch(JSON.stringify(facts), /hunter2/, 'no env value survives');
  t.same(podFacts({ metadata: { name: 'h', namespace: NS }, spec: { hostNetwork: true }, status: { podIP: '192.168.1.5' } }, 'cluster.local')?.ips, [], 'a hostNetwork pod is not indexed by the node IP');
  t.same(podFacts({ metadata: { name: 'd', namespace: NS }, status: { phase: 'Succeeded', podIP: '10.0.0.7' } }, 'cluster.local')?.ips, [], 'a finished pod gives its IP back');
});

t.test('snapshots carry identity, meshed flag and opaque ports from the cluster-wide watches', async (t) => {
  const { index } = await rig(t);
  const snap = index.snapshot({ namespace: NS, name: 'orders', port: 80 });
  t.match(snap, { opaquePorts: [5432], endpoints: [{ address: '10.1.0.1', port: 8080, identity: 'spiffe://cluster.local/ns/shop/sa/orders', ready: true, meshed: true, podName: 'orders-0' }] });
  t.same(index.snapshot({ namespace: NS, name: 'nope', port: 80 })?.endpoints, undefined, 'no such service');
  t.same(index.counts(), { services: 1, endpointslices: 1, pods: 2 });
});

t.test('resolve: pod IP -> owner with identity, meshed flag and service; ClusterIP -> service; others unknown', async (t) => {
  const { api, index } = await rig(t);
  t.same(index.resolve('10.1.0.1', 8080), {
    kind: 'pod',
    owner: { identity: 'spiffe://cluster.local/ns/shop/sa/orders', podName: 'orders-0', meshed: true, service: { namespace: NS, name: 'orders', port: 80 } },
  });
  t.same(index.resolve('10.1.0.9', 8080), { kind: 'pod', owner: { identity: 'spiffe://cluster.local/ns/shop/sa/legacy', podName: 'legacy-0', meshed: false } }, 'an unmeshed pod, in no service');
  const clusterIp = (api.get('v1', 'Service', NS, 'orders')?.['spec'] as { clusterIP: string }).clusterIP;
  t.same(index.resolve(clusterIp, 80), { kind: 'service', service: { namespace: NS, name: 'orders', port: 80 }, opaquePorts: [5432] });
  t.same(index.resolve(clusterIp, 443), { kind: 'unknown' });
  t.same(index.resolve('203.0.113.9', 80), { kind: 'unknown' });
  api.delete('v1', 'Pod', NS, 'legacy-0');
  await until(() => index.resolve('10.1.0.9', 8080).kind === 'unknown');
  t.pass('a deleted pod no longer owns its IP');
});

t.test('the endpoints kind pushes a new snapshot when a pod behind an endpoint changes, and only then', async (t) => {
  const { api, index } = await rig(t);
  const kind = endpointsKind(index);
  const key = kind.parse(new URLSearchParams({ namespace: NS, name: 'orders', port: '80' }), { identity: 'spiffe://cluster.local/ns/shop/sa/x', namespace: NS });
  if (isWeftError(key)) throw key;
  const sent: unknown[] = [];
  const stop = kind.subscribe(key, (v) => sent.push(v));
  t.equal(sent.length, 1, 'the current snapshot at once');
  api.apply(pod('orders-0', '10.1.0.1', 'orders', {}));
  await until(() => sent.length === 2);
  t.match(sent[1], { endpoints: [{ meshed: false }] }, 'the sidecar annotation went away');
  api.apply(pod('unrelated-0', '10.1.0.50', 'x'));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(sent.length, 2, 'a pod behind no endpoint of this service sends nothing');
  stop();
  t.ok(isWeftError(kind.parse(new URLSearchParams({ namespace: 'Bad_NS', name: 'x', port: '80' }), { identity: '', namespace: '' })), 'a bad query is a WeftError (400)');
  t.ok(isWeftError(kind.parse(new URLSearchParams({ namespace: NS, name: 'x', port: '0' }), { identity: '', namespace: '' })));
});

t.test('the wire round-trips snapshots, and a malformed line is refused whole', async (t) => {
  const { index } = await rig(t);
  const ref = { namespace: NS, name: 'orders', port: 80 };
  const snap = index.snapshot(ref);
  if (!snap) throw new Error('no snapshot');
  t.same(readSnapshotLine(JSON.stringify(snapshotToWire(snap)), ref), snap);
  t.same(readSnapshotLine(JSON.stringify({ ref, endpoints: null }), ref), { ref, endpoints: undefined }, 'an unknown service');
  t.equal(readSnapshotLine('{not json', ref), undefined);
  t.equal(readSnapshotLine(JSON.stringify({ ref: { ...ref, name: 'other' }, endpoints: [] }), ref), undefined, 'another service');
  t.equal(readSnapshotLine(JSON.stringify({ ref, endpoints: [{ address: '10.0.0.1', port: 70000, identity: 'x', ready: true }] }), ref), undefined, 'a bad port');
  t.equal(readSnapshotLine(JSON.stringify({ ref, endpoints: [{ address: '10.0.0.1', port: 80, ready: true }] }), ref), undefined, 'no identity');
});
