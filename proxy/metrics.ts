// The proxy's Prometheus metrics, registered on a registry the command creates and passes in.
import { Counter, Gauge, type Registry } from '../lib/metrics-client.js';
import { PlainCounter, PlainHistogram } from '../mesh/metrics/plain-series.js';
import { CONNECTION_DURATION_BUCKETS, DEFAULT_LATENCY_BUCKETS, REQUEST_HELP, REQUEST_LABELS, REQUEST_SERIES, RESPONSE_LABELS } from '../mesh/metrics/vocabulary.js';

/** Labels of the per-connection series. */
export const CONNECTION_LABELS = ['direction', 'protocol', 'tls'] as const;

/** Every metric the proxy records. */
export interface ProxyMetrics {
  /** weft_requests_total{REQUEST_LABELS}: plain rows, published at scrape time. */
  readonly requests: PlainCounter;
  /** weft_responses_total{RESPONSE_LABELS}. */
  readonly responses: PlainCounter;
  /** weft_response_latency_seconds{LATENCY_LABELS}. */
  readonly latency: PlainHistogram;
  /** weft_tcp_read_bytes_total{direction,protocol,tls}: bytes read from accepted connections. */
  readonly tcpReadBytes: PlainCounter;
  /** weft_tcp_write_bytes_total{direction,protocol,tls}: bytes written to accepted connections. */
  readonly tcpWriteBytes: PlainCounter;
  /** weft_tcp_connection_duration_seconds{direction,protocol,tls}: accepted connections' lifetimes. */
  readonly connectionDuration: PlainHistogram;
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

/** Registers the proxy metrics on `registry`; `latencyBuckets` from WEFT_LATENCY_BUCKETS_SECONDS. */
export function createProxyMetrics(registry: Registry, latencyBuckets: readonly number[] = DEFAULT_LATENCY_BUCKETS): ProxyMetrics {
  const registers = [registry];
  return {
    // The per-request series: updated on every request, so kept off prom-client until a scrape.
    requests: new PlainCounter(registry, REQUEST_SERIES.requests, REQUEST_HELP.requests, REQUEST_LABELS),
    responses: new PlainCounter(registry, REQUEST_SERIES.responses, REQUEST_HELP.responses, RESPONSE_LABELS),
    latency: new PlainHistogram(registry, REQUEST_SERIES.latency, REQUEST_HELP.latency, latencyBuckets),
    // Per connection, at its close: plain rows as well, since a connection may carry one request.
    tcpReadBytes: new PlainCounter(registry, 'weft_tcp_read_bytes_total', 'Bytes read from accepted connections (app side outbound, peer side inbound), by direction, protocol (http, tcp) and tls.', CONNECTION_LABELS),
    tcpWriteBytes: new PlainCounter(registry, 'weft_tcp_write_bytes_total', 'Bytes written to accepted connections, by direction, protocol (http, tcp) and tls.', CONNECTION_LABELS),
    connectionDuration: new PlainHistogram(registry, 'weft_tcp_connection_duration_seconds', 'Lifetime of accepted connections, from accept to close, by direction, protocol (http, tcp) and tls.', CONNECTION_DURATION_BUCKETS),
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
