// The metrics vocabulary's labelling core: identities to workloads, gRPC and HTTP status labels,
// folding of unknown and unbounded values, and the bucket setting's validation.
import t from 'tap';
import { Registry } from 'prom-client';
import { BoundedValues, LabelValues, OVERFLOW, UNKNOWN, grpcStatusLabel, statusCodeLabel, tlsLabel, workloadOf } from '../../../../mesh/metrics/vocabulary.js';
import { createProxyMetrics } from '../../../../proxy/metrics.js';
import { ExchangeRecorder, startExchange } from '../../../../proxy/exchange.js';
import { createLogger } from '../../../../lib/logger.js';
import { parseProxyConfig } from '../../../../proxy/config.js';
import { parseGatewayConfig } from '../../../../gateway/config.js';
import { isWeftError } from '../../../../lib/errors.js';
import { withTimeout } from '../../../../proxy/outbound/traffic-step.js';
import type { ForwardHooks } from '../../../../proxy/forward/http1.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const WEB = 'spiffe://cluster.local/ns/shop/sa/web';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';

function recorder(self: string, buckets?: readonly number[]): { rec: ExchangeRecorder; registry: Registry; clock: { now: number } } {
  const registry = new Registry();
  const clock = { now: 0 };
  const log = createLogger({ level: 'silent', name: 'vocabulary-test' });
  const rec = new ExchangeRecorder(createProxyMetrics(registry, buckets), log, () => clock.now, false, undefined, new LabelValues(self));
  return { rec, registry, clock };
}

t.test('a gRPC call answered INTERNAL counts grpc_status="13" beside status_code="200"', async (t) => {
  const { rec, registry } = recorder(WEB);
  for (let i = 0; i < 5; i++) {
    const x = startExchange({ direction: 'outbound', protocol: 'h2', method: 'POST', authority: 'orders', path: '/weft.test.Echo/Echo' }, 0);
    x.service = 'shop/orders:80';
    x.peer = ORDERS;
    x.grpcStatus = '13';
    rec.responded(x, 200);
    rec.finish(x);
  }
  const text = await registry.getSingleMetricAsString('weft_responses_total');
  t.match(text, 'weft_responses_total{direction="outbound",service="shop/orders:80",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop",status_code="200",grpc_status="13",error_code=""} 5');
  t.match(await registry.getSingleMetricAsString('weft_response_latency_seconds'), 'weft_response_latency_seconds_count{direction="outbound",service="shop/orders:80",route="",status_code="200"} 5', 'latency carries status_code');
});

t.test('src and dst come from identities: inbound the peer is the source, outbound the destination', async (t) => {
  const { rec, registry } = recorder(ORDERS);
  const x = startExchange({ direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'orders', path: '/' }, 0);
  x.service = 'shop/orders:80';
  x.peer = WEB;
  x.route = 'get-orders';
  rec.responded(x, 503);
  rec.finish(x, 'WEFT_ERR_APP_UNREACHABLE');
  t.match(await registry.getSingleMetricAsString('weft_requests_total'), 'weft_requests_total{direction="inbound",service="shop/orders:80",route="get-orders",tls="true",src_workload="web",src_namespace="shop",dst_workload="orders",dst_namespace="shop"} 1');
  t.match(await registry.getSingleMetricAsString('weft_responses_total'), 'status_code="503",grpc_status="",error_code="WEFT_ERR_APP_UNREACHABLE"} 1', 'not gRPC: grpc_status is empty');
});

t.test('unknown identities fold into one value, and a request with no peer has tls="no_identity"', async (t) => {
  t.same(workloadOf('spiffe://cluster.local/ns/shop/sa/web'), { workload: 'web', namespace: 'shop' });
  t.same(workloadOf(''), { workload: UNKNOWN, namespace: UNKNOWN });
  t.same(workloadOf('spiffe://cluster.local/not/a/workload'), { workload: UNKNOWN, namespace: UNKNOWN });
  t.same(workloadOf('CN=someone'), { workload: UNKNOWN, namespace: UNKNOWN });
  t.equal(tlsLabel(''), 'no_identity');
  t.equal(tlsLabel(WEB), 'true');
  const { rec, registry } = recorder(WEB);
  for (const peer of ['', 'spiffe://x/garbage', 'urn:other']) {
    const x = startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'example.com', path: '/' }, 0);
    x.service = '';
    x.peer = peer;
    rec.responded(x, 200);
    rec.finish(x);
  }
  const text = await registry.getSingleMetricAsString('weft_requests_total');
  t.match(text, 'service="unknown",route="",tls="no_identity",src_workload="web",src_namespace="shop",dst_workload="unknown",dst_namespace="unknown"} 1');
  t.match(text, 'service="unknown",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="unknown",dst_namespace="unknown"} 2', 'two peers without a workload share one series');
});

t.test('label values past their bound fold into overflow', async (t) => {
  const b = new BoundedValues(2);
  t.same(['a', 'b', 'c', 'a', 'd'].map((v) => b.bound(v)), ['a', 'b', OVERFLOW, 'a', OVERFLOW]);
  const labels = new LabelValues(WEB, { services: 1, routes: 1, workloads: 1 });
  t.equal(labels.service('shop/a:80'), 'shop/a:80');
  t.equal(labels.service('shop/b:80'), OVERFLOW);
  t.equal(labels.route(''), '', 'no route is not a value that takes room');
  t.same(labels.peer(ORDERS), { workload: 'orders', namespace: 'shop' });
  t.same(labels.peer('spiffe://cluster.local/ns/x/sa/y'), { workload: OVERFLOW, namespace: OVERFLOW });
  t.same(labels.peer(''), { workload: UNKNOWN, namespace: UNKNOWN }, 'unknown stays unknown past the bound');
});

t.test('status and grpc-status labels are bounded to their protocols', async (t) => {
  t.equal(grpcStatusLabel(undefined), '');
  t.equal(grpcStatusLabel('0'), '0');
  t.equal(grpcStatusLabel(['13']), '13');
  t.equal(grpcStatusLabel('16'), '16');
  t.equal(grpcStatusLabel('17'), UNKNOWN);
  t.equal(grpcStatusLabel('<script>'), UNKNOWN);
  t.equal(statusCodeLabel(200), '200');
  t.equal(statusCodeLabel(0), '0');
  t.equal(statusCodeLabel(1000), '0');
});

t.test('the bucket setting is refused unless it lists ascending positive numbers', async (t) => {
  const base = { WEFT_MODE: 'local', WEFT_CA_DIR: '/nonexistent-ca', WEFT_ENDPOINTS_FILE: '/nonexistent-endpoints.json' };
  for (const [raw, why] of [
    ['0.1,0.05', /bounds must ascend, but 0.05 follows 0.1/],
    ['0.1,0.1', /bounds must ascend/],
    ['0,1', /"0" is not a positive number of seconds/],
    ['-1,2', /"-1" is not a positive number/],
    ['0.1,abc', /"abc" is not a positive number/],
    [' , ', /at least one bucket bound/],
  ] as const) {
    let caught: unknown;
    try {
      parseProxyConfig({ ...base, WEFT_LATENCY_BUCKETS_SECONDS: raw });
    } catch (err) {
      caught = err;
    }
    t.ok(isWeftError(caught, 'WEFT_ERR_CONFIG'), `${JSON.stringify(raw)} is refused with WEFT_ERR_CONFIG`);
    t.match((caught as Error).message, why);
    t.match((caught as Error).message, /WEFT_LATENCY_BUCKETS_SECONDS/);
  }
  const ok = parseProxyConfig({ ...base, WEFT_LATENCY_BUCKETS_SECONDS: '0.005, 0.05,0.5,5' });
  t.same(ok.latencyBuckets, [0.005, 0.05, 0.5, 5]);
  t.throws(() => parseGatewayConfig({ ...base, WEFT_LATENCY_BUCKETS_SECONDS: '1,0.5' }), /bounds must ascend/, 'the gateway reads the same setting');
  // And the histogram uses the buckets given.
  const { rec, registry } = recorder(WEB, ok.latencyBuckets);
  const x = startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'a', path: '/' }, 0);
  rec.responded(x, 200);
  rec.finish(x);
  const text = await registry.getSingleMetricAsString('weft_response_latency_seconds');
  t.same([...text.matchAll(/le="([^"]+)"/g)].map((m) => m[1]), ['0.005', '0.05', '0.5', '5', '+Inf']);
});

t.test('a request timeout around the hooks passes the grpc-status on to the record', async (t) => {
  const { rec, registry } = recorder(WEB);
  const x = startExchange({ direction: 'outbound', protocol: 'h2', method: 'POST', authority: 'orders', path: '/weft.test.Echo/Unary' }, 0);
  x.service = 'shop/orders:80';
  x.peer = ORDERS;
  const inner: ForwardHooks = {
    onResponse: (status) => rec.responded(x, status),
    onGrpcStatus: (value) => {
      if (typeof value === 'string') x.grpcStatus = value;
    },
    onEnd: () => rec.finish(x),
  };
  const timers = new FakeTimers();
  const hooks = withTimeout(inner, 1000, timers, () => undefined);
  hooks.onResponse(200);
  hooks.onGrpcStatus?.('13');
  hooks.onEnd();
  t.match(await registry.getSingleMetricAsString('weft_responses_total'), 'status_code="200",grpc_status="13",error_code=""} 1');
});
