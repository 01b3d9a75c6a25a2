import t from 'tap';
import { backoffCeilingMs, backoffDelayMs } from '../../../lib/backoff.js';
import { seededRandom } from '../../support/fake-timers.js';

const policy = { initialMs: 200, maxMs: 30_000 };

t.test('the ceiling doubles from the initial delay and is capped, even for huge attempts', async (t) => {
  t.same([0, 1, 2, 3].map((a) => backoffCeilingMs(a, policy)), [200, 400, 800, 1600]);
  t.equal(backoffCeilingMs(20, policy), 30_000, 'capped');
  t.equal(backoffCeilingMs(1000, policy), 30_000, 'huge attempts stay capped');
  t.equal(backoffCeilingMs(-1, policy), 200, 'a negative attempt counts as the first');
});

t.test('full jitter: the delay is random times the ceiling, from 0 up to the ceiling', async (t) => {
  t.equal(backoffDelayMs(0, policy, () => 0), 0);
  t.equal(backoffDelayMs(0, policy, () => 0.5), 100);
  t.equal(backoffDelayMs(3, policy, () => 0.25), 400);
  t.equal(backoffDelayMs(20, policy, () => 0.999_999), 30_000, 'capped');
  t.equal(backoffDelayMs(1000, policy, () => 0.5), 15_000, 'huge attempts stay capped');
});

t.test('with a seeded random, delays cover the whole [0, ceiling] range, not only its upper half', async (t) => {
  const random = seededRandom(42);
  const delays = Array.from({ length: 2000 }, () => backoffDelayMs(4, policy, random));
  t.ok(delays.every((d) => d >= 0 && d <= 3200), 'within [0, 3200]');
  // Equal jitter would never go below half the ceiling; full jitter does about half the time.
  const low = delays.filter((d) => d < 1600).length;
  t.ok(low > 800 && low < 1200, `about half below 1600 (${low} of 2000)`);
  t.ok(delays.some((d) => d < 160), 'some within the lowest tenth');
  t.ok(delays.some((d) => d > 3040), 'some within the highest tenth');
  t.same(Array.from({ length: 5 }, () => backoffDelayMs(2, policy, seededRandom(7))), Array(5).fill(backoffDelayMs(2, policy, seededRandom(7))), 'a seed repeats');
});

t.test('a minFraction floor: every delay is at least that fraction of the ceiling', async (t) => {
  const equal = { initialMs: 200, maxMs: 4000, minFraction: 0.5 };
  t.equal(backoffDelayMs(0, equal, () => 0), 100, 'half the first ceiling at the lowest draw');
  t.equal(backoffDelayMs(0, equal, () => 0.999_999), 200);
  t.equal(backoffDelayMs(10, equal, () => 0), 2000, 'half the cap once capped');
  const random = seededRandom(7);
  const delays = Array.from({ length: 500 }, () => backoffDelayMs(3, equal, random));
  t.ok(delays.every((d) => d >= 800 && d <= 1600), 'within [800, 1600]');
  t.equal(backoffDelayMs(2, { initialMs: 200, maxMs: 4000, minFraction: 3 }, () => 0), 800, 'a floor above 1 is clamped to the ceiling');
});
