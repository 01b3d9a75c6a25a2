// The observing commands' pure parts: Prometheus text, golden metrics from scrapes (with and
// without a window), percentiles, flags, tap plans and top's ranking.
import t from 'tap';
import { parsePromText } from '../../../../cli/observe/prom-text.js';
import { goldenMetrics, histogramQuantile, type Scrape } from '../../../../cli/observe/golden.js';
import { parseObserveArgs, durationMs } from '../../../../cli/observe/args.js';
import { planTap } from '../../../../cli/observe/tap-plan.js';
import { topRows } from '../../../../cli/top.js';
import type { ProxyTarget } from '../../../../cli/observe/targets.js';
import type { TapEvent } from '../../../../proxy/tap/tap-hub.js';
import { isWeftError } from '../../../../lib/errors.js';

const names = { namespace: 'demo', trustDomain: 'cluster.local' };
const hello0: ProxyTarget = { pod: 'hello-0', service: 'hello', admin: '127.0.0.2:7020' };
const hello1: ProxyTarget = { pod: 'hello-1', service: 'hello', admin: '127.0.0.3:7020' };
const client: ProxyTarget = { pod: 'client', service: 'client', admin: '127.0.0.1:7020' };

function metrics(ok: number, denied: number, gateway: number, buckets: [string, number][], grpcInternal = 0): string {
  const from = (workload: string, ns: string): string => `route="",tls="true",src_workload="${workload}",src_namespace="${ns}",dst_workload="hello",dst_namespace="demo"`;
  const client = from('client', 'demo');
  return [
    '# HELP weft_responses_total x',
    `weft_responses_total{direction="inbound",service="demo/hello:80",${client},status_code="200",grpc_status="",error_code=""} ${ok}`,
    `weft_responses_total{direction="inbound",service="demo/hello:80",${client},status_code="403",grpc_status="",error_code="WEFT_ERR_FORBIDDEN"} ${denied}`,
    `weft_responses_total{direction="inbound",service="demo/hello:80",${from('weft-gateway', 'edge')},status_code="502",grpc_status="",error_code="WEFT_ERR_APP_UNREACHABLE"} ${gateway}`,
    `weft_responses_total{direction="inbound",service="demo/hello:80",${client},status_code="200",grpc_status="13",error_code=""} ${grpcInternal}`,
    `weft_responses_total{direction="outbound",service="demo/greeter:80",route="",tls="true",src_workload="hello",src_namespace="demo",dst_workload="greeter",dst_namespace="demo",status_code="200",grpc_status="",error_code=""} 99`,
    ...buckets.map(([le, n]) => `weft_response_latency_seconds_bucket{le="${le}",direction="inbound",service="demo/hello:80",route="",status_code="200"} ${n}`),
  ].join('\n');
}

const scrape = (target: ProxyTarget, text: string): Scrape => ({ target, samples: parsePromText(text) });

t.test('prometheus text: labels with escapes, comments skipped', async (t) => {
  t.same(parsePromText('# HELP a b\na{x="q\\"uote",y=""} 3\nb 4.5\n'), [
    { name: 'a', labels: { x: 'q"uote', y: '' }, value: 3 },
    { name: 'b', labels: {}, value: 4.5 },
  ]);
});

t.test('golden metrics since start: services from the inbound side, edges by caller identity', async (t) => {
  const stat = goldenMetrics(names, [scrape(hello0, metrics(6, 1, 1, [['0.01', 4], ['0.1', 8], ['+Inf', 8]])), scrape(hello1, metrics(2, 0, 0, [['0.01', 2], ['0.1', 2], ['+Inf', 2]])), scrape(client, '')], undefined, 0);
  t.equal(stat.services.length, 1, 'the client has no inbound requests and no row');
  t.match(stat.services[0], { service: 'hello', pods: 2, requests: 10, failures: 2, successRate: 0.8, rps: null, mtlsShare: 1 });
  // 10 observations: 6 at <=10 ms, 4 in (10, 100]: p50 at rank 5 is 5/6 of the first bucket.
  t.equal(stat.services[0]?.p50Ms, 8.333);
  t.same(stat.edges.map((e) => [e.from, e.to, e.requests, e.failures]), [['client', 'hello', 9, 1], ['edge/weft-gateway', 'hello', 1, 1]]);
});

t.test('golden metrics over a window subtract the earlier scrape and give a rate', async (t) => {
  const before = [scrape(hello0, metrics(6, 1, 0, []))];
  const now = [scrape(hello0, metrics(16, 1, 0, []))];
  const stat = goldenMetrics(names, now, before, 5);
  t.match(stat.services[0], { requests: 10, failures: 0, successRate: 1, rps: 2 });
  t.equal(stat.windowSeconds, 5);
});

t.test('golden metrics count a gRPC call answered with a status other than OK as failed, though its HTTP status is 200', async (t) => {
  const stat = goldenMetrics(names, [scrape(hello0, metrics(5, 0, 0, [], 5))], undefined, 0);
  t.match(stat.services[0], { requests: 10, failures: 5, successRate: 0.5 });
});

t.test('histogram quantiles interpolate inside the bucket; +Inf answers its lower bound; empty is null', async (t) => {
  t.equal(histogramQuantile(0.5, new Map([[0.1, 10], [Infinity, 10]])), 0.05);
  t.equal(histogramQuantile(0.99, new Map([[0.1, 1], [Infinity, 10]])), 0.1);
  t.equal(histogramQuantile(0.5, new Map()), null);
});

t.test('flags: durations, outputs and unknown arguments', async (t) => {
  t.equal(durationMs('5s'), 5000);
  t.equal(durationMs('250ms'), 250);
  t.equal(durationMs('0'), 0);
  t.ok(Number.isNaN(durationMs('5')));
  t.match(parseObserveArgs(['--window=2s', '-o', 'json'], ['window', 'output'], { windowMs: 5000 }), { windowMs: 2000, output: 'json' });
  t.match(parseObserveArgs(['--path', '/x'], ['window'], { windowMs: 0 }), /unknown argument "--path"/);
  t.match(parseObserveArgs(['--window', 'soon'], ['window'], { windowMs: 0 }), /--window "soon"/);
  t.match(parseObserveArgs(['-o'], ['output'], { windowMs: 0 }), /-o needs a value/);
});

t.test('a tap plan taps the service pods inbound, or every caller outbound with a service filter', async (t) => {
  const all = [client, hello0, hello1];
  t.same(planTap({ service: 'hello', path: '/x', status: '5xx', direction: '' }, all), { targets: [hello0, hello1], query: 'direction=inbound&path=%2Fx&status=5xx' });
  t.same(planTap({ service: 'hello', path: '', status: '', direction: 'outbound' }, all), { targets: all, query: 'direction=outbound&service=hello' });
  try {
    planTap({ service: 'nope', path: '', status: '', direction: '' }, all);
    t.fail('should throw');
  } catch (err) {
    t.ok(isWeftError(err, 'WEFT_ERR_TAP_FILTER'));
    t.match((err as Error).message, /services: client, hello/);
  }
});

t.test('top ranks paths without their query, counting failures', async (t) => {
  const ev = (path: string, failed: boolean, durationMs: number): { event: TapEvent; target: ProxyTarget } => ({
    target: hello0,
    event: { time: 0, direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path, service: 'port 8080', peer: '', endpoint: '', status: failed ? 503 : 200, error: '', durationMs, failed, headers: undefined },
  });
  const rows = topRows([ev('/a?x=1', false, 3), ev('/b', true, 9), ev('/a?x=2', false, 5)], 2, 10);
  t.same(rows.map((r) => [r.service, r.path, r.requests, r.failures, r.rps, r.maxMs]), [['hello', '/a', 2, 0, 1, 5], ['hello', '/b', 1, 1, 0.5, 9]]);
});
