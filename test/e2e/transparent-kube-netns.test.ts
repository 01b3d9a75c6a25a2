// The captured cases in Kubernetes mode, as root in network namespaces: the test API server,
// `weft ca` and `weft destination` run on the host's loopback; each pod namespace reaches them
// through a relay on the same loopback address inside the pod (a Unix socket crosses namespaces),
// so the proxy dials exactly what the harness wrote. Captured pods in strict mode with real
// `weft init` rules and a real `weft proxy` (UID 7007) in kubernetes mode with no API credentials.
import t from 'tap';
import net from 'node:net';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Pod } from '../support/netns.js';
import { curlIn, metricIn, openCaptureLab, spawnSidecar, waitSidecarReady } from '../support/capture-lab.js';
import { exitOf } from '../support/child-output.js';
import { KubeMesh } from '../support/kube-mesh.js';
import { randomBase } from '../support/local-mesh.js';
import { makeWebCa } from '../support/web-pki.js';

const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const SUBNET = 62;
const DB_VIP = `10.233.${SUBNET}.250`;
const LEGACY_VIP = `10.233.${SUBNET}.251`;

// In the pod: listens on each host:port given and pipes every connection to its Unix socket.
const POD_RELAY = `
const net = require('node:net');
for (const spec of process.argv.slice(1)) {
  const [host, port, path] = spec.split('|');
  net.createServer((c) => { const u = net.connect(path); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(Number(port), host);
}
process.stdout.write('relaying\\n');
`;

const DB_APP = `
const http = require('node:http'); const net = require('node:net');
http.createServer((req, res) => res.end(JSON.stringify({ clientId: req.headers['weft-client-id'] || null }))).listen(8080, '0.0.0.0');
net.createServer((s) => { let b = ''; s.on('data', (d) => { b += d; let i; while ((i = b.indexOf('\\n')) !== -1) { s.write('PONG ' + b.slice(0, i).replace(/^PING /, '') + '\\n'); b = b.slice(i + 1); } }); s.on('end', () => s.end()); s.on('error', () => {}); }).listen(7777, '0.0.0.0');
net.createServer((s) => { s.write('220 db banner\\n'); s.on('data', (d) => s.end('BYE ' + d)); s.on('error', () => {}); }).listen(7778, '0.0.0.0');
process.stdout.write('listening\\n');
`;

const PLAIN_APP = `
require('node:http').createServer((req, res) => res.end(JSON.stringify({ who: process.env.WHO, host: req.headers.host, clientId: req.headers['weft-client-id'] || null }))).listen(Number(process.env.PORT), '0.0.0.0');
process.stdout.write('listening\\n');
`;

// The outside HTTPS server: its own certificate, from a web CA the mesh knows nothing of.
const SECURE_APP = `
require('node:https').createServer({ cert: require('node:fs').readFileSync(process.env.CERT), key: require('node:fs').readFileSync(process.env.KEY) }, (req, res) => res.end('secure hello')).listen(443, '0.0.0.0');
process.stdout.write('listening\\n');
`;

const FIRST_BYTE = `
const net = require('node:net'); const t0 = process.hrtime.bigint();
const s = net.connect(Number(process.argv[2]), process.argv[1]);
s.once('data', (d) => { process.stdout.write(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, data: String(d) })); s.destroy(); });
s.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.message })));
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'no banner' })); process.exit(0); }, 5000).unref();
`;

t.test('kubernetes mode in network namespaces: outside, no-sidecar, meshed TCP by ClusterIP and pod IP, opaque ports', async (t) => {
  const relays: net.Server[] = [];
  const mesh = await KubeMesh.create();
  const opened = await openCaptureLab(t, 'transparent capture in Kubernetes mode', 'tpk', SUBNET, async () => {
    for (const r of relays) r.close();
    await mesh.close();
  });
  if (!opened) return;
  t.setTimeout(150_000);
  const { lab, children } = opened;
  chmodSync(mesh.dir, 0o755);
  const base = randomBase();
  await mesh.startCa(`${base}.1`);
  await mesh.startDestination();
  const roots = readFileSync(mesh.rootsFile, 'utf8');

  // Host side of the relays: a Unix socket per control-plane address.
  const endpoints = [new URL(mesh.caUrl), new URL(`https://${mesh.destinationAddr}`)].map((u) => ({ host: u.hostname, port: Number(u.port) }));
  const relaySpecs: string[] = [];
  for (const [i, e] of endpoints.entries()) {
    const path = join(mesh.dir, `relay-${i}.sock`);
    const server = net.createServer((u) => {
      const c = net.connect(e.port, e.host);
      u.pipe(c);
      c.pipe(u);
      u.on('error', () => c.destroy());
      c.on('error', () => u.destroy());
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    chmodSync(path, 0o777);
    relays.push(server);
    relaySpecs.push(`${e.host}|${e.port}|${path}`);
  }

  const client = await lab.pod('client', 2);
  const db = await lab.pod('db', 3);
  const outside = await lab.pod('outside', 4);
  const legacy = await lab.pod('legacy', 5);
  const egress = await lab.pod('egress', 6);
  const ns = mesh.namespace;
  mesh.addPod({ name: 'client-0', address: client.ip, serviceAccount: 'client' });
  mesh.addPod({ name: 'db-0', address: db.ip, serviceAccount: 'db', annotations: { 'config.weft.dev/opaque-ports': '7778' } });
  mesh.addPod({ name: 'legacy-0', address: legacy.ip, serviceAccount: 'legacy', meshed: false });
  mesh.addPod({ name: 'egress-0', address: egress.ip, serviceAccount: 'client' });
  const service = (name: string, clusterIP: string, ports: number[], annotations: Record<string, string> = {}): void => {
    mesh.api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, annotations }, spec: { clusterIP, clusterIPs: [clusterIP], selector: { app: name }, ports: ports.map((p) => ({ name: `p${p}`, port: p, targetPort: p, protocol: 'TCP' })) } });
    const pod = `${name}-0`;
    const ip = name === 'db' ? db.ip : legacy.ip;
    mesh.api.apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: ports.map((p) => ({ name: `p${p}`, port: p, protocol: 'TCP' })),
      endpoints: [{ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: pod, namespace: ns, uid: mesh.api.get('v1', 'Pod', ns, pod)?.metadata.uid ?? '' } }],
    });
  };
  service('db', DB_VIP, [7777, 7778, 8080], { 'config.weft.dev/opaque-ports': '7778' });
  service('legacy', LEGACY_VIP, [8080]);

  const spawnApp = async (pod: Pod, file: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<ChildProcess> => {
    const child = pod.spawn(file, args, { env: { PATH: process.env.PATH, ...env } });
    children.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        if (ready.test(out)) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`${file} in ${pod.netns} exited ${code}: ${out}`)));
    });
    return child;
  };
  const logs = new Map<string, string[]>();
  const startSidecar = async (pod: Pod, name: string, serviceAccount: string, extra: Record<string, string> = {}): Promise<void> => {
    await spawnApp(pod, process.execPath, ['-e', POD_RELAY, ...relaySpecs], {}, /relaying/);
    const tokenFile = join(mesh.dir, `${name}.token`);
    writeFileSync(tokenFile, mesh.api.issueToken({ namespace: ns, serviceAccount, audiences: ['weft-ca'], pod: { name } }), { mode: 0o644 });
    const sidecar = spawnSidecar(opened, pod, {
      WEFT_MODE: 'kubernetes',
      WEFT_DESTINATION_ADDR: mesh.destinationAddr,
      WEFT_CA_ADDR: mesh.caUrl,
      WEFT_TRUST_ANCHORS: roots,
      WEFT_TOKEN_FILE: tokenFile,
      WEFT_POD_NAME: name,
      WEFT_POD_NAMESPACE: ns,
      WEFT_SERVICE_ACCOUNT: serviceAccount,
      WEFT_SHUTDOWN_GRACE_MS: '500',
      ...extra,
    });
    logs.set(name, sidecar.logs);
    await waitSidecarReady(pod, sidecar, name);
  };
  const curl = curlIn;
  const metric = metricIn;
  t.teardown(() => {
    if (!t.passing()) for (const [name, lines] of logs) t.comment(`${name} sidecar:\n${lines.join('').slice(-5000)}`);
  });

  for (const pod of [client, db, egress]) {
    const r = await pod.exec(process.execPath, [main, 'init', '--apply', '--inbound-mode', 'strict']);
    t.equal(r.code, 0, `weft init in ${pod.netns}: ${r.stderr}`);
  }
  await spawnApp(db, process.execPath, ['-e', DB_APP], {}, /listening/);
  await spawnApp(outside, process.execPath, ['-e', PLAIN_APP], { WHO: 'outside', PORT: '80' }, /listening/);
  const webCa = await makeWebCa('outside test CA');
  const serverCert = await webCa.server(['secure.outside.example']);
  writeFileSync(join(mesh.dir, 'outside.crt'), serverCert.certPem, { mode: 0o644 });
  writeFileSync(join(mesh.dir, 'outside.key'), serverCert.keyPem, { mode: 0o644 });
  writeFileSync(join(mesh.dir, 'outside-ca.pem'), webCa.caPem, { mode: 0o644 });
  await spawnApp(outside, process.execPath, ['-e', SECURE_APP], { CERT: join(mesh.dir, 'outside.crt'), KEY: join(mesh.dir, 'outside.key') }, /listening/);
  await spawnApp(legacy, process.execPath, ['-e', PLAIN_APP], { WHO: 'legacy', PORT: '8080' }, /listening/);
  await Promise.all([
    startSidecar(client, 'client-0', 'client'),
    startSidecar(db, 'db-0', 'db'),
    // As the injector writes Helm's proxy.egress into the env.
    startSidecar(egress, 'egress-0', 'client', { WEFT_EGRESS_MODE: 'registry-only', WEFT_EGRESS_ALLOW: 'www.outside.example' }),
  ]);

  await t.test('plain HTTP to an outside server by IP and by name: 200 from that server', async (t) => {
    for (const args of [[`http://${outside.ip}/x`], ['--resolve', `www.outside.example:80:${outside.ip}`, 'http://www.outside.example/x']]) {
      const r = await curl(client, args);
      t.equal(r.code, 0, r.stderr);
      t.match(JSON.parse(r.stdout || '{}'), { who: 'outside', clientId: null });
    }
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="http",reason="outside-cluster",tls="no"\}/), 2);
  });

  await t.test("HTTPS to the outside server: curl verifies that server's own certificate", async (t) => {
    const r = await curl(client, ['--cacert', join(mesh.dir, 'outside-ca.pem'), '--resolve', `secure.outside.example:443:${outside.ip}`, '-w', ' verify=%{ssl_verify_result}', 'https://secure.outside.example/']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'secure hello verify=0');
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="tcp",reason="outside-cluster",tls="no"\}/), 1, 'passed through as opaque TCP, counted tls="no"');
  });

  await t.test('an in-cluster Service and pod without a sidecar: 200 in plaintext', async (t) => {
    // By name (the app resolved it to the pod: there is no kube-proxy in this lab) and by pod IP.
    for (const args of [['--resolve', `legacy.${ns}:8080:${legacy.ip}`, `http://legacy.${ns}:8080/`], [`http://${legacy.ip}:8080/`]]) {
      const r = await curl(client, args);
      t.equal(r.code, 0, r.stderr);
      t.match(JSON.parse(r.stdout || '{}'), { who: 'legacy', clientId: null }, args.join(' '));
    }
    t.equal(await metric(client, /^weft_outbound_passthrough_total\{protocol="http",reason="no-sidecar",tls="no"\}/), 2);
  });

  await t.test('HTTP to a meshed pod by IP is mTLS: the server app sees the caller identity', async (t) => {
    const r = await curl(client, [`http://${db.ip}:8080/`]);
    t.same(JSON.parse(r.stdout || '{}'), { clientId: mesh.identity('client') }, r.stderr);
  });

  await t.test('a meshed TCP database by ClusterIP and by pod IP, over mTLS, no payload in clear on the veth', async (t) => {
    const pcap = join(mesh.dir, 'client-eth0.pcap');
    await spawnApp(client, 'tcpdump', ['-i', 'eth0', '--immediate-mode', '-U', '-n', '-s', '0', '-Z', 'root', '-w', pcap, 'tcp'], {}, /listening on/);
    const dump = children[children.length - 1];
    for (const [what, host] of [['ClusterIP', DB_VIP], ['pod IP', db.ip]] as const) {
      const r = await client.exec('sh', ['-c', `printf 'PING kube-secret-one\\nPING kube-secret-two\\n' | nc -N -w 5 ${host} 7777`], { timeoutMs: 10_000 });
      t.equal(r.stdout, 'PONG kube-secret-one\nPONG kube-secret-two\n', `${what}: ${r.stderr}`);
    }
    t.equal(await metric(db, new RegExp(`^weft_requests_total\\{direction="inbound",service="port 7777",route="",tls="true",src_workload="client",src_namespace="${mesh.namespace}",dst_workload="db",dst_namespace="${mesh.namespace}"\\}`)), 2);
    await curl(client, ['-H', 'X-Marker: kube-secret-control', `http://${outside.ip}/control`]);
    dump?.kill('SIGINT');
    if (dump) await exitOf(dump);
    const captured = readFileSync(pcap);
    t.ok(captured.includes('kube-secret-control'), 'the capture sees clear text where there is clear text');
    t.notOk(captured.includes('kube-secret-one') || captured.includes('kube-secret-two'), 'no database payload in clear');
  });

  await t.test('config.weft.dev/opaque-ports on the Service and the pod: the banner in under 100 ms', async (t) => {
    for (const [what, host] of [['ClusterIP', DB_VIP], ['pod IP', db.ip]] as const) {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = JSON.parse((await client.exec(process.execPath, ['-e', FIRST_BYTE, host, '7778'], { timeoutMs: 10_000 })).stdout || '{}') as { ms?: number; data?: string; error?: string };
        t.equal(r.data, '220 db banner\n', `${what}: ${r.error ?? ''}`);
        times.push(r.ms ?? Infinity);
      }
      const median = [...times].sort((a, b) => a - b)[2] ?? Infinity;
      t.comment(`${what}: banner after ${times.map((ms) => ms.toFixed(1)).join(', ')} ms`);
      t.ok(median < 100, `${what}: median ${median.toFixed(1)} ms`);
    }
  });

  await t.test('registry-only: a listed host passes, an unlisted one is refused with the code and counted', async (t) => {
    const listed = await curl(egress, ['--resolve', `www.outside.example:80:${outside.ip}`, 'http://www.outside.example/']);
    t.match(JSON.parse(listed.stdout || '{}'), { who: 'outside' }, listed.stderr);
    const refused = await curl(egress, ['-D', '-', `http://${outside.ip}/`]);
    t.match(refused.stdout, /^HTTP\/1\.1 403/);
    t.match(refused.stdout, /weft-error: WEFT_ERR_EGRESS_DENIED/i);
    t.equal(await metric(egress, /^weft_outbound_refused_total\{protocol="http",code="WEFT_ERR_EGRESS_DENIED"\}/), 1);
    const mesh7777 = await egress.exec('sh', ['-c', `printf 'PING mesh\\n' | nc -N -w 5 ${DB_VIP} 7777`], { timeoutMs: 10_000 });
    t.equal(mesh7777.stdout, 'PONG mesh\n', 'mesh services are not egress');
  });
});
