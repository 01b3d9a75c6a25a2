// Transparent capture end to end, as root: two "pods" (network namespaces on a bridge) with
// `weft init` applied, each running `weft proxy` (local mode) as UID 7007 beside an unmodified
// app, and a third namespace with a plaintext client. Where namespaces are forbidden the test
// says why and fails.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../support/netns.js';
import { curlIn, metricIn, openCaptureLab, readableLocalCa, spawnSidecar, waitSidecarReady, type Sidecar } from '../support/capture-lab.js';

const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const SUBNET = 13;
const SERVICE_VIP = `10.233.${SUBNET}.250`; // a "ClusterIP" nobody owns: capture must catch it first
const WEB_ID = 'spiffe://cluster.local/ns/shop/sa/web';
const ORDERS_ID = 'spiffe://cluster.local/ns/shop/sa/orders';

// The server pod's app: HTTP on 8080 answering who it saw (peer address, weft-client-id), a
// readiness endpoint whose answer the test flips, and a line protocol on 7777 ("PING x" -> "PONG x",
// then close) plus a server-speaks-first banner on 7778.
const SERVER_APP = `
const http = require('node:http'); const net = require('node:net');
let ready = true;
http.createServer((req, res) => {
  if (req.url === '/healthz') { res.statusCode = ready ? 200 : 503; res.end(ready ? 'ok' : 'not ready'); return; }
  if (req.url === '/flip') { ready = !ready; res.end(String(ready)); return; }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ remote: req.socket.remoteAddress, clientId: req.headers['weft-client-id'] || null, dstPort: req.headers['weft-dst-port'] || null, host: req.headers.host }));
}).listen(8080, '0.0.0.0');
net.createServer((s) => { let b = ''; s.on('data', (d) => { b += d; const i = b.indexOf('\\n'); if (i !== -1) { s.end('PONG ' + b.slice(0, i).replace(/^PING /, '') + ' from ' + s.remoteAddress + '\\n'); } }); s.on('error', () => {}); }).listen(7777, '0.0.0.0');
net.createServer((s) => { s.end('HELLO banner\\n'); s.on('error', () => {}); }).listen(7778, '0.0.0.0');
process.stdout.write('listening\\n');
`;

t.test('capture in network namespaces: mesh by name and by IP, strict/permissive, probes, opaque TCP', async (t) => {
  const opened = await openCaptureLab(t, 'capture', 'cap', SUBNET);
  if (!opened) return;
  t.setTimeout(110_000);
  const { lab, children, dir } = opened;
  const caDir = await readableLocalCa(dir);

  const client = await lab.pod('client', 2);
  const server = await lab.pod('server', 3);
  const outsider = await lab.pod('outsider', 4);

  const endpointsFile = join(dir, 'endpoints.yaml');
  writeFileSync(
    endpointsFile,
    JSON.stringify({
      services: [
        { name: 'orders', namespace: 'shop', ports: [{ port: 80, targetPort: 8080 }, { port: 7777 }, { port: 7778 }], endpoints: [{ address: server.ip, identity: ORDERS_ID, podName: 'orders-0' }] },
        { name: 'web', namespace: 'shop', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: client.ip, identity: WEB_ID, podName: 'web-0' }] },
      ],
    }),
    { mode: 0o644 },
  );

  const init = async (pod: Pod, mode: 'strict' | 'permissive'): Promise<void> => {
    const r = await pod.exec(process.execPath, [main, 'init', '--apply', '--inbound-mode', mode]);
    t.equal(r.code, 0, `weft init (${mode}) in ${pod.netns}: ${r.stderr}`);
  };
  // The proxy itself has no inbound mode: strict or permissive is only in the rules weft init wrote.
  const startSidecar = (pod: Pod, serviceAccount: string, extra: Record<string, string> = {}): Sidecar =>
    spawnSidecar(opened, pod, {
      WEFT_MODE: 'local',
      WEFT_CA_DIR: caDir,
      WEFT_ENDPOINTS_FILE: endpointsFile,
      WEFT_POD_NAMESPACE: 'shop',
      WEFT_SERVICE_ACCOUNT: serviceAccount,
      WEFT_POD_NAME: `${serviceAccount}-0`,
      WEFT_LOG_LEVEL: 'info',
      WEFT_SHUTDOWN_GRACE_MS: '500',
      // What the injector passes for a readiness probe rewritten to /app-probe/app/readiness.
      WEFT_APP_PROBES: JSON.stringify({ 'app/readiness': { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' } } }),
      ...extra,
    });
  const curl = curlIn;
  const waitReady = waitSidecarReady;
  const metric = metricIn;

  await init(client, 'strict');
  await init(server, 'strict');
  const app = server.spawn(process.execPath, ['-e', SERVER_APP]);
  children.push(app);
  await new Promise<void>((resolve, reject) => {
    app.stdout?.once('data', () => resolve());
    app.once('exit', (code) => reject(new Error(`server app exited ${code}`)));
  });
  // An explicit upstream too: localhost:17777 in the client pod always means orders.shop:7777.
  const clientSidecar = startSidecar(client, 'web', { WEFT_UPSTREAMS: 'orders.shop:7777@17777' });
  let serverSidecar = startSidecar(server, 'orders');
  await waitReady(client, clientSidecar);
  await waitReady(server, serverSidecar);

  await t.test('the client app calls the server by service name through both sidecars over mTLS', async (t) => {
    // curl resolves the name to a service VIP; only the capture rules make that address work.
    const r = await curl(client, ['--resolve', `orders.shop:80:${SERVICE_VIP}`, 'http://orders.shop/hello']);
    t.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout || '{}') as { remote?: string; clientId?: string; dstPort?: string };
    t.equal(body.remote, '127.0.0.1', 'the server app sees its sidecar as the peer');
    t.equal(body.clientId, WEB_ID, 'the server sidecar verified and passed on the client identity');
    t.equal(body.dstPort, null, 'weft-dst-port was removed before the app');
    t.equal(await metric(client, new RegExp(`^weft_requests_total\\{direction="outbound",service="shop/orders:80",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 1);
    t.equal(await metric(server, new RegExp(`^weft_requests_total\\{direction="inbound",service="shop/orders:80",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 1);
  });

  await t.test('the client app calls the server pod by IP and port', async (t) => {
    const r = await curl(client, [`http://${server.ip}:8080/by-ip`]);
    t.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout || '{}') as { remote?: string; clientId?: string };
    t.equal(body.remote, '127.0.0.1');
    t.equal(body.clientId, WEB_ID);
    t.equal(await metric(client, new RegExp(`^weft_requests_total\\{direction="outbound",service="shop/orders:80",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 2);
    t.equal(await metric(server, new RegExp(`^weft_requests_total\\{direction="inbound",service="shop/orders:80",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 2);
  });

  await t.test('a non-HTTP line protocol and a server-speaks-first protocol pass through the mesh', async (t) => {
    const line = await client.exec('sh', ['-c', `printf 'PING hello\\n' | nc -N -w 5 ${server.ip} 7777`], { timeoutMs: 10_000 });
    t.equal(line.stdout, 'PONG hello from 127.0.0.1\n', `through the server sidecar: ${line.stderr}`);
    t.equal(await metric(client, new RegExp(`^weft_requests_total\\{direction="outbound",service="shop/orders:7777",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 1);
    t.equal(await metric(server, new RegExp(`^weft_requests_total\\{direction="inbound",service="port 7777",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 1);
    // The client sends nothing: after the detect timeout the stream is opaque and the banner comes.
    const banner = await client.exec('sh', ['-c', `nc -w 5 ${server.ip} 7778 < /dev/null`], { timeoutMs: 10_000 });
    t.equal(banner.stdout, 'HELLO banner\n', banner.stderr);
    t.equal(await metric(server, new RegExp(`^weft_requests_total\\{direction="inbound",service="port 7778",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 1);
    // Through the explicit upstream port: no original destination needed, the balancer picks.
    const up = await client.exec('sh', ['-c', `printf 'PING upstream\\n' | nc -N -w 5 127.0.0.1 17777`], { timeoutMs: 10_000 });
    t.equal(up.stdout, 'PONG upstream from 127.0.0.1\n', up.stderr);
    t.equal(await metric(server, new RegExp(`^weft_requests_total\\{direction="inbound",service="port 7777",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"\\}`)), 2);
  });

  await t.test('strict: a plaintext client from a third namespace is refused', async (t) => {
    const before = await metric(server, /^weft_tls_handshake_failures_total\{direction="inbound"/);
    const r = await curl(outsider, [`http://${server.ip}:8080/plain`]);
    t.not(r.code, 0, 'curl fails');
    t.notMatch(r.stdout, /remote/, 'the app never answered');
    const line = await outsider.exec('sh', ['-c', `printf 'PING sneaky\\n' | nc -q 2 -w 3 ${server.ip} 7777`], { timeoutMs: 8_000 });
    t.notMatch(line.stdout, /PONG/, 'plaintext TCP does not reach the app either');
    t.ok((await metric(server, /^weft_tls_handshake_failures_total\{direction="inbound"/)) > before, 'the refusal is counted');
  });

  await t.test("a rewritten readiness probe on the admin port reports the app's real state in strict mode", async (t) => {
    // The outsider stands for the kubelet: plaintext, from outside the pod. The app port itself is
    // refused (previous test); the admin port is not redirected and replays the original probe.
    const probe = async (): Promise<string> =>
      (await curl(outsider, ['-o', '/dev/null', '-w', '%{http_code}', `http://${server.ip}:7020/app-probe/app/readiness`])).stdout;
    t.equal(await probe(), '200', 'app ready -> 200');
    const flip = await server.exec('curl', ['-sS', '--max-time', '3', 'http://127.0.0.1:8080/flip']);
    t.equal(flip.stdout, 'false', 'the app now reports not ready');
    t.equal(await probe(), '503', 'app not ready -> 503');
    await server.exec('curl', ['-sS', '--max-time', '3', 'http://127.0.0.1:8080/flip']);
    t.equal(await probe(), '200', 'ready again -> 200');
    const ready = await curl(outsider, ['-o', '/dev/null', '-w', '%{http_code}', `http://${server.ip}:7020/ready`]);
    t.equal(ready.stdout, '200', "the proxy's own /ready too");
  });

  await t.test('permissive: the same plaintext client is served, mesh traffic still uses mTLS', async (t) => {
    await init(server, 'permissive');
    serverSidecar.child.kill('SIGTERM');
    await new Promise((r) => serverSidecar.child.once('exit', r));
    serverSidecar = startSidecar(server, 'orders');
    await waitReady(server, serverSidecar);
    const r = await curl(outsider, [`http://${server.ip}:8080/plain`]);
    t.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout || '{}') as { remote?: string; clientId?: string };
    t.equal(body.remote, outsider.ip, 'the app sees the plaintext client itself');
    t.equal(body.clientId, null, 'and no mesh identity');
    const mesh = await curl(client, ['--resolve', `orders.shop:80:${SERVICE_VIP}`, 'http://orders.shop/again']);
    const meshBody = JSON.parse(mesh.stdout || '{}') as { remote?: string; clientId?: string };
    t.equal(meshBody.clientId, WEB_ID, 'the meshed client still arrives over mTLS');
    t.equal(meshBody.remote, '127.0.0.1');
  });
});
