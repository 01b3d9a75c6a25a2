import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { parseCaConfig, startCaService, type CaService } from '../../../../ca/service.js';
import { testApiConnection } from '../../../support/kube-connection.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { CaClientIdentityProvider } from '../../../../mesh/identity/ca-client.js';
import { renewAtMs } from '../../../../mesh/identity/renewal.js';
import { FakeTimers } from '../../../support/fake-timers.js';
import type { TlsMaterial } from '../../../../mesh/identity/identity-provider.js';

// When to renew and how failed attempts back off is the one policy of
// test/unit/mesh/identity/renewal.test.ts; here, the CA client drives it against a real `weft ca`.

interface Rig {
  api: TestApiServer;
  ca: () => CaService | undefined;
  dir: string;
  startCa: (env?: Record<string, string>) => Promise<CaService>;
  stopCa: () => Promise<void>;
  provider: (registry?: Registry) => CaClientIdentityProvider;
  /** The providers' clock. */
  clock: FakeTimers;
}

async function rig(t: Test): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const client = new KubeClient(testApiConnection(api, api.adminToken, 'weft-system'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-cac-'));
  let ca: CaService | undefined;
  let port = 0;
  const providers: CaClientIdentityProvider[] = [];
  // Starts at the real time: the CA signs with the real clock, and renewal compares to notAfter.
  const clock = new FakeTimers(Date.now());
  const startCa = async (env: Record<string, string> = {}): Promise<CaService> => {
    ca = await startCaService(parseCaConfig({ WEFT_CA_LISTEN_ADDR: `127.0.0.1:${port}`, WEFT_CA_ISSUER_DIR: join(dir, 'none'), WEFT_TRUST_ANCHORS_FILE: join(dir, 'none.pem'), ...env }), {
      log: createLogger({ level: 'silent', name: 'ca' }), registry: new Registry(), client, shutdown: new AbortController().signal,
    });
    if (!ca) throw new Error('no CA');
    port = ca.server.port;
    await writeFile(join(dir, 'roots.pem'), ca.material().trustBundlePem);
    return ca;
  };
  t.teardown(async () => {
    for (const p of providers) p.close();
    await ca?.close();
    client.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await writeFile(join(dir, 'token'), api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  return {
    api,
    ca: () => ca,
    dir,
    clock,
    startCa,
    stopCa: async () => {
      await ca?.close();
      ca = undefined;
    },
    provider: (registry) => {
      const p = new CaClientIdentityProvider({
        caAddr: `https://127.0.0.1:${port}`,
        trustAnchorsFile: join(dir, 'roots.pem'),
        tokenFile: join(dir, 'token'),
        expectedIdentity: 'spiffe://cluster.local/ns/shop/sa/orders',
        log: createLogger({ level: 'silent', name: 'p' }),
        timers: clock,
        random: () => 0.5,
        ...(registry ? { registry } : {}),
      });
      providers.push(p);
      return p;
    },
  };
}

t.test('gets a certificate for its token identity, keyed to its own key, chaining to the anchors', async (t) => {
  const r = await rig(t);
  await r.startCa();
  const p = r.provider();
  t.equal(p.current(), undefined, 'nothing before start');
  await p.start();
  const m = p.current() as TlsMaterial;
  t.equal(m.identity, 'spiffe://cluster.local/ns/shop/sa/orders');
  const certs = m.certChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  t.equal(certs.length, 2, 'leaf then issuer');
  const leaf = new X509Certificate(certs[0] ?? '');
  t.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(m.keyPem)), 'the leaf is for the key kept in memory');
  t.ok(leaf.verify(new X509Certificate(certs[1] ?? '').publicKey));
  t.equal(m.trustBundlePem, r.ca()?.material().trustBundlePem);
});

async function requests(registry: Registry, result: string): Promise<number> {
  return (await registry.getSingleMetric('weft_identity_certificate_requests_total')?.get())?.values.find((v) => v.labels['result'] === result)?.value ?? 0;
}

t.test('waits for the CA with backoff, and renews on schedule with a short lifetime', async (t) => {
  const r = await rig(t);
  await r.startCa({ WEFT_CA_LEAF_LIFETIME_SECONDS: '15' });
  const port = r.ca()?.server.port ?? 0;
  await r.stopCa();
  const registry = new Registry();
  const p = r.provider(registry);
  const firstRetry = r.clock.nextScheduled();
  const started = p.start();
  t.equal((await firstRetry).delayMs, 250, 'the first retry waits the backoff (0.5 s ceiling, jitter 0.5)');
  t.equal(p.current(), undefined, 'no certificate while the CA is down');
  t.equal(await requests(registry, 'failed'), 1);
  await r.clock.advance(249);
  t.equal(await requests(registry, 'failed'), 1, 'no second attempt before the backoff');
  const secondRetry = r.clock.nextScheduled();
  await r.clock.advance(1);
  t.equal((await secondRetry).delayMs, 500, 'the second attempt failed too, and the backoff doubled');
  t.equal(await requests(registry, 'failed'), 2, 'failed attempts counted');
  await r.startCa({ WEFT_CA_LISTEN_ADDR: `127.0.0.1:${port}`, WEFT_CA_LEAF_LIFETIME_SECONDS: '15' });
  const renewal = r.clock.nextScheduled();
  await r.clock.advance(500);
  await started;
  const first = p.current() as TlsMaterial;
  t.ok(first, 'got one once the CA came back');
  // 15 s lifetime: renewal at 70 % of what is left, capped at 10 s before expiry.
  const expected = renewAtMs(r.clock.now(), first.notAfter.getTime(), () => 0.5) - r.clock.now();
  t.equal((await renewal).delayMs, expected, 'renewal scheduled by the policy');
  t.ok(expected > 0 && expected <= 5000, `within the leaf's first 5 s (${expected} ms)`);
  const changes: TlsMaterial[] = [];
  p.onChange((m) => changes.push(m));
  const renewed = new Promise<TlsMaterial>((resolve) => p.onChange(resolve));
  await r.clock.advance(expected - 1);
  t.equal(await requests(registry, 'issued'), 1, 'no renewal a millisecond early');
  await r.clock.advance(1);
  const second = await renewed;
  t.equal(changes.length, 1, 'renewed');
  t.not(second.keyPem, first.keyPem, 'with a new key');
  // The CA signs with the real clock, which barely moved: a new leaf, expiring no earlier.
  t.not(new X509Certificate(second.certChainPem).serialNumber, new X509Certificate(first.certChainPem).serialNumber, 'a new leaf');
  t.ok(second.notAfter.getTime() >= first.notAfter.getTime());
  t.equal(await requests(registry, 'issued'), 2);
});

t.test('a refused token keeps retrying and reports the CA error', async (t) => {
  const r = await rig(t);
  await r.startCa();
  await writeFile(join(r.dir, 'token'), r.api.forgeToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  const registry = new Registry();
  const p = r.provider(registry);
  const retry = r.clock.nextScheduled();
  const started = p.start();
  await retry;
  t.equal(p.current(), undefined);
  t.equal(await requests(registry, 'failed'), 1, 'the refusal counted');
  // The kubelet writes a good token: the next attempt works.
  await writeFile(join(r.dir, 'token'), r.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  await r.clock.advance(250);
  await started;
  t.ok(p.current());
  t.equal(await requests(registry, 'issued'), 1);
});
