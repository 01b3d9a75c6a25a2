// The watch loop's pure retry plan and the Retry-After reading.
import t from 'tap';
import { planRetry, MAX_RETRY_AFTER_MS } from '../../../../lib/kube/watch-retry.js';
import { parseRetryAfterMs } from '../../../../lib/kube/client.js';

const policy = { initialMs: 200, maxMs: 30_000, minFraction: 0.5 };
const low = (): number => 0;

t.test('a healthy stream the server ended resumes at once and resets the count', async (t) => {
  t.same(planRetry({ kind: 'closed', healthy: true }, 7, policy, low), { delayMs: 0, relist: false, reason: 'closed', failures: 0 });
});

t.test('an unhealthy close, a 410 and an error all wait the backoff of the consecutive count', async (t) => {
  t.same(planRetry({ kind: 'closed', healthy: false }, 0, policy, low), { delayMs: 100, relist: false, reason: 'closed', failures: 1 });
  t.same(planRetry({ kind: 'expired' }, 3, policy, low), { delayMs: 800, relist: true, reason: 'expired', failures: 4 });
  t.same(planRetry({ kind: 'error', retryAfterMs: undefined }, 20, policy, low), { delayMs: 15_000, relist: false, reason: 'error', failures: 21 });
});

t.test('Retry-After is a floor: never earlier than asked, the backoff when it is longer, capped at 10 min', async (t) => {
  t.same(planRetry({ kind: 'error', retryAfterMs: 2000 }, 0, policy, low), { delayMs: 2000, relist: false, reason: 'throttled', failures: 1 });
  t.equal(planRetry({ kind: 'error', retryAfterMs: 1000 }, 10, policy, low).delayMs, 15_000, 'the backoff is longer');
  t.equal(planRetry({ kind: 'error', retryAfterMs: 86_400_000 }, 0, policy, low).delayMs, MAX_RETRY_AFTER_MS);
});

t.test('Retry-After reads delay-seconds and HTTP-dates', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.equal(parseRetryAfterMs('2', now), 2000);
  t.equal(parseRetryAfterMs(' 0 ', now), 0);
  t.equal(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  t.equal(parseRetryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a past date is no wait');
  t.equal(parseRetryAfterMs(['3', '9'], now), 3000, 'the first of repeated headers');
  t.equal(parseRetryAfterMs(undefined, now), undefined);
  t.equal(parseRetryAfterMs('soon', now), undefined);
  t.equal(parseRetryAfterMs('-1', now), undefined);
});
