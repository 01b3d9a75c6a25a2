import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../../../lib/logger.js';
import { startTracing } from '../../../../mesh/trace/tracing.js';
import { parseTraceparent } from '../../../../mesh/trace/trace-context.js';
import { startOtlpReceiver } from '../../../support/otlp-receiver.js';

const RESOURCE = { serviceName: 'web', namespace: 'shop', pod: 'web-0' };
const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const SETTINGS = { sampleRatio: 1, exportDelayMs: 10, serviceName: undefined };

// An in-memory log whose lines can be waited for.
function memoryLog(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[]; next: (match: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> } {
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      for (const w of [...waiters]) w();
      cb();
    },
  });
  const next = (match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const check = (): void => {
        const found = lines.find(match);
        if (found) {
          waiters.delete(check);
          resolve(found);
        }
      };
      waiters.add(check);
      check();
    });
  return { log: createLogger({ level: 'info', name: 'test', destination: sink }), lines, next };
}

t.test('with no endpoint there is no tracing', async (t) => {
  const { log } = memoryLog();
  t.equal(await startTracing({ ...SETTINGS, endpoint: undefined }, RESOURCE, log), undefined);
});

t.test('a span continues its parent, names itself in the traceparent it gives, and is exported with its outcome', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { log } = memoryLog();
  const tracing = await startTracing({ ...SETTINGS, endpoint: receiver.url }, RESOURCE, log);
  if (!tracing) throw new Error('tracing did not start');
  t.teardown(() => tracing.shutdown());
  const span = tracing.start({ kind: 'client', method: 'POST', path: '/orders', authority: 'orders.shop:8080', traceparent: PARENT, tracestate: 'a=1' });
  const mine = parseTraceparent(span.traceparent);
  t.equal(mine?.traceId, '0af7651916cd43dd8448eb211c80319c', 'same trace');
  t.not(mine?.spanId, 'b7ad6b7169203331', 'its own span id');
  t.equal(span.tracestate, 'a=1', 'a valid tracestate is kept');
  span.end({ status: 503, errorCode: 'WEFT_ERR_NO_ENDPOINTS', peer: '', protocol: 'h2', route: '' });
  span.end({ status: 200, errorCode: '', peer: '', protocol: 'h2', route: '' });
  const [got] = await receiver.waitFor((s) => s.length >= 1);
  t.same(
    { trace: got?.traceId, id: got?.spanId, parent: got?.parentSpanId, kind: got?.kind, name: got?.name, status: got?.statusCode },
    { trace: mine?.traceId, id: mine?.spanId, parent: 'b7ad6b7169203331', kind: 3, name: 'POST', status: 2 },
  );
  t.same(got?.attributes, {
    'http.request.method': 'POST',
    'url.path': '/orders',
    'server.address': 'orders.shop',
    'http.response.status_code': 503,
    'network.protocol.version': '2',
    'weft.error.code': 'WEFT_ERR_NO_ENDPOINTS',
    'error.type': 'WEFT_ERR_NO_ENDPOINTS',
  }, 'the first end counts; semantic-convention attributes');
  t.same(got?.resource && { name: got.resource['service.name'], ns: got.resource['k8s.namespace.name'], pod: got.resource['k8s.pod.name'] }, { name: 'web', ns: 'shop', pod: 'web-0' });
});

t.test('a client that left is noted but is no failure; a server span fails on 5xx only', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { log } = memoryLog();
  const tracing = await startTracing({ ...SETTINGS, endpoint: receiver.url }, RESOURCE, log);
  if (!tracing) throw new Error('tracing did not start');
  t.teardown(() => tracing.shutdown());
  const start = { kind: 'server' as const, method: 'GET', path: '/', authority: '[::1]:80', traceparent: undefined, tracestate: 'a=1' };
  const left = tracing.start(start);
  t.equal(left.tracestate, undefined, 'a new trace carries no tracestate');
  left.end({ status: 0, errorCode: 'client_closed', peer: 'spiffe://cluster.local/ns/shop/sa/app', protocol: 'http/1.1', route: '' });
  tracing.start(start).end({ status: 404, errorCode: '', peer: '', protocol: 'http/1.1', route: 'shop/web' });
  tracing.start(start).end({ status: 500, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  const spans = await receiver.waitFor((s) => s.length >= 3);
  t.same(spans.map((s) => [s.statusCode, s.attributes['weft.error.code'], s.attributes['error.type']]), [[0, 'client_closed', undefined], [0, undefined, undefined], [2, undefined, '500']]);
  t.equal(spans[0]?.attributes['server.address'], '[::1]');
  t.equal(spans[0]?.attributes['weft.peer.identity'], 'spiffe://cluster.local/ns/shop/sa/app');
  t.equal(spans[1]?.attributes['weft.route'], 'shop/web');
});

t.test('an unsampled parent is followed: context given, nothing exported', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { log } = memoryLog();
  const tracing = await startTracing({ ...SETTINGS, endpoint: receiver.url, sampleRatio: 0 }, RESOURCE, log);
  if (!tracing) throw new Error('tracing did not start');
  const unsampled = tracing.start({ kind: 'server', method: 'GET', path: '/', authority: 'a', traceparent: PARENT.replace(/01$/, '00'), tracestate: undefined });
  t.match(unsampled.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
  unsampled.end({ status: 200, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  const root = tracing.start({ kind: 'server', method: 'GET', path: '/', authority: 'a', traceparent: undefined, tracestate: undefined });
  t.match(root.traceparent, /-00$/, 'ratio 0: a parentless request is not sampled');
  root.end({ status: 200, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  const sampled = tracing.start({ kind: 'server', method: 'GET', path: '/', authority: 'a', traceparent: PARENT, tracestate: undefined });
  sampled.end({ status: 200, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  await tracing.shutdown();
  t.equal(receiver.spans.length, 1, 'only the span of the sampled parent was exported (shutdown sent what was batched)');
});

t.test('a failing endpoint is logged once with WEFT_ERR_TRACE_EXPORT; requests are unaffected', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const { log, lines, next } = memoryLog();
  // The receiver answers 404 off /v1/traces: a failure the exporter does not retry.
  const tracing = await startTracing({ ...SETTINGS, endpoint: receiver.url.replace('/v1/traces', '/nowhere') }, RESOURCE, log);
  if (!tracing) throw new Error('tracing did not start');
  tracing.start({ kind: 'server', method: 'GET', path: '/', authority: 'a', traceparent: undefined, tracestate: undefined }).end({ status: 200, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  const line = await next((l) => l.code === 'WEFT_ERR_TRACE_EXPORT');
  t.equal(line.level, 40, 'a warning');
  tracing.start({ kind: 'server', method: 'GET', path: '/', authority: 'a', traceparent: undefined, tracestate: undefined }).end({ status: 200, errorCode: '', peer: '', protocol: 'http/1.1', route: '' });
  await tracing.shutdown();
  t.equal(lines.filter((l) => l.code === 'WEFT_ERR_TRACE_EXPORT').length, 1, 'said once while it keeps failing');
});
