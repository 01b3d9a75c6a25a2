// The gateway's Prometheus metrics, registered on the registry the command passes in. The
// per-request series are the mesh's one vocabulary (mesh/metrics/vocabulary.ts): the same names
// and labels as the proxy's, direction="inbound" (from the edge).
import { Counter, Gauge, type Registry } from 'prom-client';
import { PlainCounter, PlainHistogram } from '../mesh/metrics/plain-series.js';
import { DEFAULT_LATENCY_BUCKETS, REQUEST_HELP, REQUEST_LABELS, REQUEST_SERIES, RESPONSE_LABELS } from '../mesh/metrics/vocabulary.js';

/** Metric handles used by the request path and the reloader. */
export interface GatewayMetrics {
  // The per-request series are plain rows published at scrape time, as the proxy's: the request
  // path never calls prom-client (it re-hashes and re-validates every label set on each call).
  /** weft_requests_total, as the proxy's. */
  readonly meshRequests: PlainCounter;
  /** weft_responses_total, as the proxy's. */
  readonly meshResponses: PlainCounter;
  /** weft_response_latency_seconds, as the proxy's. */
  readonly meshLatency: PlainHistogram;
  /** weft_gateway_requests_total: the API-management view (route, backend, status_code, consumer, plan). */
  readonly requests: PlainCounter;
  readonly rejections: Counter<'route' | 'policy' | 'code'>;
  readonly reloads: Counter<'result'>;
  readonly generation: Gauge;
  readonly readyReplicas: Gauge;
  /** Response bodies a TransformPolicy would edit that went out unmodified. */
  readonly bodyNotEdited: Counter<'route' | 'reason'>;
}

/** Registers the gateway metrics on `registry`; `latencyBuckets` from WEFT_LATENCY_BUCKETS_SECONDS. */
export function createGatewayMetrics(registry: Registry, latencyBuckets: readonly number[] = DEFAULT_LATENCY_BUCKETS): GatewayMetrics {
  return {
    meshRequests: new PlainCounter(registry, REQUEST_SERIES.requests, REQUEST_HELP.requests, REQUEST_LABELS),
    meshResponses: new PlainCounter(registry, REQUEST_SERIES.responses, REQUEST_HELP.responses, RESPONSE_LABELS),
    meshLatency: new PlainHistogram(registry, REQUEST_SERIES.latency, REQUEST_HELP.latency, latencyBuckets),
    requests: new PlainCounter(
      registry,
      'weft_gateway_requests_total',
      'Requests answered by the gateway, by route, backend, status code, consumer (a Consumer object; unknown: any other named caller; -: none) and plan',
      ['route', 'backend', 'status_code', 'consumer', 'plan'],
    ),
    rejections: new Counter({
      name: 'weft_gateway_policy_rejections_total',
      help: 'Requests refused at the edge, by route, policy and error code',
      labelNames: ['route', 'policy', 'code'],
      registers: [registry],
    }),
    reloads: new Counter({ name: 'weft_gateway_config_reloads_total', help: 'Route file loads, by result', labelNames: ['result'], registers: [registry] }),
    generation: new Gauge({ name: 'weft_gateway_config_generation', help: 'Generation of the route file in force', registers: [registry] }),
    readyReplicas: new Gauge({ name: 'weft_gateway_ready_replicas', help: 'Ready gateway replicas seen in its own endpoints (rate limit divisor)', registers: [registry] }),
    bodyNotEdited: new Counter({
      name: 'weft_gateway_body_not_edited_total',
      help: 'JSON response bodies a TransformPolicy would edit that went out unmodified, by route and reason (over-cap, not-json)',
      labelNames: ['route', 'reason'],
      registers: [registry],
    }),
  };
}
