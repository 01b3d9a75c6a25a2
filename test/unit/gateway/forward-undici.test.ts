// The pure pieces of the undici path: which exchanges it may carry and how it sends their bodies, the timeout a rule gives, and
// the API key hash memo answering exactly what hashing answers.
import t from 'tap';
import type { Exchange } from '../../../gateway/exchange.js';
import { requestTimeoutMs, undiciBody } from '../../../gateway/steps/forward-undici.js';
import { hashKey, presentedKeyHash } from '../../../gateway/policies/api-key.js';

function exchange(over: { headers?: Record<string, string>; h2?: { endAfterHeaders: boolean }; upgrade?: boolean; mirrors?: number; tap?: boolean; body?: boolean; responseEdit?: boolean } = {}): Exchange {
  return {
    req: over.h2 ? { headers: over.headers ?? {}, httpVersionMajor: 2, stream: over.h2 } : { headers: over.headers ?? {}, httpVersionMajor: 1 },
    upgrade: over.upgrade ? { socket: {}, head: Buffer.alloc(0) } : undefined,
    mirrors: Array.from({ length: over.mirrors ?? 0 }, () => ({})),
    responseTap: over.tap ? () => false : undefined,
    requestBody: over.body ? Buffer.from('x') : undefined,
    transform: over.responseEdit ? { name: 'TransformPolicy d/t', value: { responseBody: [] } } : undefined,
  } as unknown as Exchange;
}

t.test('the undici path takes a plain request, with or without a body', async (t) => {
  t.equal(undiciBody(exchange(), false), 'none', 'HTTP/1.1 without Content-Length or Transfer-Encoding has no body');
  t.equal(undiciBody(exchange({ headers: { 'content-length': '0' } }), false), 'none', 'an empty body is no body');
  t.equal(undiciBody(exchange({ headers: { 'content-length': '5' } }), false), 'stream', 'a body of known length streams');
  t.equal(undiciBody(exchange({ headers: { 'transfer-encoding': 'chunked' } }), false), 'stream', 'a chunked body streams');
  t.equal(undiciBody(exchange({ h2: { endAfterHeaders: true } }), false), 'none', 'an HTTP/2 request whose stream ended with its headers');
  t.equal(undiciBody(exchange({ h2: { endAfterHeaders: false }, headers: { 'content-length': '5' } }), false), 'stream', 'an HTTP/2 body of known length');
});

t.test('every request it cannot carry stays on node:http', async (t) => {
  t.equal(undiciBody(exchange({ h2: { endAfterHeaders: false } }), false), undefined, 'an HTTP/2 body of unknown length');
  t.equal(undiciBody(exchange({ upgrade: true }), false), undefined, 'an upgrade');
  t.equal(undiciBody(exchange({ mirrors: 1 }), false), undefined, 'a mirror');
  t.equal(undiciBody(exchange({ tap: true }), false), undefined, 'the response cache');
  t.equal(undiciBody(exchange({ body: true }), false), undefined, 'an edited request body');
  t.equal(undiciBody(exchange({ responseEdit: true }), false), undefined, 'a response body edit');
  t.equal(undiciBody(exchange(), true), undefined, 'a retry policy');
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
