// The gateway's entry in the mesh's per-request series: one finished edge request as the proxy
// would label it (direction inbound, from the edge), so one query covers both processes.
import { grpcStatusLabel, requestKey, requestLabels, responseLabels, statusCodeLabel, TLS_NO_IDENTITY, UNKNOWN, type LabelValues, type RequestFacts, type Workload } from '../mesh/metrics/vocabulary.js';
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
  const code = x.code ?? '';
  const key = requestKey(facts);
  metrics.meshRequests.row(key, () => requestLabels(facts)).value += 1;
  metrics.meshResponses.row(`${key}|${statusCode}|${grpcStatus}|${code}`, () => responseLabels(facts, statusCode, grpcStatus, code)).value += 1;
  const latency = metrics.meshLatency.row(`${facts.service}|${facts.route}|${statusCode}`, () => ({ direction: facts.direction, service: facts.service, route: facts.route, status_code: statusCode }));
  metrics.meshLatency.observe(latency, seconds);
}

/** Counts a finished request in weft_gateway_requests_total (route, backend, status, consumer, plan). */
export function recordGatewayRequest(metrics: GatewayMetrics, route: string, backend: string, status: number, consumer: string, plan: string): void {
  const statusCode = String(status);
  metrics.requests.row(`${route}|${backend}|${statusCode}|${consumer}|${plan}`, () => ({ route, backend, status_code: statusCode, consumer, plan })).value += 1;
}

function headerText(value: number | string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}
