// The thin shell around OpenTelemetry's SDK: loaded (by dynamic import) only when an OTLP endpoint
// is configured, it starts one span per request, continues the caller's trace, and batches
// finished spans to the endpoint over OTLP/HTTP JSON. With no endpoint nothing here is imported.
import type { Span, Tracer } from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import type { Logger } from '../../lib/logger.js';
import { checkTracestate, formatTraceparent, parseTraceparent } from './trace-context.js';
import type { TraceSettings } from './trace-settings.js';

/** Who the spans are from: the OTel resource. */
export interface TraceResource {
  /** service.name: the workload. */
  readonly serviceName: string;
  readonly namespace: string;
  /** k8s.pod.name; '' when unknown. */
  readonly pod: string;
}

/** What a request is known by when its span starts. */
export interface SpanStart {
  /** server: a request this process received (inbound, gateway); client: one it sends (outbound). */
  readonly kind: 'server' | 'client';
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** Host / :authority as sent. */
  readonly authority: string;
  readonly traceparent: string | readonly string[] | undefined;
  readonly tracestate: string | readonly string[] | undefined;
}

/** How a request ended, for its span's attributes and status. */
export interface SpanEnd {
  /** The response status; 0 when none was sent. */
  readonly status: number;
  /** The weft error code it failed with; '' when it did not fail. */
  readonly errorCode: string;
  /** The peer's identity (mTLS); '' when none. */
  readonly peer: string;
  /** 'http/1.1', 'h2', 'websocket'. */
  readonly protocol: string;
  /** The gateway's route label; '' when none. */
  readonly route: string;
}

/** One request's span: the headers to send on, and its end. */
export interface RequestSpan {
  /** The traceparent the next hop gets: this trace, this span as the parent. */
  readonly traceparent: string;
  /** The caller's tracestate when it was valid; undefined: none is sent. */
  readonly tracestate: string | undefined;
  /** Ends the span (later calls are ignored). */
  end(outcome: SpanEnd): void;
}

/** Tracing of one process. */
export interface Tracing {
  /** Starts the span of a request, the caller's trace continued when its traceparent is valid. */
  start(request: SpanStart): RequestSpan;
  /** Sends what is batched and stops. */
  shutdown(): Promise<void>;
}

type Api = typeof import('@opentelemetry/api');

/** Tracing for `settings`, or undefined (nothing loaded) when no endpoint is configured. */
export async function startTracing(settings: TraceSettings, resource: TraceResource, log: Logger): Promise<Tracing | undefined> {
  const url = settings.endpoint;
  if (url === undefined) return undefined;
  const [api, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new otlp.OTLPTraceExporter({ url, timeoutMillis: 5_000 });
  // OTel reports a failed export only to its diag logger (silent by default): say it in weft's log,
  // once when exports start failing and once when they work again.
  let failing = false;
  const outcome = (ok: boolean, err: unknown): void => {
    if (!ok && !failing) log.warn({ code: 'WEFT_ERR_TRACE_EXPORT', endpoint: url, err: err instanceof Error ? err.message : String(err) }, 'spans could not be sent to the OTLP endpoint');
    if (ok && failing) log.info({ endpoint: url }, 'spans are sent to the OTLP endpoint again');
    failing = !ok;
  };
  const export_ = exporter.export.bind(exporter);
  exporter.export = (spans, done): void =>
    export_(spans, (result: { readonly code: number; readonly error?: Error }) => {
      outcome(result.code === 0, result.error);
      done(result);
    });
  const attributes: Record<string, string> = { 'service.name': resource.serviceName, 'k8s.namespace.name': resource.namespace };
  if (resource.pod !== '') attributes['k8s.pod.name'] = resource.pod;
  const provider: TracerProvider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes(attributes),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(settings.sampleRatio) }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.exportDelayMs, exportTimeoutMillis: 5_000 })],
  });
  const tracer = provider.getTracer('weft');
  log.info({ endpoint: url, sampleRatio: settings.sampleRatio, serviceName: resource.serviceName }, 'tracing on');
  return {
    start: (request) => startSpan(api, tracer, request),
    // The last batch's failure is reported like any other: a shutdown never fails on tracing.
    shutdown: () => provider.shutdown().catch((err: unknown) => outcome(false, err)),
  };
}

function startSpan(api: Api, tracer: Tracer, request: SpanStart): RequestSpan {
  const parent = parseTraceparent(request.traceparent);
  const context = parent
    ? api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE, isRemote: true })
    : api.ROOT_CONTEXT;
  const span = tracer.startSpan(
    request.method,
    {
      kind: request.kind === 'server' ? api.SpanKind.SERVER : api.SpanKind.CLIENT,
      attributes: { 'http.request.method': request.method, 'url.path': request.path, 'server.address': hostOf(request.authority) },
    },
    context,
  );
  const own = span.spanContext();
  // A fresh trace (no valid parent) starts without the caller's tracestate: it described another trace.
  const tracestate = parent ? checkTracestate(request.tracestate) : undefined;
  return new OtelRequestSpan(api, span, formatTraceparent(own.traceId, own.spanId, (own.traceFlags & 1) === 1), tracestate, request.kind);
}

class OtelRequestSpan implements RequestSpan {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  readonly #api: Api;
  readonly #span: Span;
  readonly #kind: 'server' | 'client';
  #ended = false;

  constructor(api: Api, span: Span, traceparent: string, tracestate: string | undefined, kind: 'server' | 'client') {
    this.#api = api;
    this.#span = span;
    this.traceparent = traceparent;
    this.tracestate = tracestate;
    this.#kind = kind;
  }

  end(outcome: SpanEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    if (!span.isRecording()) {
      span.end();
      return;
    }
    if (outcome.status > 0) span.setAttribute('http.response.status_code', outcome.status);
    if (outcome.peer !== '') span.setAttribute('weft.peer.identity', outcome.peer);
    if (outcome.route !== '') span.setAttribute('weft.route', outcome.route);
    const version = outcome.protocol === 'h2' ? '2' : outcome.protocol === '' ? '' : '1.1';
    if (version !== '') span.setAttribute('network.protocol.version', version);
    // OTel HTTP conventions: a server span fails on 5xx, a client span on 4xx too; a weft error always.
    // A client that left first is noted but is no failure (the rule of docs/observability.md).
    const failedStatus = outcome.status >= (this.#kind === 'server' ? 500 : 400);
    const failedCode = outcome.errorCode !== '' && outcome.errorCode !== 'client_closed';
    if (outcome.errorCode !== '') span.setAttribute('weft.error.code', outcome.errorCode);
    if (failedCode) span.setAttribute('error.type', outcome.errorCode);
    else if (failedStatus) span.setAttribute('error.type', String(outcome.status));
    if (failedCode || failedStatus) span.setStatus({ code: this.#api.SpanStatusCode.ERROR });
    span.end();
  }
}

// server.address is the host alone; the port would be server.port.
function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const colon = authority.lastIndexOf(':');
  return colon > 0 ? authority.slice(0, colon) : authority;
}
