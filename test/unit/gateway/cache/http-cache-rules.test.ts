// The pure RFC 9111 rules of the response cache: storability, freshness, age, reuse, Vary keys
// and conditional matching, with cases taken from the RFC's own text.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ageSeconds,
  currentAgeMs,
  etagMatches,
  freshFor,
  freshnessLifetimeMs,
  initialAgeMs,
  invalidates,
  notModified,
  parseCacheControl,
  primaryKey,
  requestBypass,
  servableTo,
  storability,
  updatedHeaders,
  varyKey,
  varyNames,
  type StoredHeaders,
} from '../../../../gateway/cache/http-cache-rules.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const date = (ms: number): string => new Date(ms).toUTCString();

const verdict = (res: { status?: number; headers: StoredHeaders }, req: IncomingHttpHeaders = {}, method = 'GET', ttl?: number) =>
  storability(
    { method, headers: req, cc: parseCacheControl(req['cache-control']) },
    { status: res.status ?? 200, headers: res.headers, cc: parseCacheControl(res.headers['cache-control']) },
    ttl,
  );

t.test('Cache-Control is parsed case-insensitively, with quoted arguments and repeated headers as one list', async (t) => {
  const d = parseCacheControl(['Max-Age=60, no-cache="Set-Cookie"', 'public']);
  t.equal(d.get('max-age'), '60');
  t.equal(d.get('no-cache'), 'Set-Cookie');
  t.equal(d.get('public'), '');
  t.equal(parseCacheControl(undefined).size, 0);
  t.equal(parseCacheControl('max-age=5, max-age=100').get('max-age'), '5', 'a duplicated directive: the first counts');
});

t.test('storability (RFC 9111 3)', async (t) => {
  t.same(verdict({ headers: { 'cache-control': 'max-age=60' } }), { store: true, lifetimeMs: 60_000 }, 'a 200 with max-age is stored');
  t.same(verdict({ headers: { 'cache-control': 'max-age=60' } }, {}, 'POST'), { store: false, why: 'method' }, 'only GET responses are stored');
  t.same(verdict({ headers: { 'cache-control': 'max-age=60' } }, {}, 'HEAD'), { store: false, why: 'method' }, 'HEAD responses are not stored (no body)');
  t.same(verdict({ headers: { 'cache-control': 'no-store, max-age=60' } }), { store: false, why: 'no-store' }, 'response no-store');
  t.same(verdict({ headers: { 'cache-control': 'max-age=60' } }, { 'cache-control': 'no-store' }), { store: false, why: 'request-no-store' }, 'request no-store');
  t.same(verdict({ headers: { 'cache-control': 'private, max-age=60' } }), { store: false, why: 'private' }, 'private is never stored by a shared cache');
  t.same(verdict({ headers: { 'cache-control': 'private="x-user", max-age=60' } }), { store: false, why: 'private' }, 'qualified private is treated as private');
  t.same(verdict({ headers: { 'cache-control': 'max-age=60', 'set-cookie': 'a=b' } }), { store: false, why: 'set-cookie' }, 'Set-Cookie is not stored');
  t.same(verdict({ headers: { 'cache-control': 'max-age=60', vary: 'Accept, *' } }), { store: false, why: 'vary-star' }, 'Vary: * never matches, so it is not stored');
  t.same(verdict({ status: 206, headers: { 'cache-control': 'max-age=60' } }), { store: false, why: 'status' }, 'partial content is not cached');
  t.same(verdict({ status: 500, headers: { 'cache-control': 'max-age=60' } }), { store: false, why: 'status' }, 'a status the cache does not understand');
  t.same(verdict({ status: 302, headers: { 'cache-control': 'max-age=60' } }), { store: true, lifetimeMs: 60_000 }, 'a 302 with explicit freshness');
  t.same(verdict({ status: 302, headers: {} }, {}, 'GET', 30_000), { store: false, why: 'status' }, 'a 302 is not heuristically cacheable');
  t.same(verdict({ status: 404, headers: {} }, {}, 'GET', 30_000), { store: true, lifetimeMs: 30_000 }, 'a 404 is cacheable by default with the route default TTL');
  t.same(verdict({ headers: {} }), { store: false, why: 'no-freshness' }, 'no freshness and no validator: nothing to store');
  t.same(verdict({ headers: { etag: '"v1"' } }), { store: true, lifetimeMs: 0 }, 'no freshness but a validator: stored, revalidated on use');
  t.same(verdict({ headers: { 'cache-control': 'no-cache', etag: '"v1"' } }), { store: true, lifetimeMs: 0 }, 'no-cache may be stored (never served unvalidated)');
});

t.test('Authorization (RFC 9111 3.5): stored only with public, s-maxage or must-revalidate', async (t) => {
  const auth = { authorization: 'Bearer x' };
  t.same(verdict({ headers: { 'cache-control': 'max-age=60' } }, auth), { store: false, why: 'authorization' });
  t.equal(verdict({ headers: { 'cache-control': 'public, max-age=60' } }, auth).store, true, 'public');
  t.equal(verdict({ headers: { 'cache-control': 's-maxage=60' } }, auth).store, true, 's-maxage');
  t.equal(verdict({ headers: { 'cache-control': 'must-revalidate, max-age=60' } }, auth).store, true, 'must-revalidate');
  t.equal(servableTo(auth, parseCacheControl('max-age=60')), false, 'a stored response without those does not answer a request with Authorization');
  t.equal(servableTo(auth, parseCacheControl('public, max-age=60')), true);
  t.equal(servableTo({}, parseCacheControl('max-age=60')), true);
});

t.test('freshness lifetime (RFC 9111 4.2.1): s-maxage, then max-age, then Expires - Date, then the default TTL', async (t) => {
  const life = (headers: StoredHeaders, ttl?: number, status = 200) => freshnessLifetimeMs(status, headers, parseCacheControl(headers['cache-control']), ttl);
  t.same(life({ 'cache-control': 'max-age=10, s-maxage=20' }), { ms: 20_000, explicit: true }, 's-maxage wins in a shared cache');
  t.same(life({ 'cache-control': 'max-age=10', expires: date(NOW + 99_000), date: date(NOW) }), { ms: 10_000, explicit: true }, 'max-age beats Expires');
  t.same(life({ expires: date(NOW + 30_000), date: date(NOW) }), { ms: 30_000, explicit: true }, 'Expires - Date');
  t.same(life({ expires: '0', date: date(NOW) }), { ms: 0, explicit: true }, 'an invalid Expires means already expired');
  t.same(life({ expires: date(NOW - 5000), date: date(NOW) }), { ms: 0, explicit: true }, 'an Expires in the past');
  t.same(life({}, 5000), { ms: 5000, explicit: false }, 'the default TTL for a response that gives none');
  t.same(life({}), { ms: 0, explicit: false }, 'no heuristic without a default TTL');
  t.same(life({ 'cache-control': 'max-age=abc' }, 5000), { ms: 5000, explicit: false }, 'a malformed max-age is ignored');
});

t.test('age (RFC 9111 4.2.3): the larger of the apparent age and Age plus the request time, growing with the clock', async (t) => {
  t.equal(initialAgeMs({ date: date(NOW - 10_000) }, NOW - 100, NOW), 10_000, 'apparent age from Date');
  t.equal(initialAgeMs({ age: '30', date: date(NOW) }, NOW - 2000, NOW), 32_000, 'Age plus the response delay');
  t.equal(initialAgeMs({ date: date(NOW + 60_000) }, NOW, NOW), 0, 'a Date in the future is no negative age');
  const timing = { initialAgeMs: 5000, responseTimeMs: NOW, lifetimeMs: 60_000 };
  t.equal(currentAgeMs(timing, NOW + 7000), 12_000);
  t.equal(ageSeconds(timing, NOW + 7999), 12, 'Age is whole seconds, rounded down');
});

t.test('reuse (RFC 9111 4.2, 5.2.1): fresh, no no-cache, within the request max-age and min-fresh', async (t) => {
  const timing = { initialAgeMs: 0, responseTimeMs: NOW, lifetimeMs: 60_000 };
  const none = parseCacheControl(undefined);
  t.equal(freshFor(timing, none, none, undefined, NOW + 59_999), true);
  t.equal(freshFor(timing, none, none, undefined, NOW + 60_000), false, 'stale once age reaches the lifetime');
  t.equal(freshFor(timing, parseCacheControl('no-cache'), none, undefined, NOW), false, 'a stored no-cache response always revalidates');
  t.equal(freshFor(timing, none, parseCacheControl('no-cache'), undefined, NOW), false, 'request no-cache');
  t.equal(freshFor(timing, none, parseCacheControl('max-age=0'), undefined, NOW + 1000), false, 'request max-age=0');
  t.equal(freshFor(timing, none, parseCacheControl('max-age=10'), undefined, NOW + 5000), true, 'request max-age not exceeded');
  t.equal(freshFor(timing, none, none, 'no-cache', NOW), false, 'Pragma: no-cache without Cache-Control');
  t.equal(freshFor(timing, none, parseCacheControl('max-age=100'), 'no-cache', NOW), true, 'Pragma is ignored when Cache-Control is present');
  t.equal(freshFor(timing, none, parseCacheControl('min-fresh=30'), undefined, NOW + 40_000), false, 'min-fresh');
});

t.test('requests that bypass the cache, and methods that invalidate (RFC 9111 4.4)', async (t) => {
  const none = parseCacheControl(undefined);
  t.equal(requestBypass('GET', {}, none), undefined);
  t.equal(requestBypass('HEAD', {}, none), undefined);
  t.equal(requestBypass('POST', {}, none), 'method');
  t.equal(requestBypass('GET', { range: 'bytes=0-9' }, none), 'range');
  t.equal(requestBypass('GET', {}, parseCacheControl('no-store')), 'no-store');
  t.same(['POST', 'PUT', 'DELETE', 'PATCH', 'GET', 'HEAD', 'OPTIONS'].map(invalidates), [true, true, true, true, false, false, false]);
});

t.test('keys: host, path and query, the consumer, and the Vary headers (RFC 9111 4.1)', async (t) => {
  t.not(primaryKey('a.test', '/x?q=1', undefined), primaryKey('a.test', '/x?q=2', undefined), 'the query is in the key');
  t.not(primaryKey('a.test', '/x', 'alice'), primaryKey('a.test', '/x', 'bob'), 'each consumer has its own key');
  t.same(varyNames({ vary: 'Accept-Language, accept-encoding' }), ['accept-language', 'accept-encoding']);
  t.same(varyNames({}), []);
  const names = ['accept-language'];
  t.equal(varyKey(names, { 'accept-language': 'en, fr' }), varyKey(names, { 'accept-language': 'en,fr' }), 'whitespace around commas is normalised');
  t.not(varyKey(names, { 'accept-language': 'en' }), varyKey(names, { 'accept-language': 'de' }));
  t.not(varyKey(names, {}), varyKey(names, { 'accept-language': '' }), 'absent and empty differ');
  t.equal(varyKey([], { 'accept-language': 'en' }), '', 'no Vary: one variant for all');
});

t.test('conditional requests (RFC 9110 13.1): weak ETag comparison, *, If-Modified-Since', async (t) => {
  t.equal(etagMatches('"v1"', '"v1"'), true);
  t.equal(etagMatches('W/"v1"', '"v1"'), true, 'If-None-Match uses the weak comparison');
  t.equal(etagMatches('"v0", "v1"', 'W/"v1"'), true, 'a list');
  t.equal(etagMatches('"v2"', '"v1"'), false);
  t.equal(etagMatches('*', '"v1"'), true);
  t.equal(etagMatches('"v1"', undefined), false, 'no stored ETag: nothing matches');
  const lm = date(NOW - 60_000);
  t.equal(notModified({ 'if-modified-since': date(NOW) }, { 'last-modified': lm }), true);
  t.equal(notModified({ 'if-modified-since': date(NOW - 120_000) }, { 'last-modified': lm }), false);
  t.equal(notModified({ 'if-none-match': '"x"', 'if-modified-since': date(NOW) }, { 'last-modified': lm, etag: '"y"' }), false, 'If-None-Match, when present, decides alone');
});

t.test('a 304 updates the stored headers but not those describing the stored body (RFC 9111 3.2)', async (t) => {
  const out = updatedHeaders({ etag: '"v1"', 'cache-control': 'max-age=1', 'content-length': '10', 'x-a': 'old' }, { 'cache-control': 'max-age=60', 'content-length': '0', 'x-a': 'new' });
  t.same(out, { etag: '"v1"', 'cache-control': 'max-age=60', 'content-length': '10', 'x-a': 'new' });
});
