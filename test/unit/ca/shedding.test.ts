// Load shedding in `weft ca`: the gate's pure decisions, then a real CA server whose TokenReview
// is held open, so the requests in flight are exactly the bound and the next one is shed at once.
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { SigningGate, MAX_RETRY_AFTER_SECONDS } from '../../../ca/shedding.js';
import { startCaServer } from '../../../ca/server.js';
import type { CaMaterial } from '../../../ca/material.js';
import { issueServingMaterial } from '../../../ca/serving.js';
import type { ReviewOutcome, TokenReviewer } from '../../../ca/token-review.js';
import { createLogger } from '../../../lib/logger.js';
import { makeTestPki } from '../../support/pki.js';
import { requestCertificate } from '../../support/ca-request.js';
import { csrCorpus, toPem } from '../../support/csr-corpus.js';

t.test('the gate admits up to its bound and sheds the rest with a jittered Retry-After', (t) => {
  const gate = new SigningGate(2, () => 0.99);
  const a = gate.enter(0);
  const b = gate.enter(0);
  t.match(a, { admitted: true });
  t.match(b, { admitted: true });
  t.same(gate.enter(0), { admitted: false, retryAfterSeconds: 2 }, 'no history: 1 s, jittered up to 2');
  t.equal(gate.inFlight, 2);
  gate.leave(4_000, 0);
  t.equal(gate.meanMs, 4_000);
  t.match(gate.enter(4_000), { admitted: true }, 'a slot freed');
  t.same(gate.enter(4_000), { admitted: false, retryAfterSeconds: 8 }, 'a 4 s mean: 4 s, jittered up to 8');
  const low = new SigningGate(1, () => 0);
  low.enter(0);
  t.same(low.enter(0), { admitted: false, retryAfterSeconds: 1 });
  low.leave(1_000_000, 0);
  low.enter(0);
  t.equal((low.enter(0) as { retryAfterSeconds: number }).retryAfterSeconds, MAX_RETRY_AFTER_SECONDS, 'capped');
  t.end();
});

const pki = await makeTestPki();
const identity = 'spiffe://cluster.local/ns/shop/sa/orders';

/** A reviewer whose answers wait until the test lets them go. */
class HeldReviewer implements TokenReviewer {
  readonly waiting: (() => void)[] = [];
  held = true;
  async review(): Promise<ReviewOutcome> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return { authenticated: true, identity, username: 'system:serviceaccount:shop:orders' };
  }
  release(): void {
    this.held = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

const material: CaMaterial = { authority: pki.authority, chainPem: pki.authority.issuer.cert.toString('pem'), trustBundlePem: pki.authority.root.toString('pem'), source: 'test' };

async function startServer(t: Test, reviewer: TokenReviewer, maxInFlight: number) {
  const registry = new Registry();
  const lines: Record<string, unknown>[] = [];
  const server = await startCaServer({
    listen: { host: '127.0.0.1', port: 0 },
    material: () => material,
    serving: await issueServingMaterial({ authority: pki.authority, names: ['localhost', '127.0.0.1'], now: new Date(), lifetimeHours: 1 }),
    reviewer,
    leafLifetimeHours: 1,
    log: createLogger({ level: 'debug', name: 'weft-ca', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } }),
    registry,
    maxInFlight,
  });
  t.teardown(() => server.close());
  return { server, registry, lines, caPem: pki.authority.root.toString('pem') };
}

t.test('past the bound a request is answered 429 WEFT_ERR_CA_BUSY with Retry-After at once; admitted ones finish', async (t) => {
  const reviewer = new HeldReviewer();
  const { server, registry, caPem } = await startServer(t, reviewer, 3);
  const held = [1, 2, 3].map(() => requestCertificate({ url: server.url, caPem, token: 'tok' }));
  while (reviewer.waiting.length < 3) await new Promise((r) => setImmediate(r));
  const started = Date.now();
  const shed = await requestCertificate({ url: server.url, caPem, token: 'tok' });
  t.equal(shed.status, 429);
  t.equal(shed.headers['weft-error'], 'WEFT_ERR_CA_BUSY');
  t.equal(shed.body['error'], 'WEFT_ERR_CA_BUSY');
  t.match(shed.headers['retry-after'], /^[1-9]\d*$/, 'Retry-After in whole seconds');
  t.ok(Date.now() - started < 2_000, 'answered without waiting for the held requests');
  reviewer.release();
  for (const res of await Promise.all(held)) t.equal(res.status, 200, 'the admitted requests are signed');
  t.equal((await requestCertificate({ url: server.url, caPem, token: 'tok' })).status, 200, 'room again');
  const refused = (await registry.getSingleMetric('weft_ca_certificates_refused_total')?.get())?.values.find((v) => v.labels['reason'] === 'ca_busy');
  t.equal(refused?.value, 1);
});

t.test('every malformed CSR of the corpus is a 400 with its code, logged at info, never signed', async (t) => {
  const reviewer = new HeldReviewer();
  reviewer.release();
  const { server, registry, caPem, lines } = await startServer(t, reviewer, 32);
  const { cases } = await csrCorpus();
  for (const c of cases) {
    const res = await requestCertificate({ url: server.url, caPem, token: 'tok', rawBody: JSON.stringify({ csr: toPem(c.der) }) });
    t.equal(res.status, 400, `${c.name}: 400`);
    t.equal(res.body['error'], c.code, `${c.name}: ${c.code}`);
  }
  t.equal((await registry.getSingleMetric('weft_ca_certificates_issued_total')?.get())?.values[0]?.value ?? 0, 0, 'none signed');
  t.notOk(lines.some((l) => l['level'] === 50), 'nothing logged at error');
  t.equal(lines.filter((l) => l['msg'] === 'certificate request refused' && l['level'] === 30).length, cases.length, 'each refusal one info line');
});
