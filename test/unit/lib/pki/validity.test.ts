import t from 'tap';
import { ReadinessWatch, nextValidityChangeMs, validityProblem } from '../../../../lib/pki/validity.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const window = { notBefore: new Date(T0 + 1000), notAfter: new Date(T0 + 61_000) };

t.test('a certificate is not yet valid before notBefore, valid through notAfter, expired after it', async (t) => {
  t.equal(validityProblem('issuer', window, T0), 'issuer is not valid until 2026-01-01T00:00:01.000Z');
  t.equal(validityProblem('issuer', window, T0 + 1000), undefined);
  t.equal(validityProblem('issuer', window, T0 + 61_000), undefined, 'notAfter itself is still valid');
  t.equal(validityProblem('issuer', window, T0 + 61_001), 'issuer expired at 2026-01-01T00:01:01.000Z');
});

t.test('the next change is notBefore while ahead, just past notAfter while valid, none once expired', async (t) => {
  t.equal(nextValidityChangeMs(window, T0), T0 + 1000);
  t.equal(nextValidityChangeMs(window, T0 + 5000), T0 + 61_001);
  t.equal(nextValidityChangeMs(window, T0 + 61_001), undefined);
});

t.test('a readiness watch flips at the expiry instant by its timer, telling each change once', async (t) => {
  const clock = new FakeTimers(T0 + 5000);
  let v = window;
  const changes: (string | undefined)[] = [];
  const watch = new ReadinessWatch({
    judge: (now) => ({ reason: validityProblem('leaf', v, now), nextChangeMs: nextValidityChangeMs(v, now) }),
    onChange: (reason) => changes.push(reason),
    timers: clock,
  });
  watch.refresh();
  t.same(changes, [undefined], 'the first judgement is told (ready)');
  t.same(clock.pendingDelays(), [56_001], 'a timer at the first millisecond past notAfter');
  await clock.advance(56_000);
  t.same(changes, [undefined], 'still valid at notAfter');
  await clock.advance(1);
  t.same(changes, [undefined, 'leaf expired at 2026-01-01T00:01:01.000Z'], 'the timer flipped it at the instant, with no probe');
  t.equal(clock.pendingCount, 0, 'nothing more to wait for once expired');
  for (let i = 0; i < 5; i++) t.equal(watch.reason(), 'leaf expired at 2026-01-01T00:01:01.000Z');
  t.equal(changes.length, 2, 'asking again does not tell again');
  v = { notBefore: new Date(clock.now() - 1000), notAfter: new Date(clock.now() + 10_000) };
  watch.refresh();
  t.same(changes.slice(2), [undefined], 'renewed: ready again, told once');
  t.same(clock.pendingDelays(), [10_001]);
  watch.close();
  t.equal(clock.pendingCount, 0, 'close stops the timer');
  await clock.advance(20_000);
  t.equal(changes.length, 3);
});

t.test('a certificate that is not yet valid becomes ready at notBefore', async (t) => {
  const clock = new FakeTimers(T0);
  const changes: (string | undefined)[] = [];
  const watch = new ReadinessWatch({
    judge: (now) => ({ reason: validityProblem('issuer', window, now), nextChangeMs: nextValidityChangeMs(window, now) }),
    onChange: (reason) => changes.push(reason),
    timers: clock,
  });
  t.equal(watch.reason(), 'issuer is not valid until 2026-01-01T00:00:01.000Z');
  await clock.advance(1000);
  t.same(changes, ['issuer is not valid until 2026-01-01T00:00:01.000Z', undefined]);
  watch.close();
});
