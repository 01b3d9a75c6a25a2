// End to end: a sidecar's /ready tells the truth about its certificate, with a real `weft ca`
// and real `weft proxy` processes against the test API server: a leaf that expires while the CA
// is down turns /ready to 503 at its expiry and back to 200 after renewal; a proxy whose token
// names another service account than its settings is not ready, and so is such a gateway. (The
// CA's own readiness: ca-ready.test.ts.)
import t from 'tap';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, metric } from '../support/local-mesh.js';
import { logLines, readyAnswer, readyUntil } from '../support/readiness.js';
// The file waits out real certificate lifetimes (about a minute): more than the default timeout.
t.setTimeout(240_000);
const base = randomBase();
const mesh = await KubeMesh.create();
t.teardown(() => mesh.close());
const caAddr = `${base}.1`;
const caEnv = { WEFT_CA_LEAF_LIFETIME_SECONDS: '20' };
let ca = await mesh.startCa(caAddr, caEnv);

t.test('a leaf that expires while weft ca is down turns /ready to 503 at its expiry, and back to 200 after renewal', async (t) => {
  const pod: KubePod = { name: 'orders-0', address: `${base}.10`, serviceAccount: 'orders' };
  mesh.addPod(pod);
  const proxy = await mesh.startProxy(pod);
  // Stop the CA right after a renewal, so the leaf in force has its whole 20 s ahead.
  const first = await metric(proxy.admin, 'weft_certificate_expiry_timestamp_seconds');
  const deadline = Date.now() + 20_000;
  while ((await metric(proxy.admin, 'weft_certificate_expiry_timestamp_seconds')) === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  ca.child.kill('SIGTERM');
  await ca.exited;
  const notAfterMs = (await metric(proxy.admin, 'weft_certificate_expiry_timestamp_seconds')) * 1000;
  t.equal((await readyAnswer(proxy.admin))?.status, 200, 'ready while the leaf is valid, CA or not');
  const down = await readyUntil(proxy, 'not ready after expiry', (a) => a.status === 503, 30_000);
  t.ok(down.at >= notAfterMs, `not before the expiry (${down.at - notAfterMs} ms after notAfter)`);
  t.ok(down.at - notAfterMs < 1500, `at the expiry instant, by a timer (${down.at - notAfterMs} ms after notAfter)`);
  t.match(down.reasons, [/^certificate expired at /], 'says why');
  const said = await logLines(proxy, /^not ready: certificate expired at /);
  t.equal(said.length, 1, 'logged once');
  t.equal(said[0]?.['code'], 'WEFT_ERR_NOT_READY');
  ca = await mesh.startCa(caAddr, caEnv);
  const up = await readyUntil(proxy, 'ready after renewal', (a) => a.status === 200, 45_000);
  t.same(up.reasons, []);
  t.ok((await metric(proxy.admin, 'weft_certificate_expiry_timestamp_seconds')) * 1000 > Date.now(), 'a fresh leaf');
  t.equal((await logLines(proxy, /^certificate valid again/)).length, 1, 'the recovery is logged once');
  t.equal((await logLines(proxy, /^not ready: certificate expired at /)).length, 1, 'and the expiry still once');
});

t.test('a proxy whose token proves another service account than its settings name is not ready, and says so', async (t) => {
  const pod: KubePod = { name: 'orders-1', address: `${base}.11`, serviceAccount: 'orders' };
  mesh.addPod(pod);
  const proxy = await mesh.startProxy(pod, { WEFT_SERVICE_ACCOUNT: 'billing' }, { wait: false });
  const answer = await readyUntil(proxy, 'a judged certificate', (a) => a.reasons.some((r) => r.startsWith('certificate names')), 40_000);
  t.equal(answer.status, 503);
  t.match(answer.reasons, [`certificate names ${mesh.identity('orders')} but this process is ${mesh.identity('billing')}: its token proves another service account than its settings name`]);
  t.ok((await metric(proxy.admin, 'weft_identity_certificate_requests_total', { result: 'issued' })) >= 1, 'the CA did sign: for the token, not the settings');
  t.equal((await logLines(proxy, /^not ready: certificate names /)).length, 1, 'logged once');
});

t.test('a gateway whose token proves another service account than its settings name is not ready, and says so', async (t) => {
  const pod: KubePod = { name: 'edge-0', address: `${base}.13`, serviceAccount: 'edge' };
  mesh.addPod(pod);
  const gateway = await mesh.startGateway(pod, { WEFT_SERVICE_ACCOUNT: 'other-edge' }, { wait: false });
  const answer = await readyUntil(gateway, 'a judged certificate', (a) => a.reasons.some((r) => r.startsWith('certificate names')), 40_000);
  t.equal(answer.status, 503);
  t.ok(answer.reasons.includes(`certificate names ${mesh.identity('edge')} but this process is ${mesh.identity('other-edge')}: its token proves another service account than its settings name`), 'the reason names both identities');
  t.equal((await logLines(gateway, /^not ready: certificate names /)).length, 1, 'logged once');
});
