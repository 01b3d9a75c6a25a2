// W3C trace context and OTLP export through real processes: an outside client -> `weft gateway`
// -> the frontend's sidecar -> the frontend app -> its sidecar (outbound) -> the backend's sidecar
// -> the backend app. Spans are received by an OTLP/HTTP receiver this test runs.
import t from 'tap';
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { startTraceLab } from '../support/trace-lab.js';
import { parseTraceparent } from '../../mesh/trace/trace-context.js';

const SERVER = 2;
const CLIENT = 3;
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

// The four spans of one trace, or undefined until all four arrived.
function chainOf(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan[] | undefined {
  const mine = spans.filter((s) => s.traceId === traceId);
  return mine.length >= 4 ? mine : undefined;
}

function spanOf(spans: readonly ReceivedSpan[], service: string, kind: number): ReceivedSpan {
  const found = spans.filter((s) => s.resource['service.name'] === service && s.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${service} span of kind ${kind}, found ${found.length}`);
  return found[0] as ReceivedSpan;
}

t.test('tracing on: connected spans at the receiver, and trace context reaches the apps', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const lab = await startTraceLab({ WEFT_TRACE_OTLP_ENDPOINT: receiver.url, WEFT_TRACE_EXPORT_DELAY_MS: '50' });
  t.teardown(() => lab.close());

  await t.test('a request without trace context starts one trace of four connected spans', async (t) => {
    const answer = await lab.get();
    t.equal(answer.status, 200, 'the request went through');
    const front = parseTraceparent(answer.frontend.traceparent);
    const back = parseTraceparent(answer.backend.traceparent);
    if (!front || !back) throw new Error(`the apps got no valid traceparent: ${JSON.stringify(answer)}`);
    t.equal(back.traceId, front.traceId, 'both apps are in one trace');
    t.ok(front.sampled && back.sampled, 'sampled (ratio 1 by default)');
    const spans = chainOf(await receiver.waitFor((all) => chainOf(all, front.traceId) !== undefined), front.traceId) ?? [];
    t.equal(spans.length, 4, 'one span per request per process: gateway, frontend inbound and outbound, backend inbound');
    const gateway = spanOf(spans, 'weft-gateway', SERVER);
    const frontIn = spanOf(spans, 'frontend', SERVER);
    const frontOut = spanOf(spans, 'frontend', CLIENT);
    const backIn = spanOf(spans, 'backend', SERVER);
    t.equal(gateway.parentSpanId, '', 'the gateway started the trace: its span is the root');
    t.equal(frontIn.parentSpanId, gateway.spanId, "the frontend's inbound span is the gateway's child");
    t.equal(frontOut.parentSpanId, frontIn.spanId, "the frontend's outbound span is the child of its inbound span (the app forwarded the traceparent)");
    t.equal(backIn.parentSpanId, frontOut.spanId, "the backend's inbound span is the child of the frontend's outbound span");
    t.equal(front.spanId, frontIn.spanId, "the frontend app's parent is its inbound sidecar's span");
    t.equal(back.spanId, backIn.spanId, "the backend app's parent is its inbound sidecar's span");
    t.equal(new Set(spans.map((s) => s.spanId)).size, 4, 'four distinct spans, no orphan');

    t.same(
      { method: backIn.attributes['http.request.method'], path: backIn.attributes['url.path'], status: backIn.attributes['http.response.status_code'], peer: backIn.attributes['weft.peer.identity'], server: backIn.attributes['server.address'] },
      { method: 'GET', path: '/stock', status: 200, peer: 'spiffe://cluster.local/ns/test/sa/frontend', server: 'backend' },
      "the backend's span: HTTP semantic-convention attributes and the caller's mTLS identity",
    );
    t.equal(frontOut.attributes['weft.peer.identity'], 'spiffe://cluster.local/ns/test/sa/backend', "the outbound span names the server's identity");
    t.equal(gateway.attributes['url.path'], '/checkout');
    t.equal(gateway.attributes['server.address'], 'shop.test');
    t.ok(String(gateway.attributes['weft.route'] ?? '').length > 0, 'the gateway span names its route');
    t.same(
      { pod: frontIn.resource['k8s.pod.name'], namespace: frontIn.resource['k8s.namespace.name'] },
      { pod: 'frontend-0', namespace: 'test' },
      'the resource names the pod and namespace',
    );
    t.ok(receiver.contentTypes.every((c) => c.startsWith('application/json')), 'the exporter sends OTLP/HTTP JSON');
  });

  await t.test('HTTP/2 hops carry the context too: the frontend calls the backend over h2c', async (t) => {
    const answer = await lab.get({}, '/h2/checkout');
    t.equal(answer.status, 200);
    t.equal(answer.backend.protocol, '2.0', 'the backend app was called over HTTP/2');
    const front = parseTraceparent(answer.frontend.traceparent);
    const back = parseTraceparent(answer.backend.traceparent);
    if (!front || !back) throw new Error(`the apps got no valid traceparent: ${JSON.stringify(answer)}`);
    const spans = chainOf(await receiver.waitFor((all) => chainOf(all, front.traceId) !== undefined), front.traceId) ?? [];
    const frontIn = spanOf(spans, 'frontend', SERVER);
    const frontOut = spanOf(spans, 'frontend', CLIENT);
    const backIn = spanOf(spans, 'backend', SERVER);
    t.equal(frontOut.parentSpanId, frontIn.spanId, 'outbound h2 span: child of the inbound span');
    t.equal(backIn.parentSpanId, frontOut.spanId, 'inbound h2 span: child of the outbound span');
    t.equal(back.spanId, backIn.spanId, "the backend app's parent is its sidecar's span");
    t.same([frontOut.attributes['network.protocol.version'], backIn.attributes['network.protocol.version']], ['2', '2'], 'both h2 spans say HTTP/2');
  });

  await t.test("an outside client's traceparent is continued, its tracestate carried", async (t) => {
    const answer = await lab.get({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'shop=checkout,vendor=x1' });
    t.equal(answer.status, 200);
    t.equal(parseTraceparent(answer.backend.traceparent)?.traceId, CLIENT_TRACE, "the backend app is in the client's trace");
    t.equal(answer.frontend.tracestate, 'shop=checkout,vendor=x1', 'the tracestate reaches the frontend app');
    t.equal(answer.backend.tracestate, 'shop=checkout,vendor=x1', 'and, forwarded, the backend app');
    const spans = chainOf(await receiver.waitFor((all) => chainOf(all, CLIENT_TRACE) !== undefined), CLIENT_TRACE) ?? [];
    t.equal(spanOf(spans, 'weft-gateway', SERVER).parentSpanId, CLIENT_SPAN, "the gateway's span is the child of the client's span");
  });

  await t.test('a malformed traceparent is replaced by a fresh trace, never refused', async (t) => {
    const bad = `00-${CLIENT_TRACE.toUpperCase()}-${CLIENT_SPAN}-01`;
    const answer = await lab.get({ traceparent: bad, tracestate: 'shop=stale' });
    t.equal(answer.status, 200, 'the request is served');
    const front = parseTraceparent(answer.frontend.traceparent);
    if (!front) throw new Error(`no valid traceparent at the frontend: ${JSON.stringify(answer)}`);
    t.not(front.traceId, CLIENT_TRACE.toLowerCase(), 'a new trace id');
    t.not(answer.frontend.traceparent, bad, 'the malformed header did not reach the app');
    t.equal(answer.frontend.tracestate, undefined, "the tracestate of the dropped parent is dropped with it");
    const spans = chainOf(await receiver.waitFor((all) => chainOf(all, front.traceId) !== undefined), front.traceId) ?? [];
    t.equal(spanOf(spans, 'weft-gateway', SERVER).parentSpanId, '', 'the gateway span is a new root');
  });

  await t.test("an unsampled parent is honoured: context propagates, no span is exported", async (t) => {
    const unsampled = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const answer = await lab.get({ traceparent: `00-${unsampled}-${CLIENT_SPAN}-00` });
    const back = parseTraceparent(answer.backend.traceparent);
    t.equal(back?.traceId, unsampled, 'the trace id still travels');
    t.equal(back?.sampled, false, 'with the sampled flag off');
    t.not(back?.spanId, CLIENT_SPAN, 'each hop still names its own span as the parent');
    // A sampled request after it: once its four spans are in, every process has exported what
    // it queued before (each exports in order), so a span of the unsampled trace would be here.
    const after = parseTraceparent((await lab.get()).frontend.traceparent);
    if (!after) throw new Error('no traceparent');
    await receiver.waitFor((all) => chainOf(all, after.traceId) !== undefined);
    t.equal(receiver.spans.filter((s) => s.traceId === unsampled).length, 0, 'no span of the unsampled trace was exported');
  });

  await t.test('with tracing on, every process loaded OpenTelemetry (the probe works)', async (t) => {
    const loaded = await lab.modulesLoaded();
    for (const name of ['gateway', 'frontend-0', 'backend-0']) t.match(loaded[name], /@opentelemetry\/sdk-trace/, name);
  });
});

t.test('tracing off: headers pass untouched, no OpenTelemetry SDK is loaded, nothing is exported', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const lab = await startTraceLab({});
  t.teardown(() => lab.close());
  const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
  const answer = await lab.get({ traceparent, tracestate: 'shop=checkout' });
  t.equal(answer.status, 200);
  t.equal(answer.frontend.traceparent, traceparent, "the frontend app gets the client's traceparent untouched");
  t.equal(answer.backend.traceparent, traceparent, 'and so does the backend app');
  t.equal(answer.backend.tracestate, 'shop=checkout', 'the tracestate too');
  const none = await lab.get();
  t.equal(none.frontend.traceparent, undefined, 'no traceparent is made up when tracing is off');
  // prom-client (the /metrics registry) requires @opentelemetry/api for exemplars whatever weft
  // does; the rest of OpenTelemetry (SDK, exporter, resources, core) is tracing's, and stays out.
  const loaded = await lab.modulesLoaded();
  for (const [name, lines] of Object.entries(loaded)) {
    const others = lines.split('\n').filter((l) => l !== '' && !/^\S+\/@opentelemetry\/api\/\S+ <- \S+\/(prom-client|@opentelemetry\/api)\//.test(l));
    t.same(others, [], `${name}: no @opentelemetry module but the API prom-client requires`);
    t.notMatch(lines, /sdk-trace|exporter-trace|otlp|@opentelemetry\/resources|@opentelemetry\/core/, `${name}: no SDK, exporter or resources module`);
  }
  t.equal(receiver.spans.length, 0, 'nothing reached a receiver');
  t.notMatch(lab.gatewayOutput(), /tracing on/, 'the gateway did not turn tracing on');
});
