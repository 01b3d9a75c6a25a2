// The metrics vocabulary end to end, through real `weft proxy` and `weft gateway` processes: a gRPC
// backend answering INTERNAL, an opaque TCP hop, and the gateway's series, scraped from /metrics.
import t from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LocalMesh, randomBase, get, metric, type PodSpec } from '../support/local-mesh.js';
import { GatewayMesh, request } from '../support/gateway-mesh.js';
import { parsePromText } from '../../cli/observe/prom-text.js';
import { LATENCY_LABELS, REQUEST_LABELS, RESPONSE_LABELS } from '../../mesh/metrics/vocabulary.js';

const base = randomBase();
const client: PodSpec = { name: 'mv-client-0', address: `${base}.1`, serviceAccount: 'mv-client' };
const grpcPod: PodSpec = { name: 'mv-grpc-0', address: `${base}.2`, serviceAccount: 'mv-grpc' };
const dbPod: PodSpec = { name: 'mv-db-0', address: `${base}.3`, serviceAccount: 'mv-db' };

const mesh = await LocalMesh.create();
t.teardown(async () => {
  await mesh.close();
  grpcServer.forceShutdown();
  db.close();
});

// A gRPC backend whose every unary call fails with INTERNAL (HTTP 200, grpc-status 13 in trailers).
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as {
  weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
interface Msg { text: string }
const grpcServer = new grpc.Server();
grpcServer.addService(pkg.weft.test.Echo.service, {
  Unary: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb({ code: grpc.status.INTERNAL, details: 'broken on purpose' }),
  Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => call.end(),
});
await new Promise<void>((resolve, reject) => grpcServer.bindAsync(`${grpcPod.address}:9090`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));

// An opaque TCP backend: echoes every byte back.
const db = net.createServer((s) => s.pipe(s));
await new Promise<void>((resolve) => db.listen(7777, dbPod.address, resolve));

await mesh.setServices([
  { name: 'mv-grpc', port: 9090, targetPort: 9090, pods: [grpcPod] },
  { name: 'mv-db', port: 7777, targetPort: 7777, pods: [dbPod] },
]);
const clientProxy = await mesh.startProxy(client, { WEFT_UPSTREAMS: 'mv-grpc:9090@9001,mv-db:7777@9002' });
const grpcProxy = await mesh.startProxy(grpcPod);
const dbProxy = await mesh.startProxy(dbPod);

/** The samples of `name` on a process's /metrics. */
async function samples(admin: string, name: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  return parsePromText((await get(`${admin}/metrics`)).body).filter((s) => s.name === name);
}

/** Polls `read` until it returns `want` (counters of a closed connection land when its close is handled). */
async function until(read: () => Promise<number>, want: number, what: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  let got = await read();
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    got = await read();
  }
  if (got !== want) throw new Error(`${what}: ${got}, expected ${want}`);
  return got;
}

t.test('five gRPC calls answered INTERNAL: grpc_status="13" beside status_code="200", on both sidecars, joinable', async (t) => {
  const Echo = pkg.weft.test.Echo;
  const c = new Echo(`${client.address}:9001`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Unary(m: Msg, cb: (err: grpc.ServiceError | null) => void): void };
  t.teardown(() => c.close());
  for (let i = 0; i < 5; i++) {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => c.Unary({ text: `call ${i}` }, resolve));
    t.equal(err?.code, grpc.status.INTERNAL, `call ${i} failed with INTERNAL, through both sidecars`);
  }
  const both = { service: 'test/mv-grpc:9090', route: '', tls: 'true', src_workload: 'mv-client', src_namespace: 'test', dst_workload: 'mv-grpc', dst_namespace: 'test', status_code: '200', grpc_status: '13', error_code: '' };
  t.equal(await until(() => metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', ...both }), 5, 'outbound'), 5, 'the client sidecar counted 5 outbound calls, grpc_status 13, status_code 200');
  t.equal(await until(() => metric(grpcProxy.admin, 'weft_responses_total', { direction: 'inbound', ...both }), 5, 'inbound'), 5, 'the server sidecar counted the same 5 under the same service, src and dst values');
  t.equal(await metric(clientProxy.admin, 'weft_responses_total', { grpc_status: '13', status_code: '500' }), 0, 'never as an HTTP failure');

  // The join: each outbound series has an inbound twin with the same service/src/dst label values.
  const out = (await samples(clientProxy.admin, 'weft_requests_total')).filter((s) => s.labels.direction === 'outbound' && s.labels.service === 'test/mv-grpc:9090');
  const inb = (await samples(grpcProxy.admin, 'weft_requests_total')).filter((s) => s.labels.direction === 'inbound');
  const key = (l: Record<string, string>): string => ['service', 'src_workload', 'src_namespace', 'dst_workload', 'dst_namespace', 'tls'].map((k) => l[k]).join('|');
  t.same(out.map((s) => [key(s.labels), s.value]), inb.map((s) => [key(s.labels), s.value]), 'outbound and inbound series match one to one on their join labels');
  t.equal(out.length, 1);
  const lat = await samples(clientProxy.admin, 'weft_response_latency_seconds_count');
  t.ok(lat.some((s) => s.labels.status_code === '200' && s.labels.service === 'test/mv-grpc:9090' && s.value === 5), 'the latency histogram carries status_code');
  t.same(Object.keys(out[0]?.labels ?? {}), [...REQUEST_LABELS], 'weft_requests_total has exactly the vocabulary labels');
});

t.test('an opaque TCP hop: byte counters equal the bytes sent and echoed, on both sidecars', async (t) => {
  // A first byte no HTTP parser accepts: detection calls the stream opaque at once.
  const payload = Buffer.concat([Buffer.from([0]), randomBytes(65_535)]);
  const sock = net.connect(9002, client.address);
  let echoed = 0;
  sock.on('data', (d: Buffer) => {
    echoed += d.length;
    if (echoed === payload.length) sock.end();
  });
  sock.write(payload);
  await new Promise((r) => sock.once('close', r));
  t.equal(echoed, payload.length, 'every byte came back through both sidecars');
  const n = payload.length;
  const bytes = (admin: string, name: string, direction: string): Promise<number> => metric(admin, name, { direction, protocol: 'tcp' });
  t.equal(await until(() => bytes(clientProxy.admin, 'weft_tcp_read_bytes_total', 'outbound'), n, 'outbound read'), n, 'client sidecar read from the app exactly the bytes sent');
  t.equal(await until(() => bytes(clientProxy.admin, 'weft_tcp_write_bytes_total', 'outbound'), n, 'outbound write'), n, 'and wrote back exactly the echo');
  t.equal(await until(() => bytes(dbProxy.admin, 'weft_tcp_read_bytes_total', 'inbound'), n, 'inbound read'), n, 'server sidecar read the payload (its preamble is not counted)');
  t.equal(await until(() => bytes(dbProxy.admin, 'weft_tcp_write_bytes_total', 'inbound'), n, 'inbound write'), n, 'and wrote the echo back');
  t.equal(await metric(dbProxy.admin, 'weft_tcp_read_bytes_total', { direction: 'inbound', protocol: 'tcp', tls: 'true' }), n, 'inbound connections are mutual TLS');
  t.equal(await metric(dbProxy.admin, 'weft_tcp_connection_duration_seconds_count', { direction: 'inbound', protocol: 'tcp' }), 1, 'one connection lifetime observed');
  t.equal(await metric(clientProxy.admin, 'weft_requests_total', { direction: 'outbound', service: 'test/mv-db:7777', tls: 'true', src_workload: 'mv-client', dst_workload: 'mv-db' }), 1, 'the tunnel is one request with its workloads');
  t.ok((await metric(clientProxy.admin, 'weft_tcp_read_bytes_total', { direction: 'outbound', protocol: 'http' })) > 0, "the gRPC client's HTTP/2 connection is counted under protocol http");
});

t.test("the gateway's per-request series carry the proxy's names and labels, and join the backend sidecar's", async (t) => {
  const gm = await GatewayMesh.create();
  t.teardown(() => gm.close());
  await gm.addService('mv-web');
  const file = join(gm.dir, 'routes.yaml');
  await writeFile(file, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [mv.test]
  rules: [{ backendRefs: [{ name: mv-web, port: 80 }] }]
`);
  const gw = await gm.startGateway(file);
  for (let i = 0; i < 3; i++) t.equal((await request(`${gw.http}/ok`, { headers: { host: 'mv.test' } })).status, 200);
  t.equal((await request(`${gw.http}/bad?status=503`, { headers: { host: 'mv.test' } })).status, 503);

  const gwResponses = await samples(gw.admin, 'weft_responses_total');
  t.ok(gwResponses.length > 0, 'the gateway exports weft_responses_total');
  for (const s of gwResponses) t.same(Object.keys(s.labels), [...RESPONSE_LABELS], 'with exactly the vocabulary labels, in order');
  for (const s of await samples(gw.admin, 'weft_requests_total')) t.same(Object.keys(s.labels), [...REQUEST_LABELS]);
  const bucket = (await samples(gw.admin, 'weft_response_latency_seconds_bucket'))[0];
  t.same(Object.keys(bucket?.labels ?? {}).filter((k) => k !== 'le'), [...LATENCY_LABELS], 'the latency histogram too');
  const edge = { direction: 'inbound', service: 'test/mv-web:80', tls: 'no_identity', src_workload: 'unknown', dst_workload: 'mv-web', dst_namespace: 'test' };
  t.equal(await metric(gw.admin, 'weft_responses_total', { ...edge, status_code: '200' }), 3, 'three answered 200 from the edge');
  t.equal(await metric(gw.admin, 'weft_responses_total', { ...edge, status_code: '503' }), 1, 'one 503');
  t.equal(await metric(gw.admin, 'weft_gateway_requests_total', { status_code: '200' }), 3, 'the API-management series says status_code as well');

  // The backend's sidecar names the same service, and the gateway as the source workload.
  const [podAddress] = gm.podAddresses('mv-web');
  const sidecar = `http://${podAddress}:7020`;
  t.equal(await until(() => metric(sidecar, 'weft_requests_total', { direction: 'inbound', service: 'test/mv-web:80', tls: 'true', src_workload: 'weft-gateway', dst_workload: 'mv-web' }), 4, 'sidecar inbound'), 4, 'the sidecar counted the 4 under the service label the gateway used');
});
