// The self-made serving pair's timing: a short validity still puts its renewal after the moment
// it was issued (the backdating is bounded by a tenth of the life), and the bundle after a renewal.
import t from 'tap';
import { issueSelfServing, renewedCaBundle, selfServingRenewAtMs } from '../../../../lib/pki/self-serving.js';

const NAMES = ['weft-injector.weft-system.svc'];

t.test('a 30 second validity renews after it was issued and before it expires', async (t) => {
  const now = Date.now();
  const pair = await issueSelfServing({ names: NAMES, nowMs: now, lifetimeHours: 30 / 3600 });
  const renewAt = selfServingRenewAtMs(pair);
  t.ok(renewAt > now + 15_000, `renewal ${renewAt - now} ms after issuing (a minute of backdating would make it immediate)`);
  t.ok(renewAt < pair.notAfterMs, 'before expiry');
  t.ok(now - pair.notBeforeMs <= 3_000, 'backdated by at most a tenth of the life');
});

t.test('a long validity is backdated a minute and renewed at two thirds of its life', async (t) => {
  const now = Date.now();
  const pair = await issueSelfServing({ names: NAMES, nowMs: now, lifetimeHours: 2160 });
  t.equal(now - pair.notBeforeMs, 60_000);
  t.equal(selfServingRenewAtMs(pair), pair.notBeforeMs + Math.floor((pair.notAfterMs - pair.notBeforeMs) * (2 / 3)));
});

t.test('after a renewal the bundle holds the new CA, then the old one while its leaf is valid', async (t) => {
  const now = Date.now();
  const old = await issueSelfServing({ names: NAMES, nowMs: now, lifetimeHours: 1 });
  const next = await issueSelfServing({ names: NAMES, nowMs: now, lifetimeHours: 1 });
  t.equal(renewedCaBundle(next, old, now), next.caPem + old.caPem);
  t.equal(renewedCaBundle(next, old, old.notAfterMs), next.caPem, 'an expired old leaf needs no trust');
  t.equal(renewedCaBundle(next, undefined, now), next.caPem);
});
