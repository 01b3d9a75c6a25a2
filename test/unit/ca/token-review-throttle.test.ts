// TokenReview answered 429 or 503 by the API server: the reviewer honours its Retry-After (no
// review before that time) and `weft ca` answers 503 WEFT_ERR_KUBE_THROTTLED with the same
// Retry-After, instead of 502 WEFT_ERR_KUBE_API.
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TestApiServer } from '../../support/test-apiserver.js';
import { testApiConnection } from '../../support/kube-connection.js';
import { requestCertificate } from '../../support/ca-request.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { KubeThrottledError, KubeTokenReviewer } from '../../../ca/token-review.js';
import { parseCaConfig, startCaService } from '../../../ca/service.js';

async function api(t: Test): Promise<{ api: TestApiServer; client: KubeClient }> {
  const server = await TestApiServer.start();
  const client = new KubeClient(testApiConnection(server));
  t.teardown(async () => {
    client.close();
    await server.stop();
  });
  return { api: server, client };
}

const reviews = (a: TestApiServer): number => a.requestLog.filter((r) => r.resource === 'tokenreviews').length;

t.test('a 429 with Retry-After 2: a throttled error carrying 2 s, and no TokenReview is sent before 2 s have passed', async (t) => {
  const { api: a, client } = await api(t);
  let now = 1_000_000;
  const reviewer = new KubeTokenReviewer(client, 'weft-ca', 'cluster.local', () => now);
  const token = a.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  a.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 2 }, { resource: 'tokenreviews' }, 1);
  const err = await reviewer.review(token).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeThrottledError);
  t.match(err, { code: 'WEFT_ERR_KUBE_THROTTLED', status: 503, retryAfterSeconds: 2 });
  t.equal(reviews(a), 1);
  now += 1500;
  const early = await reviewer.review(token).then(() => undefined, (e: unknown) => e);
  t.match(early, { code: 'WEFT_ERR_KUBE_THROTTLED', retryAfterSeconds: 1 }, 'what is left of the wait, rounded up');
  t.equal(reviews(a), 1, 'no TokenReview sent during the wait');
  now += 500;
  t.match(await reviewer.review(token), { authenticated: true, identity: 'spiffe://cluster.local/ns/shop/sa/orders' }, 'reviewed again at 2 s');
  t.equal(reviews(a), 2);
});

t.test('a 503 without Retry-After waits 1 s, as client-go does', async (t) => {
  const { api: a, client } = await api(t);
  let now = 5_000;
  const reviewer = new KubeTokenReviewer(client, 'weft-ca', 'cluster.local', () => now);
  const token = a.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  a.injectFault({ kind: 'status', code: 503 }, { resource: 'tokenreviews' }, 1);
  t.match(await reviewer.review(token).then(() => undefined, (e: unknown) => e), { code: 'WEFT_ERR_KUBE_THROTTLED', retryAfterSeconds: 1 });
  now += 999;
  t.match(await reviewer.review(token).then(() => undefined, (e: unknown) => e), { code: 'WEFT_ERR_KUBE_THROTTLED' });
  now += 1;
  t.match(await reviewer.review(token), { authenticated: true });
});

t.test('other API errors stay WEFT_ERR_KUBE_API', async (t) => {
  const { api: a, client } = await api(t);
  const reviewer = new KubeTokenReviewer(client, 'weft-ca', 'cluster.local');
  a.injectFault({ kind: 'status', code: 500 }, { resource: 'tokenreviews' }, 1);
  t.match(await reviewer.review('x').then(() => undefined, (e: unknown) => e), { code: 'WEFT_ERR_KUBE_API', status: 502 });
});

t.test('weft ca answers 503 WEFT_ERR_KUBE_THROTTLED with the Retry-After of the API server, not 502', async (t) => {
  const { api: a, client } = await api(t);
  a.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-throttle-'));
  const config = parseCaConfig({
    WEFT_CA_LISTEN_ADDR: '127.0.0.1:0',
    WEFT_ADMIN_ADDR: '127.0.0.1:0',
    WEFT_POD_NAMESPACE: 'weft-system',
    WEFT_CA_ISSUER_DIR: join(dir, 'issuer'),
    WEFT_TRUST_ANCHORS_FILE: join(dir, 'trust', 'roots.pem'),
  });
  const controller = new AbortController();
  const ca = await startCaService(config, { log: createLogger({ level: 'silent', name: 'ca' }), registry: new Registry(), client, shutdown: controller.signal });
  t.teardown(async () => {
    controller.abort();
    await ca?.close();
    await rm(dir, { recursive: true, force: true });
  });
  if (!ca) throw new Error('no service');
  const token = a.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  a.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 3 }, { resource: 'tokenreviews' }, 1);
  const res = await requestCertificate({ url: ca.server.url, caPem: ca.material().trustBundlePem, token });
  t.equal(res.status, 503);
  t.equal(res.headers['retry-after'], '3');
  t.equal(res.headers['weft-error'], 'WEFT_ERR_KUBE_THROTTLED');
  t.equal(res.body['error'], 'WEFT_ERR_KUBE_THROTTLED');
  const before = reviews(a);
  const again = await requestCertificate({ url: ca.server.url, caPem: ca.material().trustBundlePem, token });
  t.equal(again.status, 503, 'asked again at once: still throttled');
  t.ok(Number(again.headers['retry-after']) >= 1 && Number(again.headers['retry-after']) <= 3, `Retry-After ${String(again.headers['retry-after'])}`);
  t.equal(reviews(a), before, 'and the API server was not asked');
});
