// Forwards one HTTP/2 stream (gRPC included) over a pooled HTTP/2 session: headers, body,
// trailers and resets all cross; bodies stream with flow control, never buffered whole.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { forwardH2Headers } from '../../mesh/headers.js';
import { classify, rescueHttp2, type UpstreamLabel } from '../../mesh/rescue.js';
import { endOnce, type ForwardHooks } from './http1.js';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
const NO_DROP: ReadonlySet<string> = new Set();

/** Forwards `stream` as a new stream on `session`; `outHeaders` are the request headers to send. */
export function forwardHttp2(
  stream: ServerHttp2Stream,
  requestHeaders: IncomingHttpHeaders,
  session: ClientHttp2Session,
  outHeaders: Record<string, string | string[]>,
  upstream: UpstreamLabel,
  hooks: ForwardHooks,
): void {
  const end = endOnce(hooks);
  let up: http2.ClientHttp2Stream;
  try {
    up = session.request(outHeaders, { endStream: stream.endAfterHeaders });
  } catch (err) {
    // The session closed between the pool lookup and this request.
    const error = classify(err, 'connect', upstream);
    rescueHttp2(stream, error, requestHeaders);
    hooks.onResponse(error.status);
    end(error);
    return;
  }
  let trailers: Record<string, string | string[]> | undefined;
  up.on('response', (headers, flags) => {
    const status = Number(headers[':status'] ?? 502);
    const response = forwardH2Headers(headers, NO_DROP, {});
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (a gRPC error, an empty 204): one HEADERS frame, as the upstream sent it.
      // (A stream already answered, by a timeout, takes nothing more.)
      if (!stream.destroyed && !stream.headersSent) stream.respond(response, { endStream: true });
      hooks.onGrpcStatus?.(headers['grpc-status']);
      hooks.onResponse(status);
      end();
      return;
    }
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(response, { waitForTrailers: true });
    hooks.onResponse(status);
    up.pipe(stream);
  });
  up.on('trailers', (headers: IncomingHttpHeaders) => {
    hooks.onGrpcStatus?.(headers['grpc-status']);
    trailers = forwardH2Headers(headers, NO_DROP, {});
  });
  stream.on('wantTrailers', () => {
    if (trailers && Object.keys(trailers).length > 0) stream.sendTrailers(trailers);
    else stream.close(NGHTTP2_NO_ERROR);
  });
  up.on('error', (err) => {
    const error = classify(err, 'request', upstream);
    if (!stream.headersSent) {
      rescueHttp2(stream, error, requestHeaders);
      hooks.onResponse(error.status);
    } else if (!stream.destroyed) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
    end(error);
  });
  up.on('close', () => {
    if (up.rstCode !== undefined && up.rstCode !== NGHTTP2_NO_ERROR && !stream.destroyed) {
      if (!stream.headersSent) {
        const error = classify(new Error(`stream reset with code ${up.rstCode}`), 'request', upstream);
        rescueHttp2(stream, error, requestHeaders);
        hooks.onResponse(error.status);
        end(error);
        return;
      }
      stream.close(up.rstCode);
    }
    end();
  });
  stream.on('close', () => {
    if (!up.closed && !up.destroyed) {
      up.close(stream.rstCode && stream.rstCode !== NGHTTP2_NO_ERROR ? stream.rstCode : NGHTTP2_CANCEL);
      end('client_closed');
    }
  });
  if (!stream.endAfterHeaders) stream.pipe(up);
}
