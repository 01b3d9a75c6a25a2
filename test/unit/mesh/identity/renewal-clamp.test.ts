// The leaf renewal policy against the CA's issuer renewal, on a fake clock: leaves are clamped to
// the issuer that signs them, the issuer is renewed at two thirds of its life, and no held leaf
// (nor its issuer) is ever expired, whatever the jitter.
import t from 'tap';
import { RenewalScheduler } from '../../../../mesh/identity/renewal.js';
import { decideIssuer } from '../../../../ca/issuer-rotation.js';
import { BACKDATE_MS } from '../../../../lib/pki/authority.js';
import type { TlsMaterial } from '../../../../mesh/identity/identity-provider.js';
import { FakeTimers, seededRandom } from '../../../support/fake-timers.js';

interface Issuer {
  readonly id: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

for (const { issuerMs, leafMs, seed } of [
  { issuerMs: 60_000, leafMs: 30_000, seed: 1 },
  { issuerMs: 60_000, leafMs: 24 * 3_600_000, seed: 2 },
  { issuerMs: 90_000, leafMs: 20_000, seed: 3 },
  { issuerMs: 3_600_000, leafMs: 24 * 3_600_000, seed: 4 },
]) {
  t.test(`a ${issuerMs / 1000} s issuer and ${leafMs / 1000} s leaves: the held leaf and its issuer are valid at every second of four issuer lives`, async (t) => {
    const clock = new FakeTimers();
    const random = seededRandom(seed);
    const make = (id: number): Issuer => ({ id, notBefore: new Date(clock.now() - BACKDATE_MS), notAfter: new Date(clock.now() + issuerMs) });
    let issuer = make(1);
    // The CA's check, as often as the leaves need (each second here).
    const caCheck = (): void => {
      const d = decideIssuer({ issuer, nowMs: clock.now(), hasRootKey: true, newNotAfterMs: clock.now() + issuerMs });
      if (d.kind === 'renew') issuer = make(issuer.id + 1);
    };
    const signedBy = new Map<string, Issuer>();
    let held: TlsMaterial | undefined;
    let serial = 0;
    const scheduler = new RenewalScheduler({
      obtain: async () => {
        const tag = `leaf-${++serial}`;
        signedBy.set(tag, issuer);
        const notAfter = Math.min(clock.now() + leafMs, issuer.notAfter.getTime());
        // X.509 keeps whole seconds: the notAfter written is truncated.
        return { identity: 'spiffe://cluster.local/ns/a/sa/b', keyPem: tag, certChainPem: tag, trustBundlePem: '', notBefore: new Date(clock.now() - BACKDATE_MS), notAfter: new Date(Math.floor(notAfter / 1000) * 1000) };
      },
      onMaterial: (m) => (held = m),
      onFailure: () => t.fail('no failure expected'),
      timers: clock,
      random,
    });
    await scheduler.start(false);
    let checks = 0;
    let renewals = 0;
    for (let s = 0; s < (4 * issuerMs) / 1000; s++) {
      const before = issuer.id;
      caCheck();
      if (issuer.id !== before) renewals++;
      await clock.advance(1000);
      const leaf = held;
      if (!leaf) throw new Error('no leaf held');
      const from = signedBy.get(leaf.keyPem);
      checks++;
      if (leaf.notAfter.getTime() < clock.now()) t.fail(`leaf expired at ${clock.now()}`);
      if (!from || from.notAfter.getTime() < clock.now()) t.fail(`the held leaf's issuer expired at ${clock.now()}`);
    }
    scheduler.close();
    t.ok(renewals >= 4, `the issuer was renewed ${renewals} times`);
    t.ok(serial > 4, `${serial} leaves, ${checks} checks, none expired`);
  });
}
