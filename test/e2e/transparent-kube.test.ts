// The outbound decision in kubernetes mode (weft destination answers what an address is and which
// pods are meshed), on loopback without capture: HTTP to a meshed pod by IP gets mTLS, a Service
// whose pods have no sidecar is reached in plaintext. The cases that need capture (an original
// destination: passthrough outside the cluster, ClusterIPs, opaque TCP) run in
// transparent-netns.test.ts, in local mode.
import t from 'tap';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';

const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const hello: KubePod = { name: 'hello-0', address: `${base}.21`, serviceAccount: 'hello' };
const legacy: KubePod = { name: 'legacy-0', address: `${base}.31`, serviceAccount: 'legacy' };

const mesh = await KubeMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});
await mesh.startCa(`${base}.1`);
mesh.addPod(client);
mesh.addPod(hello);
mesh.addPod({ ...legacy, meshed: false });
mesh.addService('hello');
mesh.addService('legacy');
mesh.setEndpoints('hello', [hello]);
mesh.setEndpoints('legacy', [legacy]);
apps.push(await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 }));
// The legacy pod has no sidecar: its app listens on the pod address itself.
apps.push(await startEchoApp({ pod: legacy.name, address: legacy.address, port: 8080 }));
// The access log (off by default) is on: a test reads why a request left the mesh from it.
const [clientProxy] = await Promise.all([mesh.startProxy(client, { WEFT_ACCESS_LOG: 'true' }), mesh.startProxy(hello)]);
const outbound = `http://${client.address}:7001`;

t.test('HTTP to a meshed pod by IP is mTLS to its sidecar: the app sees the caller identity', async (t) => {
  const res = await get(`${outbound}/by-ip`, { host: `${hello.address}:8080` });
  t.equal(res.status, 200, JSON.stringify(res.headers));
  const body = JSON.parse(res.body) as { pod: string; caller: string | null };
  t.equal(body.pod, 'hello-0');
  t.equal(body.caller, mesh.identity('client'));
  t.equal(await metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', status_code: '200', dst_workload: 'hello', dst_namespace: mesh.namespace }), 1);
});

t.test('a Service whose pods have no sidecar: 200 in plaintext, counted as passthrough no-sidecar', async (t) => {
  const res = await get(`${outbound}/legacy`, { host: 'legacy' });
  t.equal(res.status, 200, `${res.status} ${String(res.headers['weft-error'] ?? '')}`);
  const body = JSON.parse(res.body) as { pod: string; caller: string | null };
  t.equal(body.pod, 'legacy-0');
  t.equal(body.caller, null, 'no mesh identity: the request went as the app sent it');
  t.equal(await metric(clientProxy.admin, 'weft_outbound_passthrough_total', { protocol: 'http', reason: 'no-sidecar', tls: 'no' }), 1);
  t.match(await clientProxy.log(), /"service":"passthrough","endpoint":"[\d.]+:8080","reason":"no-sidecar"/, 'the access log says why');
});

t.test('a pod without a sidecar, by IP, from an app that was not captured, is no mesh destination', async (t) => {
  const res = await get(`${outbound}/plain-ip`, { host: `${legacy.address}:8080` });
  t.equal(res.status, 502);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_UNKNOWN_SERVICE');
});
