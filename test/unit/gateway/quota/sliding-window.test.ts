// The local quota backend with injected time: several windows counted together, all or nothing,
// and no span of a window's length ever holding more than its limit, across a window boundary.
import t from 'tap';
import { SlidingWindowQuota } from '../../../../gateway/quota/sliding-window.js';
import type { QuotaWindow } from '../../../../gateway/consumers/directory.js';

const minute: QuotaWindow = { requests: 100, windowMs: 60_000, name: 'minute' };
const second: QuotaWindow = { requests: 5, windowMs: 1000, name: 'second' };

t.test('no more than the limit in any window of its length, across a window boundary', async (t) => {
  const q = new SlidingWindowQuota();
  const admitted: number[] = [];
  // 100 requests in the last second of one fixed minute, then a steady stream across the boundary:
  // a fixed window would admit 100 more at 60 000 ms; a sliding one must not.
  const start = 59_000;
  for (let now = start; now < start + 180_000; now += 7) {
    for (let i = 0; i < 3; i++) if (q.take('k', [minute], now).allowed) admitted.push(now);
  }
  let worst = 0;
  let lo = 0;
  for (let hi = 0; hi < admitted.length; hi++) {
    while ((admitted[hi] as number) - (admitted[lo] as number) >= 60_000) lo++;
    worst = Math.max(worst, hi - lo + 1);
  }
  t.equal(worst, 100, 'the busiest 60 s span holds exactly the limit');
  t.equal(admitted.filter((x) => x < 60_000).length, 100, 'the burst before the boundary took the whole limit');
  t.equal(admitted.filter((x) => x >= 60_000 && x < 61_000).length, 0, 'nothing more right after the boundary (a fixed window would give 100)');
  t.ok(admitted.length >= 290, `the limit is used again as the window slides (${admitted.length} over 3 minutes)`);
});

t.test('several windows at once: all must admit, and a refused request uses up nothing', async (t) => {
  const q = new SlidingWindowQuota();
  const windows = [second, minute];
  const results = Array.from({ length: 8 }, () => q.take('k', windows, 10_000));
  t.same(results.map((r) => r.allowed), [true, true, true, true, true, false, false, false]);
  const refused = results[5];
  t.equal(refused?.tightest.window.name, 'second', 'the second window refused');
  t.equal(refused?.tightest.resetSeconds, 2, 'retry after 1.02 s (one 20 ms bucket late), rounded up');
  t.same(q.peek('k', windows, 10_000), [5, 5], 'refused requests were not counted in the minute');
  t.equal(results[0]?.tightest.remaining, 4);
  // A second later the burst window has room again; the minute keeps counting.
  const later = q.take('k', windows, 11_100);
  t.equal(later.allowed, true);
  t.same(q.peek('k', windows, 11_100), [1, 6]);
});

t.test('Retry-After is when enough requests stop counting for one more to fit', async (t) => {
  const q = new SlidingWindowQuota();
  for (let i = 0; i < 100; i++) q.take('k', [minute], 30_000);
  const refused = q.take('k', [minute], 45_000);
  t.equal(refused.allowed, false);
  t.equal(refused.tightest.resetSeconds, 47, 'the requests of 30 s stop counting at 91.2 s (one 1.2 s bucket late)');
  t.equal(q.take('k', [minute], 91_199).allowed, false, 'still full just before');
  t.equal(q.take('k', [minute], 91_200).allowed, true, 'room at the time promised');
});

t.test('keys are counted apart', async (t) => {
  const q = new SlidingWindowQuota();
  for (let i = 0; i < 5; i++) q.take('a', [second], 0);
  t.equal(q.take('a', [second], 0).allowed, false);
  t.equal(q.take('b', [second], 0).allowed, true);
  t.equal(q.size, 2);
});
