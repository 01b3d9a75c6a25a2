// The proxy's Prometheus metrics, registered on a registry the command creates and passes in.
import { Counter, Gauge, type Registry } from 'prom-client';
import { PlainCounter, PlainHistogram } from './request-series.js';

/** Every metric the proxy records. */
export interface ProxyMetrics {
  /** weft_requests_total{direction,service,peer}: plain rows, published at scrape time. */
  readonly requests: PlainCounter;
  /** weft_responses_total{direction,service,peer,status,error_code}. */
  readonly responses: PlainCounter;
  /** weft_response_latency_seconds{direction,service}. */
  readonly latency: PlainHistogram;
  readonly openConnections: Gauge<'direction'>;
  readonly connections: Counter<'direction'>;
  /** Connections that closed without sending a byte (TCP health checks, port scans): no request. */
  readonly emptyConnections: Counter<'direction'>;
  readonly handshakeFailures: Counter<'direction' | 'reason'>;
  readonly certificateExpiry: Gauge;
  /** Outbound traffic forwarded unchanged outside the mesh (no mTLS added), by protocol and reason. */
  readonly passthrough: Counter<'protocol' | 'reason' | 'tls'>;
  /** Outbound traffic refused by the outbound decision (egress policy, loop), by protocol and code. */
  readonly refused: Counter<'protocol' | 'code'>;
}

/** Registers the proxy metrics on `registry`. */
export function createProxyMetrics(registry: Registry): ProxyMetrics {
  const registers = [registry];
  return {
    // The per-request series: updated on every request, so kept off prom-client until a scrape.
    requests: new PlainCounter(registry, 'weft_requests_total', 'Requests received, by direction (inbound/outbound), service and peer identity.', ['direction', 'service', 'peer']),
    responses: new PlainCounter(registry, 'weft_responses_total', 'Responses sent, by direction, service, peer identity, status and weft error code.', ['direction', 'service', 'peer', 'status', 'error_code']),
    latency: new PlainHistogram(registry, 'weft_response_latency_seconds', 'Time from request received to response headers sent.', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    openConnections: new Gauge({
      name: 'weft_open_connections',
      help: 'Connections currently open, by direction (inbound mTLS, outbound from the app).',
      labelNames: ['direction'],
      registers,
    }),
    connections: new Counter({
      name: 'weft_connections_total',
      help: 'Connections accepted, by direction.',
      labelNames: ['direction'],
      registers,
    }),
    emptyConnections: new Counter({
      name: 'weft_empty_connections_total',
      help: 'Connections that closed without sending a byte (TCP health checks, port scans), by direction; not requests.',
      labelNames: ['direction'],
      registers,
    }),
    handshakeFailures: new Counter({
      name: 'weft_tls_handshake_failures_total',
      help: 'Refused TLS handshakes, by direction and reason (not_tls, no_client_cert, untrusted, expired, no_identity, ...).',
      labelNames: ['direction', 'reason'],
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'weft_certificate_expiry_timestamp_seconds',
      help: "Unix time at which the proxy's current certificate expires.",
      registers,
    }),
    passthrough: new Counter({
      name: 'weft_outbound_passthrough_total',
      help: 'Outbound connections (tcp) and requests (http) forwarded unchanged to their original destination, by reason (outside-cluster, no-sidecar, egress-allowed); tls="no": the mesh added no mTLS.',
      labelNames: ['protocol', 'reason', 'tls'],
      registers,
    }),
    refused: new Counter({
      name: 'weft_outbound_refused_total',
      help: 'Outbound connections (tcp) and requests (http) refused by the outbound decision, by code (WEFT_ERR_EGRESS_DENIED, WEFT_ERR_LOOP).',
      labelNames: ['protocol', 'code'],
      registers,
    }),
  };
}
