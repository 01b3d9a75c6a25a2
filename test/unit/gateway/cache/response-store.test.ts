// The response store: Vary variants under one key, the byte cap (body + headers + key) with
// least-recently-used eviction, invalidation and purge by route; and the CachePolicy parser.
import t from 'tap';
import { ResponseStore } from '../../../../gateway/cache/response-store.js';
import { parseCacheControl, entryBytes } from '../../../../gateway/cache/http-cache-rules.js';
import { parseCachePolicy, ResponseCaches } from '../../../../gateway/cache/cache-policy.js';
import { FieldReader, ProblemList, type Json } from '../../../../gateway/routes/field-reader.js';

const timing = { initialAgeMs: 0, responseTimeMs: 0, lifetimeMs: 60_000 };
const response = (body: string, headers: Record<string, string> = {}, route = 'test/r') => ({ status: 200, headers, directives: parseCacheControl(headers['cache-control']), body: Buffer.from(body), timing, route });

t.test('Vary: each set of request values is its own variant; other values miss as vary-miss', async (t) => {
  const s = new ResponseStore(10_000);
  s.store('k', { 'accept-language': 'en' }, response('hello', { vary: 'Accept-Language' }));
  s.store('k', { 'accept-language': 'fr' }, response('bonjour', { vary: 'Accept-Language' }));
  const en = s.lookup('k', { 'accept-language': 'en' });
  const fr = s.lookup('k', { 'accept-language': 'fr' });
  t.equal(en.kind === 'found' && en.entry.body.toString(), 'hello');
  t.equal(fr.kind === 'found' && fr.entry.body.toString(), 'bonjour');
  t.equal(s.lookup('k', { 'accept-language': 'de' }).kind, 'vary-miss');
  t.equal(s.lookup('other', {}).kind, 'miss');
  t.equal(s.entries, 2);
  s.store('k', { 'accept-language': 'en' }, response('hi', { vary: 'Accept-Language' }));
  t.equal(s.entries, 2, 'a new response for the same values replaces the variant');
});

t.test('the byte cap counts body, headers and key, and evicts the least recently used', async (t) => {
  const one = entryBytes('a', {}, 100);
  t.equal(one, 101, 'key + body');
  t.equal(entryBytes('a', { etag: '"v1"' }, 100), 101 + 4 + 4 + 4, 'a header: name, value and separators');
  const s = new ResponseStore(one * 3);
  for (const k of ['a', 'b', 'c']) s.store(k, {}, response('x'.repeat(100)));
  t.equal(s.bytes, one * 3);
  t.equal(s.lookup('a', {}).kind, 'found', 'a is used, so b is now the least recently used');
  s.store('d', {}, response('x'.repeat(100)));
  t.equal(s.lookup('b', {}).kind, 'miss', 'b was evicted');
  t.same(['a', 'c', 'd'].map((k) => s.lookup(k, {}).kind), ['found', 'found', 'found']);
  t.equal(s.evictions, 1);
  t.ok(s.bytes <= s.maxBytes);
  t.equal(s.store('big', {}, response('x'.repeat(one * 3))), false, 'an entry larger than the whole cap is not stored');
  s.resize(one);
  t.equal(s.entries, 1, 'a smaller cap evicts at once');
});

t.test('invalidate drops a key; purge drops one route', async (t) => {
  const s = new ResponseStore(10_000);
  s.store('a', {}, response('1', {}, 'ns/one'));
  s.store('b', {}, response('2', {}, 'ns/two'));
  s.store('c', {}, response('3', {}, 'ns/one'));
  s.invalidate('b');
  t.equal(s.lookup('b', {}).kind, 'miss');
  t.equal(s.purgeRoute('ns/one'), 2);
  t.equal(s.entries, 0);
  t.equal(s.bytes, 0, 'no bytes left charged');
});

t.test('CachePolicy: defaults, durations and bounds', async (t) => {
  const read = (spec: Json) => {
    const problems = new ProblemList();
    const r = new FieldReader(problems, { file: 'r.yaml', doc: 1, what: 'CachePolicy d/c' });
    return { value: parseCachePolicy(spec, r), problems: r.problems };
  };
  t.same(read({ targetRef: {} }).value, { defaultTtlMs: undefined, maxBytes: 64 * 1024 * 1024, maxEntryBytes: 1024 * 1024, backend: 'memory' });
  t.same(read({ defaultTtl: '30s', maxBytes: 1000, maxEntryBytes: 100 }).value, { defaultTtlMs: 30_000, maxBytes: 1000, maxEntryBytes: 100, backend: 'memory' });
  t.match(read({ defaultTtl: '30 seconds' }).problems.join('\n'), /defaultTtl/);
  t.match(read({ maxBytes: 10, maxEntryBytes: 100 }).problems.join('\n'), /maxEntryBytes.*not be over maxBytes/);
  t.same(read({ backend: 'redis' }).problems, [], 'redis is a backend');
  t.equal(read({ backend: 'redis' }).value?.backend, 'redis');
  t.match(read({ backend: 'disk' }).problems.join('\n'), /backend/);
  t.match(read({ ttl: '1s' }).problems.join('\n'), /ttl/);
  const caches = new ResponseCaches();
  const a = caches.storeFor('CachePolicy ns/a', { defaultTtlMs: undefined, maxBytes: 100, maxEntryBytes: 10, backend: 'memory' });
  t.equal(caches.storeFor('CachePolicy ns/a', { defaultTtlMs: undefined, maxBytes: 50, maxEntryBytes: 10, backend: 'memory' }), a, 'a reload keeps the store');
  t.equal(a.maxBytes, 50, 'with the new cap');
});
