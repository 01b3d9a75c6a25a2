// Authorization policy end to end in Kubernetes mode (docs/policy.md): AuthorizationPolicy objects
// and the Namespace annotation live in the test API server; a real `weft destination` watches them
// and serves each proxy its own namespace's set; real `weft proxy` processes (no API credentials)
// enforce them. Covers: a denied identity, a namespace default of deny, a change under a kept-alive
// connection, and a proxy of another namespace that must not receive these policies.
import t from 'tap';
import http from 'node:http';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';
import type { KubeObject } from '../support/test-apiserver.js';

const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const intruder: KubePod = { name: 'intruder-0', address: `${base}.11`, serviceAccount: 'intruder' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };
// Same labels and service account as hello, in another namespace: a policy of shop must not reach it.
const OTHER_NS = 'kpol-other';
const stranger: KubePod = { name: 'stranger-0', address: `${base}.30`, serviceAccount: 'hello', namespace: OTHER_NS };

const mesh = await KubeMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
mesh.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: OTHER_NS } });
await mesh.startCa(`${base}.1`);
for (const pod of [client, intruder, hello]) mesh.addPod(pod);
mesh.api.apply({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: stranger.name, namespace: OTHER_NS, labels: { app: 'hello' }, annotations: { 'weft.dev/injected': 'true' } },
  spec: { serviceAccountName: stranger.serviceAccount, containers: [{ name: 'app', image: 'echo' }] },
  status: { phase: 'Running', podIP: stranger.address, podIPs: [{ ip: stranger.address }], conditions: [{ type: 'Ready', status: 'True' }] },
});
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);

const policy = (name: string, action: string, rules: unknown[]): KubeObject => ({
  apiVersion: 'policy.weft.dev/v1alpha1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: mesh.namespace },
  spec: { selector: { matchLabels: { app: 'hello' } }, action, rules },
});
const helloPolicy = policy('hello-admin', 'ALLOW', [
  { from: { serviceAccounts: ['client'] }, to: { paths: ['/admin', '/admin/*'] } },
  { to: { ports: [8080], paths: ['/public/*', '/'] } },
]);
mesh.api.apply(helloPolicy);

// As the injector writes them: the pod's labels, no pod default.
const [helloProxy, , , strangerProxy] = await Promise.all([
  mesh.startProxy(hello, { WEFT_POD_LABELS: 'app=hello', WEFT_APP_PROBES: JSON.stringify({ 'app/readiness': { httpGet: { port: 8080, path: '/healthz' } } }) }),
  mesh.startProxy(client),
  mesh.startProxy(intruder),
  mesh.startProxy(stranger, { WEFT_POD_LABELS: 'app=hello' }),
]);

function call(from: KubePod, path: string, agent: http.Agent | false = false): Promise<{ status: number; error: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: from.address, port: 7001, method: 'GET', path, headers: { host: 'hello' }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? ''), localPort: req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Explain = { policies: string[]; defaultPolicy: string };
const explain = async (proxyAdmin: string): Promise<Explain> => JSON.parse((await get(`${proxyAdmin}/debug/authz?identity=x&port=1`)).body) as Explain;

/** Waits until the hello proxy has compiled exactly these policies and default. */
async function compiled(names: string[], defaultPolicy: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const now = await explain(helloProxy.admin);
    if (JSON.stringify(now.policies) === JSON.stringify(names) && now.defaultPolicy === defaultPolicy) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`hello proxy did not compile ${names.join(', ')} (${defaultPolicy}) within 5 s: ${JSON.stringify(await explain(helloProxy.admin))}`);
}

t.test('intruder gets 403 WEFT_ERR_FORBIDDEN on /admin while client gets 200', async (t) => {
  await compiled(['shop/hello-admin'], 'all-unauthenticated');
  const denied = await call(intruder, '/admin');
  t.equal(denied.status, 403);
  t.equal(denied.error, 'WEFT_ERR_FORBIDDEN');
  t.equal((await call(client, '/admin')).status, 200);
  t.equal((await call(intruder, '/public/x')).status, 200, 'the rule without "from" admits any authenticated peer');
  t.ok((await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'allow', policy: 'shop/hello-admin' })) >= 2);
  t.notOk(mesh.api.requests.some((r) => r.includes('authorizationpolicies') && !r.startsWith('GET /apis/policy.weft.dev/v1alpha1/authorizationpolicies')), 'only the cluster-wide list and watch of weft destination');
});

t.test('a proxy of another namespace does not receive these policies', async (t) => {
  const other = await explain(strangerProxy.admin);
  t.same(other.policies, [], `same labels, namespace ${OTHER_NS}: no policy of shop`);
  t.equal(other.defaultPolicy, 'all-unauthenticated');
  t.match(await strangerProxy.log(), /authorization policies loaded/, 'it did get its own (empty) set from weft destination');
});

t.test('a policy change applies within 1 s on a kept-alive connection', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await call(client, '/public/k', agent);
  t.equal(first.status, 200);
  const inbound = await metric(helloProxy.admin, 'weft_connections_total', { direction: 'inbound' });
  const written = Date.now();
  mesh.api.apply(policy('close-public', 'DENY', [{ to: { paths: ['/public/*'] } }]));
  let last = first;
  while (Date.now() - written < 1000) {
    last = await call(client, '/public/k', agent);
    if (last.status === 403) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const elapsed = Date.now() - written;
  t.equal(last.status, 403, `denied after ${elapsed} ms`);
  t.ok(elapsed < 1000, `within 1 s (${elapsed} ms)`);
  t.equal(last.localPort, first.localPort, "the app's keep-alive connection to its sidecar stayed open");
  t.equal(await metric(helloProxy.admin, 'weft_connections_total', { direction: 'inbound' }), inbound, 'no new mTLS connection between the sidecars');
  t.same((await explain(strangerProxy.admin)).policies, [], 'the other namespace still has none');
  mesh.api.delete('policy.weft.dev/v1alpha1', 'AuthorizationPolicy', mesh.namespace, 'close-public');
  await compiled(['shop/hello-admin'], 'all-unauthenticated');
  t.equal((await call(client, '/public/k', agent)).status, 200, 'deleting the DENY opens it again');
});

t.test('a namespace default of deny (annotation) blocks; probes and the admin port are not blocked', async (t) => {
  mesh.api.delete('policy.weft.dev/v1alpha1', 'AuthorizationPolicy', mesh.namespace, 'hello-admin');
  mesh.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.namespace, annotations: { 'config.weft.dev/default-inbound-policy': 'deny' } } });
  await compiled([], 'deny');
  const res = await call(client, '/');
  t.equal(res.status, 403);
  t.equal(res.error, 'WEFT_ERR_FORBIDDEN');
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny', policy: 'default:deny' }), 1);
  const hits = app.hits.length;
  t.equal((await get(`${helloProxy.admin}/app-probe/app/readiness`)).status, 200, "the kubelet's rewritten probe still reaches the app");
  t.equal(app.hits.length, hits + 1);
  t.equal((await get(`${helloProxy.admin}/ready`)).status, 200, 'the admin port answers');
  t.equal((await explain(strangerProxy.admin)).defaultPolicy, 'all-unauthenticated', "another namespace's default is not shop's");
  // The annotation removed: open again.
  mesh.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.namespace } });
  await compiled([], 'all-unauthenticated');
  t.equal((await call(client, '/')).status, 200);
});
