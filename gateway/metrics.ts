// The gateway's Prometheus metrics, registered on the registry the command passes in. The
// per-request series are the mesh's one vocabulary (mesh/metrics/vocabulary.ts): the same names
// and labels as the proxy's, direction="inbound" (from the edge).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DEFAULT_LATENCY_BUCKETS, LATENCY_LABELS, REQUEST_HELP, REQUEST_LABELS, REQUEST_SERIES, RESPONSE_LABELS } from '../mesh/metrics/vocabulary.js';

type RequestLabel = (typeof REQUEST_LABELS)[number];
type ResponseLabel = (typeof RESPONSE_LABELS)[number];
type LatencyLabel = (typeof LATENCY_LABELS)[number];

/** Metric handles used by the request path and the reloader. */
export interface GatewayMetrics {
  /** weft_requests_total, as the proxy's. */
  readonly meshRequests: Counter<RequestLabel>;
  /** weft_responses_total, as the proxy's. */
  readonly meshResponses: Counter<ResponseLabel>;
  /** weft_response_latency_seconds, as the proxy's. */
  readonly meshLatency: Histogram<LatencyLabel>;
  /** weft_gateway_requests_total: the API-management view (consumer, plan, backend). */
  readonly requests: Counter<'route' | 'backend' | 'status_code' | 'consumer' | 'plan'>;
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
    meshRequests: new Counter({ name: REQUEST_SERIES.requests, help: REQUEST_HELP.requests, labelNames: REQUEST_LABELS, registers: [registry] }),
    meshResponses: new Counter({ name: REQUEST_SERIES.responses, help: REQUEST_HELP.responses, labelNames: RESPONSE_LABELS, registers: [registry] }),
    meshLatency: new Histogram({ name: REQUEST_SERIES.latency, help: REQUEST_HELP.latency, labelNames: LATENCY_LABELS, buckets: [...latencyBuckets], registers: [registry] }),
    requests: new Counter({
      name: 'weft_gateway_requests_total',
      help: 'Requests answered by the gateway, by route, backend, status code, consumer (a Consumer object; unknown: any other named caller; -: none) and plan',
      labelNames: ['route', 'backend', 'status_code', 'consumer', 'plan'],
      registers: [registry],
    }),
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
