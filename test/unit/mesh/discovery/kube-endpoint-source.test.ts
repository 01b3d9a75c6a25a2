import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../../lib/kube/config.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { KubeEndpointSource } from '../../../../mesh/discovery/kube-endpoint-source.js';
import { FakeTimers } from '../../../support/fake-timers.js';
import type { ServiceSnapshot } from '../../../../mesh/discovery/endpoint-source.js';

const NS = 'shop';

function pod(name: string, ip: string, sa: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app: 'orders' } }, spec: { serviceAccountName: sa, containers: [{ name: 'app', image: 'x' }] }, status: { phase: 'Running', podIP: ip } };
}
function slice(name: string, eps: { ip: string; pod: string; ready?: boolean }[], port = 8080): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': 'orders', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false }, targetRef: { kind: 'Pod', name: e.pod, namespace: NS } })),
  };
}
const service: KubeObject = {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders', namespace: NS },
  spec: { selector: { app: 'orders' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
};

interface Rig {
  api: TestApiServer;
  source: KubeEndpointSource;
  snaps: ServiceSnapshot[];
  latest: () => ServiceSnapshot | undefined;
  registry: Registry;
}

async function rig(t: Test): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  api.apply(service);
  api.apply(pod('orders-0', '10.1.0.1', 'orders'));
  api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }]));
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const registry = new Registry();
  const source = new KubeEndpointSource({
    client, trustDomain: 'cluster.local', log: createLogger({ level: 'silent', name: 't' }), registry, namespace: NS,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  t.teardown(async () => {
    await source.close();
    client.close();
    await api.stop();
  });
  await source.start();
  const snaps: ServiceSnapshot[] = [];
  return { api, source, snaps, latest: () => snaps[snaps.length - 1], registry };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - started;
}

const ready = (s: ServiceSnapshot | undefined): string[] => (s?.endpoints ?? []).filter((e) => e.ready).map((e) => `${e.address}:${e.port}`);

t.test('first snapshot: ready endpoints with the target port and the pod identity', async (t) => {
  const r = await rig(t);
  t.ok(r.source.synced, 'synced once the API server answered');
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  await until('first snapshot', () => ready(r.latest()).length === 1);
  t.same(r.latest()?.endpoints, [{ address: '10.1.0.1', port: 8080, identity: 'spiffe://cluster.local/ns/shop/sa/orders', ready: true, podName: 'orders-0', serving: true, terminating: false }]);
  const unknown: ServiceSnapshot[] = [];
  r.source.watch({ namespace: NS, name: 'orders', port: 81 }, (s) => unknown.push(s));
  t.equal(unknown[0]?.endpoints, undefined, 'a port the Service lacks is an unknown service, at once');
  const missing: ServiceSnapshot[] = [];
  r.source.watch({ namespace: NS, name: 'ghost', port: 80 }, (s) => missing.push(s));
  await until('ghost snapshot', () => missing.length > 0);
  t.equal(missing[0]?.endpoints, undefined);
});

t.test('scaling 1 -> 3 -> 1 and a pod turning not-ready show up within a second', async (t) => {
  const r = await rig(t);
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  await until('first', () => ready(r.latest()).length === 1);
  r.api.apply(pod('orders-1', '10.1.0.2', 'orders'));
  r.api.apply(pod('orders-2', '10.1.0.3', 'orders'));
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }, { ip: '10.1.0.2', pod: 'orders-1' }]));
  r.api.apply(slice('orders-def', [{ ip: '10.1.0.3', pod: 'orders-2' }]));
  const up = await until('3 ready', () => ready(r.latest()).length === 3, 1000);
  t.ok(up < 1000, `scaled up in ${up} ms`);
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }, { ip: '10.1.0.2', pod: 'orders-1', ready: false }]));
  await until('not ready', () => ready(r.latest()).length === 2, 1000);
  t.same(ready(r.latest()), ['10.1.0.1:8080', '10.1.0.3:8080']);
  r.api.delete('discovery.k8s.io/v1', 'EndpointSlice', NS, 'orders-def');
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }]));
  await until('back to 1', () => ready(r.latest()).length === 1 && (r.latest()?.endpoints?.length ?? 0) === 1, 1000);
});

t.test('a changed target port on the slice (named port) moves traffic to the new port', async (t) => {
  const r = await rig(t);
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  await until('first', () => ready(r.latest()).length === 1);
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }], 9090));
  await until('new port', () => ready(r.latest())[0] === '10.1.0.1:9090');
});

t.test('410 mid-watch re-lists with no lost update; the last snapshot serves while the API server is down', async (t) => {
  const r = await rig(t);
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  await until('first', () => ready(r.latest()).length === 1);
  await until('watching', () => r.api.watchCount >= 2);
  r.api.expireWatches();
  r.api.apply(pod('orders-1', '10.1.0.2', 'orders'));
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }, { ip: '10.1.0.2', pod: 'orders-1' }]));
  await until('re-listed', () => ready(r.latest()).length === 2);
  const restarts = await r.registry.getSingleMetric('weft_discovery_watch_restarts_total')?.get();
  t.ok((restarts?.values.find((v) => v.labels['reason'] === 'expired')?.value ?? 0) >= 1, 'expired restarts counted');
  const count = r.snaps.length;
  await r.api.stop();
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.2', pod: 'orders-1' }]));
  await new Promise((res) => setTimeout(res, 300));
  t.equal(r.snaps.length, count, 'nothing changed while the API server was away');
  t.equal(ready(r.latest()).length, 2, 'the last known endpoints keep serving');
  t.ok(r.source.synced);
  await r.api.restart();
  await until('caught up', () => ready(r.latest()).join() === '10.1.0.2:8080', 3000);
});

t.test('the last subscriber leaving stops the watches; a new one starts them again', async (t) => {
  const r = await rig(t);
  const stop1 = r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  const seen: ServiceSnapshot[] = [];
  const stop2 = r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => seen.push(s));
  await until('watching', () => r.api.watchCount === 2 && ready(r.latest()).length === 1);
  t.equal(r.api.requests.filter((q) => q.includes('endpointslices?watch')).length, 1, 'one watch shared by both subscribers');
  stop1();
  await new Promise((res) => setTimeout(res, 50));
  t.equal(r.api.watchCount, 2, 'still used');
  stop2();
  await until('stopped', () => r.api.watchCount === 0);
  const again: ServiceSnapshot[] = [];
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => again.push(s));
  await until('restarted', () => ready(again[again.length - 1]).length === 1);
});

t.test('an endpoint whose pod cannot be read gets no traffic until it can', async (t) => {
  const r = await rig(t);
  r.api.apply(slice('orders-abc', [{ ip: '10.1.0.1', pod: 'orders-0' }, { ip: '10.1.0.9', pod: 'orders-late' }]));
  r.source.watch({ namespace: NS, name: 'orders', port: 80 }, (s) => r.snaps.push(s));
  await until('the known pod', () => (r.latest()?.endpoints?.length ?? 0) === 2 && ready(r.latest()).length === 1);
  await new Promise((res) => setTimeout(res, 100));
  t.same(ready(r.latest()), ['10.1.0.1:8080'], 'the unknown pod stays out');
  r.api.apply(pod('orders-late', '10.1.0.9', 'late-sa'));
  await until('pod found on retry', () => ready(r.latest()).length === 2, 3000);
  t.equal(r.latest()?.endpoints?.find((e) => e.address === '10.1.0.9')?.identity, 'spiffe://cluster.local/ns/shop/sa/late-sa');
});

t.test('an unreachable API server is retried only after the backoff delay, on the injected clock', async (t) => {
  const timers = new FakeTimers();
  let calls = 0;
  // The one call start() makes: refused twice, then answered.
  const client = {
    connection: { server: 'https://api.test' },
    request: async () => {
      calls += 1;
      if (calls <= 2) throw new Error('connect ECONNREFUSED');
      return { kind: 'ServiceList', items: [] };
    },
  } as unknown as KubeClient;
  const source = new KubeEndpointSource({
    client,
    trustDomain: 'cluster.local',
    log: createLogger({ level: 'silent', name: 't' }),
    registry: new Registry(),
    namespace: NS,
    backoff: { initialMs: 1000, maxMs: 1000 },
    random: () => 0.999,
    timers,
  });
  t.teardown(() => source.close());
  const started = source.start();
  const first = await timers.nextScheduled();
  t.equal(calls, 1, 'one attempt, then a wait');
  await timers.advance(first.delayMs - 1);
  t.equal(calls, 1, 'no retry before the backoff delay');
  const second = timers.nextScheduled();
  await timers.advance(1);
  await second;
  t.equal(calls, 2, 'the retry came when the delay ran out');
  t.equal(source.synced, false);
  await timers.advance(1000);
  await started;
  t.equal(calls, 3);
  t.equal(source.synced, true, 'synced once the API server answered');
});
