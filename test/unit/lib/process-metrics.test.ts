// weft's process metrics against prom-client's collectDefaultMetrics: the same series (names,
// types, help, label names) less the three dropped gauges, and CPU counters that count.
import t from 'tap';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { DROPPED_DEFAULT_METRICS, registerProcessMetrics } from '../../../lib/process-metrics.js';

interface Shape {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

async function shapes(registry: Registry): Promise<Shape[]> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.map((m) => ({
    name: m.name,
    type: String(m.type),
    help: m.help,
    labelNames: [...new Set(m.values.flatMap((v) => Object.keys(v.labels)))].filter((l) => l !== 'le').sort(),
  }));
}

t.test('registers the series collectDefaultMetrics does, in its order, less the dropped gauges', async (t) => {
  const ours = new Registry();
  registerProcessMetrics(ours);
  const theirs = new Registry();
  collectDefaultMetrics({ register: theirs });
  for (const name of DROPPED_DEFAULT_METRICS) theirs.removeSingleMetric(name);
  const expected = await shapes(theirs);
  t.ok(expected.length > 20, `prom-client's defaults hold ${expected.length} series`);
  t.same(await shapes(ours), expected);
  t.same(ours.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name), theirs.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name), 'the same order');
});

t.test('the CPU counters add the CPU used between scrapes, user plus system making the total', async (t) => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const read = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of await registry.getMetricsAsJSON()) if (m.name.startsWith('process_cpu_')) out[m.name] = m.values[0]?.value ?? NaN;
    return out;
  };
  const first = await read();
  const end = Date.now() + 30;
  let spin = 0;
  while (Date.now() < end) spin += Math.sqrt(spin + 1);
  t.ok(spin > 0, 'the busy loop ran');
  const second = await read();
  const user = second['process_cpu_user_seconds_total'] ?? NaN;
  const system = second['process_cpu_system_seconds_total'] ?? NaN;
  const total = second['process_cpu_seconds_total'] ?? NaN;
  t.ok(user > (first['process_cpu_user_seconds_total'] ?? Infinity), `user CPU grew: ${first['process_cpu_user_seconds_total']} -> ${user}`);
  t.ok(Math.abs(total - (user + system)) < 1e-6, 'total = user + system');
});
