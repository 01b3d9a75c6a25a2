// The retry budget and the retry run, on a fake clock.
import t from 'tap';
import { RetryBudget } from '../../../../mesh/traffic/retry-budget.js';
import { RetryRun, backoff, parseRetryOn, retryReason, methodRetryable, type RetryPolicy } from '../../../../mesh/traffic/retry-policy.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => Object.assign({ attempts: 3, codes: new Set([503]), grpcStatuses: new Set([14]), backoffMs: 0, nonIdempotent: false, bufferBytes: 65536 }, over);

t.test('retries add at most the ratio of requests plus the floor over the window', async (t) => {
  const clock = new FakeTimers(0);
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, ttlMs: 10_000 }, () => clock.now());
  for (let i = 0; i < 1000; i++) budget.deposit();
  let granted = 0;
  for (let i = 0; i < 1000; i++) if (budget.withdraw()) granted += 1;
  t.equal(granted, 210, '20 % of 1000 plus 1 per second over 10 s');
  t.equal(budget.exhausted, 790);
});

t.test('a quiet service still gets the floor, and old requests and retries leave the window', async (t) => {
  const clock = new FakeTimers(0);
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 2, ttlMs: 1_000 }, () => clock.now());
  t.ok(budget.withdraw());
  t.ok(budget.withdraw());
  t.notOk(budget.withdraw(), 'the floor of 2 per second over 1 s is spent');
  await clock.advance(1_000);
  t.ok(budget.withdraw(), 'a window later the spent retries are gone');
  for (let i = 0; i < 50; i++) budget.deposit();
  let granted = 0;
  while (budget.withdraw()) granted += 1;
  t.equal(granted, 11, '20 % of 50 plus the floor of 2, less the one already taken');
  await clock.advance(1_000);
  granted = 0;
  while (budget.withdraw()) granted += 1;
  t.equal(granted, 2, 'the deposits left with their window');
});

t.test('a run retries listed statuses up to its attempts, then stops; the budget stops it sooner', async (t) => {
  const clock = new FakeTimers(0);
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 0, ttlMs: 1_000 }, () => clock.now());
  const unbudgeted = new RetryRun(policy(), undefined, () => 0.5);
  t.match(unbudgeted.next({ kind: 'status', status: 503 }), { retry: true, reason: 'status_503' });
  t.match(unbudgeted.next({ kind: 'grpc', grpcStatus: 14 }), { retry: true, reason: 'grpc_14' });
  t.match(unbudgeted.next({ kind: 'connect' }), { retry: true, reason: 'connect' });
  t.match(unbudgeted.next({ kind: 'connect' }), { retry: false, why: 'attempts' });
  t.match(new RetryRun(policy(), undefined, () => 0.5).next({ kind: 'status', status: 500 }), { retry: false, why: 'not_retryable' });
  const broke = new RetryRun(policy(), budget, () => 0.5);
  t.match(broke.next({ kind: 'status', status: 503 }), { retry: false, why: 'budget' });
  t.equal(budget.exhausted, 1);
});

t.test('reasons, methods, backoff and the retry-on list', async (t) => {
  t.equal(retryReason(policy(), { kind: 'connect' }), 'connect', 'connect failures are always retryable');
  t.equal(retryReason(policy(), { kind: 'timeout' }), '', 'a per-try timeout only when 504 is listed');
  t.equal(retryReason(policy({ codes: new Set([504]) }), { kind: 'timeout' }), 'timeout');
  t.ok(methodRetryable('GET', policy()));
  t.ok(methodRetryable('PUT', policy()));
  t.notOk(methodRetryable('POST', policy()), 'POST only when the route allows it');
  t.ok(methodRetryable('POST', policy({ nonIdempotent: true })));
  t.equal(backoff(100, 1, () => 0), 50);
  t.equal(backoff(100, 3, () => 0.999999), 400);
  t.equal(backoff(0, 3, () => 0.5), 0);
  const parsed = parseRetryOn(['503', 'gateway-error', 'unavailable']);
  t.same(typeof parsed === 'string' ? parsed : [[...parsed.codes].sort(), [...parsed.grpcStatuses]], [[502, 503, 504], [14]]);
  t.match(parseRetryOn(['teapot']), /not a 4xx\/5xx status/);
});
