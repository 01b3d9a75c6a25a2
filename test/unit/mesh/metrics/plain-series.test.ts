// The plain per-request series scrape exactly as prom-client's own Counter and Histogram would
// have for the same requests: same text exposition, same JSON.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { PlainCounter, PlainHistogram } from '../../../../mesh/metrics/plain-series.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SERVICES = ['shop/orders:80', 'shop/"quoted"\\name:80', 'unknown'];
const PEERS = ['spiffe://cluster.local/ns/shop/sa/orders', 'none'];

t.test('counters and the latency histogram export the same series as prom-client did per request', async (t) => {
  const plainReg = new Registry();
  const promReg = new Registry();
  const plainReq = new PlainCounter(plainReg, 'weft_requests_total', 'Requests.', ['direction', 'service', 'peer']);
  const promReq = new Counter({ name: 'weft_requests_total', help: 'Requests.', labelNames: ['direction', 'service', 'peer'], registers: [promReg] });
  const plainLat = new PlainHistogram(plainReg, 'weft_response_latency_seconds', 'Latency.', BUCKETS);
  const promLat = new Histogram({ name: 'weft_response_latency_seconds', help: 'Latency.', labelNames: ['direction', 'service'], buckets: BUCKETS, registers: [promReg] });
  // Deterministic values across every bucket, on the bounds themselves and past the last one.
  const values = [0, 0.001, 0.0011, 0.003, 0.01, 0.04, 0.25, 0.9, 2.5, 7, 10, 12.5, 0.0005];
  for (let i = 0; i < 500; i++) {
    const direction = i % 2 === 0 ? 'outbound' : 'inbound';
    const service = SERVICES[i % SERVICES.length] ?? '';
    const peer = PEERS[i % PEERS.length] ?? '';
    plainReq.row(`${direction}|${service}|${peer}`, () => ({ direction, service, peer })).value += 1;
    promReq.inc({ direction, service, peer });
    const v = values[i % values.length] ?? 0;
    plainLat.observe(plainLat.row(`${direction}|${service}`, () => ({ direction, service })), v);
    promLat.observe({ direction, service }, v);
  }
  t.equal(await plainReg.metrics(), await promReg.metrics(), 'text exposition identical');
  t.same(await plainReg.getMetricsAsJSON(), await promReg.getMetricsAsJSON(), 'JSON identical');
  t.equal(await plainReg.metrics(), await promReg.metrics(), 'a second scrape is identical too (publishing is idempotent)');
  plainReg.resetMetrics();
  promReg.resetMetrics();
  t.equal(await plainReg.metrics(), await promReg.metrics(), 'identical after a reset');
});
