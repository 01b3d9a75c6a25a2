// How a traced hop rewrites the trace headers it forwards (the proxy's raw and HTTP/2 headers, the
// gateway's header map): the received traceparent and tracestate are dropped and the span's own
// put in their place. Untraced hops never call these: their headers pass untouched.
import { TRACEPARENT, TRACESTATE } from './trace-context.js';
import type { RequestSpan } from './tracing.js';

const traced = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();

/** `drop` plus the two trace headers; one set per `drop`, made once (callers pass module constants). */
export function withTraceHeadersDropped(drop: ReadonlySet<string>): ReadonlySet<string> {
  let set = traced.get(drop);
  if (set === undefined) {
    set = new Set([...drop, TRACEPARENT, TRACESTATE]);
    traced.set(drop, set);
  }
  return set;
}

/** The trace headers of `span` as raw name/value pairs, appended after `add`. */
export function withTraceHeaderPairs(add: readonly (readonly [string, string])[], span: RequestSpan): (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [...add, [TRACEPARENT, span.traceparent]];
  if (span.tracestate !== undefined) out.push([TRACESTATE, span.tracestate]);
  return out;
}

/** Replaces the trace headers of a header map with the span's (the tracestate removed when it has none). */
export function setTraceHeaders(headers: Record<string, string | string[] | undefined>, span: RequestSpan): void {
  headers[TRACEPARENT] = span.traceparent;
  if (span.tracestate === undefined) delete headers[TRACESTATE];
  else headers[TRACESTATE] = span.tracestate;
}
