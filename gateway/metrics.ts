// The gateway's Prometheus metrics, registered on the registry the command passes in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metric handles used by the request path and the reloader. */
export interface GatewayMetrics {
  readonly requests: Counter<'route' | 'backend' | 'code' | 'consumer' | 'plan'>;
  readonly latency: Histogram<'route' | 'backend'>;
  readonly rejections: Counter<'route' | 'policy' | 'code'>;
  readonly reloads: Counter<'result'>;
  readonly generation: Gauge;
  readonly readyReplicas: Gauge;
  /** Response bodies a TransformPolicy would edit that went out unmodified. */
  readonly bodyNotEdited: Counter<'route' | 'reason'>;
}

/** Registers the gateway metrics on `registry`. */
export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    requests: new Counter({
      name: 'weft_gateway_requests_total',
      help: 'Requests answered by the gateway, by route, backend, status code, consumer (a Consumer object; unknown: any other named caller; -: none) and plan',
      labelNames: ['route', 'backend', 'code', 'consumer', 'plan'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'weft_gateway_request_duration_seconds',
      help: 'Time from request start to response end, by route and backend',
      labelNames: ['route', 'backend'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
