import t, { type Test } from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Registry } from 'prom-client';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { parseCaConfig, startCaService, type CaService } from '../../../../ca/service.js';
import { fromKubeconfigText } from '../../../../lib/kube/config.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { CaClientIdentityProvider, renewAtMs, retryAfterMs } from '../../../../mesh/identity/ca-client.js';
import type { TlsMaterial } from '../../../../mesh/identity/identity-provider.js';

t.test('renews at 70 % of the remaining lifetime, jittered by 5 %, never in the last 10 s', async (t) => {
  const received = 1_000_000;
  const day = 24 * 3_600_000;
  t.equal(renewAtMs(received, received + day, () => 0.5), received + Math.round(0.7 * day));
  t.equal(renewAtMs(received, received + day, () => 0), received + Math.round(0.65 * day));
  t.equal(renewAtMs(received, received + day, () => 1), received + Math.round(0.75 * day));
  t.equal(renewAtMs(received, received + 12_000, () => 1), received + 2_000, 'short leaves still renew 10 s before expiry');
  t.equal(renewAtMs(received, received - 5, () => 0.5), received, 'already expired: now');
  // A fake clock walking many pods: every renewal lands inside the window.
  for (let i = 0; i < 100; i++) {
    const at = renewAtMs(received, received + day, Math.random);
    t.ok(at >= received + 0.65 * day && at <= received + 0.75 * day);
    if (!(at >= received + 0.65 * day && at <= received + 0.75 * day)) break;
  }
});

t.test('retries back off exponentially from 0.5 s to a 30 s cap, with jitter', async (t) => {
  t.equal(retryAfterMs(1, () => 1), 500);
  t.equal(retryAfterMs(1, () => 0), 250);
  t.equal(retryAfterMs(4, () => 1), 4000);
  t.equal(retryAfterMs(50, () => 1), 30_000);
  t.equal(retryAfterMs(50, () => 0), 15_000);
});

interface Rig {
  api: TestApiServer;
  ca: () => CaService | undefined;
  dir: string;
  startCa: (env?: Record<string, string>) => Promise<CaService>;
  stopCa: () => Promise<void>;
  provider: (registry?: Registry) => CaClientIdentityProvider;
}

async function rig(t: Test): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(api.adminToken, 'weft-system'), 'test'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-cac-'));
  let ca: CaService | undefined;
  let port = 0;
  const providers: CaClientIdentityProvider[] = [];
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

t.test('waits for the CA with backoff, and renews on schedule with a short lifetime', async (t) => {
  const r = await rig(t);
  await r.startCa({ WEFT_CA_LEAF_LIFETIME_SECONDS: '15' });
  const port = r.ca()?.server.port ?? 0;
  await r.stopCa();
  const registry = new Registry();
  const p = r.provider(registry);
  const started = p.start();
  await new Promise((res) => setTimeout(res, 700));
  t.equal(p.current(), undefined, 'no certificate while the CA is down');
  await r.startCa({ WEFT_CA_LISTEN_ADDR: `127.0.0.1:${port}`, WEFT_CA_LEAF_LIFETIME_SECONDS: '15' });
  await started;
  const first = p.current() as TlsMaterial;
  t.ok(first, 'got one once the CA came back');
  const changes: TlsMaterial[] = [];
  p.onChange((m) => changes.push(m));
  // 15 s lifetime: renewal at ~70 % of the remaining 15 s, i.e. 1.75-3.25 s... capped at 5 s (10 s before expiry).
  const deadline = Date.now() + 8000;
  while (changes.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  t.equal(changes.length, 1, 'renewed');
  t.not(changes[0]?.keyPem, first.keyPem, 'with a new key');
  t.ok((changes[0]?.notAfter.getTime() ?? 0) > first.notAfter.getTime());
  const failures = (await registry.getSingleMetric('weft_identity_certificate_requests_total')?.get())?.values.find((v) => v.labels['result'] === 'failed')?.value ?? 0;
  t.ok(failures >= 1, 'failed attempts counted');
});

t.test('a refused token keeps retrying and reports the CA error', async (t) => {
  const r = await rig(t);
  await r.startCa();
  await writeFile(join(r.dir, 'token'), r.api.forgeToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  const p = r.provider();
  const started = p.start();
  await new Promise((res) => setTimeout(res, 400));
  t.equal(p.current(), undefined);
  // The kubelet writes a good token: the next attempt works.
  await writeFile(join(r.dir, 'token'), r.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  await started;
  t.ok(p.current());
});
