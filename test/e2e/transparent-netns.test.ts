// "A meshed pod reaches everything it reached before", end to end as root in network namespaces
// (local mode): captured pods in strict mode (real `weft init` rules, a real `weft proxy` as UID
// 7007) beside unmodified apps, and an "outside" namespace with plain HTTP, HTTPS and TCP servers
// that are not in the mesh. Where namespaces are forbidden the test says why and fails.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod, RunResult } from '../support/netns.js';
import { curlIn, metricIn, openCaptureLab, readableLocalCa, spawnSidecar, waitSidecarReady, type Sidecar } from '../support/capture-lab.js';
import { exitOf, waitForOutput } from '../support/child-output.js';
import { makeWebCa } from '../support/web-pki.js';

const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const SUBNET = 61;
const DB_VIP = `10.233.${SUBNET}.250`; // the db service's "ClusterIP": only capture makes it work
const WEB_ID = 'spiffe://cluster.local/ns/shop/sa/web';
const DB_ID = 'spiffe://cluster.local/ns/shop/sa/db';
const SECRET = 'tp-secret-payload-4f1c9a';

// The outside servers: HTTP on 80 echoing what it got (raw headers in order, body), HTTPS on 443
// with its own certificate, a TCP echo on 7000.
const OUTSIDE_APP = `
const http = require('node:http'); const https = require('node:https'); const net = require('node:net'); const fs = require('node:fs');
const echo = (req, res) => { let body = ''; req.on('data', (d) => body += d); req.on('end', () => {
  res.setHeader('x-outside', 'plain'); res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.rawHeaders, body, remote: req.socket.remoteAddress })); }); };
http.createServer(echo).listen(80, '0.0.0.0');
https.createServer({ cert: fs.readFileSync(process.env.CERT), key: fs.readFileSync(process.env.KEY) }, (req, res) => res.end('secure hello')).listen(443, '0.0.0.0');
net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(7000, '0.0.0.0');
require('node:http2').createServer((req, res) => res.end('h2c ' + req.httpVersion + ' ' + req.headers[':authority'] + ' ' + (req.headers['x-custom'] || ''))).listen(81, '0.0.0.0');
process.stdout.write('listening\\n');
`;

// The meshed "database" pod: HTTP on 8080 naming the caller, a line protocol on 7777 ("PING x" ->
// "PONG x"), and two server-speaks-first banners: 7778 (listed as an opaque port), 7779 (not).
const DB_APP = `
const http = require('node:http'); const net = require('node:net');
http.createServer((req, res) => res.end(JSON.stringify({ clientId: req.headers['weft-client-id'] || null, remote: req.socket.remoteAddress }))).listen(8080, '0.0.0.0');
net.createServer((s) => { let b = ''; s.on('data', (d) => { b += d; let i; while ((i = b.indexOf('\\n')) !== -1) { s.write('PONG ' + b.slice(0, i).replace(/^PING /, '') + '\\n'); b = b.slice(i + 1); } }); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(7777, '0.0.0.0');
for (const port of [7778, 7779]) net.createServer((s) => { s.write('220 db banner ' + port + '\\n'); s.on('data', (d) => s.end('BYE ' + d)); s.on('error', () => {}); }).listen(port, '0.0.0.0');
process.stdout.write('listening\\n');
`;

// Connects and reports how long the first byte took (run inside a pod, as the app).
const FIRST_BYTE = `
const net = require('node:net'); const t0 = process.hrtime.bigint();
const s = net.connect(Number(process.argv[2]), process.argv[1]);
s.once('data', (d) => { process.stdout.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, data: String(d) })); s.destroy(); });
s.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.message })); });
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'no banner' })); process.exit(0); }, 5000).unref();
`;

t.test('transparent capture: outside destinations, meshed TCP by ClusterIP and pod IP, egress policy, opaque ports', async (t) => {
  const opened = await openCaptureLab(t, 'transparent capture', 'tp', SUBNET);
  if (!opened) return;
  t.setTimeout(150_000);
  const { lab, children, dir } = opened;
  const caDir = await readableLocalCa(dir);
  const webCa = await makeWebCa('outside test CA');
  const serverCert = await webCa.server(['secure.outside.example']);
  writeFileSync(join(dir, 'outside.crt'), serverCert.certPem, { mode: 0o644 });
  writeFileSync(join(dir, 'outside.key'), serverCert.keyPem, { mode: 0o644 });
  writeFileSync(join(dir, 'outside-ca.pem'), webCa.caPem, { mode: 0o644 });

  const client = await lab.pod('client', 2);
  const db = await lab.pod('db', 3);
  const outside = await lab.pod('outside', 4);
  const egressClient = await lab.pod('egress', 5);
  const endpointsFile = join(dir, 'endpoints.json');
  writeFileSync(
    endpointsFile,
    JSON.stringify({
      services: [
        {
          name: 'db',
          namespace: 'shop',
          clusterIP: DB_VIP,
          opaquePorts: [7778],
          ports: [{ port: 80, targetPort: 8080 }, { port: 7777 }, { port: 7778 }, { port: 7779 }],
          endpoints: [{ address: db.ip, identity: DB_ID, podName: 'db-0' }],
        },
        { name: 'web', namespace: 'shop', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: client.ip, identity: WEB_ID, podName: 'web-0' }, { address: egressClient.ip, identity: WEB_ID, podName: 'web-1' }] },
      ],
    }),
    { mode: 0o644 },
  );

  const startApp = async (pod: Pod, source: string, env: Record<string, string> = {}): Promise<void> => {
    const app = pod.spawn(process.execPath, ['-e', source], { env: { PATH: process.env.PATH, ...env } });
    children.push(app);
    let err = '';
    app.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      app.stdout?.once('data', () => resolve());
      app.once('exit', (code) => reject(new Error(`app in ${pod.netns} exited ${code}: ${err}`)));
    });
  };
  const startSidecar = (pod: Pod, serviceAccount: string, extra: Record<string, string> = {}): Sidecar =>
    spawnSidecar(opened, pod, {
      WEFT_MODE: 'local',
      WEFT_CA_DIR: caDir,
      WEFT_ENDPOINTS_FILE: endpointsFile,
      WEFT_POD_NAMESPACE: 'shop',
      WEFT_SERVICE_ACCOUNT: serviceAccount,
      WEFT_POD_NAME: `${serviceAccount}-${pod.ip}`,
      WEFT_SHUTDOWN_GRACE_MS: '500',
      ...extra,
    });
  const curl = curlIn;
  const waitReady = waitSidecarReady;
  const metric = metricIn;
  const nc = (pod: Pod, input: string, host: string, port: number): Promise<RunResult> =>
    pod.exec('sh', ['-c', `printf '${input}' | nc -N -w 5 ${host} ${port}`], { timeoutMs: 10_000 });
  const firstByte = async (pod: Pod, host: string, port: number): Promise<{ ms?: number; data?: string; error?: string }> =>
    JSON.parse((await pod.exec(process.execPath, ['-e', FIRST_BYTE, host, String(port)], { timeoutMs: 10_000 })).stdout || '{}') as { ms?: number; data?: string; error?: string };

  for (const pod of [client, db, egressClient]) {
    const r = await pod.exec(process.execPath, [main, 'init', '--apply', '--inbound-mode', 'strict']);
    t.equal(r.code, 0, `weft init in ${pod.netns}: ${r.stderr}`);
  }
  await startApp(outside, OUTSIDE_APP, { CERT: join(dir, 'outside.crt'), KEY: join(dir, 'outside.key') });
  await startApp(db, DB_APP);
  // The access log (off by default) is on: a test reads why a request left the mesh from it.
  const clientSidecar = startSidecar(client, 'web', { WEFT_ACCESS_LOG: 'true' });
  const dbSidecar = startSidecar(db, 'db');
  // Its own opaque-port list (what the injector renders from config.weft.dev/opaque-ports on the pod).
  const egressSidecar = startSidecar(egressClient, 'web', { WEFT_EGRESS_MODE: 'registry-only', WEFT_EGRESS_ALLOW: 'www.outside.example,secure.outside.example', WEFT_OPAQUE_PORTS: '7779' });
  await Promise.all([waitReady(client, clientSidecar), waitReady(db, dbSidecar), waitReady(egressClient, egressSidecar)]);
  t.teardown(() => {
    // What the sidecars said, for whoever reads a failure.
    if (!t.passing()) for (const [name, sidecar] of [['client', clientSidecar], ['db', dbSidecar], ['egress', egressSidecar]] as const) t.comment(`${name} sidecar:\n${sidecar.logs.join('').slice(-6000)}`);
  });

  // The same request straight from the outside namespace (no proxy anywhere) is the reference.
  const request = ['-X', 'POST', '--data-binary', 'body: unchanged \u00e9', '-H', 'X-Custom: keep-me', '-H', 'Content-Type: text/plain', '-H', 'Connection: keep-alive, X-Hop', '-H', 'X-Hop: drop-me', '-H', 'Keep-Alive: timeout=5', '-D', '-'];
  const endToEnd = (headers: readonly string[]): string[] => {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = (headers[i] ?? '').toLowerCase();
      if (!['connection', 'keep-alive', 'x-hop'].includes(name)) out.push(`${name}: ${headers[i + 1] ?? ''}`);
    }
    return out;
  };
  const split = (r: RunResult): { status: string; headers: string[]; body: { headers: string[]; body: string; method: string; url: string } } => {
    const [head = '', body = '{}'] = r.stdout.split('\r\n\r\n');
    const lines = head.split('\r\n');
    // The echoed body differs in length (it names the Host and the caller): content-length too.
    const headers = lines.slice(1).map((l) => l.toLowerCase()).filter((l) => !/^(date|connection|keep-alive|content-length):/.test(l));
    return { status: lines[0] ?? '', headers, body: JSON.parse(body) as { headers: string[]; body: string; method: string; url: string } };
  };

  await t.test('plain HTTP to an outside server by IP and by name: 200, body and headers unchanged apart from hop-by-hop', async (t) => {
    const reference = split(await curl(outside, [...request, `http://${outside.ip}/path?q=1`]));
    t.match(reference.status, /^HTTP\/1\.1 200/);
    for (const [what, args] of [
      ['by IP', [`http://${outside.ip}/path?q=1`]],
      // The app resolves the name itself (curl --resolve: no /etc/hosts, no DNS); the proxy sees the
      // Host and the original destination. Three labels: not service-shaped at all.
      ['by a name', ['--resolve', `www.outside.example:80:${outside.ip}`, 'http://www.outside.example/path?q=1']],
      // Two labels look like "service.namespace": discovery says no such service, so it passes too.
      ['by a service-shaped name', ['--resolve', `outside.example:80:${outside.ip}`, 'http://outside.example/path?q=1']],
    ] as const) {
      const r = await curl(client, [...request, ...args]);
      t.equal(r.code, 0, `${what}: ${r.stderr}`);
      const got = split(r);
      t.match(got.status, /^HTTP\/1\.1 200/, what);
      t.equal(got.body.body, 'body: unchanged \u00e9', `${what}: body unchanged`);
      t.equal(got.body.method, 'POST');
      t.equal(got.body.url, '/path?q=1');
      const host = what === 'by IP' ? outside.ip : what === 'by a name' ? 'www.outside.example' : 'outside.example';
      t.same(endToEnd(got.body.headers), endToEnd(reference.body.headers).map((h) => (h.startsWith('host:') ? `host: ${host}` : h)), `${what}: request headers as sent, in order, minus hop-by-hop`);
      t.notOk(got.body.headers.some((h) => /^weft-/i.test(h)), `${what}: no weft header added`);
      t.same(got.headers, reference.headers, `${what}: response headers unchanged apart from hop-by-hop`);
    }
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="http",reason="outside-cluster",tls="no"\}/), 3, 'counted as passthrough, tls="no"');
    const log = clientSidecar.logs.join('');
    t.match(log, /"service":"passthrough","peer":.*|"service":"passthrough".*"reason":"outside-cluster"/, 'the access log says why');
  });

  await t.test('h2c (prior knowledge) to an outside server passes through as HTTP/2', async (t) => {
    const r = await curl(client, ['--http2-prior-knowledge', '-H', 'X-Custom: kept', '--resolve', `h2.outside.example:81:${outside.ip}`, 'http://h2.outside.example:81/']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'h2c 2.0 h2.outside.example:81 kept');
  });

  await t.test("HTTPS to the outside server: curl verifies that server's own certificate", async (t) => {
    const r = await curl(client, ['--cacert', join(dir, 'outside-ca.pem'), '--resolve', `secure.outside.example:443:${outside.ip}`, '-w', ' verify=%{ssl_verify_result}', 'https://secure.outside.example/']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'secure hello verify=0');
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="tcp",reason="outside-cluster",tls="no"\}/), 1);
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="http",reason="outside-cluster",tls="no"\}/), 4, 'and the h2c request before it');
  });

  await t.test('HTTP to a meshed pod by IP is mTLS: the server app sees the caller identity', async (t) => {
    const r = await curl(client, [`http://${db.ip}:8080/`]);
    t.equal(r.code, 0, r.stderr);
    t.same(JSON.parse(r.stdout || '{}'), { clientId: WEB_ID, remote: '127.0.0.1' });
  });

  await t.test('a meshed TCP database by ClusterIP and by pod IP, both ways, and no payload byte in clear on the veth', async (t) => {
    const pcap = join(dir, 'client-eth0.pcap');
    const dump = client.spawn('tcpdump', ['-i', 'eth0', '--immediate-mode', '-U', '-n', '-s', '0', '-Z', 'root', '-w', pcap, 'tcp']);
    children.push(dump);
    let dumpErr = '';
    dump.stderr?.on('data', (d: Buffer) => (dumpErr += d.toString()));
    await waitForOutput(dump, () => dumpErr, /listening on/, 10_000);
    for (const [what, host] of [['ClusterIP', DB_VIP], ['pod IP', db.ip]] as const) {
      const r = await nc(client, `PING ${SECRET} one\\nPING ${SECRET} two\\n`, host, 7777);
      t.equal(r.stdout, `PONG ${SECRET} one\nPONG ${SECRET} two\n`, `${what}: two requests, two answers: ${r.stderr}`);
      const banner = await nc(client, `${SECRET} hello\\n`, host, 7778);
      t.equal(banner.stdout, `220 db banner 7778\nBYE ${SECRET} hello\n`, `${what}: server-speaks-first, then the client's bytes back`);
    }
    t.equal(await metric(db, new RegExp(`^weft_requests_total\\{direction="inbound",service="port 7777",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="db",dst_namespace="shop"\\}`)), 2, 'both arrived over mTLS with the client identity');
    t.equal(await metric(client, /^weft_requests_total\{direction="outbound",service="shop\/db:7777",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="db",dst_namespace="shop"\}/), 2);
    // A positive control in the same capture: plain passthrough HTTP carries its bytes in clear.
    await curl(client, ['-H', `X-Marker: ${SECRET}-control`, `http://${outside.ip}/control`]);
    dump.kill('SIGINT');
    await exitOf(dump);
    const captured = readFileSync(pcap);
    t.ok(captured.length > 1000, `tcpdump captured traffic (${captured.length} bytes): ${dumpErr}`);
    t.ok(captured.includes(`${SECRET}-control`), 'the capture sees clear text where there is clear text');
    t.notOk(captured.includes(`PING ${SECRET}`) || captured.includes(`PONG ${SECRET}`) || captured.includes(`${SECRET} hello`), 'no payload of the mesh TCP in clear');
    t.notOk(captured.includes('220 db banner'), 'nor the banner');
  });

  await t.test('config.weft.dev/opaque-ports: a server-speaks-first banner in under 100 ms', async (t) => {
    for (const [what, host] of [['ClusterIP', DB_VIP], ['pod IP', db.ip]] as const) {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await firstByte(client, host, 7778);
        t.equal(r.data, '220 db banner 7778\n', `${what}: ${r.error ?? ''}`);
        times.push(r.ms ?? Infinity);
      }
      const baseline = await firstByte(client, host, 7779);
      t.equal(baseline.data, '220 db banner 7779\n');
      t.comment(`${what}: banner on an opaque port after ${times.map((ms) => ms.toFixed(1)).join(', ')} ms; on a port left to detection ${baseline.ms?.toFixed(1)} ms (detect timeout 1000 ms)`);
      // The median of five: on a shared two-core machine one connection in a few can wait on the
      // scheduler; every figure is printed above.
      const median = [...times].sort((a, b) => a - b)[2] ?? Infinity;
      t.ok(median < 100, `${what}: the banner arrives in under 100 ms (median ${median.toFixed(1)} ms)`);
      t.ok((baseline.ms ?? 0) >= 900, 'without the opaque port the detect timeout is paid');
    }
    // The client pod's own list (WEFT_OPAQUE_PORTS=7779 on the second client) works the same way.
    const own: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await firstByte(egressClient, db.ip, 7779);
      t.equal(r.data, '220 db banner 7779\n', r.error ?? '');
      own.push(r.ms ?? Infinity);
    }
    const ownMedian = [...own].sort((a, b) => a - b)[2] ?? Infinity;
    t.comment(`own WEFT_OPAQUE_PORTS: banner on 7779 after ${own.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    t.ok(ownMedian < 100, `the pod's own opaque port: median ${ownMedian.toFixed(1)} ms`);
  });

  await t.test('registry-only: a listed host passes, an unlisted one is refused with the code and counted', async (t) => {
    const listed = await curl(egressClient, ['--resolve', `www.outside.example:80:${outside.ip}`, 'http://www.outside.example/listed']);
    t.equal(JSON.parse(listed.stdout || '{}').url, '/listed', `listed host: ${listed.stderr}`);
    const tlsListed = await curl(egressClient, ['--cacert', join(dir, 'outside-ca.pem'), '--resolve', `secure.outside.example:443:${outside.ip}`, 'https://secure.outside.example/']);
    t.equal(tlsListed.stdout, 'secure hello', 'a listed TLS server name (SNI) passes');
    for (const args of [[`http://${outside.ip}/by-ip`], ['--resolve', `other.outside.example:80:${outside.ip}`, 'http://other.outside.example/']]) {
      const r = await curl(egressClient, ['-D', '-', ...args]);
      t.match(r.stdout, /^HTTP\/1\.1 403/, `refused: ${args.join(' ')}`);
      t.match(r.stdout, /weft-error: WEFT_ERR_EGRESS_DENIED/i);
      t.notMatch(r.stdout, /"url"/, 'the outside server never saw it');
    }
    const tcp = await nc(egressClient, 'echo me\\n', outside.ip, 7000);
    t.equal(tcp.stdout, '', 'unlisted opaque TCP is closed');
    t.equal(await metric(egressClient, /^weft_outbound_refused_total\{protocol="http",code="WEFT_ERR_EGRESS_DENIED"\}/), 2);
    t.equal(await metric(egressClient, /^weft_outbound_refused_total\{protocol="tcp",code="WEFT_ERR_EGRESS_DENIED"\}/), 1);
    t.equal(await metric(egressClient, /^weft_outbound_passthrough_total\{protocol="http",reason="egress-allowed",tls="no"\}/), 1);
    const mesh = await nc(egressClient, 'PING mesh\\n', DB_VIP, 7777);
    t.equal(mesh.stdout, 'PONG mesh\n', 'mesh destinations are not egress');
    t.match(egressSidecar.logs.join(''), /WEFT_ERR_EGRESS_DENIED/, 'the refusal is in the log');
  });
});
