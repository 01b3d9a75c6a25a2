import t from 'tap';
import { realTimers, sleep } from '../../../lib/timers.js';
import { FakeTimers } from '../../support/fake-timers.js';

t.test('sleep resolves when the clock passes its delay, not before', async (t) => {
  const clock = new FakeTimers();
  let done = false;
  const slept = sleep(clock, 1000).then(() => (done = true));
  await clock.advance(999);
  t.equal(done, false, 'not at 999 ms');
  await clock.advance(1);
  await slept;
  t.equal(done, true, 'at 1000 ms');
});

t.test('sleep resolves at once when its signal aborts, and cancels its timer', async (t) => {
  const clock = new FakeTimers();
  const abort = new AbortController();
  const slept = sleep(clock, 60_000, abort.signal);
  t.equal(clock.pendingCount, 1);
  abort.abort();
  await slept;
  t.equal(clock.pendingCount, 0, 'no timer left behind');
  await sleep(clock, 60_000, abort.signal);
  t.equal(clock.pendingCount, 0, 'an aborted signal does not even schedule');
});

t.test('the real timers fire and can be cancelled', async (t) => {
  const fired: string[] = [];
  const cancelled = realTimers.setTimeout(() => fired.push('cancelled'), 1);
  realTimers.clearTimeout(cancelled);
  await new Promise<void>((resolve) => realTimers.setTimeout(() => resolve(), 5));
  t.same(fired, []);
  t.ok(Math.abs(realTimers.now() - Date.now()) < 50);
});
