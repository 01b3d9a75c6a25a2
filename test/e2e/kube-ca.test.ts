// End to end: a real `weft ca` process against the test API server: certificates through
// TokenReview, the token's identity whatever the CSR asks, 401 and no certificate for bad tokens.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { KubeMesh } from '../support/kube-mesh.js';
import { randomBase, metric } from '../support/local-mesh.js';
import { requestCertificate } from '../support/ca-request.js';

const base = randomBase();
const mesh = await KubeMesh.create();
t.teardown(() => mesh.close());
const ca = await mesh.startCa(`${base}.1`);
const roots = await readFile(mesh.rootsFile, 'utf8');
const secret = mesh.api.get('v1', 'Secret', 'weft-system', 'weft-ca-issuer');

t.test('weft ca generated its root and issuer into its Secret and published the root', async (t) => {
  t.equal(secret?.['type'], 'kubernetes.io/tls');
  t.match(roots, /BEGIN CERTIFICATE/);
});

t.test('a pod token gets a certificate for its service account, whatever identity the CSR asks for', async (t) => {
  mesh.addPod({ name: 'orders-0', address: `${base}.2`, serviceAccount: 'orders' });
  const token = mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], pod: { name: 'orders-0' } });
  const own = await requestCertificate({ url: mesh.caUrl, caPem: roots, token });
  t.equal(own.status, 200);
  t.equal(new X509Certificate(own.body['certificate'] as string).subjectAltName, `URI:${mesh.identity('orders')}`);
  const greedy = await requestCertificate({ url: mesh.caUrl, caPem: roots, token, identityHint: 'spiffe://cluster.local/ns/kube-system/sa/admin' });
  t.equal(greedy.status, 200);
  const leaf = new X509Certificate(greedy.body['certificate'] as string);
  t.equal(leaf.subjectAltName, `URI:${mesh.identity('orders')}`, 'signed for the token identity, not the CSR one');
  t.ok(leaf.verify(new X509Certificate(greedy.body['chain'] as string).publicKey));
  t.ok(mesh.api.requests.filter((r) => r === 'POST /apis/authentication.k8s.io/v1/tokenreviews').length >= 2, 'each request ran a TokenReview');
  t.equal(await metric(ca.admin, 'weft_ca_certificates_issued_total'), 2);
});

t.test('forged, expired, wrong-audience and deleted-pod tokens get 401 and no certificate', async (t) => {
  mesh.addPod({ name: 'orders-1', address: `${base}.3`, serviceAccount: 'orders' });
  const cases: Record<string, string | undefined> = {
    forged: mesh.api.forgeToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }),
    expired: mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], expiresAt: new Date(Date.now() - 60_000) }),
    'wrong audience': mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['https://kubernetes.default.svc.cluster.local'] }),
    'pod gone': mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], pod: { name: 'deleted-pod' } }),
    missing: undefined,
  };
  for (const [what, token] of Object.entries(cases)) {
    const res = await requestCertificate({ url: mesh.caUrl, caPem: roots, ...(token === undefined ? {} : { token }) });
    t.equal(res.status, 401, `${what}: 401`);
    t.equal(res.headers['weft-error'], 'WEFT_ERR_UNAUTHENTICATED', `${what}: coded`);
    t.notOk('certificate' in res.body, `${what}: no certificate`);
  }
  t.equal(await metric(ca.admin, 'weft_ca_certificates_refused_total', { reason: 'unauthenticated' }), Object.keys(cases).length);
  t.equal(await metric(ca.admin, 'weft_ca_certificates_issued_total'), 2, 'nothing more was issued');
  // Read the log once every refusal is in it, so the absence of the token below is measured
  // against log lines that were written, not against a log that is not flushed yet.
  const refusals = Object.keys(cases).length;
  let log = '';
  for (let i = 0; i < 100; i++) {
    log = await ca.log();
    if ((log.match(/"certificate refused"/g) ?? []).length >= refusals) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal((log.match(/"certificate refused"/g) ?? []).length, refusals, 'each refusal is logged');
  for (const [what, token] of Object.entries(cases)) if (token) t.notOk(log.includes(token), `the ${what} token never reaches the log`);
});

t.test('a malformed CSR is a 400 naming what is wrong', async (t) => {
  const token = mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  const res = await requestCertificate({ url: mesh.caUrl, caPem: roots, token, rawBody: JSON.stringify({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----' }) });
  t.equal(res.status, 400);
  t.equal(res.body['error'], 'WEFT_ERR_CSR_MALFORMED');
  t.match(res.body['message'], /CSR is malformed/);
});

t.test('with the API server down the CA answers 503, and recovers when it returns', async (t) => {
  const token = mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] });
  await mesh.api.stop();
  const down = await requestCertificate({ url: mesh.caUrl, caPem: roots, token });
  t.equal(down.status, 503);
  t.equal(down.body['error'], 'WEFT_ERR_KUBE_UNREACHABLE');
  await mesh.api.restart();
  t.equal((await requestCertificate({ url: mesh.caUrl, caPem: roots, token })).status, 200);
});
