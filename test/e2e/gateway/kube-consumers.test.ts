// Consumers in kubernetes mode end to end: the test API server, a real `weft ca`, a proxy in front
// of an echo app and a real `weft gateway` whose Consumer keys come from a labelled Secret. Keys
// rotate with overlap: a key added to the Secret works, and a key removed from it stops working,
// each within 2 s, with no restart and no failed request for the keys left in place.
import { createHash } from 'node:crypto';
import t from 'tap';
import { KubeMesh, type KubePod } from '../../support/kube-mesh.js';
import { randomBase, get } from '../../support/local-mesh.js';
import { startEchoApp } from '../../support/echo-app.js';
import { ROUTE_RESOURCES } from '../../../gateway/sources/kube-routes.js';
import type { KubeObject } from '../../support/test-apiserver.js';

const base = randomBase();
const gw: KubePod = { name: 'weft-gateway-0', address: `${base}.2`, serviceAccount: 'weft-gateway' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };
const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const mesh = await KubeMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
for (const r of ROUTE_RESOURCES.filter((x) => x.resource === 'referencegrants' || x.group === 'weft.dev')) {
  mesh.api.addResource({ group: r.group, version: r.version, resource: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, namespaced: true });
}
await mesh.startCa(`${base}.1`);
for (const pod of [gw, hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);
await mesh.startProxy(hello);

const ns = mesh.namespace;
const keysSecret = (data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'alice-keys', namespace: ns, labels: { 'weft.dev/consumer-keys': 'true' } },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(sha(v))])),
});
const objects: KubeObject[] = [
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'edge', namespace: ns }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: ns },
    spec: { parentRefs: [{ name: 'edge' }], hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'hello', port: 80 }] }] },
  },
  { apiVersion: 'weft.dev/v1alpha1', kind: 'ApiKeyPolicy', metadata: { name: 'keys', namespace: ns }, spec: { targetRef: { kind: 'Gateway', name: 'edge' } } },
  { apiVersion: 'weft.dev/v1alpha1', kind: 'Plan', metadata: { name: 'gold', namespace: ns }, spec: { limits: [{ requests: 1_000_000, per: 'minute' }] } },
  { apiVersion: 'weft.dev/v1alpha1', kind: 'Consumer', metadata: { name: 'alice', namespace: ns }, spec: { plan: 'gold', apiKeys: [{ secretRef: { name: 'alice-keys' } }] } },
  { apiVersion: 'weft.dev/v1alpha1', kind: 'Consumer', metadata: { name: 'bob', namespace: ns }, spec: { plan: 'gold', apiKeys: [{ keySha256: sha('bob-key-1') }] } },
  keysSecret({ k1: 'alice-key-1' }),
];

t.test('keys from a labelled Secret rotate with overlap, within 2 s, without a restart or a failed request', async (t) => {
  for (const o of objects) mesh.api.apply(o);
  const proc = await mesh.startGateway(gw, { WEFT_GATEWAY_CONSUMER_KEY_SECRETS: 'true' });
  const front = `http://${gw.address}:8080/`;
  const call = async (key: string): Promise<{ status: number; body: string }> => get(front, { host: 'shop.example.com', 'x-api-key': key });
  // The first build after /ready may still be settling: wait for the key to be known at all.
  let first = await call('alice-key-1');
  for (const deadline = Date.now() + 10_000; first.status !== 200 && Date.now() < deadline; first = await call('alice-key-1')) await new Promise((r) => setTimeout(r, 50));
  t.equal(first.status, 200, `a key from the Secret works: ${first.body}`);
  t.equal((await call('bob-key-1')).status, 200, 'an inline key works');
  t.equal((await call('nobody')).status, 401, 'an unknown key is refused');
  t.match(await proc.log(), /"consumer":"alice"/, 'the access log names the consumer');

  // Keys that stay valid are called without pause for the whole rotation; any non-200 is a failure.
  const failures: string[] = [];
  let steady = 0;
  let running = true;
  const steadyKeys = ['bob-key-1'];
  const loop = (async () => {
    while (running) {
      for (const k of steadyKeys) {
        const r = await call(k);
        steady += 1;
        if (r.status !== 200) failures.push(`${k}: ${r.status} ${r.body}`);
      }
    }
  })();

  // Overlap: the new key is added next to the old one.
  const added = Date.now();
  mesh.api.apply(keysSecret({ k1: 'alice-key-1', k2: 'alice-key-2' }));
  let r2 = await call('alice-key-2');
  while (r2.status !== 200 && Date.now() - added < 5000) r2 = await call('alice-key-2');
  const addMs = Date.now() - added;
  t.equal(r2.status, 200, 'the added key works');
  t.ok(addMs < 2000, `the added key worked after ${addMs} ms (< 2000)`);
  t.equal((await call('alice-key-1')).status, 200, 'the old key still works during the overlap');
  steadyKeys.push('alice-key-2');

  // The old key is removed.
  const removed = Date.now();
  mesh.api.apply(keysSecret({ k2: 'alice-key-2' }));
  let r1 = await call('alice-key-1');
  while (r1.status !== 401 && Date.now() - removed < 5000) r1 = await call('alice-key-1');
  const removeMs = Date.now() - removed;
  t.equal(r1.status, 401, 'the removed key is refused');
  t.ok(removeMs < 2000, `the removed key stopped working after ${removeMs} ms (< 2000)`);
  // A little more steady traffic after the change settled, then stop.
  const until = steady + 50;
  while (steady < until) await new Promise((r) => setTimeout(r, 10));
  running = false;
  await loop;
  t.same(failures, [], `no failed request for the keys kept (${steady} requests)`);
  t.equal(proc.exitCode, undefined, 'the gateway was not restarted');
});
