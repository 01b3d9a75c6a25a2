// The one table that turns failures into responses: a status and a `weft-error` header for
// HTTP, a grpc-status for gRPC, and the classification of socket errors into weft codes.
import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { WeftError, isWeftError, type ErrorCode } from '../lib/errors.js';

/** Header naming the weft error code on every response the mesh (not the app) produced. */
export const ERROR_HEADER = 'weft-error';

/** Where an upstream error happened, which decides its code. */
export type FailureStage = 'connect' | 'request';

/** Describes an upstream for error messages, and which code means "could not reach it". */
export interface UpstreamLabel {
  /** "endpoint 10.0.0.5 (spiffe://...)" or "app port 8080". */
  readonly what: string;
  /** WEFT_ERR_CONNECT for peer sidecars, WEFT_ERR_APP_UNREACHABLE for the local app. */
  readonly unreachable: ErrorCode;
}

/** Classifies an error from dialling or talking to an upstream into a WeftError. */
export function classifyUpstreamError(err: unknown, stage: FailureStage, upstream: UpstreamLabel): WeftError {
  const what = upstream.what;
  if (isWeftError(err)) return err;
  if (stage === 'connect' && /ECONNRESET|socket hang up/.test(String((err as Error).message))) {
    // Reset before a response on a fresh connection: the peer dropped us during the handshake.
    return new WeftError(upstream.unreachable, `${upstream.what} reset the connection`, { cause: err });
  }
  const e = err as Error & { code?: string };
  const code = e.code ?? '';
  const text = `${code} ${e.message ?? ''}`;
  if (/ERR_SSL|ERR_TLS|CERT|SELF_SIGNED|UNABLE_TO|ssl|alert/i.test(text)) {
    return new WeftError('WEFT_ERR_PEER_TLS', `TLS with ${what} failed: ${e.message}`, { cause: err });
  }
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)) {
    return new WeftError(upstream.unreachable, `cannot reach ${what}: ${code}`, { cause: err });
  }
  return new WeftError('WEFT_ERR_UPSTREAM_RESET', `${what} closed the stream: ${e.message || code}`, { cause: err });
}

// gRPC status for each HTTP status the mesh produces (gRPC clients read grpc-status, not :status).
const GRPC_STATUS: Readonly<Record<number, number>> = { 400: 13, 502: 14, 503: 14, 504: 4 };

/** Answers an HTTP/1.1 request with the error's status and code (or resets it if headers went out). */
export function rescueHttp1(res: ServerResponse, err: WeftError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const body = `${err.code}: ${err.message}\n`;
  res.writeHead(err.status || 502, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [ERROR_HEADER]: err.code,
  });
  res.end(body);
}

/** Answers an HTTP/2 stream with the error; gRPC requests get a trailers-only gRPC error. */
export function rescueHttp2(stream: ServerHttp2Stream, err: WeftError, grpc: boolean): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(0x2); // INTERNAL_ERROR: the response already started
    return;
  }
  if (grpc) {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(GRPC_STATUS[err.status] ?? 2),
        'grpc-message': encodeURIComponent(`${err.code}: ${err.message}`),
        [ERROR_HEADER]: err.code,
      },
      { endStream: true },
    );
    return;
  }
  const body = `${err.code}: ${err.message}\n`;
  stream.respond({
    ':status': err.status || 502,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [ERROR_HEADER]: err.code,
  });
  stream.end(body);
}
