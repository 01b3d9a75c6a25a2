import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RenewalScheduler, renewAtMs, renewRetryDelayMs } from '../../../../mesh/identity/renewal.js';
import { LocalIdentityProvider } from '../../../../mesh/identity/local-identity.js';
import { loadOrCreateCaDir } from '../../../../lib/pki/store.js';
import { BACKDATE_MS } from '../../../../lib/pki/authority.js';
import { createLogger } from '../../../../lib/logger.js';
import type { TlsMaterial } from '../../../../mesh/identity/identity-provider.js';
import { FakeTimers, seededRandom } from '../../../support/fake-timers.js';

const HOUR = 3_600_000;

t.test('renews at 70 % of the lifetime counted from when the leaf was obtained, jittered by 5 %, never in the last 10 s', async (t) => {
  const obtained = 1_000_000;
  const day = 24 * HOUR;
  t.equal(renewAtMs(obtained, obtained + day, () => 0.5), obtained + Math.round(0.7 * day));
  t.equal(renewAtMs(obtained, obtained + day, () => 0), obtained + Math.round(0.65 * day));
  t.equal(renewAtMs(obtained, obtained + day, () => 1), obtained + Math.round(0.75 * day));
  t.equal(renewAtMs(obtained, obtained + 12_000, () => 1), obtained + 2_000, 'short leaves still renew 10 s before expiry');
  t.equal(renewAtMs(obtained, obtained - 5, () => 0.5), obtained, 'already expired: now');
  // Many pods with a seeded random: every renewal lands inside the window, and they spread out.
  const random = seededRandom(9);
  const times = Array.from({ length: 500 }, () => renewAtMs(obtained, obtained + day, random));
  t.ok(times.every((at) => at >= obtained + 0.65 * day && at <= obtained + 0.75 * day), 'all within 65-75 %');
  t.ok(new Set(times).size > 450, 'spread, not one instant');
});

t.test('failed attempts back off exponentially from 0.5 s to a 30 s cap, with full jitter', async (t) => {
  t.equal(renewRetryDelayMs(1, () => 0.999_999), 500);
  t.equal(renewRetryDelayMs(1, () => 0), 0);
  t.equal(renewRetryDelayMs(4, () => 0.5), 2000);
  t.equal(renewRetryDelayMs(50, () => 0.999_999), 30_000);
  t.equal(renewRetryDelayMs(50, () => 0.5), 15_000);
});

function material(notAfterMs: number, tag: string): TlsMaterial {
  return { identity: 'spiffe://cluster.local/ns/a/sa/b', keyPem: tag, certChainPem: tag, trustBundlePem: '', notBefore: new Date(0), notAfter: new Date(notAfterMs) };
}

interface SchedulerRig {
  clock: FakeTimers;
  scheduler: RenewalScheduler;
  got: TlsMaterial[];
  failures: { attempt: number; retryInMs: number }[];
  /** Results of the next obtain() calls, in order: a lifetime in ms, or an error. */
  plan: (number | Error)[];
  calls: () => number;
}

function schedulerRig(t: Test): SchedulerRig {
  const clock = new FakeTimers();
  const got: TlsMaterial[] = [];
  const failures: SchedulerRig['failures'] = [];
  const plan: (number | Error)[] = [];
  let calls = 0;
  const scheduler = new RenewalScheduler({
    obtain: async () => {
      calls += 1;
      const next = plan.shift() ?? new Error('no plan');
      if (next instanceof Error) throw next;
      return material(clock.now() + next, `m${calls}`);
    },
    onMaterial: (m) => got.push(m),
    onFailure: (_err, attempt, retryInMs) => failures.push({ attempt, retryInMs }),
    timers: clock,
    random: () => 0.5,
  });
  t.teardown(() => scheduler.close());
  return { clock, scheduler, got, failures, plan, calls: () => calls };
}

t.test('the scheduler renews at the policy time, not a millisecond sooner', async (t) => {
  const r = schedulerRig(t);
  r.plan.push(100_000, 100_000);
  await r.scheduler.start(true);
  t.equal(r.got.length, 1);
  t.same(r.clock.pendingDelays(), [70_000], 'renewal scheduled at 70 % of the lifetime');
  await r.clock.advance(69_999);
  t.equal(r.calls(), 1, 'no renewal before its time');
  await r.clock.advance(1);
  t.equal(r.calls(), 2, 'renewed at its time');
  t.equal(r.got.length, 2);
  t.same(r.clock.pendingDelays(), [70_000], 'and the next renewal scheduled from the new leaf');
});

t.test('a failed renewal retries with backoff while the current material stays', async (t) => {
  const r = schedulerRig(t);
  r.plan.push(100_000, new Error('CA down'), new Error('CA down'), 100_000);
  await r.scheduler.start(true);
  await r.clock.advance(70_000);
  t.same(r.failures, [{ attempt: 1, retryInMs: 250 }]);
  t.equal(r.got.length, 1, 'nothing new, the current material stays');
  await r.clock.advance(249);
  t.equal(r.calls(), 2, 'no retry before the backoff');
  await r.clock.advance(1);
  t.same(r.failures[1], { attempt: 2, retryInMs: 500 }, 'the backoff grows');
  await r.clock.advance(500);
  t.equal(r.got.length, 2, 'renewed once the CA answers');
  t.same(r.clock.pendingDelays(), [70_000]);
});

t.test('start retries the first certificate when asked, or throws the first failure', async (t) => {
  const r = schedulerRig(t);
  r.plan.push(new Error('down'), 100_000);
  const started = r.scheduler.start(true);
  await r.clock.nextScheduled();
  t.equal(r.got.length, 0);
  t.same(r.failures, [{ attempt: 1, retryInMs: 250 }]);
  await r.clock.advance(250);
  await started;
  t.equal(r.got.length, 1, 'the retry got one');
  const once = schedulerRig(t);
  once.plan.push(new Error('empty CA directory'));
  await t.rejects(once.scheduler.start(false), /empty CA directory/);
  t.equal(once.clock.pendingCount, 0, 'nothing scheduled');
});

t.test('close cancels the pending renewal and ends a waiting start', async (t) => {
  const r = schedulerRig(t);
  r.plan.push(new Error('down'));
  const started = r.scheduler.start(true);
  await r.clock.nextScheduled();
  r.scheduler.close();
  await started;
  await r.clock.advance(HOUR);
  t.equal(r.calls(), 1, 'no attempt after close');
  t.equal(r.clock.pendingCount, 0);
});

t.test('local mode renews at 70 % of the lifetime from issuance, not from the backdated notBefore', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-id-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const clock = new FakeTimers(Date.now());
  await loadOrCreateCaDir(dir, 'cluster.local', new Date(clock.now() - HOUR));
  const p = new LocalIdentityProvider({ caDir: dir, identity: 'spiffe://cluster.local/ns/a/sa/b', lifetimeHours: 1, log: createLogger({ level: 'silent', name: 't' }), timers: clock, random: () => 0.5 });
  t.teardown(() => p.close());
  const changes: TlsMaterial[] = [];
  p.onChange((m) => changes.push(m));
  await p.start();
  const first = p.current();
  t.ok(first);
  t.equal(first?.notBefore.getTime(), Math.floor((clock.now() - BACKDATE_MS) / 1000) * 1000, 'the leaf is backdated');
  const expected = renewAtMs(clock.now(), first?.notAfter.getTime() ?? 0, () => 0.5) - clock.now();
  t.same(clock.pendingDelays(), [expected]);
  t.ok(Math.abs(expected - 0.7 * HOUR) < 2000, `about 42 min (${expected} ms), not 42 min minus 70 % of the backdating`);
  const renewed = new Promise<TlsMaterial>((resolve) => p.onChange(resolve));
  await clock.advance(expected - 1);
  t.equal(changes.length, 1, 'not renewed before its time');
  await clock.advance(1);
  const second = await renewed;
  t.not(second.keyPem, first?.keyPem, 'a new key');
  t.equal(p.current(), second);
});

t.test('local mode refuses to start without a CA directory', async (t) => {
  const p = new LocalIdentityProvider({ caDir: join(tmpdir(), 'weft-no-such-dir'), identity: 'spiffe://cluster.local/ns/a/sa/b', lifetimeHours: 1, log: createLogger({ level: 'silent', name: 't' }), timers: new FakeTimers() });
  await t.rejects(p.start(), { code: 'WEFT_ERR_CA_MATERIAL' });
});
