// Mesh routes in kubernetes mode: an HTTPRoute whose parent is the Service `hello`, created in the
// test API server after the proxies are up, reaches the client sidecar through `weft destination`
// (the proxy holds no API credentials); a change and a delete are seen within seconds, and a 410
// on the route watch is counted as a re-list.
import t from 'tap';
import http from 'node:http';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import type { KubeObject } from '../support/test-apiserver.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';

const base = randomBase();
const client: KubePod = { name: 'kr-client-0', address: `${base}.10`, serviceAccount: 'client' };
const v1: KubePod = { name: 'hello-0', address: `${base}.21`, serviceAccount: 'hello' };
const v2: KubePod = { name: 'hello-v2-0', address: `${base}.22`, serviceAccount: 'hello' };

const mesh = await KubeMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});
await mesh.startCa(`${base}.1`);
for (const pod of [client, v1, v2]) mesh.addPod(pod);
mesh.addService('hello');
mesh.addService('hello-v2');
mesh.setEndpoints('hello', [v1]);
mesh.setEndpoints('hello-v2', [v2]);
for (const pod of [v1, v2]) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
const [clientProxy] = await Promise.all([mesh.startProxy(client), mesh.startProxy(v1), mesh.startProxy(v2)]);
const outbound = `http://${client.address}:7001`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
t.teardown(() => agent.destroy());

/** One request to hello through the client sidecar: the pod that answered (or the failure). */
async function call(canary: boolean): Promise<string> {
  const res = await get(`${outbound}/who`, { host: 'hello', ...(canary ? { 'x-canary': '1' } : {}) }, agent);
  if (res.status !== 200) return `status ${res.status} ${String(res.headers['weft-error'] ?? '')}`;
  return (JSON.parse(res.body) as { pod: string }).pod;
}

/** Calls until `done(pod)`; returns the ms it took. */
async function until(what: string, canary: boolean, done: (pod: string) => boolean, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (done(await call(canary))) return Date.now() - started;
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** The pods that answered `n` calls. */
async function answers(n: number, canary: boolean): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await call(canary));
  return out;
}

const route = (rules: unknown[]): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'hello-canary', namespace: mesh.namespace },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'hello', port: 80 }], rules },
});
const canaryRule = { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ name: 'hello-v2', port: 80 }] };

t.test('without a route, hello is v1 whatever the headers', async (t) => {
  t.same(new Set([...(await answers(10, true)), ...(await answers(10, false))]), new Set(['hello-0']));
});

t.test('an HTTPRoute created after the proxies are up: x-canary: 1 reaches v2 only, the rest v1', async (t) => {
  // First a route in a third namespace naming shop's hello (all to v2): GAMMA applies it to callers
  // in that namespace only. Both routes come down one watch, in order: once the second applies,
  // the first was seen too, and must not have changed anything for this caller.
  mesh.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kr-other' } });
  mesh.api.apply({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'not-ours', namespace: 'kr-other' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'hello', namespace: mesh.namespace, port: 80 }], rules: [{ backendRefs: [{ name: 'hello-v2', namespace: mesh.namespace, port: 80 }] }] },
  });
  mesh.api.apply(route([canaryRule, { backendRefs: [{ name: 'hello', port: 80 }] }]));
  const ms = await until('the route applies', true, (pod) => pod === 'hello-v2-0');
  t.ok(ms < 3000, `the route applied ${ms} ms after it was created`);
  t.same(new Set(await answers(30, true)), new Set(['hello-v2-0']), 'every request with the header went to v2');
  t.same(new Set(await answers(30, false)), new Set(['hello-0']), "every request without it went to v1 (the other namespace's consumer route did not apply here)");
  t.ok((await metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', status_code: '200' })) >= 60, 'the client sidecar counted the routed requests');
});

t.test('a weight change is seen within seconds', async (t) => {
  mesh.api.apply(route([canaryRule, { backendRefs: [{ name: 'hello', port: 80, weight: 0 }, { name: 'hello-v2', port: 80, weight: 1 }] }]));
  const ms = await until('the weights apply', false, (pod) => pod === 'hello-v2-0');
  t.ok(ms < 3000, `the new weights applied ${ms} ms after the update`);
  t.same(new Set(await answers(20, false)), new Set(['hello-v2-0']), 'weight 0 on v1: every request without the header went to v2');
});

t.test('a 410 on the route watch is a counted re-list, and routes stay right through it', async (t) => {
  const admin = mesh.destination?.admin ?? '';
  const before = await metric(admin, 'weft_destination_watch_relists_total', { resource: 'httproutes', reason: 'expired' });
  // Expired again on each poll until the re-list is counted: a watch reopening at that instant misses one expiry.
  const deadline = Date.now() + 5000;
  let after = before;
  while (after <= before && Date.now() < deadline) {
    mesh.api.expireWatches();
    after = await metric(admin, 'weft_destination_watch_relists_total', { resource: 'httproutes', reason: 'expired' });
  }
  t.ok(after > before, `relists{httproutes,expired} went from ${before} to ${after}`);
  t.ok((await metric(admin, 'weft_destination_watch_restarts_total', { resource: 'httproutes', reason: 'expired' })) >= 1, 'the restart is counted too');
  t.ok((await metric(admin, 'weft_destination_watch_relists_total', { resource: 'grpcroutes', reason: 'initial' })) >= 1, 'the GRPCRoute loop listed (an absent CRD is empty)');
  t.same(new Set(await answers(10, true)), new Set(['hello-v2-0']), 'the route still applies after the re-list');
});

t.test('deleting the route: hello is v1 again within seconds', async (t) => {
  mesh.api.delete('gateway.networking.k8s.io/v1', 'HTTPRoute', mesh.namespace, 'hello-canary');
  const ms = await until('the delete applies', true, (pod) => pod === 'hello-0');
  t.ok(ms < 3000, `the delete applied ${ms} ms after it`);
  t.same(new Set([...(await answers(10, true)), ...(await answers(10, false))]), new Set(['hello-0']));
});
