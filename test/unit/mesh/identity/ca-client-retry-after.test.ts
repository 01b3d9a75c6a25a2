// The CA client honours a Retry-After from `weft ca` (which passes on the API server's wait when
// its TokenReview was throttled): no certificate request before that time, whatever the backoff.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { parseCaConfig, startCaService } from '../../../../ca/service.js';
import { testApiConnection } from '../../../support/kube-connection.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { CaClientIdentityProvider } from '../../../../mesh/identity/ca-client.js';
import { FakeTimers } from '../../../support/fake-timers.js';

t.test('a 503 with Retry-After 5 from the CA: the next request waits 5 s though the backoff says 250 ms', async (t) => {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const client = new KubeClient(testApiConnection(api, api.adminToken, 'weft-system'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-cac-ra-'));
  const registry = new Registry();
  const ca = await startCaService(parseCaConfig({ WEFT_CA_LISTEN_ADDR: '127.0.0.1:0', WEFT_CA_ISSUER_DIR: join(dir, 'none'), WEFT_TRUST_ANCHORS_FILE: join(dir, 'none.pem') }), {
    log: createLogger({ level: 'silent', name: 'ca' }), registry, client, shutdown: new AbortController().signal,
  });
  if (!ca) throw new Error('no CA');
  await writeFile(join(dir, 'roots.pem'), ca.material().trustBundlePem);
  await writeFile(join(dir, 'token'), api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  const clock = new FakeTimers(Date.now());
  const provider = new CaClientIdentityProvider({
    caAddr: ca.server.url,
    trustAnchorsFile: join(dir, 'roots.pem'),
    tokenFile: join(dir, 'token'),
    expectedIdentity: 'spiffe://cluster.local/ns/shop/sa/orders',
    log: createLogger({ level: 'silent', name: 'p' }),
    timers: clock,
    random: () => 0.5,
  });
  t.teardown(async () => {
    provider.close();
    await ca.close();
    client.close();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const throttled = async (): Promise<number> =>
    (await registry.getSingleMetric('weft_ca_certificates_refused_total')?.get())?.values.find((v) => v.labels['reason'] === 'kube_throttled')?.value ?? 0;
  api.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 5 }, { resource: 'tokenreviews' }, 1);
  const retry = clock.nextScheduled();
  // Resolves when the first certificate arrives or the provider closes; the test ends before either matters.
  provider.start().catch(() => undefined);
  t.equal((await retry).delayMs, 250, 'the renewal backoff alone would retry after 250 ms');
  t.equal(await throttled(), 1, 'the CA answered 503 throttled');
  const rest = clock.nextScheduled();
  await clock.advance(250);
  t.equal((await rest).delayMs, 4750, 'the request waits the rest of the 5 s');
  await clock.advance(4749);
  t.equal(await throttled(), 1, 'nothing sent before 5 s');
  t.equal(provider.current(), undefined);
  await clock.advance(1);
  const deadline = Date.now() + 5000;
  while ((await throttled()) < 2 && provider.current() === undefined) {
    if (Date.now() > deadline) throw new Error('no request after the wait');
    await new Promise((r) => setTimeout(r, 10));
  }
  t.pass('asked again at 5 s');
});
