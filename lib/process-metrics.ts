// The process metrics every weft process publishes: prom-client's defaults, minus the three gauges
// whose names break Prometheus conventions (a gauge ending in _total; `promtool check metrics`
// fails on them). Their values stay available: each is the sum of its per-type gauge
// (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources).
// The defaults are registered from prom-client's per-metric files, not collectDefaultMetrics: its
// module also loads the CPU counters' exemplar support, which requires @opentelemetry/api (about
// 8 MB of idle RSS in a sidecar). The three CPU counters are written here instead, with the same
// names, help and values; every other series is prom-client's own code (docs/metrics.md).
import { createRequire } from 'node:module';
import { Counter, type Registry } from './metrics-client.js';

/** The default metrics left out, and why: non-counters named like counters. */
export const DROPPED_DEFAULT_METRICS: readonly string[] = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The settings prom-client's collectDefaultMetrics passes each default metric. */
const DEFAULT_CONFIG = { eventLoopMonitoringPrecision: 10 };

// collectDefaultMetrics' list in its order, less processCpuTotal.
const DEFAULT_METRIC_FILES = [
  'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag',
  'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc',
] as const;

type DefaultMetric = (registry: Registry, config: typeof DEFAULT_CONFIG) => void;

/** Registers the process metrics on `registry`; the one place every weft process does it. */
export function registerProcessMetrics(registry: Registry): void {
  registerCpuCounters(registry);
  const load = createRequire(import.meta.url);
  for (const file of DEFAULT_METRIC_FILES) (load(`prom-client/lib/metrics/${file}.js`) as DefaultMetric)(registry, DEFAULT_CONFIG);
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}

// prom-client's processCpuTotal without exemplars: the CPU used since the last scrape, added at
// scrape time, registered in its order so the exposition reads the same.
function registerCpuCounters(registry: Registry): void {
  let last = process.cpuUsage();
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers: [registry],
    collect() {
      const now = process.cpuUsage();
      const userUs = now.user - last.user;
      const systemUs = now.system - last.system;
      last = now;
      user.inc(userUs / 1e6);
      system.inc(systemUs / 1e6);
      total.inc((userUs + systemUs) / 1e6);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers: [registry] });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers: [registry] });
}
