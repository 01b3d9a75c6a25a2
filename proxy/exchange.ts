// One request/response as the proxy saw it, and the recorder that turns a finished exchange
// into metrics and exactly one access-log line.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../lib/logger.js';
import type { ProxyMetrics } from './metrics.js';
import { LabelValues, grpcStatusLabel, requestKey, requestLabels, responseLabels, statusCodeLabel, tlsLabel, type RequestFacts } from '../mesh/metrics/vocabulary.js';
import type { RequestSpan } from '../mesh/trace/tracing.js';
import { RawLogLine } from '../lib/raw-log-line.js';
import { AccessLine, ACCESS_LINE_KEYS } from './access-line.js';

/** Told of every finished exchange (the tap and the recent-failures ring, proxy/tap/). */
export interface ExchangeObserver {
  finished(exchange: Exchange): void;
}

/** What a proxy knows about one request; filled in along the path, recorded once at the end. */
export interface Exchange {
  readonly direction: 'inbound' | 'outbound';
  protocol: 'http/1.1' | 'h2' | 'websocket' | 'tcp';
  readonly method: string;
  /** Host / :authority as sent; for a tunnel, the destination once known. */
  authority: string;
  readonly path: string;
  /** ns/name:port of the destination service (outbound) or the app port (inbound). */
  service: string;
  /** Peer identity: the server's (outbound) or the client's (inbound). */
  peer: string;
  /** address:port of the chosen endpoint or the app. */
  endpoint: string;
  /** The mesh route the request matched ('' when none): the route label. */
  route: string;
  /** The grpc-status the upstream answered with ('' when not gRPC): the grpc_status label. */
  grpcStatus: string;
  /** Why an outbound exchange left the mesh (passthrough reason) or was refused; '' otherwise. */
  reason: string;
  readonly startedMs: number;
  status: number;
  errorCode: string;
  responseMs: number;
  finished: boolean;
  /** The request's headers as received (HTTP only); read by the tap, redacted there. */
  headers: IncomingHttpHeaders | undefined;
  /** The request's span when tracing is on (proxy/trace-step.ts); undefined otherwise. */
  span: RequestSpan | undefined;
}

/** Starts an exchange record. */
export function startExchange(
  fields: Pick<Exchange, 'direction' | 'protocol' | 'method' | 'authority' | 'path'>,
  nowMs: number,
): Exchange {
  // Every field named in one literal, in one order: all records share one hidden class. A spread
  // here gave each record its own map (a migration per request and megamorphic reads after).
  return {
    direction: fields.direction,
    protocol: fields.protocol,
    method: fields.method,
    authority: fields.authority,
    path: fields.path,
    service: '',
    peer: '',
    endpoint: '',
    route: '',
    grpcStatus: '',
    reason: '',
    startedMs: nowMs,
    status: 0,
    errorCode: '',
    responseMs: 0,
    finished: false,
    headers: undefined,
    span: undefined,
  };
}

/** Records finished exchanges: counters, the latency histogram and the access log. */
export class ExchangeRecorder {
  readonly #metrics: ProxyMetrics;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #accessLog: boolean;
  readonly #observer: ExchangeObserver | undefined;
  readonly #labels: LabelValues;
  // The hand-serialised line; undefined when the logger shapes lines in ways it does not reproduce.
  readonly #line: AccessLine | undefined;

  /** `labels` holds the proxy's own identity; without it, its side of each series is unknown. */
  constructor(metrics: ProxyMetrics, log: Logger, now: () => number, accessLog = true, observer?: ExchangeObserver, labels = new LabelValues('')) {
    this.#metrics = metrics;
    this.#labels = labels;
    this.#observer = observer;
    this.#log = log;
    this.#now = now;
    this.#accessLog = accessLog;
    const raw = RawLogLine.of(log, ACCESS_LINE_KEYS);
    this.#line = raw ? new AccessLine(raw) : undefined;
  }

  /** Marks the moment response headers went out. */
  responded(exchange: Exchange, status: number): void {
    if (exchange.responseMs !== 0) return;
    exchange.status = status;
    exchange.responseMs = this.#now();
    const direction = exchange.direction;
    const service = this.#labels.service(exchange.service);
    const route = this.#labels.route(exchange.route);
    const statusCode = statusCodeLabel(status);
    // Plain rows (request-series.ts): a request's label set repeats, so its row is found by a key
    // and the labels object is built once per series, not once per request.
    const row = this.#metrics.latency.row(`${direction}|${service}|${route}|${statusCode}`, () => ({ direction, service, route, status_code: statusCode }));
    this.#metrics.latency.observe(row, (exchange.responseMs - exchange.startedMs) / 1000);
  }

  // The request's label values: its own side is this proxy, the other is the peer it proved.
  #facts(exchange: Exchange): RequestFacts {
    const peer = this.#labels.peer(exchange.peer);
    const self = this.#labels.self;
    const inbound = exchange.direction === 'inbound';
    return {
      direction: exchange.direction,
      service: this.#labels.service(exchange.service),
      route: this.#labels.route(exchange.route),
      tls: tlsLabel(exchange.peer),
      src: inbound ? peer : self,
      dst: inbound ? self : peer,
    };
  }

  /** Records the exchange once; later calls are ignored. */
  finish(exchange: Exchange, errorCode?: string): void {
    if (exchange.finished) return;
    exchange.finished = true;
    if (errorCode && !exchange.errorCode) exchange.errorCode = errorCode;
    const facts = this.#facts(exchange);
    const key = requestKey(facts);
    this.#metrics.requests.row(key, () => requestLabels(facts)).value += 1;
    const statusCode = statusCodeLabel(exchange.status);
    const grpcStatus = grpcStatusLabel(exchange.grpcStatus);
    const code = exchange.errorCode;
    this.#metrics.responses.row(`${key}|${statusCode}|${grpcStatus}|${code}`, () => responseLabels(facts, statusCode, grpcStatus, code)).value += 1;
    this.#observer?.finished(exchange);
    // Failures are always logged; successes only when the access log is on.
    if (!this.#accessLog && !exchange.errorCode) return;
    const durationMs = this.#now() - exchange.startedMs;
    if (this.#line) {
      this.#line.write(exchange, durationMs);
      return;
    }
    const line = {
      direction: exchange.direction,
      protocol: exchange.protocol,
      method: exchange.method,
      authority: exchange.authority,
      path: exchange.path,
      service: exchange.service || undefined,
      peer: exchange.peer || undefined,
      endpoint: exchange.endpoint || undefined,
      reason: exchange.reason || undefined,
      status: exchange.status,
      error: exchange.errorCode || undefined,
      durationMs: Math.round(durationMs * 1000) / 1000,
    };
    if (exchange.errorCode) this.#log.warn(line, 'request failed');
    else this.#log.info(line, 'request');
  }
}
