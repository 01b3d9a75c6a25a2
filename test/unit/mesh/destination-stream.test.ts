// The one reader of weft destination's NDJSON streams and the subscription loop over it, against a
// real HTTP/2 server: lines split across chunks are joined, a refusal ends with its status and the
// head of its body, and an ended stream reopens after the backoff (on a fake clock), which a good
// line resets.
import t, { type Test } from 'tap';
import http2, { type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { DestinationSubscription, readDestinationLines } from '../../../mesh/destination-stream.js';
import { FakeTimers } from '../../support/fake-timers.js';

type Handler = (stream: ServerHttp2Stream, path: string) => void;

async function server(t: Test, handler: Handler): Promise<ClientHttp2Session> {
  const srv = http2.createServer();
  srv.on('stream', (stream, headers) => handler(stream, String(headers[':path'])));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const session = http2.connect(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  t.teardown(async () => {
    session.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
  return session;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('lines split across chunks are joined; the end gives its reason once', async (t) => {
  const session = await server(t, (stream) => {
    stream.respond({ ':status': 200 });
    stream.write('{"a":');
    setImmediate(() => {
      stream.write('1}\n{"b":2}\n{"c"');
      setImmediate(() => stream.end(':3}\n'));
    });
  });
  const lines: string[] = [];
  const ends: string[] = [];
  readDestinationLines(session.request({ ':path': '/v1/watch/x' }), (l) => (lines.push(l), true), (r) => ends.push(r));
  await until(() => ends.length > 0, 'the end');
  t.same(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  t.same(ends, ['stream to weft destination ended']);
});

t.test('a refusal delivers no line and ends with its status and the head of its body', async (t) => {
  const session = await server(t, (stream) => {
    stream.respond({ ':status': 403 });
    stream.end(`{"error":"WEFT_ERR_FORBIDDEN"}\n${'x'.repeat(10_000)}`);
  });
  const lines: string[] = [];
  let reason = '';
  readDestinationLines(session.request({ ':path': '/v1/watch/x' }), (l) => (lines.push(l), true), (r) => (reason = r));
  await until(() => reason !== '', 'the end');
  t.same(lines, [], 'no line of a refusal is taken for data');
  t.match(reason, /^weft destination answered 403: \{"error":"WEFT_ERR_FORBIDDEN"\}/);
  t.ok(reason.length < 260, 'only the head of the body is kept');
});

t.test('false from onLine stops reading that stream', async (t) => {
  const session = await server(t, (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('one\ntwo\nthree\n');
  });
  const lines: string[] = [];
  let ended = false;
  readDestinationLines(session.request({ ':path': '/' }), (l) => (lines.push(l), false), () => (ended = true));
  await until(() => ended, 'the end');
  t.same(lines, ['one']);
});

t.test('a subscription reopens an ended stream after the backoff; a good line resets it; close stops it', async (t) => {
  let opened = 0;
  const session = await server(t, (stream) => {
    opened += 1;
    stream.respond({ ':status': 200 });
    // The first two streams end with a bad line, the third with a good one.
    stream.end(opened < 3 ? 'bad\n' : 'good\n');
  });
  const clock = new FakeTimers();
  const failures: number[] = [];
  const lines: string[] = [];
  const sub = new DestinationSubscription({
    open: () => session.request({ ':path': '/v1/watch/x' }),
    onLine: (l) => (lines.push(l), l === 'good'),
    onFailure: (_reason, retryInMs) => failures.push(retryInMs),
    timers: clock,
    backoff: { initialMs: 100, maxMs: 1000 },
    random: () => 0.999,
  });
  t.teardown(() => sub.close());
  sub.start();
  sub.start();
  await until(() => failures.length === 1, 'the first end');
  t.equal(opened, 1, 'start() twice opens one stream');
  await clock.advance(failures[0] ?? 0);
  await until(() => failures.length === 2, 'the second end');
  t.ok((failures[1] ?? 0) > (failures[0] ?? 0), `bad lines do not reset the backoff: ${failures.join(', ')}`);
  await clock.advance(failures[1] ?? 0);
  await until(() => failures.length === 3, 'the third end');
  t.ok((failures[2] ?? 0) <= (failures[0] ?? 0), `a good line resets it: ${failures.join(', ')}`);
  t.same(lines, ['bad', 'bad', 'good']);
  sub.close();
  await clock.advance(10_000);
  t.equal(opened, 3, 'closed: no reopen');
});

t.test('an open that throws (no certificate yet) is retried like an ended stream', async (t) => {
  const clock = new FakeTimers();
  let tries = 0;
  const reasons: string[] = [];
  const sub = new DestinationSubscription({
    open: () => {
      tries += 1;
      throw new Error('no certificate yet');
    },
    onLine: () => true,
    onFailure: (reason) => reasons.push(reason),
    timers: clock,
    backoff: { initialMs: 100, maxMs: 100 },
    random: () => 0.999,
  });
  sub.start();
  t.same(reasons, ['no certificate yet']);
  await clock.advance(100);
  t.equal(tries, 2);
  sub.close();
});
