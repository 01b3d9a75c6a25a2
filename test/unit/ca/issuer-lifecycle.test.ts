import t, { type Test } from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { FakeTimers } from '../../support/fake-timers.js';
import { TestApiServer } from '../../support/test-apiserver.js';
import { testApiConnection } from '../../support/kube-connection.js';
import { requestCertificate } from '../../support/ca-request.js';
import { parseCaConfig, startCaService, type CaService } from '../../../ca/service.js';
import { decideIssuer, issuerRenewAtMs } from '../../../ca/issuer-rotation.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { BACKDATE_MS, createIssuer, createRoot, type SigningPair } from '../../../lib/pki/authority.js';
import { privateKeyFromPem, privateKeyToPem, x509 } from '../../../lib/pki/crypto.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

t.test('a generated issuer is due at two thirds of its life, counted from when it was made (not its backdated notBefore)', async (t) => {
  const issuer = { notBefore: new Date(T0 - BACKDATE_MS), notAfter: new Date(T0 + 90_000) };
  t.equal(issuerRenewAtMs(issuer), T0 + 60_000);
  const year = { notBefore: new Date(T0 - BACKDATE_MS), notAfter: new Date(T0 + 365 * 24 * HOUR) };
  t.equal(issuerRenewAtMs(year), T0 + Math.round((2 / 3) * 365 * 24 * HOUR), 'a one-year issuer: after eight months');
});

t.test('renews when due with the root key and a longer-lived successor; otherwise keeps it or says why it cannot', async (t) => {
  const issuer = { notBefore: new Date(T0 - BACKDATE_MS), notAfter: new Date(T0 + 90_000) };
  t.same(decideIssuer({ issuer, nowMs: T0 + 59_999, hasRootKey: true, newNotAfterMs: T0 + 150_000 }), { kind: 'keep', renewAtMs: T0 + 60_000 });
  t.same(decideIssuer({ issuer, nowMs: T0 + 60_000, hasRootKey: true, newNotAfterMs: T0 + 150_000 }), { kind: 'renew' });
  t.same(decideIssuer({ issuer, nowMs: T0 + 100_000, hasRootKey: true, newNotAfterMs: T0 + 190_000 }), { kind: 'renew' }, 'an expired issuer is renewed at once');
  t.match(decideIssuer({ issuer, nowMs: T0 + 60_000, hasRootKey: false, newNotAfterMs: T0 + 150_000 }), { kind: 'blocked', reason: /root key is not in the Secret/ });
  t.match(decideIssuer({ issuer, nowMs: T0 + 60_000, hasRootKey: true, newNotAfterMs: T0 + 90_000 }), { kind: 'blocked', reason: /root expires first/ }, 'the root ends with the issuer: renewing gains nothing');
});

interface Rig {
  clock: FakeTimers;
  api: TestApiServer;
  ca: CaService;
  registry: Registry;
  lines: Record<string, unknown>[];
  dir: string;
}

async function rig(t: Test, env: Record<string, string>, opts: { start?: number; prepare?: (dir: string, api: TestApiServer) => Promise<void> } = {}): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const client = new KubeClient(testApiConnection(api, api.adminToken, 'weft-system'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-issuer-'));
  await opts.prepare?.(dir, api);
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry();
  const clock = new FakeTimers(opts.start ?? Date.now());
  const controller = new AbortController();
  // eslint-disable-next-line prefer-const
  let ca: CaService | undefined;
  t.teardown(async () => {
    controller.abort();
    await ca?.close();
    client.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const config = parseCaConfig({
    WEFT_CA_LISTEN_ADDR: '127.0.0.1:0',
    WEFT_ADMIN_ADDR: '127.0.0.1:0',
    WEFT_CA_ISSUER_DIR: join(dir, 'issuer'),
    WEFT_TRUST_ANCHORS_FILE: join(dir, 'no-roots.pem'),
    ...env,
  });
  ca = await startCaService(config, { log: createLogger({ level: 'info', name: 'ca', destination: sink }), registry, client, shutdown: controller.signal, timers: clock });
  if (!ca) throw new Error('no service');
  return { clock, api, ca, registry, lines, dir };
}

/** Waits (polling the real clock) for a condition the service reaches through real API calls. */
async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const configMapReads = (api: TestApiServer): number => api.requests.filter((r) => r.startsWith('GET /api/v1/namespaces/weft-system/configmaps/weft-trust-anchors')).length;
const secretData = (api: TestApiServer): Record<string, string> => (api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer')?.['data'] ?? {}) as Record<string, string>;
const pemOf = (data: Record<string, string>, key: string): string => Buffer.from(data[key] ?? '', 'base64').toString('utf8');

/** Advances the clock by `ms` and waits for the generated-trust check that falls due to finish. */
async function advanceAndCheck(r: Rig, ms: number): Promise<void> {
  const before = configMapReads(r.api);
  await r.clock.advance(ms);
  await until('a check of the Secret and ConfigMap', () => configMapReads(r.api) > before);
  // The check ends with the ConfigMap read and maybe a write; let that finish.
  await new Promise((resolve) => setTimeout(resolve, 50));
}

async function writeMounted(dir: string, root: SigningPair, issuer: SigningPair): Promise<void> {
  await mkdir(join(dir, 'issuer'), { recursive: true });
  await writeFile(join(dir, 'issuer', 'tls.crt'), issuer.cert.toString('pem'));
  await writeFile(join(dir, 'issuer', 'tls.key'), await privateKeyToPem(issuer.key));
  await writeFile(join(dir, 'issuer', 'ca.crt'), root.cert.toString('pem'));
}

t.test('weft ca on an expired mounted issuer is not ready, says why, signs nothing, and is ready once a valid issuer is mounted', async (t) => {
  const now = Date.now();
  const root = await createRoot({ trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 48 });
  const r = await rig(t, { WEFT_CA_RELOAD_INTERVAL_MS: '100' }, {
    start: now,
    prepare: async (dir) => writeMounted(dir, root, await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 1 })),
  });
  const readiness = r.ca.readiness();
  t.equal(readiness.ready, false);
  t.match(readiness.reasons[0], /^issuer expired at /);
  t.match(r.lines.find((l) => l['code'] === 'WEFT_ERR_CA_ISSUER_INVALID'), { level: 50, reason: /^issuer expired at / }, 'logged with the reason');
  r.api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const token = r.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  const res = await requestCertificate({ url: r.ca.server.url, caPem: root.cert.toString('pem'), token, verify: false });
  t.equal(res.status, 503);
  t.equal(res.body['error'], 'WEFT_ERR_CA_ISSUER_INVALID');
  t.notOk('certificate' in res.body, 'nothing signed');
  t.match(await r.registry.getSingleMetricAsString('weft_ca_certificates_issued_total'), /weft_ca_certificates_issued_total 0/);
  await writeMounted(r.dir, root, await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(now), lifetimeHours: 24 }));
  await r.clock.advance(100);
  await until('the new issuer is loaded', () => r.ca.readiness().ready);
  t.ok(r.lines.some((l) => l['msg'] === 'issuer valid; ready'), 'the recovery is logged');
  const ok = await requestCertificate({ url: r.ca.server.url, caPem: root.cert.toString('pem'), token });
  t.equal(ok.status, 200, 'signs again');
});

t.test('weft ca on a not-yet-valid issuer becomes ready at notBefore by its timer', async (t) => {
  const now = Date.now();
  const root = await createRoot({ trustDomain: 'cluster.local', now: new Date(now - HOUR), lifetimeHours: 48 });
  const r = await rig(t, { WEFT_CA_RELOAD_INTERVAL_MS: '3600000' }, {
    start: now,
    prepare: async (dir) => writeMounted(dir, root, await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(now + 10 * 60_000 + BACKDATE_MS), lifetimeHours: 24 })),
  });
  t.match(r.ca.readiness(), { ready: false, reasons: [/^issuer is not valid until /] });
  // X.509 times have whole seconds: the notBefore as written, not as asked for.
  const notBefore = r.ca.material().authority.issuer.cert.notBefore.getTime();
  await r.clock.advance(notBefore - r.clock.now() - 1);
  t.equal(r.ca.readiness().ready, false, 'not a millisecond early');
  const logged = r.lines.length;
  await r.clock.advance(1);
  t.match(r.lines.slice(logged), [{ msg: 'issuer valid; ready' }], 'the timer flipped it, before any probe');
  t.equal(r.ca.readiness().ready, true);
});

t.test('a generated issuer is renewed at two thirds of its life with the same root; the ConfigMap keeps the root', async (t) => {
  const r = await rig(t, { WEFT_CA_ISSUER_LIFETIME_SECONDS: '90', WEFT_CA_RELOAD_INTERVAL_MS: '10000' });
  const first = secretData(r.api);
  const oldIssuer = new x509.X509Certificate(pemOf(first, 'tls.crt'));
  const roots = (r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string>)['roots.pem'];
  t.equal(oldIssuer.notAfter.getTime() - oldIssuer.notBefore.getTime(), 90_000 + BACKDATE_MS, '90 s issuer');
  await advanceAndCheck(r, 0);
  await advanceAndCheck(r, 50_000);
  t.equal(pemOf(secretData(r.api), 'tls.crt'), pemOf(first, 'tls.crt'), 'not renewed at 50 s');
  await advanceAndCheck(r, 10_000);
  const after = secretData(r.api);
  const newIssuer = new x509.X509Certificate(pemOf(after, 'tls.crt'));
  t.not(newIssuer.serialNumber, oldIssuer.serialNumber, 'renewed at 60 s, 30 s before the old one expires');
  t.equal(pemOf(after, 'ca.crt'), pemOf(first, 'ca.crt'), 'same root');
  t.equal(pemOf(after, 'root.key'), pemOf(first, 'root.key'));
  t.ok(await newIssuer.verify({ publicKey: new x509.X509Certificate(pemOf(first, 'ca.crt')).publicKey, signatureOnly: true }), 'signed by the root');
  t.ok(newIssuer.notAfter.getTime() > oldIssuer.notAfter.getTime());
  t.equal(r.ca.material().authority.issuer.cert.serialNumber, newIssuer.serialNumber, 'in force at once');
  t.equal(r.ca.material().trustBundlePem, roots, 'the trust bundle is still the root alone');
  t.equal((r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string>)['roots.pem'], roots);
  t.match(await r.registry.getSingleMetricAsString('weft_ca_issuer_renewals_total'), /weft_ca_issuer_renewals_total 1/);
  t.match(r.lines.find((l) => l['msg'] === 'issuer renewed with the same root'), { oldIssuerNotAfter: oldIssuer.notAfter.toISOString() });
  t.equal(r.ca.readiness().ready, true);
});

t.test('the running CA re-creates a deleted trust-anchors ConfigMap and Secret, and reloads a Secret another replica renewed', async (t) => {
  const r = await rig(t, { WEFT_CA_RELOAD_INTERVAL_MS: '1000' });
  await advanceAndCheck(r, 0);
  const roots = (r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string>)['roots.pem'];
  r.api.delete('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
  await advanceAndCheck(r, 1000);
  await until('the ConfigMap is back', () => r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors') !== undefined);
  t.equal((r.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors')?.['data'] as Record<string, string>)['roots.pem'], roots, 're-created with the same root');
  t.ok(r.lines.some((l) => l['msg'] === 'trust-anchors ConfigMap was missing; re-created'));

  // Another replica renews the issuer: this one loads it at its next check.
  const data = secretData(r.api);
  const root = { cert: new x509.X509Certificate(pemOf(data, 'ca.crt')), key: await privateKeyFromPem(pemOf(data, 'root.key')) };
  const theirs = await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(r.clock.now()), lifetimeHours: 100 });
  const secret = r.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer');
  if (!secret) throw new Error('no Secret');
  r.api.update({ ...secret, data: { ...data, 'tls.crt': Buffer.from(theirs.cert.toString('pem')).toString('base64'), 'tls.key': Buffer.from(await privateKeyToPem(theirs.key)).toString('base64') } });
  await advanceAndCheck(r, 1000);
  await until('their issuer is in force', () => r.ca.material().authority.issuer.cert.serialNumber === theirs.cert.serialNumber);
  t.pass('reloaded the issuer another replica wrote');

  r.api.delete('v1', 'Secret', 'weft-system', 'weft-ca-issuer');
  await advanceAndCheck(r, 1000);
  await until('the Secret is back', () => r.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer') !== undefined);
  t.equal(pemOf(secretData(r.api), 'ca.crt'), pemOf(data, 'ca.crt'), 're-created from memory with the same root, not a new one');
  t.equal(pemOf(secretData(r.api), 'tls.crt'), theirs.cert.toString('pem'));
});

t.test('a generated Secret whose issuer expired while no CA ran is renewed at the first check', async (t) => {
  const now = Date.now();
  const r = await rig(t, { WEFT_CA_RELOAD_INTERVAL_MS: '1000' }, {
    start: now,
    prepare: async (_dir, api) => {
      const root = await createRoot({ trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 48 });
      const issuer = await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 1 });
      const b64 = (s: string): string => Buffer.from(s).toString('base64');
      api.apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'weft-ca-issuer', namespace: 'weft-system' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(issuer.cert.toString('pem')), 'tls.key': b64(await privateKeyToPem(issuer.key)), 'ca.crt': b64(root.cert.toString('pem')), 'root.key': b64(await privateKeyToPem(root.key)) },
      });
    },
  });
  t.equal(r.ca.readiness().ready, false, 'not ready on the expired issuer');
  await r.clock.advance(0);
  await until('renewed', () => r.ca.readiness().ready);
  const renewed = r.ca.material().authority.issuer.cert;
  t.equal(renewed.notAfter.getTime(), r.ca.material().authority.root.notAfter.getTime(), "a fresh issuer, its year clamped to the root's 38 h left");
  t.ok(renewed.notAfter.getTime() > now + 37 * HOUR);
});
