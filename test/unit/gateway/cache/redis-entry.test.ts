// The Redis form of a stored response: a round trip keeps status, headers, body bytes, timing, Vary
// names and values and route; values that are not ours read as absent; keys are namespaced by policy
// and bounded in length; the TTL is the rest of the freshness lifetime plus the revalidation window.
import t from 'tap';
import { decodeEntry, encodeEntry, entryKey, redisTtlMs, routeSetKey, variantField } from '../../../../gateway/cache/redis-entry.js';
import { parseCacheControl } from '../../../../gateway/cache/http-cache-rules.js';
import type { StoredResponse } from '../../../../gateway/cache/response-store.js';

const entry = (over: Partial<StoredResponse> = {}): StoredResponse => {
  const headers = over.headers ?? { 'cache-control': 'max-age=60', etag: '"v1"', 'last-modified': 'Sat, 05 Dec 2026 01:00:00 GMT', vary: 'Accept-Language', 'set-x': ['a', 'b'] };
  return {
    status: 203,
    headers,
    directives: parseCacheControl(headers['cache-control']),
    body: Buffer.from([0, 1, 2, 255, 10, 13, 0x7b]),
    timing: { initialAgeMs: 1500, responseTimeMs: 1_000_000, lifetimeMs: 60_000 },
    vary: ['accept-language'],
    varyValues: 'en',
    route: 'shop/catalogue',
    bytes: 0,
    ...over,
  };
};

t.test('a round trip keeps everything the rules need, the body byte for byte', async (t) => {
  const e = entry();
  const buf = encodeEntry(e);
  const back = decodeEntry(buf, buf.length);
  t.ok(back);
  t.equal(back?.status, 203);
  t.same(back?.headers, e.headers, 'headers, repeated ones as arrays');
  t.same(back?.body, e.body, 'binary body');
  t.same(back?.timing, e.timing);
  t.same(back?.vary, ['accept-language']);
  t.equal(back?.varyValues, 'en');
  t.equal(back?.route, 'shop/catalogue');
  t.equal(back?.directives.get('max-age'), '60', 'Cache-Control parsed again');
  t.equal(back?.bytes, buf.length);
  const empty = encodeEntry(entry({ status: 204, body: Buffer.alloc(0) }));
  t.equal(decodeEntry(empty, empty.length)?.body.length, 0, 'an empty body');
});

t.test('a value that is not an entry of this format reads as absent, never throws', async (t) => {
  const good = encodeEntry(entry());
  t.equal(decodeEntry(Buffer.alloc(2), 2), undefined, 'too short');
  t.equal(decodeEntry(good.subarray(0, 10), 10), undefined, 'truncated head');
  const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
  t.equal(decodeEntry(notJson, notJson.length), undefined, 'not JSON');
  const head = (o: unknown): Buffer => {
    const j = Buffer.from(JSON.stringify(o));
    const p = Buffer.alloc(4);
    p.writeUInt32BE(j.length);
    return Buffer.concat([p, j]);
  };
  const ok = { v: 1, status: 200, headers: {}, timing: { initialAgeMs: 0, responseTimeMs: 0, lifetimeMs: 1 }, vary: [], varyValues: '', route: 'a/b' };
  t.ok(decodeEntry(head(ok), 0), 'a minimal head reads');
  t.equal(decodeEntry(head({ ...ok, v: 2 }), 0), undefined, 'another format version');
  t.equal(decodeEntry(head({ ...ok, timing: { initialAgeMs: 0 } }), 0), undefined, 'timing incomplete');
  t.equal(decodeEntry(head({ ...ok, vary: [1] }), 0), undefined, 'vary not strings');
  t.equal(decodeEntry(head({ ...ok, status: '200' }), 0), undefined, 'status not a number');
});

t.test('keys: namespaced by policy, one hash per primary key, fixed length whatever the URL', async (t) => {
  t.not(entryKey('CachePolicy a/p', 'GET|h|/x|'), entryKey('CachePolicy a/q', 'GET|h|/x|'), 'two policies never share an entry');
  t.equal(entryKey('CachePolicy a/p', 'k'), entryKey('CachePolicy a/p', 'k'), 'stable');
  t.not(entryKey('CachePolicy a/p', 'k1'), entryKey('CachePolicy a/p', 'k2'));
  t.equal(entryKey('p', 'x'.repeat(10_000)).length, entryKey('p', 'y').length);
  t.match(entryKey('p', 'k'), /^weft:cache:[\w-]+:[\w-]+$/);
  t.not(routeSetKey('a/b'), routeSetKey('a/c'));
  t.not(variantField(['accept-language'], 'en'), variantField(['accept-encoding'], 'en'), 'the names are part of the variant');
  t.not(variantField(['a'], ''), variantField([], ''));
});

t.test('TTL: the rest of the freshness lifetime, plus the window only with a validator', async (t) => {
  const timing = { initialAgeMs: 1000, responseTimeMs: 10_000, lifetimeMs: 60_000 };
  t.equal(redisTtlMs({ timing, headers: { etag: '"x"' } }, 10_000, 600_000), 659_000, 'fresh 59 s + 600 s to revalidate');
  t.equal(redisTtlMs({ timing, headers: {} }, 10_000, 600_000), 59_000, 'no validator: the freshness only');
  t.equal(redisTtlMs({ timing, headers: { 'last-modified': 'Sat, 05 Dec 2026 01:00:00 GMT' } }, 20_000, 5000), 54_000, 'stored later (a 304 update): the time since counts');
  t.equal(redisTtlMs({ timing, headers: {} }, 100_000, 600_000), 1, 'already stale, no validator: at least 1 ms');
  t.equal(redisTtlMs({ timing, headers: { etag: '"x"' } }, 100_000, 600_000), 600_000, 'already stale with a validator: the window');
});
