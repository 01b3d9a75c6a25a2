import t from 'tap';
import { Writable } from 'node:stream';
import { LeafReadiness, NO_CERTIFICATE_YET, judgeLeaf } from '../../../../mesh/identity/leaf-readiness.js';
import type { IdentityProvider, TlsMaterial } from '../../../../mesh/identity/identity-provider.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const BILLING = 'spiffe://cluster.local/ns/shop/sa/billing';

function leaf(identity: string, fromMs: number, toMs: number): TlsMaterial {
  return { identity, keyPem: 'k', certChainPem: 'c', trustBundlePem: 'r', notBefore: new Date(fromMs), notAfter: new Date(toMs) };
}

/** An identity provider whose material the test sets, telling listeners as a renewal does. */
class SetProvider implements IdentityProvider {
  #m: TlsMaterial | undefined;
  readonly #listeners: ((m: TlsMaterial) => void)[] = [];
  current(): TlsMaterial | undefined {
    return this.#m;
  }
  onChange(listener: (m: TlsMaterial) => void): void {
    this.#listeners.push(listener);
  }
  set(m: TlsMaterial): void {
    this.#m = m;
    for (const l of this.#listeners) l(m);
  }
  async start(): Promise<void> {}
  close(): void {}
}

function memoryLog(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: 'info', name: 'test', destination: sink }), lines };
}

t.test('judges a missing, not yet valid, expired or foreign leaf as not ready, and says why', async (t) => {
  t.same(judgeLeaf(undefined, ORDERS, T0), { reason: NO_CERTIFICATE_YET, nextChangeMs: undefined });
  t.same(judgeLeaf(leaf(ORDERS, T0 - 1000, T0 + 60_000), ORDERS, T0), { reason: undefined, nextChangeMs: T0 + 60_001 });
  t.match(judgeLeaf(leaf(ORDERS, T0 + 1000, T0 + 60_000), ORDERS, T0), { reason: /^certificate is not valid until 2026-01-01T00:00:01/, nextChangeMs: T0 + 1000 });
  t.match(judgeLeaf(leaf(ORDERS, T0 - 60_000, T0 - 1), ORDERS, T0), { reason: /^certificate expired at 2025-12-31T23:59:59.999Z/, nextChangeMs: undefined });
  const foreign = judgeLeaf(leaf(BILLING, T0 - 1000, T0 + 60_000), ORDERS, T0);
  t.match(foreign.reason, `certificate names ${BILLING} but this process is ${ORDERS}`);
  t.match(foreign.reason, /token proves another service account/);
});

t.test('the leaf expiring flips readiness at the expiry instant, logged once, and renewal makes it ready again', async (t) => {
  const clock = new FakeTimers(T0);
  const provider = new SetProvider();
  const { log, lines } = memoryLog();
  const ready = new LeafReadiness({ identity: provider, expectedIdentity: ORDERS, timers: clock, log });
  t.equal(ready.reason(), NO_CERTIFICATE_YET);
  provider.set(leaf(ORDERS, T0 - 60_000, T0 + 20_000));
  t.equal(ready.reason(), undefined, 'ready once the certificate is held');
  t.same(clock.pendingDelays(), [20_001], 'a timer waits for the expiry instant');
  await clock.advance(20_000);
  t.equal(lines.filter((l) => l['level'] === 40).length, 0, 'nothing said while valid');
  await clock.advance(1);
  const warned = lines.filter((l) => l['level'] === 40);
  t.equal(warned.length, 1, 'the expiry is logged by the timer, before any probe asks');
  t.match(warned[0], { reason: 'certificate expired at 2026-01-01T00:00:20.000Z', code: 'WEFT_ERR_NOT_READY' });
  for (let i = 0; i < 3; i++) t.equal(ready.reason(), 'certificate expired at 2026-01-01T00:00:20.000Z');
  t.equal(lines.filter((l) => l['level'] === 40).length, 1, 'probes do not log it again');
  provider.set(leaf(ORDERS, clock.now() - 60_000, clock.now() + 20_000));
  t.equal(ready.reason(), undefined, 'renewed: ready again');
  t.match(lines.at(-1), { level: 30, was: 'certificate expired at 2026-01-01T00:00:20.000Z', msg: /certificate valid again/ });
  ready.close();
  t.equal(clock.pendingCount, 0);
});

t.test('a leaf for another service account than the settings name keeps it not ready until a right one comes', async (t) => {
  const clock = new FakeTimers(T0);
  const provider = new SetProvider();
  const { log, lines } = memoryLog();
  const ready = new LeafReadiness({ identity: provider, expectedIdentity: ORDERS, timers: clock, log });
  provider.set(leaf(BILLING, T0 - 1000, T0 + 3_600_000));
  t.match(ready.reason(), `certificate names ${BILLING}`);
  t.equal(clock.pendingCount, 0, 'time will not fix it: no timer');
  t.equal(lines.filter((l) => l['level'] === 40).length, 1, 'said once');
  provider.set(leaf(ORDERS, T0 - 1000, T0 + 3_600_000));
  t.equal(ready.reason(), undefined);
  ready.close();
});
