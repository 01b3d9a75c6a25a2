// Tracing on the proxy's request path: the span each exchange gets when tracing is on (server-kind
// inbound, client-kind outbound), the forwarded headers carrying it, and its end. With tracing off
// each call is one undefined check and the headers are built exactly as before.
import type { IncomingHttpHeaders } from 'node:http';
import { forwardH2Headers, forwardRawHeaders } from '../mesh/headers.js';
import { setTraceHeaders, withTraceHeaderPairs, withTraceHeadersDropped } from '../mesh/trace/propagate.js';
import type { Tracing } from '../mesh/trace/tracing.js';
import type { Exchange } from './exchange.js';

export type { Tracing };

/** Notes the request's headers on the exchange, and starts its span when `tracing` is on. */
export function noteRequest(exchange: Exchange, headers: IncomingHttpHeaders, tracing: Tracing | undefined, kind: 'server' | 'client'): void {
  exchange.headers = headers;
  if (tracing === undefined) return;
  const path = exchange.path;
  const q = path.indexOf('?');
  exchange.span = tracing.start({
    kind,
    method: exchange.method,
    path: q >= 0 ? path.slice(0, q) : path,
    authority: exchange.authority,
    traceparent: headers.traceparent,
    tracestate: headers.tracestate,
  });
}

/** forwardRawHeaders, with the exchange's span as the parent the next hop sees when it has one. */
export function tracedRawHeaders(exchange: Exchange, raw: readonly string[], drop: ReadonlySet<string>, add: readonly (readonly [string, string])[], upgrade = false): string[] {
  const span = exchange.span;
  if (span === undefined) return forwardRawHeaders(raw, drop, add, upgrade);
  return forwardRawHeaders(raw, withTraceHeadersDropped(drop), withTraceHeaderPairs(add, span), upgrade);
}

/** forwardH2Headers, with the exchange's span as the parent the next hop sees when it has one. */
export function tracedH2Headers(exchange: Exchange, headers: IncomingHttpHeaders, drop: ReadonlySet<string>, add: Readonly<Record<string, string>>): Record<string, string | string[]> {
  const span = exchange.span;
  if (span === undefined) return forwardH2Headers(headers, drop, add);
  const out = forwardH2Headers(headers, withTraceHeadersDropped(drop), add);
  setTraceHeaders(out, span);
  return out;
}

/** Ends the exchange's span, if it has one, with how the exchange ended. */
export function endSpan(exchange: Exchange): void {
  exchange.span?.end({ status: exchange.status, errorCode: exchange.errorCode, peer: exchange.peer, protocol: exchange.protocol, route: '' });
}
