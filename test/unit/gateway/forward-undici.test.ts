// The pure pieces of the undici path: which exchanges it may carry, the timeout a rule gives, and
// the API key hash memo answering exactly what hashing answers.
import t from 'tap';
import type { Exchange } from '../../../gateway/exchange.js';
import { plainExchange, requestTimeoutMs } from '../../../gateway/steps/forward-undici.js';
import { hashKey, presentedKeyHash } from '../../../gateway/policies/api-key.js';

function exchange(over: { headers?: Record<string, string>; upgrade?: boolean; mirrors?: number; tap?: boolean; body?: boolean; responseEdit?: boolean } = {}): Exchange {
  return {
    req: { headers: over.headers ?? {} },
    upgrade: over.upgrade ? { socket: {}, head: Buffer.alloc(0) } : undefined,
    mirrors: Array.from({ length: over.mirrors ?? 0 }, () => ({})),
    responseTap: over.tap ? () => false : undefined,
    requestBody: over.body ? Buffer.from('x') : undefined,
    transform: over.responseEdit ? { name: 'TransformPolicy d/t', value: { responseBody: [] } } : undefined,
  } as unknown as Exchange;
}

t.test('the undici path takes a bodyless request with nothing special about it', async (t) => {
  t.ok(plainExchange(exchange(), false));
  t.ok(plainExchange(exchange({ headers: { 'content-length': '0' } }), false), 'an empty body is no body');
});

t.test('every request it cannot carry stays on node:http', async (t) => {
  t.notOk(plainExchange(exchange({ headers: { 'content-length': '5' } }), false), 'a body');
  t.notOk(plainExchange(exchange({ headers: { 'transfer-encoding': 'chunked' } }), false), 'a chunked body');
  t.notOk(plainExchange(exchange({ upgrade: true }), false), 'an upgrade');
  t.notOk(plainExchange(exchange({ mirrors: 1 }), false), 'a mirror');
  t.notOk(plainExchange(exchange({ tap: true }), false), 'the response cache');
  t.notOk(plainExchange(exchange({ body: true }), false), 'an edited request body');
  t.notOk(plainExchange(exchange({ responseEdit: true }), false), 'a response body edit');
  t.notOk(plainExchange(exchange(), true), 'a retry policy');
});

t.test("a rule's timeouts decide alone; without any the default applies", async (t) => {
  t.equal(requestTimeoutMs({}, 60_000), 60_000);
  t.equal(requestTimeoutMs({}, 0), undefined, 'default 0 means none');
  t.equal(requestTimeoutMs({ requestTimeoutMs: 300 }, 60_000), 300);
  t.equal(requestTimeoutMs({ requestTimeoutMs: 0 }, 60_000), undefined, '`request: 0s` means none, not the default');
  t.equal(requestTimeoutMs({ requestTimeoutMs: 500, backendTimeoutMs: 200 }, 60_000), 200, 'the shorter of the two');
});

t.test('the key hash memo answers what hashing answers, for repeated, many and long keys', async (t) => {
  t.equal(presentedKeyHash('k-alice'), hashKey('k-alice'));
  t.equal(presentedKeyHash('k-alice'), hashKey('k-alice'), 'again, from the memo');
  // More distinct keys than the memo holds: it empties itself and keeps answering right.
  for (let i = 0; i < 3000; i++) {
    const k = `key-${i}`;
    if (presentedKeyHash(k) !== hashKey(k)) t.fail(`wrong hash for ${k}`);
  }
  const long = 'x'.repeat(10_000);
  t.equal(presentedKeyHash(long), hashKey(long), 'a key too long to remember is hashed every time');
  t.equal(presentedKeyHash('k-alice'), hashKey('k-alice'));
});
