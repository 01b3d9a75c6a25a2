// Authorization policy end to end in local mode (docs/policy.md): real `weft proxy` processes for a
// client, an intruder and the hello pod; the policies come from the mesh file's authorization
// section and change under running connections. HTTP/1.1, gRPC and opaque TCP are each refused.
import t from 'tap';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { LocalMesh, randomBase, get, metric, type PodSpec, type ServiceSpec } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';
import { HELLO_RULES, grpcUnaryVia, helloPolicy as policyFor, startAuthzWorkload, tcpToDatabase } from '../support/authz-workload.js';
import { issueMaterial } from '../../lib/pki/leaf.js';

const base = randomBase();
const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
const intruder: PodSpec = { name: 'intruder-0', address: `${base}.2`, serviceAccount: 'intruder' };
const hello: PodSpec = { name: 'hello-0', address: `${base}.3`, serviceAccount: 'hello' };
const services: ServiceSpec[] = [
  { name: 'hello', port: 80, targetPort: 8080, pods: [hello] },
  { name: 'hello-grpc', port: 9090, targetPort: 9090, pods: [hello] },
];

const mesh = await LocalMesh.create();
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
const workload = await startAuthzWorkload(hello.address, hello.name);
t.teardown(async () => {
  await mesh.close();
  await app.close();
  workload.close();
});

const policy = (name: string, action: string, rules: unknown[]): unknown => policyFor(mesh.namespace, name, action, rules);
const helloPolicy = policy('hello-admin', 'ALLOW', [...HELLO_RULES]);

await mesh.setServices(services, { authorization: { policies: [helloPolicy] } });
const helloProxy = await mesh.startProxy(hello, {
  WEFT_POD_LABELS: 'app=hello,tier=web',
  WEFT_APP_PROBES: JSON.stringify({ 'app/readiness': { httpGet: { port: 8080, path: '/healthz' } } }),
});
const clientProxy = await mesh.startProxy(client, { WEFT_UPSTREAMS: 'hello-grpc:9090@9001' });
const intruderProxy = await mesh.startProxy(intruder, { WEFT_UPSTREAMS: 'hello-grpc:9090@9001' });

/** Writes the authorization section and waits until the hello proxy has compiled exactly these policies and default. */
async function apply(section: { policies: unknown[]; namespaces?: unknown }, defaultPolicy = 'all-unauthenticated'): Promise<void> {
  await mesh.setServices(services, { authorization: section });
  const names = section.policies.map((p) => `${mesh.namespace}/${(p as { metadata: { name: string } }).metadata.name}`);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const now = JSON.parse((await get(`${helloProxy.admin}/debug/authz?identity=x&port=1`)).body) as { policies: string[]; defaultPolicy: string };
    if (JSON.stringify(now.policies) === JSON.stringify(names) && now.defaultPolicy === defaultPolicy) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`hello proxy did not compile ${names.join(', ')} within 5 s`);
}

function call(from: PodSpec, method: string, path: string, agent: http.Agent | false = false): Promise<{ status: number; error: string; caller: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: from.address, port: 7001, method, path, headers: { host: 'hello' }, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let caller = '';
        try {
          const got = (JSON.parse(body) as { caller: unknown }).caller;
          caller = typeof got === 'string' ? got : '';
        } catch {
          caller = '';
        }
        resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? ''), caller, localPort: req.socket?.localPort ?? 0 });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const grpcUnary = (from: PodSpec): ReturnType<typeof grpcUnaryVia> => grpcUnaryVia(from.address);

/** Opens opaque TCP to the hello pod's port 5432 as `serviceAccount` (mTLS, ALPN weft-tcp) and returns what echoed back. */
async function tcpAs(serviceAccount: string): Promise<string> {
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity(serviceAccount), now: new Date() });
  return tcpToDatabase(hello.address, { key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem });
}

t.test('intruder gets 403 WEFT_ERR_FORBIDDEN on /admin while the client gets 200; the denial is counted and logged with its identity', async (t) => {
  const before = await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny', policy: 'no-allow-match' });
  const denied = await call(intruder, 'GET', '/admin');
  t.equal(denied.status, 403);
  t.equal(denied.error, 'WEFT_ERR_FORBIDDEN');
  const allowed = await call(client, 'GET', '/admin');
  t.equal(allowed.status, 200);
  t.equal(allowed.caller, mesh.identity('client'));
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny', policy: 'no-allow-match' }), before + 1);
  t.ok((await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'allow', policy: 'test/hello-admin' })) >= 1);
  const log = await helloProxy.log();
  t.match(log, new RegExp(`"peer":"${mesh.identity('intruder')}"[^\\n]*"path":"/admin"[^\\n]*denied by authorization policy`));
});

t.test('a method rule allows GET and denies POST as written', async (t) => {
  t.equal((await call(intruder, 'GET', '/items/7')).status, 200);
  t.equal((await call(intruder, 'POST', '/items')).status, 403);
  t.equal((await call(client, 'POST', '/items')).status, 200, 'the client may POST');
  t.equal((await call(client, 'DELETE', '/items')).status, 403, 'nobody may DELETE');
});

t.test('a path-prefix rule allows under the prefix and denies beside it, also after normalization', async (t) => {
  t.equal((await call(intruder, 'GET', '/public/index.html')).status, 200);
  t.equal((await call(intruder, 'GET', '/publicity')).status, 403);
  t.equal((await call(intruder, 'GET', '/public/../admin')).status, 403, 'dot segments cannot climb out of the prefix');
});

t.test('a gRPC call is refused with PERMISSION_DENIED (trailers-only), an allowed one answers', async (t) => {
  const denied = await grpcUnary(intruder);
  t.equal(denied.code, grpc.status.PERMISSION_DENIED);
  t.match(denied.details, /WEFT_ERR_FORBIDDEN/);
  const allowed = await grpcUnary(client);
  t.equal(allowed.code, grpc.status.OK);
  t.equal(allowed.caller, mesh.identity('client'));
});

t.test('an opaque TCP connection from a denied identity is refused; an allowed one pipes', async (t) => {
  const before = await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny' });
  t.equal(await tcpAs('intruder'), '', 'nothing echoed: the connection was closed');
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny' }), before + 1);
  t.equal(await tcpAs('client'), 'hello db');
});

t.test('/debug/authz answers "would X be allowed, and by which rule"', async (t) => {
  const ask = async (q: string): Promise<{ allowed: boolean; policy: string; rule: number }> => JSON.parse((await get(`${helloProxy.admin}/debug/authz?${q}`)).body) as { allowed: boolean; policy: string; rule: number };
  t.match(await ask(`identity=${mesh.identity('client')}&port=8080&method=GET&path=/admin/x`), { allowed: true, policy: 'test/hello-admin', rule: 0 });
  t.match(await ask(`identity=${mesh.identity('intruder')}&port=8080&method=post&path=/items`), { allowed: false, policy: 'no-allow-match', rule: -1 });
  t.match(await ask(`identity=${mesh.identity('client')}&port=5432`), { allowed: true, policy: 'test/hello-admin', rule: 4 });
  const bad = await get(`${helloProxy.admin}/debug/authz?port=x`);
  t.equal(bad.status, 400);
  t.equal(bad.headers['weft-error'], 'WEFT_ERR_BAD_REQUEST');
});

t.test('DENY overrides ALLOW', async (t) => {
  await apply({ policies: [helloPolicy, policy('no-intruder-items', 'DENY', [{ from: { serviceAccounts: ['intruder'] }, to: { paths: ['/items/*'] } }])] });
  const res = await call(intruder, 'GET', '/items/7');
  t.equal(res.status, 403, 'the ALLOW rule for GET /items/* no longer lets the intruder in');
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny', policy: 'test/no-intruder-items' }), 1);
  t.equal((await call(intruder, 'GET', '/items')).status, 200, 'outside the DENY the ALLOW still answers');
  t.equal((await call(client, 'GET', '/items/7')).status, 200);
});

t.test('AUDIT lets the request through, counts and logs it', async (t) => {
  await apply({ policies: [helloPolicy, policy('watch-public', 'AUDIT', [{ from: { serviceAccounts: ['intruder'] }, to: { paths: ['/public/*'] } }])] });
  const res = await call(intruder, 'GET', '/public/audited');
  t.equal(res.status, 200);
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'audit', policy: 'test/watch-public' }), 1);
  t.match(await helloProxy.log(), /"policy":"test\/watch-public"[^\n]*AUDIT: authorization policy would deny/);
});

t.test('a policy change applies within 1 s while a keep-alive connection stays open; its next request gets the new answer', async (t) => {
  await apply({ policies: [helloPolicy] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await call(client, 'GET', '/public/k', agent);
  t.equal(first.status, 200);
  const inboundConnections = await metric(helloProxy.admin, 'weft_connections_total', { direction: 'inbound' });
  const written = Date.now();
  await mesh.setServices(services, { authorization: { policies: [helloPolicy, policy('close-public', 'DENY', [{ to: { paths: ['/public/*'] } }])] } });
  let last = first;
  while (Date.now() - written < 1000) {
    last = await call(client, 'GET', '/public/k', agent);
    if (last.status === 403) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const elapsed = Date.now() - written;
  t.equal(last.status, 403, `denied after ${elapsed} ms`);
  t.ok(elapsed < 1000, `within 1 s (${elapsed} ms)`);
  t.equal(last.localPort, first.localPort, "the app's keep-alive connection to its sidecar stayed open");
  t.equal(await metric(helloProxy.admin, 'weft_connections_total', { direction: 'inbound' }), inboundConnections, 'no new mTLS connection between the sidecars');
});

t.test('a namespace default of deny blocks everything except probes and the admin port', async (t) => {
  await apply({ policies: [], namespaces: { [mesh.namespace]: { defaultInboundPolicy: 'deny' } } }, 'deny');
  const res = await call(client, 'GET', '/');
  t.equal(res.status, 403);
  t.equal(res.error, 'WEFT_ERR_FORBIDDEN');
  t.equal((await grpcUnary(client)).code, grpc.status.PERMISSION_DENIED);
  t.equal(await tcpAs('client'), '', 'TCP refused too');
  t.equal(await metric(helloProxy.admin, 'weft_authz_decisions_total', { decision: 'deny', policy: 'default:deny' }), 3);
  const hits = app.hits.length;
  t.equal((await get(`${helloProxy.admin}/app-probe/app/readiness`)).status, 200, "the kubelet's rewritten probe still reaches the app");
  t.equal(app.hits.at(-1), '/healthz');
  t.equal(app.hits.length, hits + 1);
  t.equal((await get(`${helloProxy.admin}/ready`)).status, 200, 'the admin port answers');
  t.equal((await get(`${helloProxy.admin}/metrics`)).status, 200);
  // Back to open: the pod's own default would beat the namespace's, here there is none.
  await apply({ policies: [] });
  t.equal((await call(client, 'GET', '/')).status, 200);
});

t.test('a bad policy section is refused with WEFT_ERR_AUTHZ_POLICY and the last good policies keep deciding', async (t) => {
  await apply({ policies: [helloPolicy] });
  await mesh.setServices(services, { authorization: { policies: [policy('broken', 'MAYBE', [])] } });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(await helloProxy.log()).includes('WEFT_ERR_AUTHZ_POLICY')) await new Promise((r) => setTimeout(r, 20));
  t.match(await helloProxy.log(), /"code":"WEFT_ERR_AUTHZ_POLICY"[^\n]*spec.action/);
  t.equal((await call(intruder, 'GET', '/admin')).status, 403, 'hello-admin still decides');
  t.equal((await get(`${helloProxy.admin}/ready`)).status, 200);
  t.equal(clientProxy.exitCode, undefined);
  t.equal(intruderProxy.exitCode, undefined);
});
