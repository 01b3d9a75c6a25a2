// Forwards one HTTP/1.1 request (or WebSocket upgrade) to an upstream over a pooled agent,
// streaming both bodies with backpressure; never buffers a body.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { forwardRawHeaders, mayResendAfterReset } from '../../mesh/headers.js';
import { classify, rescueHttp1, rescueUpgrade, type UpstreamLabel } from '../../mesh/rescue.js';
import type { WeftError } from '../../lib/errors.js';

/** Where to send: an agent that dials (and checks) the upstream, plus its address for logs. */
export interface Http1Upstream extends UpstreamLabel {
  readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;
}

/** Callbacks the forwarder reports to (metrics, access log, load release). */
export interface ForwardHooks {
  /** Response headers went out with this status. */
  onResponse(status: number): void;
  /** The grpc-status the upstream answered with (in its headers or trailers), for the metrics. */
  onGrpcStatus?(value: string | string[] | undefined): void;
  /** The exchange is over; `error` when it failed (the client may already have its response). */
  onEnd(error?: WeftError | 'client_closed'): void;
}

/** `hooks.onEnd` guarded so that only the first end of an exchange reaches it. */
export function endOnce(hooks: ForwardHooks): (error?: WeftError | 'client_closed') => void {
  let ended = false;
  return (error) => {
    if (ended) return;
    ended = true;
    hooks.onEnd(error);
  };
}

const NO_DROP: ReadonlySet<string> = new Set();

// A pooled keep-alive connection can be closed by the server just as it is reused (its idle
// timeout, or a drain). A bodiless idempotent request that failed that way before any byte of
// answer is sent once more on a fresh connection, as undici and Envoy do.
function retryable(req: IncomingMessage, upReq: http.ClientRequest, err: Error & { code?: string }): boolean {
  return (
    upReq.reusedSocket &&
    (err.code === 'ECONNRESET' || err.code === 'EPIPE') &&
    mayResendAfterReset(req.method, req.headers)
  );
}

/** Forwards `req` to the upstream and pipes the response back into `res`. */
export function forwardHttp1(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Http1Upstream,
  headers: string[],
  hooks: ForwardHooks,
  attempt = 0,
): void {
  // Not endOnce(): a retry retires this attempt without ending the exchange, so the flag is read here.
  let ended = false;
  const end = (error?: WeftError | 'client_closed'): void => {
    if (ended) return;
    ended = true;
    hooks.onEnd(error);
  };
  const upReq = requestTo(upstream, req, headers);
  upReq.on('response', (upRes) => {
    const status = upRes.statusCode ?? 502;
    res.writeHead(status, upRes.statusMessage, forwardRawHeaders(upRes.rawHeaders, NO_DROP, []));
    hooks.onResponse(status);
    upRes.pipe(res);
    upRes.on('error', (err) => {
      res.destroy();
      end(classify(err, 'request', upstream));
    });
    res.on('finish', () => end());
  });
  upReq.on('error', (err: Error & { code?: string }) => {
    if (attempt === 0 && !res.headersSent && !ended && retryable(req, upReq, err)) {
      ended = true; // this attempt is over; the retry reports to the same hooks
      forwardHttp1(req, res, upstream, headers, hooks, 1);
      return;
    }
    const error = classify(err, upReq.reusedSocket ? 'request' : 'connect', upstream);
    if (!res.headersSent) {
      rescueHttp1(res, error);
      hooks.onResponse(error.status);
    } else {
      res.destroy();
    }
    end(error);
  });
  res.on('close', () => {
    if (!res.writableFinished) {
      upReq.destroy();
      end('client_closed');
    }
  });
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3):
  // end it at once instead of piping an empty stream (most requests; saves the pipe's
  // listeners on the hot path). A retry is always bodiless.
  if (attempt > 0 || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) {
    upReq.end();
    if (attempt === 0) req.resume();
  } else {
    req.pipe(upReq);
  }
}

/** Forwards an HTTP/1.1 upgrade (WebSocket): on 101 the two sockets are joined byte for byte. */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  upstream: Http1Upstream,
  headers: string[],
  hooks: ForwardHooks,
): void {
  const end = endOnce(hooks);
  const upReq = requestTo(upstream, req, headers);
  socket.on('error', () => upReq.destroy());
  upReq.on('upgrade', (upRes, upSocket, upHead) => {
    socket.write(statusBlock(upRes.statusCode ?? 101, upRes.statusMessage ?? 'Switching Protocols', forwardRawHeaders(upRes.rawHeaders, NO_DROP, [], true)));
    hooks.onResponse(upRes.statusCode ?? 101);
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    upSocket.pipe(socket);
    socket.pipe(upSocket);
    const close = (): void => {
      upSocket.destroy();
      socket.destroy();
      end();
    };
    upSocket.on('close', close);
    socket.on('close', close);
    upSocket.on('error', close);
  });
  upReq.on('response', (upRes) => {
    // The upstream refused the upgrade: relay its answer and close.
    socket.write(statusBlock(upRes.statusCode ?? 502, upRes.statusMessage ?? '', [...forwardRawHeaders(upRes.rawHeaders, NO_DROP, []), 'Connection', 'close']));
    hooks.onResponse(upRes.statusCode ?? 502);
    upRes.pipe(socket);
    upRes.on('end', () => end());
  });
  upReq.on('error', (err) => {
    const error = classify(err, 'connect', upstream);
    rescueUpgrade(socket, error);
    hooks.onResponse(error.status);
    end(error);
  });
  upReq.end();
}

// The upstream request mirrors the client's method and path; Host travels in `headers` as sent.
function requestTo(upstream: Http1Upstream, req: IncomingMessage, headers: string[]): http.ClientRequest {
  return http.request({
    agent: upstream.agent,
    host: upstream.host,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
  });
}

function statusBlock(status: number, message: string, raw: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${text}\r\n`;
}
