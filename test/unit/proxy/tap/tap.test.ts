// The tap's pure parts and its hub: filters, redaction, the recent-failures ring, and the promise
// that a proxy with no tap attached allocates nothing per successful request.
import t from 'tap';
import { PerformanceObserver } from 'node:perf_hooks';
import { startExchange, type Exchange } from '../../../../proxy/exchange.js';
import { TapHub, type TapEvent } from '../../../../proxy/tap/tap-hub.js';
import { parseTapFilter, tapMatches, type TapFilter } from '../../../../proxy/tap/tap-filter.js';
import { REDACTED, redactHeaders, redactPath } from '../../../../proxy/tap/redact.js';
import { isFailure } from '../../../../proxy/tap/failure.js';
import { isLoopback } from '../../../../lib/local-only.js';
import { isWeftError } from '../../../../lib/errors.js';

function exchange(fields: Partial<Pick<Exchange, 'direction' | 'path' | 'service' | 'status' | 'errorCode' | 'headers'>>): Exchange {
  const e = startExchange({ direction: fields.direction ?? 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: fields.path ?? '/' }, 0);
  e.service = fields.service ?? 'demo/hello:80';
  e.status = fields.status ?? 200;
  e.errorCode = fields.errorCode ?? '';
  e.headers = fields.headers;
  return e;
}

const filter = (q: string): TapFilter => parseTapFilter(new URLSearchParams(q));

t.test('a filter matches by service name, path prefix, exact status or class, and direction', async (t) => {
  const e = exchange({ path: '/api/orders?id=1', service: 'demo/hello:80', status: 503 });
  for (const q of ['', 'service=hello', 'service=demo/hello', 'service=demo/hello:80', 'path=/api', 'status=503', 'status=5xx', 'direction=inbound', 'service=hello&path=/api/orders&status=5xx']) {
    t.ok(tapMatches(filter(q), e), `matches ${q || '(no filter)'}`);
  }
  for (const q of ['service=hell', 'service=other/hello', 'path=/apix', 'path=/other', 'status=500', 'status=4xx', 'direction=outbound']) {
    t.notOk(tapMatches(filter(q), e), `does not match ${q}`);
  }
});

t.test('a bad filter is WEFT_ERR_TAP_FILTER listing every problem', async (t) => {
  try {
    filter('svc=hello&path=api&status=5x&direction=up');
    t.fail('should throw');
  } catch (err) {
    t.ok(isWeftError(err, 'WEFT_ERR_TAP_FILTER'));
    t.match((err as Error).message, /unknown filter "svc".*path "api" must start with \/.*status "5x".*direction "up"/);
  }
});

t.test('credential headers and query values are redacted; others are kept', async (t) => {
  const headers = redactHeaders({ authorization: 'Bearer abc', cookie: 's=1', 'x-api-key': 'k1', 'x-my-token': 't', accept: '*/*', ':path': '/x', 'x-forwarded-for': ['a', 'b'] });
  t.same(headers, { authorization: REDACTED, cookie: REDACTED, 'x-api-key': REDACTED, 'x-my-token': REDACTED, accept: '*/*', 'x-forwarded-for': 'a, b' });
  t.equal(redactPath('/x?api_key=secret1&q=1&access%5Ftoken=s2'), `/x?api_key=${REDACTED}&q=1&access%5Ftoken=${REDACTED}`);
  t.equal(redactPath('/x?q=1'), '/x?q=1');
});

t.test('a failure is a weft error code or a 5xx, not a client leaving or an app 4xx', async (t) => {
  t.ok(isFailure(500, ''));
  t.ok(isFailure(403, 'WEFT_ERR_FORBIDDEN'));
  t.notOk(isFailure(404, ''));
  t.notOk(isFailure(0, 'client_closed'));
});

t.test('loopback is 127/8, ::1 and mapped 127/8 only', async (t) => {
  for (const a of ['127.0.0.1', '127.100.3.2', '::1', '::ffff:127.0.0.1']) t.ok(isLoopback(a), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '1270.0.0.1', '', undefined]) t.notOk(isLoopback(a), String(a));
});

t.test('taps get matching exchanges as JSON lines with headers redacted, until detached', async (t) => {
  const hub = new TapHub(() => 5, () => 1_700_000_000_000, 4);
  const lines: string[] = [];
  const detach = hub.attach(filter('path=/api'), (line) => lines.push(line) > 0);
  hub.finished(exchange({ path: '/api/a', headers: { authorization: 'Bearer top-secret', accept: 'x' } }));
  hub.finished(exchange({ path: '/other' }));
  t.equal(hub.taps, 1);
  detach();
  t.equal(hub.taps, 0);
  hub.finished(exchange({ path: '/api/b' }));
  t.equal(lines.length, 1);
  const event = JSON.parse(lines[0] ?? '') as TapEvent;
  t.match(event, { path: '/api/a', status: 200, failed: false, durationMs: 5, time: 1_700_000_000_000, headers: { authorization: REDACTED, accept: 'x' } });
  t.notMatch(lines[0], /top-secret/);
});

t.test('a full sink drops events and counts them', async (t) => {
  const hub = new TapHub(() => 0, () => 0, 4);
  hub.attach(filter(''), () => false);
  hub.finished(exchange({}));
  t.equal(hub.dropped, 1);
});

t.test('the recent-failures ring keeps the newest failures first, without headers', async (t) => {
  const hub = new TapHub(() => 0, () => 0, 3);
  for (let i = 0; i < 5; i++) hub.finished(exchange({ path: `/f${i}`, status: 502, errorCode: 'WEFT_ERR_CONNECT', headers: { authorization: 'x' } }));
  hub.finished(exchange({ path: '/ok' }));
  const r = hub.recentFailures();
  t.equal(r.total, 5);
  t.same(r.failures.map((f) => f.path), ['/f4', '/f3', '/f2']);
  t.equal(r.failures[0]?.error, 'WEFT_ERR_CONNECT');
  t.equal(r.failures[0]?.headers, undefined);
});

// Measured, not assumed: V8 runs a scavenge after at most a few MB of new objects, so 5 million
// calls allocating even one small object each would show many collections.
t.test('with no tap attached, a successful exchange allocates nothing (no GC in 5M calls)', async (t) => {
  const hub = new TapHub(() => 0, () => 0, 8);
  const e = exchange({});
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  t.teardown(() => observer.disconnect());
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) hub.finished(e);
  };
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  run(100_000);
  await settle();
  let before = gcs;
  run(5_000_000);
  await settle();
  t.equal(gcs - before, 0, 'no garbage collection while 5M exchanges finish untapped');
  // The same measurement sees the allocation of an attached tap, so it can fail.
  hub.attach(filter(''), () => true);
  before = gcs;
  run(200_000);
  await settle();
  t.ok(gcs - before > 0, `an attached tap allocates (${gcs - before} collections)`);
});
