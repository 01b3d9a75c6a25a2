// The forward step's HTTP/2 branch: a gRPC request, or any request to a backend whose Service port
// says h2c (appProtocol kubernetes.io/h2c, h2c or grpc), goes to the backend's sidecar as a stream
// on the peer pool's mutual-TLS HTTP/2 session (the sidecar's identity checked per session), both
// bodies streaming, trailers passed, the gRPC deadline (grpc-timeout) kept, and every failure
// answered through the one rescue (trailers-only with grpc-status for a gRPC client).
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { WeftError, type ErrorCode } from '../../lib/errors.js';
import type { Timers } from '../../lib/timers.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import type { Endpoint, ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import { CLIENT_ID_HEADER, DST_PORT_HEADER, HOP_BY_HOP_HEADERS } from '../../mesh/headers.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import { classify, encodeGrpcMessage, ERROR_HEADER, synthesize, type UpstreamLabel } from '../../mesh/rescue.js';
import { HANDED_OVER, refusal, type Refusal } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { firstValue } from '../policies/policy.js';
import type { GatewayRequest } from '../respond.js';
import { modifyHeaders, type HeaderMap } from '../routes/filters.js';
import { mirrorTarget } from '../routes/route-table.js';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** The appProtocol values that mean "the app speaks cleartext HTTP/2" (Gateway API's and the common short ones). */
export const H2C_APP_PROTOCOLS: ReadonlySet<string> = new Set(['kubernetes.io/h2c', 'h2c', 'grpc']);

/** What the HTTP/2 branch needs; the forward step passes its own deps (a subset of them). */
export interface Http2ForwardDeps {
  readonly timers: Timers;
  /** The sidecar's mTLS connection pool (its HTTP/2 sessions). */
  readonly pool: PeerPool;
  /** Used when a rule sets no timeout (ms; 0 = none). */
  readonly defaultTimeoutMs: number;
  /** Picks an endpoint of a service now, without waiting (mirrors). */
  readonly pickNow: (ref: ServiceRef, avoid?: Endpoint) => CompletedPick | undefined;
  readonly respondError: (x: Exchange, r: Refusal) => void;
  readonly failed: (x: Exchange, err: unknown) => void;
}

/** True for a gRPC request: HTTP/2 with content-type application/grpc (not gRPC-Web, which is HTTP/1.1-shaped). */
export function isGrpcRequest(req: GatewayRequest): boolean {
  if (req.httpVersionMajor !== 2) return false;
  return /^application\/grpc(?:$|[+;])/i.test(String(req.headers['content-type'] ?? ''));
}

/** True when the request goes over HTTP/2 to the backend: gRPC, or a backend whose port is h2c. */
export function sendsHttp2(x: Exchange): boolean {
  const declared = x.target?.appProtocol ?? x.entry?.endpoint.appProtocol;
  if (declared !== undefined && H2C_APP_PROTOCOLS.has(declared.toLowerCase())) return true;
  return isGrpcRequest(x.req);
}

// grpc-timeout units (gRPC over HTTP/2: "TimeoutValue TimeoutUnit", at most 8 digits).
const GRPC_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * A grpc-timeout value in milliseconds (at least 1: a deadline that is already near still fires
 * after the call starts), undefined when absent, or a problem text when malformed.
 */
export function grpcTimeoutMs(value: string | undefined): number | undefined | { problem: string } {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  const unit = m ? GRPC_UNIT_MS[m[2] ?? ''] : undefined;
  if (!m || unit === undefined) return { problem: `grpc-timeout ${JSON.stringify(value)} is not 1-8 digits and a unit (H, M, S, m, u, n)` };
  return Math.max(1, Math.ceil(Number(m[1]) * unit));
}

/** The shorter of two timeouts, where undefined and 0 mean "none". */
export function shorterTimeout(a: number | undefined, b: number | undefined): number | undefined {
  const x = a !== undefined && a > 0 ? a : undefined;
  const y = b !== undefined && b > 0 ? b : undefined;
  return x === undefined ? y : y === undefined ? x : Math.min(x, y);
}

// The request head for one endpoint, built in one pass: pseudo-headers from the exchange, the
// filtered end-to-end headers (Host becomes :authority), the app port as every sidecar sends it.
function headFor(x: Exchange, endpoint: Endpoint, grpc: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': x.req.method ?? 'GET',
    ':path': x.upstreamPath + x.upstreamSearch,
    ':authority': x.upstreamHost,
    ':scheme': 'http',
  };
  for (const name in x.headers) {
    const value = x.headers[name];
    // Only the receiving sidecar may set the client identity; an outside client must not forge it.
    if (value === undefined || name === 'host' || name === CLIENT_ID_HEADER || name === DST_PORT_HEADER) continue;
    out[name] = value;
  }
  // gRPC announces end to end that it reads trailers; the hop-by-hop rule dropped the client's copy.
  if (grpc) out.te = 'trailers';
  out[DST_PORT_HEADER] = String(endpoint.port);
  return out;
}

// A response (or trailer) header block without pseudo-headers and connection-specific fields.
function plainHeaders(headers: IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  for (const name in headers) {
    if (name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** Forwards the exchange over HTTP/2; it owns the exchange from here and always answers it. */
export function forwardHttp2(deps: Http2ForwardDeps, x: Exchange): typeof HANDED_OVER {
  const entry = x.entry;
  const target = x.target;
  const rule = x.match?.rule;
  if (!entry || !target || !rule) throw new Error('forward ran before an endpoint was picked');
  const { req, res } = x;
  const timers = deps.timers;
  const grpc = isGrpcRequest(req);
  const endpoint = entry.endpoint;
  const label: UpstreamLabel = { what: `${target.label} at ${endpoint.address}:${endpoint.port} (${endpoint.identity})`, unreachable: 'WEFT_ERR_CONNECT' };
  const deadline = grpc ? grpcTimeoutMs(firstValue(req.headers['grpc-timeout'])) : undefined;
  if (typeof deadline === 'object') {
    entry.release(cancelled());
    deps.respondError(x, refusal('WEFT_ERR_BAD_REQUEST', deadline.problem));
    return HANDED_OVER;
  }
  // A rule that sets timeouts decides alone (`request: 0s` means none); the gRPC deadline is the client's own bound.
  const ruleTimed = rule.requestTimeoutMs !== undefined || rule.backendTimeoutMs !== undefined;
  const ruleMs = ruleTimed ? shorterTimeout(rule.requestTimeoutMs, rule.backendTimeoutMs) : deps.defaultTimeoutMs > 0 ? deps.defaultTimeoutMs : undefined;
  const timeoutMs = shorterTimeout(ruleMs, deadline);
  const bodyless = 'stream' in req ? req.stream.endAfterHeaders : req.headers['content-length'] === undefined || req.headers['content-length'] === '0' ? req.headers['transfer-encoding'] === undefined : false;
  const pickedMs = timers.now();
  let settled = false;
  let status = 0;
  let timer: ReturnType<Timers['setTimeout']> | undefined;
  // The pick keeps the first outcome it is released with.
  const release = (code?: ErrorCode, gone = false): void => {
    if (settled) return;
    settled = true;
    timers.clearTimeout(timer);
    const latencyMs = timers.now() - pickedMs;
    entry.release(code ? failed(code, latencyMs) : gone ? cancelled(latencyMs) : succeeded(latencyMs, status));
  };
  // A failure: answered through the rescue before the response started; afterwards a gRPC client
  // still gets its status in the trailers, anyone else a reset stream.
  const fail = (error: WeftError): void => {
    if (settled) return;
    release(error.code);
    x.code = error.code;
    if (!res.headersSent) return deps.respondError(x, refusal(error.code, error.message));
    if (grpc && 'stream' in res && !res.stream.destroyed) {
      const r = synthesize(error);
      res.addTrailers({ 'grpc-status': String(r.grpcStatus), 'grpc-message': encodeGrpcMessage(r.message), [ERROR_HEADER]: r.code });
      up?.unpipe(res.stream);
      res.stream.end();
      return;
    }
    if ('stream' in res) res.stream.close(NGHTTP2_INTERNAL_ERROR);
    else res.destroy();
  };

  let up: ClientHttp2Stream | undefined;
  try {
    up = deps.pool.http2(endpoint).request(headFor(x, endpoint, grpc), { endStream: bodyless });
  } catch (err) {
    // The pool holds no certificate yet, or the session closed between lookup and request.
    fail(classify(err, 'connect', label));
    return HANDED_OVER;
  }
  const upstream = up;
  if (timeoutMs !== undefined) {
    timer = timers.setTimeout(() => {
      upstream.close(NGHTTP2_CANCEL);
      fail(new WeftError('WEFT_ERR_TIMEOUT', grpc && deadline === timeoutMs ? `the call's deadline of ${timeoutMs} ms passed` : `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  }
  res.once('close', () => {
    if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    release(undefined, true);
  });

  upstream.on('response', (headers, flags) => {
    if (settled) return;
    status = Number(headers[':status'] ?? 502);
    let rh = plainHeaders(headers);
    for (const m of x.responseMods) rh = modifyHeaders(rh, m);
    Object.assign(rh, x.corsHeaders, x.limitHeaders);
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    res.statusCode = status;
    try {
      if ('stream' in res) {
        // The stream itself, not the compatibility API: a trailers-only answer (a gRPC error)
        // must stay one HEADERS frame, and trailers must follow the last DATA frame.
        const stream = res.stream;
        rh[':status'] = String(status);
        if (endStream) {
          stream.respond(rh, { endStream: true });
          return release();
        }
        // The compatibility layer sends the trailers added to `res` once the body ends.
        stream.respond(rh, { waitForTrailers: true });
        upstream.pipe(stream);
      } else {
        // An HTTP/1.1 client of an h2c backend: status, headers and body (trailers do not cross).
        res.writeHead(status, rh as OutgoingHttpHeaders);
        if (endStream) {
          res.end();
          return release();
        }
        upstream.pipe(res as NodeJS.WritableStream);
      }
    } catch (e) {
      // A header the client side cannot carry: one failed request.
      upstream.close(NGHTTP2_CANCEL);
      release('WEFT_ERR_INTERNAL');
      deps.failed(x, e);
    }
  });
  upstream.on('trailers', (headers: IncomingHttpHeaders) => {
    if ('stream' in res) res.addTrailers(plainHeaders(headers));
  });
  upstream.on('end', () => release());
  upstream.on('error', (err) => fail(classify(err, 'request', label)));
  upstream.on('close', () => {
    const code = upstream.rstCode;
    if (code === undefined || code === NGHTTP2_NO_ERROR || settled) return;
    fail(classify(new Error(`stream reset with code ${code}`), 'request', label));
  });

  // Mirrors get a copy of the request (their answers and failures are dropped).
  const mirrors = x.mirrors.flatMap((m) => {
    const ref = mirrorTarget(m.backend);
    const mp = ref ? deps.pickNow(ref) : undefined;
    if (!mp) return [];
    try {
      const s = deps.pool.http2(mp.endpoint).request(headFor(x, mp.endpoint, grpc), { endStream: bodyless });
      s.on('error', () => undefined);
      s.on('close', () => mp.release(succeeded()));
      s.resume();
      return [s];
    } catch {
      mp.release(cancelled());
      return [];
    }
  });
  if (bodyless) return HANDED_OVER;
  const maxBytes = x.bodyLimit?.value.maxBytes;
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (maxBytes !== undefined && seen > maxBytes && !settled) {
      upstream.close(NGHTTP2_CANCEL);
      release();
      if (res.headersSent) return 'stream' in res ? res.stream.close(NGHTTP2_INTERNAL_ERROR) : res.destroy();
      return deps.respondError(x, refusal('WEFT_ERR_BODY_TOO_LARGE', `body is over ${maxBytes} bytes`, x.corsHeaders, x.bodyLimit?.name ?? 'BodyLimitPolicy'));
    }
    for (const m of mirrors) m.write(chunk);
  });
  req.on('end', () => {
    for (const m of mirrors) m.end();
  });
  (req as NodeJS.ReadableStream).pipe(upstream);
  return HANDED_OVER;
}
