// The one place a failure becomes a response (linkerd2-proxy's ServerRescue): classify() turns any
// error into a coded WeftError, synthesize() turns that into {status, code, grpc-status, body},
// and one writer per kind of answer (HTTP/1.1, HTTP/2 stream, raw upgrade socket, gateway) sends it.
import { STATUS_CODES, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { WeftError, isWeftError, type ErrorCode } from '../lib/errors.js';

/** Header naming the weft error code on every response the mesh (not the app) produced. */
export const ERROR_HEADER = 'weft-error';

/**
 * Where a request failed, which decides its code: dialling the upstream (connect), its TLS
 * handshake (tls), sending the request or waiting for the answer (request), streaming the answer
 * (response), or weft's own code between those steps (internal).
 */
export type FailureStage = 'connect' | 'tls' | 'request' | 'response' | 'internal';

/** Describes an upstream for error messages, and which code means "could not reach it". */
export interface UpstreamLabel {
  /** "endpoint 10.0.0.5 (spiffe://...)" or "app port 8080". */
  readonly what: string;
  /** WEFT_ERR_CONNECT for peer sidecars, WEFT_ERR_APP_UNREACHABLE for the local app. */
  readonly unreachable: ErrorCode;
}

/** Everything an error answer carries, whichever writer sends it. */
export interface Rescue {
  readonly status: number;
  readonly code: ErrorCode;
  /** gRPC status code for gRPC requests (sent as grpc-status). */
  readonly grpcStatus: number;
  /** `<code>: <message>`, the text body and the grpc-message. */
  readonly message: string;
  /** The text body of a plain HTTP answer. */
  readonly body: string;
}

// Dialling failed: nothing reached the upstream, so linkerd2-proxy answers 502 with a connect error.
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTDOWN', 'ENETDOWN']);
// The network gave up waiting: a timeout, 504 like linkerd2-proxy's connect timeout.
const TIMED_OUT = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
// The upstream went away mid-exchange (UND_ERR_SOCKET: undici's "other side closed").
const RESET = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_STREAM_CANCEL', 'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_ERROR', 'ERR_HTTP2_INVALID_STREAM', 'ERR_STREAM_DESTROYED', 'ERR_SOCKET_CLOSED']);
const TLS_TEXT = /ERR_SSL|ERR_TLS|CERT|SELF_SIGNED|UNABLE_TO|DEPTH_ZERO|ssl|tls alert|alert number/i;
// JavaScript's own exception types: thrown by a bug, never by a socket.
const BUG_TYPES = [TypeError, RangeError, ReferenceError, SyntaxError];

/**
 * Classifies any error into a WeftError. A WeftError keeps its code; TLS failures are PEER_TLS;
 * unreachable hosts and refused dials are the upstream's "unreachable" code; timeouts are TIMEOUT;
 * resets are UPSTREAM_RESET (a reset before any byte on a fresh connection is "unreachable": the
 * peer dropped us during the handshake). Anything else thrown by weft's own code is INTERNAL.
 */
export function classify(err: unknown, stage: FailureStage, upstream?: UpstreamLabel): WeftError {
  if (isWeftError(err)) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as Error & { code?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = e.message || code;
  // Outside an upstream exchange, or a JavaScript exception type, or Node refusing an API call
  // (ERR_INVALID_*, ERR_HTTP2_HEADERS_SENT...): weft's own bug, whatever the stage.
  const apiMisuse = code.startsWith('ERR_') && !RESET.has(code) && !TIMED_OUT.has(code) && !TLS_TEXT.test(code);
  if (stage === 'internal' || upstream === undefined || apiMisuse || (code === '' && BUG_TYPES.some((T) => e instanceof T))) {
    return new WeftError('WEFT_ERR_INTERNAL', `internal error: ${message}`, { cause: err });
  }
  const what = upstream.what;
  if (stage === 'tls' || TLS_TEXT.test(code) || TLS_TEXT.test(message)) {
    return new WeftError('WEFT_ERR_PEER_TLS', `TLS with ${what} failed: ${message}`, { cause: err });
  }
  if (UNREACHABLE.has(code)) return new WeftError(upstream.unreachable, `cannot reach ${what}: ${code}`, { cause: err });
  if (TIMED_OUT.has(code)) return new WeftError('WEFT_ERR_TIMEOUT', `${what} did not answer in time: ${code}`, { cause: err });
  if (stage === 'connect' && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || /socket hang up/.test(message))) {
    // Reset before a response on a fresh connection: the peer dropped us during the handshake.
    return new WeftError(upstream.unreachable, `${what} reset the connection`, { cause: err });
  }
  return new WeftError('WEFT_ERR_UPSTREAM_RESET', `${what} closed the stream: ${message}`, { cause: err });
}

// gRPC status for each HTTP status the mesh produces (gRPC clients read grpc-status, not :status):
// gRPC's HTTP-to-gRPC mapping, except that a timeout (504) is DEADLINE_EXCEEDED, as linkerd2-proxy
// answers it, and weft's own bug (500) is INTERNAL.
const GRPC_STATUS: Readonly<Record<number, number>> = { 400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 500: 13, 502: 14, 503: 14, 504: 4 };
const GRPC_UNKNOWN = 2;

/** The one synthesis of an error answer from a classified error. */
export function synthesize(err: WeftError): Rescue {
  const message = `${err.code}: ${err.message}`;
  const status = err.status || 502;
  return { status, code: err.code, grpcStatus: GRPC_STATUS[status] ?? GRPC_UNKNOWN, message, body: `${message}\n` };
}

/**
 * gRPC's percent-encoding of grpc-message: each byte outside printable ASCII, and '%', as %XX.
 * (encodeURIComponent would also encode ':' and '/', which gRPC clients show as written.)
 */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** True when the request is gRPC, read from its content-type (never assumed). */
export function isGrpc(headers: IncomingHttpHeaders | undefined): boolean {
  return String(headers?.['content-type'] ?? '').startsWith('application/grpc');
}

/** Answers an HTTP/1.1 request with the error's status and code (or resets it if headers went out). */
export function rescueHttp1(res: ServerResponse, err: WeftError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const r = synthesize(err);
  res.writeHead(r.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(r.body),
    [ERROR_HEADER]: r.code,
  });
  res.end(r.body);
}

/** Answers an HTTP/2 stream; a gRPC request (by its content-type) gets a trailers-only gRPC error. */
export function rescueHttp2(stream: ServerHttp2Stream, err: WeftError, request: IncomingHttpHeaders, extra: Readonly<Record<string, string>> = {}): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(0x2); // INTERNAL_ERROR: the response already started
    return;
  }
  const r = synthesize(err);
  if (isGrpc(request)) {
    const grpc = { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(r.grpcStatus), 'grpc-message': encodeGrpcMessage(r.message), [ERROR_HEADER]: r.code };
    stream.respond(Object.assign(grpc, extra), { endStream: true });
    return;
  }
  const plain = { ':status': r.status, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(r.body), [ERROR_HEADER]: r.code };
  stream.respond(Object.assign(plain, extra));
  stream.end(r.body);
}

/** The status line and headers of an upgrade refusal, written on the raw socket (pure, for tests). */
export function upgradeRefusal(err: WeftError): string {
  const r = synthesize(err);
  const reason = STATUS_CODES[r.status] ?? 'Error';
  return `HTTP/1.1 ${r.status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(r.body)}\r\n${ERROR_HEADER}: ${r.code}\r\nconnection: close\r\n\r\n${r.body}`;
}

/** Answers an HTTP/1.1 upgrade (WebSocket) request on its raw socket, then closes it. */
export function rescueUpgrade(socket: Duplex, err: WeftError): void {
  if (socket.destroyed || socket.writableEnded) return;
  socket.end(upgradeRefusal(err));
}

/** A response of the gateway's HTTP/1.1 server or its HTTP/2 compatibility API. */
export type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * The gateway's writer: the same answer through the compatibility API, with extra headers the
 * refusing step adds (www-authenticate, retry-after, CORS); a gRPC request over HTTP/2 gets a
 * trailers-only gRPC error like the proxy's.
 */
export function rescueResponse(res: AnyResponse, err: WeftError, extra: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const request = (res as { req?: { headers?: IncomingHttpHeaders } }).req?.headers;
  if ('stream' in res && isGrpc(request)) {
    rescueHttp2(res.stream, err, request ?? {}, extra);
    return;
  }
  const r = synthesize(err);
  const headers: Record<string, string> = Object.assign({}, extra);
  headers[ERROR_HEADER] = r.code;
  headers['content-type'] = 'text/plain; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(r.body));
  res.writeHead(r.status, headers);
  res.end(r.body);
}
