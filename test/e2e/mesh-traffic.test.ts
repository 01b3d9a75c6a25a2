// End to end through real `weft proxy` processes: HTTP/1.1, HTTP/2, gRPC and WebSocket cross two
// sidecars over mutual TLS 1.3, balanced per request.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LocalMesh, randomBase, get, metric, type PodSpec } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';
import { issueMaterial } from '../../lib/pki/leaf.js';

const base = randomBase();
const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
const hello: PodSpec[] = [2, 3, 4].map((n, i) => ({ name: `hello-${i}`, address: `${base}.${n}`, serviceAccount: 'hello' }));
const grpcPod: PodSpec = { name: 'echo-grpc-0', address: `${base}.5`, serviceAccount: 'echo-grpc' };

const mesh = await LocalMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
  grpcServer.forceShutdown();
});

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as {
  weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
interface Msg { text: string; pod?: string; caller?: string }
const grpcServer = new grpc.Server();
grpcServer.addService(pkg.weft.test.Echo.service, {
  Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
    cb(null, { text: call.request.text, pod: grpcPod.name, caller: String(call.metadata.get('weft-client-id')[0] ?? '') });
  },
  Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
    call.on('data', (m: Msg) => call.write({ text: `echo ${m.text}`, pod: grpcPod.name, caller: String(call.metadata.get('weft-client-id')[0] ?? '') }));
    call.on('end', () => call.end());
  },
});
await new Promise<void>((resolve, reject) =>
  grpcServer.bindAsync(`${grpcPod.address}:9090`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
);

for (const pod of hello) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
await mesh.setServices([
  { name: 'hello', port: 80, targetPort: 8080, pods: hello },
  { name: 'echo-grpc', port: 9090, targetPort: 9090, pods: [grpcPod] },
]);
// These tests check per-request spreading by load; latency steering (on by default, which follows
// the luck of a loaded machine's timing) is tested in mesh-resilience.test.ts.
// The access log is off by default; these tests read its lines, so it is turned on.
const clientProxy = await mesh.startProxy(client, { WEFT_UPSTREAMS: 'echo-grpc:9090@9001', WEFT_BALANCE_EWMA: 'false', WEFT_ACCESS_LOG: 'true' });
const helloProxies = await Promise.all(hello.map((pod) => mesh.startProxy(pod, { WEFT_ACCESS_LOG: 'true' })));
await mesh.startProxy(grpcPod);
const outbound = `http://${client.address}:7001`;

t.test('a request crosses two sidecars over mutual TLS 1.3 and the app sees the caller identity', async (t) => {
  const res = await get(`${outbound}/hi`, { host: 'hello' });
  t.equal(res.status, 200);
  const body = JSON.parse(res.body) as { pod: string; caller: string; remote: string };
  t.match(body.pod, /^hello-\d$/);
  t.equal(body.caller, mesh.identity('client'), 'inbound sidecar vouched for the client identity');
  const served = helloProxies.find((p) => p.pod.name === body.pod);
  t.ok(served, 'a hello sidecar served it');
  t.ok((await metric(served?.admin ?? '', 'weft_requests_total', { direction: 'inbound', service: 'test/hello:80', tls: 'true', src_workload: 'client', dst_workload: 'hello' })) >= 1, 'server sidecar counted the inbound request from the client identity');
  t.ok((await metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', service: 'test/hello:80', status_code: '200', src_workload: 'client', dst_workload: 'hello' })) >= 1, 'client sidecar counted the outbound response by the workloads of both identities');
  // One access-log line per request on each side, with what a person needs to follow it.
  const outLine = (await clientProxy.log()).split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).find((l) => l.msg === 'request' && l.path === '/hi');
  t.match(outLine, { direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', service: 'test/hello:80', peer: mesh.identity('hello'), status: 200, durationMs: Number });
  const inLine = (await (served?.log() ?? Promise.resolve(''))).split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).find((l) => l.msg === 'request' && l.path === '/hi');
  t.match(inLine, { direction: 'inbound', peer: mesh.identity('client'), service: 'test/hello:80', status: 200 }, 'the inbound side names the service as the client sidecar routed it');
  // The hop itself: a peer with a valid certificate negotiates TLS 1.3, and TLS 1.2 is refused.
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity('probe'), now: new Date() });
  const socket = tls.connect({ host: hello[0]?.address, port: 7006, key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  t.equal(socket.getProtocol(), 'TLSv1.3');
  t.equal(socket.alpnProtocol, 'http/1.1');
  t.match(socket.getPeerCertificate().subjectaltname, `URI:${mesh.identity('hello')}`, 'server presents its own identity');
  socket.destroy();
  const old = tls.connect({ host: hello[0]?.address, port: 7006, key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem, maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined });
  const err = await new Promise<Error>((resolve) => old.once('error', resolve).once('secureConnect', () => resolve(new Error('connected'))));
  t.not(err.message, 'connected', 'TLS 1.2 refused');
  old.destroy();
});

t.test('curl through the outbound listener as an HTTP proxy works too', async (t) => {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-s', '-x', outbound, 'http://hello/curl'], (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout))),
  );
  t.match(JSON.parse(out), { path: '/curl', caller: mesh.identity('client') });
});

t.test('300 requests on ONE keep-alive connection are spread over the three replicas (25-42 % each)', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const counts = new Map<string, number>();
  const sockets = new Set<unknown>();
  for (let i = 0; i < 300; i++) {
    const res = await new Promise<{ pod: string }>((resolve, reject) => {
      const req = http.get(`${outbound}/one-conn`, { agent, headers: { host: 'hello' } }, (r) => {
        sockets.add(r.socket);
        let b = '';
        r.on('data', (d: Buffer) => (b += d.toString()));
        r.on('end', () => resolve(JSON.parse(b) as { pod: string }));
      });
      req.on('error', reject);
    });
    counts.set(res.pod, (counts.get(res.pod) ?? 0) + 1);
  }
  agent.destroy();
  t.equal(sockets.size, 1, 'all 300 used one connection');
  t.equal(counts.size, 3);
  for (const [pod, n] of counts) t.ok(n >= 75 && n <= 126, `${pod} got ${n}/300`);
});

t.test('300 requests on ONE HTTP/2 connection are spread over the three replicas (25-42 % each)', async (t) => {
  const session = http2.connect(outbound);
  const counts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      const s = session.request({ ':path': '/h2', ':authority': 'hello' });
      let b = '';
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
    const parsed = JSON.parse(body) as { pod: string; protocol: string; caller: string };
    if (i === 0) {
      t.equal(parsed.protocol, '2.0', 'the app is reached over HTTP/2');
      t.equal(parsed.caller, mesh.identity('client'));
    }
    counts.set(parsed.pod, (counts.get(parsed.pod) ?? 0) + 1);
  }
  session.close();
  t.equal(counts.size, 3);
  for (const [pod, n] of counts) t.ok(n >= 75 && n <= 126, `${pod} got ${n}/300`);
});

t.test('gRPC unary and bidirectional streaming through an explicit upstream', async (t) => {
  const Echo = pkg.weft.test.Echo;
  const c = new Echo(`${client.address}:9001`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(m: Msg, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
    Chat(): grpc.ClientDuplexStream<Msg, Msg>;
  };
  const reply = await new Promise<Msg>((resolve, reject) => c.Unary({ text: 'ping' }, (err, r) => (err || !r ? reject(err ?? new Error('no reply')) : resolve(r))));
  t.same({ text: reply.text, pod: reply.pod, caller: reply.caller }, { text: 'ping', pod: grpcPod.name, caller: mesh.identity('client') });
  const call = c.Chat();
  const got: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (m: Msg) => got.push(m.text));
    call.on('end', resolve);
    call.on('error', reject);
  });
  for (const word of ['a', 'b', 'c']) call.write({ text: word });
  call.end();
  await done;
  t.same(got, ['echo a', 'echo b', 'echo c'], 'three messages streamed both ways, in order');
  c.close();
});

t.test('a gRPC call to a service with no endpoint fails with UNAVAILABLE and the weft error', async (t) => {
  await mesh.setServices([
    { name: 'hello', port: 80, targetPort: 8080, pods: hello },
    { name: 'echo-grpc', port: 9090, targetPort: 9090, pods: [] },
  ]);
  await waitFor(async () => (await get(`${clientProxy.admin}/debug/endpoints`)).body.includes('"service": "test/echo-grpc:9090",\n      "state": "known",\n      "endpoints": []'));
  const c = new pkg.weft.test.Echo(`${client.address}:9001`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(m: Msg, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  };
  const err = await new Promise<grpc.ServiceError | null>((resolve) => c.Unary({ text: 'x' }, (e) => resolve(e)));
  t.equal(err?.code, grpc.status.UNAVAILABLE);
  t.match(err?.details, /WEFT_ERR_NO_ENDPOINTS/);
  c.close();
  await mesh.setServices([
    { name: 'hello', port: 80, targetPort: 8080, pods: hello },
    { name: 'echo-grpc', port: 9090, targetPort: 9090, pods: [grpcPod] },
  ]);
});

t.test('a WebSocket echo crosses the mesh', async (t) => {
  const ws = new WebSocket(`ws://${client.address}:7001/ws`, { headers: { host: 'hello' } });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const replies: string[] = [];
  const three = new Promise<void>((resolve) =>
    ws.on('message', (d) => {
      replies.push((d as Buffer).toString());
      if (replies.length === 3) resolve();
    }),
  );
  ws.send('one');
  ws.send('two');
  ws.send(Buffer.from([1, 2, 3]));
  await three;
  ws.close();
  t.match(replies[0], /^hello-\d:one$/);
  t.match(replies[1], /^hello-\d:two$/);
  t.equal(replies[2], '\u0001\u0002\u0003', 'binary frame echoed unchanged');
});

t.test('an endpoint removed from the set receives no new requests', async (t) => {
  const removed = hello[2] as PodSpec;
  await mesh.setServices([
    { name: 'hello', port: 80, targetPort: 8080, pods: hello.slice(0, 2) },
    { name: 'echo-grpc', port: 9090, targetPort: 9090, pods: [grpcPod] },
  ]);
  await waitFor(async () => !(await get(`${clientProxy.admin}/debug/endpoints`)).body.includes(removed.address));
  const before = apps[2]?.hits.length ?? 0;
  const pods = new Set<string>();
  for (let i = 0; i < 60; i++) pods.add((JSON.parse((await get(`${outbound}/after-removal`, { host: 'hello' })).body) as { pod: string }).pod);
  t.equal(apps[2]?.hits.length, before, `${removed.name} got no request after removal`);
  t.same([...pods].sort(), ['hello-0', 'hello-1']);
  await mesh.setServices([
    { name: 'hello', port: 80, targetPort: 8080, pods: hello },
    { name: 'echo-grpc', port: 9090, targetPort: 9090, pods: [grpcPod] },
  ]);
});

t.test('unknown services and bad hosts get a coded error', async (t) => {
  const unknown = await get(`${outbound}/`, { host: 'nope' });
  t.equal(unknown.status, 502);
  t.equal(unknown.headers['weft-error'], 'WEFT_ERR_UNKNOWN_SERVICE');
  const bad = await get(`${outbound}/`, { host: 'bad_host!' });
  t.equal(bad.status, 400);
  t.equal(bad.headers['weft-error'], 'WEFT_ERR_BAD_REQUEST');
  t.match(bad.body, /not a DNS name/);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
