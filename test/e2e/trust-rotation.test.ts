// End to end: generated trust rotates itself. A real `weft ca` (kubernetes mode, generated root
// and issuer in its Secret, a 60 s issuer) renews its issuer at two thirds of its life while
// 1,000 requests flow between two real `weft proxy` sidecars; none fails, the proxies' leaves
// move to the new issuer before the old one expires, the root stays. The CA also re-creates a
// deleted trust-anchors ConfigMap.
import t from 'tap';
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';

// The file waits out real certificate lifetimes (about a minute): more than the default timeout.
t.setTimeout(240_000);
const base = randomBase();
const mesh = await KubeMesh.create();
t.teardown(() => mesh.close());
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const hello: KubePod = { name: 'hello-0', address: `${base}.20`, serviceAccount: 'hello' };
const ca = await mesh.startCa(`${base}.1`, {
  WEFT_CA_ISSUER_LIFETIME_SECONDS: '60',
  WEFT_CA_LEAF_LIFETIME_SECONDS: '30',
  WEFT_CA_RELOAD_INTERVAL_MS: '500',
});
for (const pod of [client, hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [hello]);
const app = await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 });
t.teardown(() => app.close());
const [clientProxy, helloProxy] = await Promise.all([mesh.startProxy(client), mesh.startProxy(hello)]);

function secretPem(key: string): string {
  const data = mesh.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer')?.['data'] as Record<string, string> | undefined;
  return Buffer.from(data?.[key] ?? '', 'base64').toString('utf8');
}
function publishedRoots(): string | undefined {
  return (mesh.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string> | undefined)?.['roots.pem'];
}

t.test('the generated issuer is renewed before expiry while 1,000 requests flow, with none failed', async (t) => {
  const oldIssuer = new X509Certificate(secretPem('tls.crt'));
  const root = secretPem('ca.crt');
  const roots = publishedRoots();
  const oldNotAfter = Date.parse(oldIssuer.validTo);
  // 1,000 requests spread until 5 s past the old issuer's expiry: they cross the renewal (at
  // two thirds of its life) and the expiry of every leaf it signed.
  const startAt = Date.now();
  const spanMs = oldNotAfter + 5000 - startAt;
  t.ok(spanMs > 30_000, `the requests span ${spanMs} ms`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => agent.destroy());
  const failures: string[] = [];
  let renewedSeenAt: number | undefined;
  let sent = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = sent++;
      if (i >= 1000) return;
      const due = startAt + (i * spanMs) / 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const res = await get(`http://${client.address}:7001/rotation/${i}`, { host: 'hello' }, agent).catch((err: Error) => ({ status: 0, headers: {}, body: err.message }));
      if (res.status !== 200) failures.push(`#${i} at ${Date.now() - startAt} ms: ${res.status} ${String((res.headers as http.IncomingHttpHeaders)['weft-error'] ?? '')} ${res.body.slice(0, 80)}`);
      if (renewedSeenAt === undefined && new X509Certificate(secretPem('tls.crt')).serialNumber !== oldIssuer.serialNumber) renewedSeenAt = Date.now();
    }
  };
  await Promise.all([worker(), worker()]);
  t.same(failures, [], 'no request failed');
  t.equal(app.hits.filter((p) => p.startsWith('/rotation/')).length, 1000, 'all 1,000 reached the app');
  const newIssuer = new X509Certificate(secretPem('tls.crt'));
  t.not(newIssuer.serialNumber, oldIssuer.serialNumber, 'the issuer in the Secret was renewed');
  t.ok(renewedSeenAt !== undefined && renewedSeenAt < oldNotAfter, `renewed before the old issuer expired (${oldNotAfter - (renewedSeenAt ?? 0)} ms before)`);
  t.ok(newIssuer.verify(new X509Certificate(root).publicKey), 'signed by the same root');
  t.equal(secretPem('ca.crt'), root, 'the root stays');
  t.equal(publishedRoots(), roots, 'the trust bundle stays the root: proxies need no change');
  t.equal(await metric(ca.admin, 'weft_ca_issuer_renewals_total'), 1);
  for (const [name, proxy] of [['client', clientProxy], ['hello', helloProxy]] as const) {
    const leafNotAfter = (await metric(proxy.admin, 'weft_certificate_expiry_timestamp_seconds')) * 1000;
    t.ok(leafNotAfter > oldNotAfter, `${name}'s leaf outlives the old issuer: it comes from the new one`);
    t.equal((await get(`${proxy.admin}/ready`)).status, 200, `${name} stayed ready`);
  }
  // A sidecar started now has only leaves from the new issuer and fresh connections to make.
  const late: KubePod = { name: 'client-1', address: `${base}.11`, serviceAccount: 'client' };
  mesh.addPod(late);
  await mesh.startProxy(late);
  const res = await get(`http://${late.address}:7001/late`, { host: 'hello' });
  t.equal(res.status, 200, 'a new sidecar reaches hello over a fresh handshake after the old issuer expired');
  t.equal((JSON.parse(res.body) as { caller: string }).caller, mesh.identity('client'));
});

t.test('the CA re-creates a deleted trust-anchors ConfigMap with the same root', async (t) => {
  const roots = publishedRoots();
  t.ok(roots);
  mesh.api.delete('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  const deletedAt = Date.now();
  while (publishedRoots() === undefined && Date.now() - deletedAt < 10_000) await new Promise((r) => setTimeout(r, 50));
  t.equal(publishedRoots(), roots, `re-created ${Date.now() - deletedAt} ms later with the same root`);
  t.match(await ca.log(), /trust-anchors ConfigMap was missing; re-created/);
});
