// The injector's self-managed webhook certificate against the test API server on a fake clock:
// the caBundle written at start, the served certificate verifying against it with the injector
// Service's names, renewal before expiry with the old CA kept during the overlap, and a restart
// reusing the stored pair.
import t from 'tap';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { connect, createServer, type Server } from 'node:tls';
import { createLogger } from '../../../lib/logger.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { x509 } from '../../../lib/pki/crypto.js';
import { selfServingRenewAtMs } from '../../../lib/pki/self-serving.js';
import { WebhookCertManager } from '../../../injector/webhook-cert.js';
import type { ServingCert } from '../../../injector/serving-cert.js';
import { FakeTimers } from '../../support/fake-timers.js';
import { testApiConnection } from '../../support/kube-connection.js';
import { TestApiServer } from '../../support/test-apiserver.js';

const NS = 'weft-system';
const NAMES = ['weft-injector.weft-system.svc', 'weft-injector', 'weft-injector.weft-system', 'weft-injector.weft-system.svc.cluster.local'];
const DAY_MS = 86_400_000;
const LIFETIME_HOURS = 365 * 24;

const api = await TestApiServer.start();
t.teardown(() => api.stop());
api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
// As the chart renders it: empty, Opaque, with Helm's ownership metadata, which the updates keep.
api.apply({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'weft-injector-self', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'weft' } } });
const webhook = (caBundle?: string): Record<string, unknown> => ({
  name: 'x.inject.weft.dev', admissionReviewVersions: ['v1'], sideEffects: 'None',
  clientConfig: { service: { name: 'weft-injector', namespace: NS, path: '/mutate', port: 443 }, ...(caBundle === undefined ? {} : { caBundle }) },
});
// As the chart renders it in this mode: no caBundle yet (the first webhook), and one left over (the second).
api.apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'weft-injector' }, webhooks: [webhook(), webhook(Buffer.from('stale').toString('base64'))] });
const kube = new KubeClient(testApiConnection(api, api.adminToken, NS));
const logger = createLogger({ level: 'silent', name: 'test', destination: new Writable({ write: (_c: Buffer, _e, cb) => cb() }) });
// The clock starts 245 days back, so that after the renewal (at two thirds of a year) both the old
// and the new certificate are valid in real time, which is what TLS checks them against.
const timers = new FakeTimers(Date.now() - 245 * DAY_MS);

const caBundles = (): string[] => {
  const mwc = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'weft-injector');
  return (mwc?.['webhooks'] as { clientConfig: { caBundle?: string } }[]).map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
};
const secretData = (): Record<string, string> => (api.get('v1', 'Secret', NS, 'weft-injector-self') as unknown as { data: Record<string, string> }).data;

/** A TLS server that serves whatever certificate it is handed (as the injector's server does). */
async function servingServer(first: ServingCert): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: first.cert, key: first.key }, (s) => s.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : 0 };
}

/** Connects as the API server would: trusting only `caBundle`, checking the Service name. */
async function handshake(port: number, caBundle: string, servername: string): Promise<{ ok: boolean; error?: string; sans?: string }> {
  return await new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca: caBundle, servername }, () => {
      const sans = s.getPeerCertificate().subjectaltname;
      s.end();
      resolve({ ok: true, sans });
    });
    s.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

const served: ServingCert[] = [];
let nextCert: ((c: ServingCert) => void) | undefined;
const manager = new WebhookCertManager({
  kube, namespace: NS, secretName: 'weft-injector-self', webhookName: 'weft-injector', names: NAMES, lifetimeHours: LIFETIME_HOURS, timers, logger,
  onCert: (c) => {
    served.push(c);
    nextCert?.(c);
  },
});
t.teardown(() => manager.close());
await manager.start();
const firstCert = served[0];
if (!firstCert) throw new Error('no certificate served at start');
const { server, port } = await servingServer(firstCert);

t.test('at start the caBundle is written to every webhook and the served certificate verifies against it', async (t) => {
  const data = secretData();
  const ca = Buffer.from(data['ca.crt'] ?? '', 'base64').toString('utf8');
  t.same(caBundles(), [ca, ca], 'both webhooks carry the CA (one had none, one a stale bundle)');
  const leaf = new x509.X509Certificate(firstCert.cert);
  t.equal(leaf.publicKey.algorithm.name, 'ECDSA');
  t.equal((leaf.publicKey.algorithm as EcKeyAlgorithm).namedCurve, 'P-256');
  t.equal(Math.round((leaf.notAfter.getTime() - timers.now()) / 3_600_000), LIFETIME_HOURS, 'the configured lifetime');
  const ok = await handshake(port, caBundles()[0] ?? '', 'weft-injector.weft-system.svc');
  t.ok(ok.ok, `the API server's handshake succeeds (${ok.error ?? ''})`);
  t.equal(ok.sans, NAMES.map((n) => `DNS:${n}`).join(', '), "the Service's names");
  const wrongName = await handshake(port, caBundles()[0] ?? '', 'other.weft-system.svc');
  t.notOk(wrongName.ok, 'a name the certificate lacks is refused');
  t.equal(Buffer.from(secretData()['tls.crt'] ?? '', 'base64').toString('utf8'), firstCert.cert, 'stored in its Secret');
  const stored = api.get('v1', 'Secret', NS, 'weft-injector-self') as unknown as { type?: string; metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
  t.equal(stored.type, 'Opaque', 'its type is kept (an update may not change it)');
  t.equal(stored.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', "Helm's ownership label is kept");
  t.equal(stored.metadata.annotations?.['meta.helm.sh/release-name'], 'weft', "and Helm's annotation");
  t.equal(timers.pendingCount, 1, 'the renewal is scheduled');
});

t.test('renewal before expiry swaps certificate and caBundle, and the old CA stays trusted during the overlap', async (t) => {
  const first = manager.current;
  if (!first) throw new Error('no current pair');
  const renewAt = selfServingRenewAtMs(first);
  t.ok(renewAt < first.notAfterMs, 'due before expiry');
  await timers.advance(renewAt - timers.now() - 60_000);
  t.equal(served.length, 1, 'a minute before it is due nothing changed');
  const renewed = new Promise<ServingCert>((resolve) => (nextCert = resolve));
  await timers.advance(120_000);
  const second = await renewed;
  t.not(second.cert, firstCert.cert, 'a new certificate is served');
  t.not(second.key, firstCert.key, 'with a new key');
  server.setSecureContext({ cert: second.cert, key: second.key });
  const bundles = caBundles();
  t.equal(bundles[0], bundles[1]);
  const cas = (bundles[0] ?? '').split(/(?=-----BEGIN CERTIFICATE-----)/);
  t.equal(cas.length, 2, 'the new CA and the old one');
  t.equal(cas[1]?.trim(), first.caPem.trim(), 'the old CA is kept');
  t.ok((await handshake(port, bundles[0] ?? '', 'weft-injector.weft-system.svc')).ok, 'the new certificate verifies against the bundle');
  // A replica that has not reloaded yet still serves the old certificate: the bundle trusts it too.
  const old = await servingServer(firstCert);
  t.ok((await handshake(old.port, bundles[0] ?? '', 'weft-injector.weft-system.svc')).ok, 'the old certificate verifies against the bundle');
  t.notOk((await handshake(old.port, cas[0] ?? '', 'weft-injector.weft-system.svc')).ok, 'and only because the old CA is in it');
  t.equal(Buffer.from(secretData()['ca-bundle.crt'] ?? '', 'base64').toString('utf8'), bundles[0], 'the Secret keeps the bundle for the other replicas');
});

t.test('a restart reuses the stored pair and issues nothing', async (t) => {
  const rv = api.get('v1', 'Secret', NS, 'weft-injector-self')?.metadata.resourceVersion;
  const again: ServingCert[] = [];
  const restarted = new WebhookCertManager({ kube, namespace: NS, secretName: 'weft-injector-self', webhookName: 'weft-injector', names: NAMES, lifetimeHours: LIFETIME_HOURS, timers, logger, onCert: (c) => again.push(c) });
  t.teardown(() => restarted.close());
  await restarted.start();
  t.equal(again.length, 1);
  t.equal(again[0]?.cert, served[served.length - 1]?.cert, 'the same certificate as before the restart');
  t.equal(api.get('v1', 'Secret', NS, 'weft-injector-self')?.metadata.resourceVersion, rv, 'the Secret was not written');
});

t.test('without its webhook configuration start fails with the API error', async (t) => {
  const missing = new WebhookCertManager({ kube, namespace: NS, secretName: 'weft-injector-self', webhookName: 'no-such-webhook', names: NAMES, lifetimeHours: 24, timers, logger, onCert: () => undefined });
  await t.rejects(missing.start(), { code: 'WEFT_ERR_KUBE_API' });
  missing.close();
});

t.test('without its Secret start fails saying which one to create (it may not create Secrets)', async (t) => {
  const noSecret = new WebhookCertManager({ kube, namespace: NS, secretName: 'weft-injector-absent', webhookName: 'weft-injector', names: NAMES, lifetimeHours: 24, timers, logger, onCert: () => undefined });
  await t.rejects(noSecret.start(), { message: /Secret weft-system\/weft-injector-absent not found/ });
  noSecret.close();
  t.equal(api.get('v1', 'Secret', NS, 'weft-injector-absent'), undefined, 'nothing was created');
});

t.test('between renewals a resync writes back a caBundle that was removed', async (t) => {
  let patched: (() => void) | undefined;
  const watching = createLogger({ level: 'info', name: 'test', destination: new Writable({ write: (c: Buffer, _e, cb) => { if (c.toString().includes('webhook caBundle updated')) patched?.(); cb(); } }) });
  const resyncing = new WebhookCertManager({ kube, namespace: NS, secretName: 'weft-injector-self', webhookName: 'weft-injector', names: NAMES, lifetimeHours: LIFETIME_HOURS, resyncMs: 300_000, timers, logger: watching, onCert: () => undefined });
  t.teardown(() => resyncing.close());
  await resyncing.start();
  const want = caBundles();
  // As an upgrade of the chart would leave it: both webhooks without a caBundle.
  api.apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'weft-injector' }, webhooks: [webhook(), webhook()] });
  t.same(caBundles(), ['', ''], 'removed');
  const restored = new Promise<void>((resolve) => (patched = resolve));
  await timers.advance(300_000);
  await restored;
  t.same(caBundles(), want, 'written back at the next resync, long before the renewal');
});
