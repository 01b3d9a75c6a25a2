// End to end: 1,000 half-open connections (TCP connected, no or a partial ClientHello) to a real
// proxy's inbound listener are all destroyed at the handshake bound, meshed requests are served
// throughout, and the proxy's RSS comes back; the same guard on `weft injector`'s and the gateway's.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalMesh, WEFT_MAIN, get, metric, randomBase, rss, type PodSpec } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import { waitForOutput } from '../support/child-output.js';
import { GatewayMesh } from '../support/gateway-mesh.js';
import { makeWebCa } from '../support/web-pki.js';
import https from 'node:https';
import { writeFile } from 'node:fs/promises';

/** The first bytes of a TLS ClientHello record, cut short: a handshake that never completes. */
const PARTIAL_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x5a, 0x5a]);

/** Opens `count` half-open connections; resolves once all are connected, with their close times. */
async function halfOpen(host: string, port: number, count: number): Promise<{ sockets: net.Socket[]; closedAt: Promise<number>[] }> {
  const sockets: net.Socket[] = [];
  const closedAt: Promise<number>[] = [];
  const connected: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect(port, host);
    s.on('error', () => undefined);
    sockets.push(s);
    closedAt.push(new Promise((resolve) => s.once('close', () => resolve(Date.now()))));
    connected.push(
      new Promise((resolve) =>
        s.once('connect', () => {
          if (i % 2 === 1) s.write(PARTIAL_HELLO);
          resolve();
        }).once('close', () => resolve()),
      ),
    );
    // A few at a time, so the listen backlog is never the thing that refuses them.
    if (i % 50 === 49) await Promise.all(connected.slice(-50));
  }
  await Promise.all(connected);
  return { sockets, closedAt };
}

t.test('a proxy destroys 1,000 half-open inbound connections at the bound, serves meshed requests throughout, and its RSS comes back', async (t) => {
  const base = randomBase();
  const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
  const server: PodSpec = { name: 'hello-0', address: `${base}.2`, serviceAccount: 'hello' };
  const mesh = await LocalMesh.create();
  const app = await startEchoApp({ pod: server.name, address: server.address, port: 8080 });
  t.teardown(async () => {
    await mesh.close();
    await app.close();
  });
  await mesh.setServices([{ name: 'hello', port: 80, targetPort: 8080, pods: [server] }]);
  await mesh.startProxy(client);
  // The default bound (10 s) and cap (256): what a pod gets without settings.
  const target = await mesh.startProxy(server);
  const pid = target.child.pid ?? 0;
  const outbound = `http://${client.address}:7001`;
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity('probe'), now: new Date() });
  /** A fresh mTLS handshake with the flooded listener (not a pooled connection). */
  const freshHandshake = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: server.address, port: 7006, key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
      s.once('secureConnect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });

  // Warm up, then take the starting RSS.
  for (let i = 0; i < 50; i++) t.equal((await get(`${outbound}/warm`, { host: 'hello' })).status, 200);
  const before = await rss(pid);

  let stop = false;
  let served = 0;
  const failures: string[] = [];
  const traffic = (async () => {
    while (!stop) {
      const res = await get(`${outbound}/during`, { host: 'hello' }).catch((err: unknown) => ({ status: 0, body: String(err) }));
      if (res.status === 200) served++;
      else failures.push(`${res.status} ${res.body.slice(0, 80)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const started = Date.now();
  const flood = await halfOpen(server.address, 7006, 1000);
  const allConnected = Date.now();
  t.comment(`1,000 half-open connections opened in ${allConnected - started} ms`);
  const during = await rss(pid);
  // The cap (256 by default) is full: a new connection is closed at once until the bound frees
  // the slots; connections already made (the client proxy's pooled one) keep serving.
  t.notOk(await freshHandshake(), 'a fresh handshake is refused while 256 handshakes are pending');
  const servedMidway = served;

  const closed = await Promise.race([
    Promise.all(flood.closedAt),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000 + (allConnected - started))),
  ]);
  t.ok(closed, 'every half-open connection was closed by the proxy');
  const times = (closed ?? []).map((at) => at - started).sort((a, b) => a - b);
  const last = times[times.length - 1] ?? Infinity;
  t.ok(last <= 15_000, `all closed within 15 s of the first (last after ${last} ms)`);
  const atOnce = times.filter((ms) => ms < 9_000).length;
  const atBound = times.length - atOnce;
  t.comment(`${atOnce} closed at once (over the cap), ${atBound} at the 10 s bound`);
  t.ok(atBound > 0 && atBound <= 256, 'at most the cap waited for the bound');
  t.ok(await freshHandshake(), 'fresh handshakes complete again once the bound has freed the slots');
  stop = true;
  await traffic;
  t.same(failures, [], 'no meshed request failed during the flood');
  t.ok(servedMidway > 0 && served > servedMidway, `meshed requests served throughout (${servedMidway} while opening, ${served} in all)`);
  t.equal(await metric(target.admin, 'weft_tls_handshake_failures_total', { direction: 'inbound', reason: 'handshake_timeout' }), atBound, 'timeouts counted by reason');
  t.equal(await metric(target.admin, 'weft_tls_handshake_failures_total', { direction: 'inbound', reason: 'too_many_handshakes' }), atOnce + 1, 'refusals over the cap (and the refused fresh handshake) counted by reason');

  // Memory is given back as the process frees it; poll for the event, bounded. What stays above
  // the start is allocator slack and the ~400 meshed requests served meanwhile: 14-21 MB in runs on
  // Node 24 (the 1,000 pending handshakes themselves peaked 11-12 MB above it); 25 MB leaves room
  // for that, and 1,000 leaked connections on top of it would not fit.
  const slack = 25 * 1024 * 1024;
  let after = await rss(pid);
  const deadline = Date.now() + 30_000;
  while (after.rss - before.rss > slack && Date.now() < deadline) {
    await get(`${outbound}/idle`, { host: 'hello' });
    await new Promise((r) => setTimeout(r, 500));
    after = await rss(pid);
  }
  const mb = (n: number): string => (n / 1048576).toFixed(1);
  t.comment(`proxy RSS: ${mb(before.rss)} MB before, ${mb(during.rss)} MB with 1,000 pending, ${mb(after.rss)} MB after (peak ${mb(after.peak)} MB)`);
  t.ok(after.rss - before.rss <= slack, `RSS back within 25 MB of the start (${mb(after.rss - before.rss)} MB above)`);

  const log = await target.log();
  const summaries = log.split('\n').filter((l) => l.includes('"TLS handshakes failed (summary)"'));
  t.ok(summaries.length <= 1, `at most one summary line for the flood so far (${summaries.length}), not 1,000 lines`);
  t.notOk(/inbound TLS handshake refused/.test(log), 'no line per connection');
});

t.test('weft injector: half-open connections destroyed at its bound, the cap closes the excess at once, reviews served', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-hsb-injector-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = `${randomBase()}.1`;
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=weft-injector',
    '-addext', `subjectAltName=IP:${host}`, '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'),
  ], { stdio: 'ignore' });
  const child = spawn(process.execPath, [WEFT_MAIN, 'injector'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      WEFT_INJECTOR_ADDR: `${host}:0`,
      WEFT_ADMIN_ADDR: `${host}:0`,
      WEFT_INJECTOR_TLS_DIR: dir,
      WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'tls.crt'),
      WEFT_TLS_HANDSHAKE_TIMEOUT_MS: '2000',
      WEFT_TLS_MAX_PENDING_HANDSHAKES: '150',
    },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const port = Number((await waitForOutput(child, () => out, /listening on https:\/\/\S+:(\d+)\n/, 60_000))[1]);
  const live = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = tls.connect({ host, port, ca: readFileSync(join(dir, 'tls.crt'), 'utf8') }, () => {
        s.end('GET /live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      });
      let body = '';
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('close', () => resolve(/"live":true/.test(body)));
      s.on('error', () => resolve(false));
    });

  const started = Date.now();
  const flood = await halfOpen(host, port, 100);
  t.ok(await live(), 'served while 100 handshakes are pending');
  const closedAt = await Promise.all(flood.closedAt);
  const last = Math.max(...closedAt) - started;
  t.ok(last < 2000 + 5000, `all 100 destroyed after the 2 s bound (last after ${last} ms)`);
  t.ok(Math.min(...closedAt) - started >= 1500, 'none long before it');

  const over = await halfOpen(host, port, 160);
  const early = await Promise.all(over.closedAt.map((p) => Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))])));
  t.equal(early.filter((x) => x !== undefined).length, 10, 'past the cap of 150 the 10 extra connections are closed at once');
  await Promise.all(over.closedAt);
  t.ok(await live(), 'served again once the pending handshakes are gone');
});

t.test('weft gateway: half-open connections to its HTTPS listener destroyed at the bound, counted by reason', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const webCa = await makeWebCa('hsb gateway CA');
  const cert = await webCa.server(['api.example.com']);
  const indent = (s: string): string => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - { name: api, hostname: api.example.com, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: api-cert }] } }
---
apiVersion: v1
kind: Secret
metadata: { name: api-cert, namespace: test }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(cert.certPem)}
  tls.key: |
${indent(cert.keyPem)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: test }
spec:
  parentRefs: [{ name: edge, sectionName: api }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
`);
  const gw = await mesh.startGateway(file, { WEFT_TLS_HANDSHAKE_TIMEOUT_MS: '2000' });
  const served = (): Promise<number> =>
    new Promise((resolve) => {
      const req = https.get({ host: gw.address, port: gw.httpsPort, servername: 'api.example.com', headers: { host: 'api.example.com' }, ca: webCa.caPem, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
    });
  const started = Date.now();
  const flood = await halfOpen(gw.address, gw.httpsPort, 100);
  t.equal(await served(), 200, 'an HTTPS request is served while 100 handshakes are pending');
  const times = (await Promise.all(flood.closedAt)).map((at) => at - started);
  t.ok(Math.min(...times) >= 1_500, `none closed before the 2 s bound (first after ${Math.min(...times)} ms)`);
  t.ok(Math.max(...times) < 7_000, `all closed soon after it (last after ${Math.max(...times)} ms)`);
  t.equal(await metric(gw.admin, 'weft_tls_handshake_failures_total', { reason: 'handshake_timeout' }), 100, 'counted by reason');
});
