// The inbound prototype's head parser and chunked framer against request-smuggling cases: the
// bench figure is for a parser that refuses them (RFC 9112 2.2, 5, 6, 7.1).
import t from 'tap';
import { parseRequestHead, parseResponseHead, type RequestHead } from '../../bench/inbound-prototype/head-parser.js';
import { ChunkedFramer } from '../../bench/inbound-prototype/chunked.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const req = (head: string): ReturnType<typeof parseRequestHead> => parseRequestHead(b(head));
const refused = (head: string): number | undefined => {
  const r = req(head);
  return r.kind === 'error' ? r.status : undefined;
};
const ok = (head: string): RequestHead => {
  const r = req(head);
  if (r.kind !== 'request') throw new Error(`expected a request, got ${JSON.stringify(r)}`);
  return r;
};
const H = 'Host: a\r\nweft-dst-port: 8080\r\n';

t.test('refuses Content-Length together with Transfer-Encoding, in either order', async (t) => {
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n`), 400, 'even a zero length');
});

t.test('refuses duplicate Content-Length with differing values; one value repeated is that value', async (t) => {
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length: 4, 5\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length: 4,\r\n\r\n`), 400, 'an empty list element');
  t.same(ok(`POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\n`).framing, { kind: 'length', length: 4 });
  t.same(ok(`POST / HTTP/1.1\r\n${H}Content-Length: 4, 04\r\n\r\n`).framing, { kind: 'length', length: 4 }, 'equal as numbers');
});

t.test('refuses Content-Length values that are not plain digits or reach past 2^53', async (t) => {
  for (const v of ['+4', '-1', '0x4', '4.0', '4 4', '', '1e3', '1234567890123456']) t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length: ${v}\r\n\r\n`), 400, JSON.stringify(v));
  t.same(ok(`POST / HTTP/1.1\r\n${H}Content-Length: 123456789012345\r\n\r\n`).framing, { kind: 'length', length: 123456789012345 });
});

t.test('refuses a Transfer-Encoding whose final coding is not chunked; other codings are not served', async (t) => {
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n`), 400, 'split over two fields');
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`), 501);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`), 501, 'chunked twice');
  t.same(ok(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n`).framing, { kind: 'chunked' }, 'codings are case-insensitive');
});

t.test('refuses obs-fold, whitespace before the colon and fields without a colon', async (t) => {
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: 1\r\n\tfolded\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Content-Length : 4\r\n\r\n`), 400);
  t.equal(refused(`POST / HTTP/1.1\r\n${H}Transfer-Encoding\t: chunked\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}no colon here\r\n\r\n`), 400);
});

t.test('refuses bare LF and bare CR, in the request line, a field, or as the end of the head', async (t) => {
  t.equal(refused(`GET / HTTP/1.1\n${H}\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: 1\nContent-Length: 4\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: 1\rContent-Length: 4\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\nHost: a\n\n`), 400, 'refused at once, not waited on');
});

t.test('refuses control characters in values, a bad request line, and other versions', async (t) => {
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}X-A: a\u001bb\r\n\r\n`), 400);
  t.equal(refused(`GET /a b HTTP/1.1\r\n${H}\r\n`), 400, 'a space in the target');
  t.equal(refused(`GET  / HTTP/1.1\r\n${H}\r\n`), 400, 'two spaces');
  t.equal(refused(`GET / HTTP/1.1 \r\n${H}\r\n`), 400, 'trailing space');
  t.equal(refused(`G(T / HTTP/1.1\r\n${H}\r\n`), 400, 'a method that is not a token');
  t.equal(refused(`GET / HTTP/1.0\r\n${H}\r\n`), 505);
  t.equal(refused(`GET / HTTP/2.0\r\n${H}\r\n`), 505);
  t.same(ok(`GET /caf\u00e9 HTTP/1.1\r\n${H}X-A: caf\u00e9\r\n\r\n`).target, '/caf\u00e9', 'obs-text passes');
});

t.test('requires exactly one Host; passes no upgrades or tunnels', async (t) => {
  t.equal(refused('GET / HTTP/1.1\r\nweft-dst-port: 8080\r\n\r\n'), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`), 400);
  t.equal(refused(`GET / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`), 501);
  t.equal(refused(`CONNECT a:443 HTTP/1.1\r\n${H}\r\n`), 501);
});

t.test('waits for the rest of a head, and refuses one past the size limit', async (t) => {
  t.same(req(`GET / HTTP/1.1\r\n${H}`), { kind: 'incomplete' });
  t.same(parseRequestHead(b(`GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(200)}`), 128), { kind: 'error', status: 431, reason: 'head too large' });
  t.same(parseRequestHead(b(`GET / HTTP/1.1\r\n${H}X: ${'a'.repeat(200)}\r\n\r\n`), 128), { kind: 'error', status: 431, reason: 'head too large' });
});

t.test('pipelined requests: each head ends where its own blank line does, the next starts after its body', async (t) => {
  const first = `POST /1 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\n`;
  const second = `GET /2 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
  const buf = b(first + 'hello' + second);
  const one = parseRequestHead(buf);
  if (one.kind !== 'request') throw new Error('first');
  t.equal(one.size, first.length);
  t.same(one.framing, { kind: 'length', length: 5 });
  const two = parseRequestHead(buf.subarray(one.size + 5));
  if (two.kind !== 'request') throw new Error('second');
  t.equal(two.target, '/2');
  t.equal(two.close, true);
  t.same(two.framing, { kind: 'none' });
  const chunkedFirst = `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const all = b(chunkedFirst + body + second);
  const c = parseRequestHead(all);
  if (c.kind !== 'request') throw new Error('chunked');
  const framer = new ChunkedFramer();
  const end = framer.feed(all, c.size);
  t.ok(framer.done);
  t.equal(end, chunkedFirst.length + body.length, 'the body ends at the last chunk, the next request is left');
  t.equal(parseRequestHead(all.subarray(end)).kind, 'request');
});

t.test('the chunked framer refuses size overflow, bad sizes, wrong data length, bare LF and trailer folds', async (t) => {
  const refusedBody = (body: string): string => {
    const f = new ChunkedFramer();
    return f.feed(b(body)) === -1 ? f.error : 'accepted';
  };
  t.equal(refusedBody('ffffffffffffff\r\n'), 'chunk size too large', '14 hex digits');
  t.equal(refusedBody('0000000000000000001\r\n'), 'chunk size too large', 'leading zeros count too');
  t.equal(refusedBody('\r\n'), 'chunk size missing');
  t.equal(refusedBody('-5\r\n'), 'chunk size missing');
  t.equal(refusedBody('0x5\r\n'), 'bad chunk size');
  t.equal(refusedBody('5\nhello\r\n'), 'bad chunk size', 'LF without CR after the size');
  t.equal(refusedBody('5\r\nhello!\r\n'), 'chunk data longer than its size');
  t.equal(refusedBody('5\r\nhello\n0\r\n\r\n'), 'chunk data longer than its size', 'LF without CR after the data');
  t.equal(refusedBody('5;a=\nb\r\n'), 'bare LF', 'in an extension');
  t.equal(refusedBody('0\r\nX: 1\r\n folded\r\n\r\n'), 'obs-fold in a trailer');
  t.equal(refusedBody('0\r\nX: 1\n\r\n'), 'bare LF');
  t.equal(refusedBody('0\r\n\n'), 'bare LF');
  const f = new ChunkedFramer();
  const framed = '5;name="v"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n';
  t.equal(f.feed(b(framed + 'GET')), framed.length, 'extensions and trailers are framed');
  t.ok(f.done);
});

t.test('the chunked framer finds the same end however the body is split', async (t) => {
  const body = b('a\r\n0123456789\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nGET');
  const end = body.length - 3;
  for (let cut = 1; cut < body.length; cut++) {
    const f = new ChunkedFramer();
    const first = f.feed(body.subarray(0, cut));
    const at = f.done ? first : cut + f.feed(body.subarray(cut));
    if (at !== end) t.fail(`cut at ${cut}: ended at ${at}`);
  }
  t.pass('every split point');
});

t.test('response framing: no body for HEAD, 1xx, 204 and 304; chunked; length; else until close', async (t) => {
  const res = (head: string, method = 'GET'): ReturnType<typeof parseResponseHead> => parseResponseHead(b(head), method);
  t.match(res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n', 'HEAD'), { kind: 'response', framing: { kind: 'none' } });
  t.match(res('HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n'), { framing: { kind: 'none' } });
  t.match(res('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'), { framing: { kind: 'none' } });
  t.match(res('HTTP/1.1 100 Continue\r\n\r\n'), { interim: true, framing: { kind: 'none' } });
  t.match(res('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'), { kind: 'error', status: 502 });
  t.match(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), { framing: { kind: 'chunked' }, close: false });
  t.match(res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), { kind: 'error', status: 502 });
  t.match(res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'), { kind: 'error', status: 502 });
  t.match(res('HTTP/1.1 200 OK\r\n\r\n'), { framing: { kind: 'close' }, close: true });
  t.match(res('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n'), { framing: { kind: 'length', length: 3 }, close: true });
  t.match(res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n'), { close: true });
  t.match(res('HTTP/1.1 200 OK\nContent-Length: 3\r\n\r\n'), { kind: 'error', status: 502 });
  t.match(res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n'), { kind: 'incomplete' });
});
