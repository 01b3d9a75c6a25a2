import t from 'tap';
import { readFileSync } from 'node:fs';
import { outcomeFromReview, type TokenReviewStatus } from '../../../ca/token-review.js';

const td = 'cluster.local';

t.test('an authenticated service-account token for our audience proves its SPIFFE identity', async (t) => {
  const status: TokenReviewStatus = { authenticated: true, user: { username: 'system:serviceaccount:shop:orders' }, audiences: ['weft-ca'] };
  t.same(outcomeFromReview(status, 'weft-ca', td), { authenticated: true, username: 'system:serviceaccount:shop:orders', identity: 'spiffe://cluster.local/ns/shop/sa/orders' });
});

t.test('refuses unauthenticated, other-audience, audience-less and non-service-account reviews', async (t) => {
  t.match(outcomeFromReview({ error: '[invalid bearer token, token is expired]' }, 'weft-ca', td), { authenticated: false, reason: /expired/ });
  t.match(outcomeFromReview(undefined, 'weft-ca', td), { authenticated: false });
  t.match(outcomeFromReview({ authenticated: true, user: { username: 'system:serviceaccount:a:b' }, audiences: ['other'] }, 'weft-ca', td), { authenticated: false, reason: /audience/ });
  t.match(outcomeFromReview({ authenticated: true, user: { username: 'system:serviceaccount:a:b' } }, 'weft-ca', td), { authenticated: false, reason: /audience/ }, 'an API server that ignores audiences is not trusted');
  // The documentation's own TokenReview answer: a person, not a workload.
  const docs = JSON.parse(readFileSync(new URL('../../fixtures/kube/tokenreview-response.json', import.meta.url), 'utf8')) as { status: TokenReviewStatus };
  t.match(outcomeFromReview(docs.status, 'https://myserver.example.com', td), { authenticated: false, reason: /not a service account/ });
  t.match(outcomeFromReview({ authenticated: true, user: { username: 'system:serviceaccount:Bad_NS:x' }, audiences: ['weft-ca'] }, 'weft-ca', td), { authenticated: false });
});
