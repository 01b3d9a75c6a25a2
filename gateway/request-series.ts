// The gateway's entry in the mesh's per-request series: one finished edge request as the proxy
// would label it (direction inbound, from the edge), so one query covers both processes.
import { grpcStatusLabel, statusCodeLabel, TLS_NO_IDENTITY, UNKNOWN, type LabelValues, type RequestFacts, type Workload } from '../mesh/metrics/vocabulary.js';
import { serviceKey } from '../mesh/discovery/endpoint-source.js';
import type { Exchange } from './exchange.js';
import type { GatewayMetrics } from './metrics.js';

const EDGE: Workload = Object.freeze({ workload: UNKNOWN, namespace: UNKNOWN });

/**
 * Counts a finished edge request in weft_requests_total / weft_responses_total and observes its
 * latency. The edge client proves no mesh identity (tls="no_identity", src unknown); the
 * destination is the backend whose endpoint answered, named by that endpoint's identity.
 */
export function recordEdgeRequest(metrics: GatewayMetrics, labels: LabelValues, x: Exchange, status: number, seconds: number): void {
  const identity = x.entry?.endpoint.identity ?? '';
  const facts: RequestFacts = {
    direction: 'inbound',
    service: labels.service(x.target ? serviceKey(x.target.ref) : ''),
    route: labels.route(x.route === '-' ? '' : x.route),
    tls: TLS_NO_IDENTITY,
    src: EDGE,
    dst: labels.peer(identity),
  };
  const statusCode = statusCodeLabel(status);
  const grpcStatus = grpcStatusLabel(headerText(x.res.getHeader('grpc-status')));
  const request = {
    direction: facts.direction,
    service: facts.service,
    route: facts.route,
    tls: facts.tls,
    src_workload: facts.src.workload,
    src_namespace: facts.src.namespace,
    dst_workload: facts.dst.workload,
    dst_namespace: facts.dst.namespace,
  };
  metrics.meshRequests.inc(request);
  metrics.meshResponses.inc({
    direction: facts.direction,
    service: facts.service,
    route: facts.route,
    tls: facts.tls,
    src_workload: facts.src.workload,
    src_namespace: facts.src.namespace,
    dst_workload: facts.dst.workload,
    dst_namespace: facts.dst.namespace,
    status_code: statusCode,
    grpc_status: grpcStatus,
    error_code: x.code ?? '',
  });
  metrics.meshLatency.observe({ direction: facts.direction, service: facts.service, route: facts.route, status_code: statusCode }, seconds);
}

function headerText(value: number | string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}
