import t from 'tap';
import { startExchange } from '../../../proxy/exchange.js';
import { noteRequest, tracedH2Headers, tracedRawHeaders, endSpan } from '../../../proxy/trace-step.js';
import type { RequestSpan, SpanEnd, SpanStart, Tracing } from '../../../mesh/trace/tracing.js';

const OURS = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';
const DROP: ReadonlySet<string> = new Set(['weft-dst-port']);

// A tracing that hands out one fixed span and remembers what it was told.
function fakeTracing(tracestate: string | undefined): { tracing: Tracing; starts: SpanStart[]; ends: SpanEnd[] } {
  const starts: SpanStart[] = [];
  const ends: SpanEnd[] = [];
  const span: RequestSpan = { traceparent: OURS, tracestate, end: (o) => void ends.push(o) };
  return { tracing: { start: (s) => (starts.push(s), span), shutdown: async () => undefined }, starts, ends };
}

const exchange = () => startExchange({ direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'web:8080', path: '/a/b?x=1' }, 0);

t.test('tracing off: no span, and the headers are exactly what forwarding built before', async (t) => {
  const x = exchange();
  const headers = { traceparent: 'anything', tracestate: 'a=1' };
  noteRequest(x, headers, undefined, 'server');
  t.equal(x.headers, headers);
  t.equal(x.span, undefined);
  const raw = ['Host', 'web', 'traceparent', 'anything', 'tracestate', 'a=1', 'weft-dst-port', '1'];
  t.same(tracedRawHeaders(x, raw, DROP, [['weft-client-id', 'me']]), ['Host', 'web', 'traceparent', 'anything', 'tracestate', 'a=1', 'weft-client-id', 'me']);
  t.same(tracedH2Headers(x, { ':path': '/', traceparent: 'anything' }, DROP, { 'weft-client-id': 'me' }), { ':path': '/', traceparent: 'anything', 'weft-client-id': 'me' });
  endSpan(x); // nothing to end
});

t.test('tracing on: the span starts with the request, and replaces the trace headers it forwards', async (t) => {
  const { tracing, starts, ends } = fakeTracing('a=1');
  const x = exchange();
  noteRequest(x, { traceparent: 'theirs', tracestate: 'a=1' }, tracing, 'server');
  t.same(starts, [{ kind: 'server', method: 'GET', path: '/a/b', authority: 'web:8080', traceparent: 'theirs', tracestate: 'a=1' }], 'the path without its query');
  const raw = ['Host', 'web', 'TraceParent', 'theirs', 'tracestate', 'a=1', 'weft-dst-port', '1'];
  t.same(tracedRawHeaders(x, raw, DROP, [['weft-client-id', 'me']]), ['Host', 'web', 'weft-client-id', 'me', 'traceparent', OURS, 'tracestate', 'a=1']);
  t.same(
    tracedRawHeaders(x, ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'traceparent', 'theirs'], DROP, [], true),
    ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'traceparent', OURS, 'tracestate', 'a=1'],
    'an upgrade keeps its Connection and Upgrade headers',
  );
  t.same(tracedH2Headers(x, { ':path': '/', traceparent: 'theirs', 'weft-dst-port': '1' }, DROP, {}), { ':path': '/', traceparent: OURS, tracestate: 'a=1' });
  x.status = 502;
  x.errorCode = 'WEFT_ERR_APP_UNREACHABLE';
  x.peer = 'spiffe://cluster.local/ns/a/sa/b';
  endSpan(x);
  t.same(ends, [{ status: 502, errorCode: 'WEFT_ERR_APP_UNREACHABLE', peer: 'spiffe://cluster.local/ns/a/sa/b', protocol: 'http/1.1', route: '' }]);
});

t.test('a received tracestate the span did not keep is not forwarded', async (t) => {
  const { tracing } = fakeTracing(undefined);
  const x = exchange();
  noteRequest(x, { traceparent: 'BAD', tracestate: 'a=1' }, tracing, 'client');
  t.same(tracedRawHeaders(x, ['tracestate', 'a=1', 'traceparent', 'BAD'], DROP, []), ['traceparent', OURS]);
  t.same(tracedH2Headers(x, { tracestate: 'a=1', traceparent: 'BAD' }, DROP, {}), { traceparent: OURS });
});
