// Authorization policy end to end in Kubernetes mode, past plain paths (docs/policy.md): method
// and path-prefix rules, AUDIT, a gRPC call refused with PERMISSION_DENIED and an opaque TCP connection refused by
// identity. The policies are AuthorizationPolicy objects in the test API server, served by a real
// `weft destination` to real `weft proxy` processes that hold no API credentials; the TCP client's
// certificate comes from the real `weft ca` through the same CSR exchange a sidecar makes.
import t from 'tap';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';
import { requestCertificate } from '../support/ca-request.js';
import { HELLO_RULES, grpcUnaryVia, helloPolicy, startAuthzWorkload, tcpToDatabase } from '../support/authz-workload.js';
import { createCsr } from '../../lib/pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../../lib/pki/crypto.js';
import type { KubeObject } from '../support/test-apiserver.js';

const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const intruder: KubePod = { name: 'intruder-0', address: `${base}.11`, serviceAccount: 'intruder' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };

const mesh = await KubeMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
const workload = await startAuthzWorkload(hello.address, hello.name);
t.teardown(async () => {
  await mesh.close();
  await app.close();
  workload.close();
});

await mesh.startCa(`${base}.1`);
for (const pod of [client, intruder, hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);
// The gRPC port as its own Service, as a chart would declare it (appProtocol grpc).
mesh.api.apply({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'hello-grpc', namespace: mesh.namespace },
  spec: { selector: { app: 'hello' }, ports: [{ name: 'grpc', port: 9090, targetPort: 9090, protocol: 'TCP', appProtocol: 'grpc' }] },
});
mesh.api.apply({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'hello-grpc-abcde', namespace: mesh.namespace, labels: { 'kubernetes.io/service-name': 'hello-grpc' } },
  addressType: 'IPv4',
  ports: [{ name: 'grpc', port: 9090, protocol: 'TCP', appProtocol: 'grpc' }],
  endpoints: [{ addresses: [hello.address], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: hello.name, namespace: mesh.namespace } }],
});

const policy = (name: string, action: string, rules: unknown[]): KubeObject => helloPolicy(mesh.namespace, name, action, rules);
mesh.api.apply(policy('hello-admin', 'ALLOW', [...HELLO_RULES]));

const [helloProxy] = await Promise.all([
  mesh.startProxy(hello, { WEFT_POD_LABELS: 'app=hello' }),
  mesh.startProxy(client, { WEFT_UPSTREAMS: 'hello-grpc:9090@9001' }),
  mesh.startProxy(intruder, { WEFT_UPSTREAMS: 'hello-grpc:9090@9001' }),
]);

type Explain = { policies: string[]; defaultPolicy: string };
/** Waits until the hello proxy has compiled exactly these policies (from weft destination). */
async function compiled(names: string[]): Promise<void> {
  const deadline = Date.now() + 5000;
  let now: Explain = { policies: [], defaultPolicy: '' };
  while (Date.now() < deadline) {
    now = JSON.parse((await get(`${helloProxy.admin}/debug/authz?identity=x&port=1`)).body) as Explain;
    if (JSON.stringify(now.policies) === JSON.stringify(names)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`hello proxy did not compile ${names.join(', ')} within 5 s: ${JSON.stringify(now)}`);
}

function call(from: KubePod, method: string, path: string): Promise<{ status: number; error: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: from.address, port: 7001, method, path, headers: { host: 'hello' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A workload certificate for `pod`, from the cluster's `weft ca`, with its token bound to that pod. */
async function certificateFor(pod: KubePod): Promise<{ key: string; cert: string; ca: string }> {
  const keys = await generateKeyPair();
  const token = mesh.api.issueToken({ namespace: mesh.namespace, serviceAccount: pod.serviceAccount, audiences: ['weft-ca'], pod: { name: pod.name } });
  const answer = await requestCertificate({ url: mesh.caUrl, caPem: await readFile(mesh.rootsFile, 'utf8'), token, rawBody: JSON.stringify({ csr: await createCsr(keys) }) });
  if (answer.status !== 200) throw new Error(`the CA refused ${pod.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  const { certificate, chain, trustBundle } = answer.body as { certificate: string; chain: string; trustBundle: string };
  return { key: await privateKeyToPem(keys.privateKey), cert: certificate + chain, ca: trustBundle };
}

t.test('a method rule allows GET and denies POST as written', async (t) => {
  await compiled(['shop/hello-admin']);
  t.equal((await call(intruder, 'GET', '/items/7')).status, 200);
  const post = await call(intruder, 'POST', '/items');
  t.equal(post.status, 403);
  t.equal(post.error, 'WEFT_ERR_FORBIDDEN');
  t.equal((await call(client, 'POST', '/items')).status, 200, 'the client may POST');
  t.equal((await call(client, 'DELETE', '/items')).status, 403, 'nobody may DELETE');
});

t.test('a path-prefix rule allows under the prefix and denies beside it, also after normalization', async (t) => {
  t.equal((await call(intruder, 'GET', '/public/index.html')).status, 200);
  t.equal((await call(intruder, 'GET', '/publicity')).status, 403);
  t.equal((await call(intruder, 'GET', '/public/../admin')).status, 403, 'dot segments cannot climb out of the prefix');
});

t.test('a gRPC call is refused with PERMISSION_DENIED, an allowed one answers with the caller identity', async (t) => {
  const denied = await grpcUnaryVia(intruder.address);
  t.equal(denied.code, grpc.status.PERMISSION_DENIED);
  t.match(denied.details, /WEFT_ERR_FORBIDDEN/);
  const allowed = await grpcUnaryVia(client.address);
  t.equal(allowed.code, grpc.status.OK);
  t.equal(allowed.caller, mesh.identity('client'));
});

t.test('an opaque TCP connection with a denied identity is refused; an allowed one pipes', async (t) => {
  const before = await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny' });
  t.equal(await tcpToDatabase(hello.address, await certificateFor(intruder)), '', 'nothing echoed: the connection was closed');
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny' }), before + 1);
  t.equal(await tcpToDatabase(hello.address, await certificateFor(client)), 'hello db');
});

t.test('AUDIT lets the request through, counts and logs it', async (t) => {
  mesh.api.apply(policy('watch-public', 'AUDIT', [{ from: { serviceAccounts: ['intruder'] }, to: { paths: ['/public/*'] } }]));
  await compiled(['shop/hello-admin', 'shop/watch-public']);
  const res = await call(intruder, 'GET', '/public/audited');
  t.equal(res.status, 200);
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'audit', policy: 'shop/watch-public' }), 1);
  t.match(await helloProxy.log(), /"policy":"shop\/watch-public"[^\n]*AUDIT: authorization policy would deny/);
});
