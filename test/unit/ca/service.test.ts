import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { FakeTimers } from '../../support/fake-timers.js';
import { Registry } from 'prom-client';
import { TestApiServer } from '../../support/test-apiserver.js';
import { requestCertificate } from '../../support/ca-request.js';
import { makeTestPki } from '../../support/pki.js';
import { parseCaConfig, startCaService, type CaService } from '../../../ca/service.js';
import { testApiConnection } from '../../support/kube-connection.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { isWeftError } from '../../../lib/errors.js';
import { privateKeyToPem } from '../../../lib/pki/crypto.js';

interface Rig {
  /** The service's clock (reload polls and retries). */
  clock: FakeTimers;
  /** Resolves with the next log line whose msg is `msg`. */
  nextLog: (msg: string) => Promise<Record<string, unknown>>;
  api: TestApiServer;
  ca: CaService;
  registry: Registry;
  caPem: () => string;
  issuerDir: string;
}

async function rig(t: Test, env: Record<string, string> = {}, prepare?: (dir: string) => Promise<void>): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const client = new KubeClient(testApiConnection(api, api.adminToken, 'weft-system'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-'));
  await prepare?.(dir);
  const registry = new Registry();
  // Starts at the real time: clients check the serving certificate against the real clock.
  const clock = new FakeTimers(Date.now());
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        for (const w of waiters.filter((w) => w.msg === line['msg'])) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
      cb();
    },
  });
  const nextLog = (msg: string): Promise<Record<string, unknown>> => new Promise((resolve) => waiters.push({ msg, resolve }));
  const config = parseCaConfig({
    WEFT_CA_LISTEN_ADDR: '127.0.0.1:0',
    WEFT_ADMIN_ADDR: '127.0.0.1:0',
    WEFT_CA_ISSUER_DIR: join(dir, 'issuer'),
    WEFT_TRUST_ANCHORS_FILE: join(dir, 'trust', 'roots.pem'),
    WEFT_CA_RELOAD_INTERVAL_MS: '100',
    ...env,
  });
  const controller = new AbortController();
  // Assigned once below; the teardown registered first must see it (and must run if the start throws).
  // eslint-disable-next-line prefer-const
  let ca: CaService | undefined;
  t.teardown(async () => {
    controller.abort();
    await ca?.close();
    client.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });
  ca = await startCaService(config, { log: createLogger({ level: 'info', name: 'ca', destination: sink }), registry, client, shutdown: controller.signal, timers: clock });
  if (!ca) throw new Error('no service');
  return { clock, nextLog, api, ca, registry, caPem: () => ca.material().trustBundlePem, issuerDir: join(dir, 'issuer') };
}

const token = (api: TestApiServer, opts: { namespace?: string; sa?: string; audiences?: string[]; expiresAt?: Date } = {}): string =>
  api.issueToken({ namespace: opts.namespace ?? 'shop', serviceAccount: opts.sa ?? 'orders', audiences: opts.audiences ?? ['weft-ca'], ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}) });

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

t.test('generates a root and issuer into its Secret, publishes the root, and issues the token identity', async (t) => {
  const r = await rig(t);
  const secret = r.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer');
  t.equal(secret?.['type'], 'kubernetes.io/tls');
  t.same(Object.keys((secret?.['data'] as Record<string, string>) ?? {}).sort(), ['ca.crt', 'root.key', 'tls.crt', 'tls.key']);
  const cm = r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  t.equal((cm?.['data'] as Record<string, string>)['roots.pem'], r.caPem());
  // The CSR asks to be the payments service account; the token says orders.
  const res = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: token(r.api), identityHint: 'spiffe://cluster.local/ns/shop/sa/payments' });
  t.equal(res.status, 200);
  const leaf = new X509Certificate(res.body['certificate'] as string);
  t.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/orders', 'the token identity, not the CSR one');
  t.equal(res.body['identity'], 'spiffe://cluster.local/ns/shop/sa/orders');
  const issuer = new X509Certificate(res.body['chain'] as string);
  const root = new X509Certificate(res.body['trustBundle'] as string);
  t.ok(leaf.verify(issuer.publicKey) && issuer.verify(root.publicKey), 'leaf -> issuer -> root');
  t.ok(Math.abs(new Date(leaf.validTo).getTime() - Date.now() - 24 * 3_600_000) < 120_000, '24 h leaf');
  t.equal(await metric(r.registry, 'weft_ca_certificates_issued_total'), 1);
  t.ok((await metric(r.registry, 'weft_ca_issuer_expiry_timestamp_seconds')) * 1000 > Date.now() + 300 * 24 * 3_600_000);
});

t.test('refuses missing, forged, expired, wrong-audience and unknown tokens with 401 and no certificate', async (t) => {
  const r = await rig(t);
  const cases: [string, string | undefined][] = [
    ['missing', undefined],
    ['forged', r.api.forgeToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] })],
    ['expired', token(r.api, { expiresAt: new Date(Date.now() - 5000) })],
    ['wrong audience', token(r.api, { audiences: ['https://kubernetes.default.svc.cluster.local'] })],
    ['garbage', 'abc'],
  ];
  for (const [what, tok] of cases) {
    const res = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), ...(tok === undefined ? {} : { token: tok }) });
    t.equal(res.status, 401, `${what}: 401`);
    t.equal(res.headers['weft-error'], 'WEFT_ERR_UNAUTHENTICATED', `${what}: coded`);
    t.equal(res.body['certificate'], undefined, `${what}: no certificate`);
  }
  t.equal(await metric(r.registry, 'weft_ca_certificates_refused_total', { reason: 'unauthenticated' }), cases.length);
  t.equal(await metric(r.registry, 'weft_ca_certificates_issued_total'), 0);
});

t.test('a malformed CSR is a 400 naming what is wrong; unknown paths are 404', async (t) => {
  const r = await rig(t);
  const tok = token(r.api);
  const notPem = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok, rawBody: JSON.stringify({ csr: 'hello' }) });
  t.equal(notPem.status, 400);
  t.equal(notPem.body['error'], 'WEFT_ERR_CSR_MALFORMED');
  t.match(notPem.body['message'], /BEGIN CERTIFICATE REQUEST/);
  const noField = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok, rawBody: JSON.stringify({ pem: 'x' }) });
  t.equal(noField.status, 400);
  t.match(noField.body['message'], /"csr"/);
  const badJson = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok, rawBody: '{nope' });
  t.equal(badJson.status, 400);
  t.equal(badJson.body['error'], 'WEFT_ERR_BAD_REQUEST');
  const broken = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n';
  const garbage = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok, rawBody: JSON.stringify({ csr: broken }) });
  t.equal(garbage.status, 400);
  t.equal(garbage.body['error'], 'WEFT_ERR_CSR_MALFORMED');
  const res = await fetchish(r.ca.server.url + '/v1/nothing', r.caPem());
  t.equal(res, 404);
});

async function fetchish(url: string, ca: string): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the API server unreachable is a 503, and issuing resumes when it is back', async (t) => {
  const r = await rig(t);
  const tok = token(r.api);
  await r.api.stop();
  const res = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok });
  t.equal(res.status, 503);
  t.equal(res.body['error'], 'WEFT_ERR_KUBE_UNREACHABLE');
  await r.api.restart();
  t.equal((await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: tok })).status, 200);
});

t.test('two replicas racing to create the Secret end up with one root', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const { loadOrCreateSecretMaterial } = await import('../../../ca/material.js');
  const clients = await Promise.all([0, 1, 2].map(async () => new KubeClient(testApiConnection(api))));
  t.teardown(() => clients.forEach((c) => c.close()));
  let generated = 0;
  const materials = await Promise.all(clients.map((client) =>
    loadOrCreateSecretMaterial({ client, namespace: 'weft-system', secretName: 'weft-ca-issuer', configMapName: 'weft-trust-anchors', trustDomain: 'cluster.local', now: new Date(), onGenerated: () => generated++ })));
  t.equal(generated, 1, 'one creation won');
  t.equal(new Set(materials.map((m) => m.trustBundlePem)).size, 1, 'every replica uses the winner root');
  t.equal(new Set(materials.map((m) => m.chainPem)).size, 1);
});

t.test('mounted files win over generation, and a change to them is picked up; bad ones are kept out', async (t) => {
  const pki = await makeTestPki();
  const pki2 = await makeTestPki();
  const write = async (dir: string, p: typeof pki): Promise<void> => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'issuer'), { recursive: true });
    await mkdir(join(dir, 'trust'), { recursive: true });
    await writeFile(join(dir, 'issuer', 'tls.crt'), p.authority.issuer.cert.toString('pem'));
    await writeFile(join(dir, 'issuer', 'tls.key'), await privateKeyToPem(p.authority.issuer.key));
    await writeFile(join(dir, 'trust', 'roots.pem'), p.authority.root.toString('pem'));
  };
  let base = '';
  const r = await rig(t, { WEFT_CA_GENERATE: 'false' }, async (dir) => {
    base = dir;
    await write(dir, pki);
  });
  t.equal(r.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer'), undefined, 'nothing generated');
  t.equal(r.caPem().trim(), pki.authority.root.toString('pem').trim());
  const first = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: token(r.api) });
  t.ok(new X509Certificate(first.body['certificate'] as string).verify(new X509Certificate(pki.authority.issuer.cert.toString('pem')).publicKey));
  // A key that does not match the certificate is refused; the old material keeps serving.
  await writeFile(join(base, 'issuer', 'tls.key'), await privateKeyToPem(pki2.authority.issuer.key));
  const refused = r.nextLog('mounted CA material refused; keeping the current one');
  let refusedYet = false;
  refused.then(() => (refusedYet = true), () => undefined);
  await r.clock.advance(99);
  t.equal(refusedYet, false, 'not re-read before the reload interval');
  await r.clock.advance(1);
  t.equal((await refused)['code'], 'WEFT_ERR_CA_MATERIAL', 'the bad material was read and refused');
  t.equal(r.caPem().trim(), pki.authority.root.toString('pem').trim(), 'bad material kept out');
  await write(base, pki2);
  const reloaded = r.nextLog('CA material reloaded');
  await r.clock.advance(100);
  await reloaded;
  t.equal(r.caPem().trim(), pki2.authority.root.toString('pem').trim(), 'reloaded');
  const second = await requestCertificate({ url: r.ca.server.url, caPem: r.caPem(), token: token(r.api) });
  t.equal(second.status, 200, 'the new serving certificate chains to the new root');
  t.ok(new X509Certificate(second.body['certificate'] as string).verify(new X509Certificate(pki2.authority.issuer.cert.toString('pem')).publicKey));
});

t.test('with nothing mounted and generation off, it refuses to start', async (t) => {
  const err = await rig(t, { WEFT_CA_GENERATE: 'false' }).catch((e: unknown) => e);
  t.ok(isWeftError(err, 'WEFT_ERR_CA_MATERIAL'));
});

t.test('config lists every problem at once', async (t) => {
  const err = (() => {
    try {
      parseCaConfig({ WEFT_CA_LISTEN_ADDR: 'x:y', WEFT_CA_GENERATE: 'maybe', WEFT_CA_LEAF_LIFETIME_SECONDS: '1' });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isWeftError(err, 'WEFT_ERR_CONFIG'));
  for (const name of ['WEFT_CA_LISTEN_ADDR', 'WEFT_CA_GENERATE', 'WEFT_CA_LEAF_LIFETIME_SECONDS']) t.match((err as Error).message, name);
  t.equal(parseCaConfig({ WEFT_CA_LEAF_LIFETIME_SECONDS: '36' }).leafLifetimeHours, 0.01);
});
