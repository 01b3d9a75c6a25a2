// The process metrics every weft process publishes: prom-client's defaults, minus the three gauges
// whose names break Prometheus conventions (a gauge ending in _total; `promtool check metrics`
// fails on them). Their values stay available: each is the sum of its per-type gauge
// (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources).
import { collectDefaultMetrics, type Registry } from 'prom-client';

/** The default metrics left out, and why: non-counters named like counters. */
export const DROPPED_DEFAULT_METRICS: readonly string[] = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Registers the process metrics on `registry`; the one place every weft process does it. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
