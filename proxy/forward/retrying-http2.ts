// Forwards one HTTP/2 stream (gRPC included) under a retry policy: the request body is kept while
// it fits the buffer, and an answer that ends in its first HEADERS frame (a gRPC trailers-only
// error, a bodiless 503) is held until the policy says whether it is final. An answer with a body
// is streamed at once and never retried.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Endpoint } from '../../mesh/discovery/endpoint-source.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import { classify, rescueHttp2, type UpstreamLabel } from '../../mesh/rescue.js';
import { forwardH2Headers } from '../../mesh/headers.js';
import { methodRetryable, type AttemptFailure, type RetryRun } from '../../mesh/traffic/retry-policy.js';
import { WeftError } from '../../lib/errors.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import { endOnce, type ForwardHooks } from './http1.js';

const { NGHTTP2_FLAG_END_STREAM } = http2.constants;
const NO_DROP: ReadonlySet<string> = new Set();
const CONNECT_CODES: ReadonlySet<string> = new Set(['WEFT_ERR_CONNECT', 'WEFT_ERR_PEER_TLS', 'WEFT_ERR_PEER_IDENTITY']);

/** What one retried HTTP/2 exchange needs besides the stream. */
export interface RetryingH2Spec {
  readonly first: CompletedPick;
  repick(avoid: Endpoint): CompletedPick | WeftError;
  /** The pooled session to an endpoint (throws when it cannot be had). */
  session(endpoint: Endpoint): ClientHttp2Session;
  /** The request headers to send to an endpoint. */
  headers(endpoint: Endpoint): Record<string, string | string[]>;
  label(endpoint: Endpoint): UpstreamLabel;
  readonly run: RetryRun;
  readonly bufferBytes: number;
  readonly timers: Timers;
  readonly now: () => number;
  onAttempt(endpoint: Endpoint): void;
  onRetry(reason: string): void;
  onExhausted(): void;
}

/** Sends the stream's request attempt by attempt; the final answer is relayed as forwardHttp2 does. */
export function forwardHttp2Retrying(stream: ServerHttp2Stream, requestHeaders: IncomingHttpHeaders, spec: RetryingH2Spec, hooks: ForwardHooks): void {
  const end = endOnce(hooks);
  const method = String(requestHeaders[':method'] ?? 'GET');
  const isGrpc = String(requestHeaders['content-type'] ?? '').startsWith('application/grpc');
  const hasBody = !stream.endAfterHeaders;
  const chunks: Buffer[] = [];
  let buffered = 0;
  let overflow = false;
  let bodyEnded = !hasBody;
  let pick = spec.first;
  let backoff: TimerHandle | undefined;
  let over = false;
  let current: http2.ClientHttp2Stream | undefined;

  // The body is read here once and kept; while it fits, every attempt gets all of it.
  if (hasBody) {
    stream.on('data', (chunk: Buffer) => {
      if (!overflow) {
        buffered += chunk.length;
        if (buffered > spec.bufferBytes) overflow = true;
        else chunks.push(chunk);
      }
      current?.write(chunk);
    });
    stream.on('end', () => {
      bodyEnded = true;
      current?.end();
    });
  }

  const finish = (error: WeftError): void => {
    if (over) return;
    over = true;
    spec.timers.clearTimeout(backoff);
    pick.release(failed(error.code));
    rescueHttp2(stream, error, requestHeaders);
    hooks.onResponse(error.status);
    end(error);
  };

  const retried = (failure: AttemptFailure): boolean => {
    if (over || stream.headersSent || overflow || !bodyEnded) return false;
    // gRPC always POSTs: listing a gRPC status is the assertion that the call may be repeated.
    if (failure.kind !== 'connect' && failure.kind !== 'grpc' && !methodRetryable(method, spec.run.policy)) return false;
    const verdict = spec.run.next(failure);
    if (!verdict.retry) {
      if (verdict.why === 'budget') spec.onExhausted();
      return false;
    }
    const next = spec.repick(pick.endpoint);
    if (next instanceof WeftError) return false;
    spec.onRetry(verdict.reason);
    pick = next;
    backoff = spec.timers.setTimeout(attempt, verdict.delayMs);
    return true;
  };

  function attempt(): void {
    if (over) return;
    const attemptPick = pick;
    const endpoint = attemptPick.endpoint;
    spec.onAttempt(endpoint);
    const started = spec.now();
    let up: http2.ClientHttp2Stream;
    try {
      up = spec.session(endpoint).request(spec.headers(endpoint), { endStream: !hasBody });
    } catch (err) {
      const error = classify(err, 'connect', spec.label(endpoint));
      if (retried({ kind: 'connect' })) attemptPick.release(failed(error.code, spec.now() - started));
      else finish(error);
      return;
    }
    current = up;
    if (hasBody) {
      if (chunks.length > 0) up.write(Buffer.concat(chunks));
      if (bodyEnded) up.end();
    }
    up.once('response', (headers: IncomingHttpHeaders, flags: number) => {
      if (over || stream.headersSent) return void up.close();
      const status = Number(headers[':status'] ?? 502);
      const latencyMs = spec.now() - started;
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        const grpc = headers['grpc-status'];
        const failure: AttemptFailure | undefined = grpc !== undefined && grpc !== '0' ? { kind: 'grpc', grpcStatus: Number(grpc) } : status >= 400 ? { kind: 'status', status } : undefined;
        if (failure && retried(failure)) {
          // gRPC carries failure in grpc-status: a trailers-only error counts against the endpoint.
          attemptPick.release(failure.kind === 'grpc' ? failed('WEFT_ERR_UPSTREAM_RESET', latencyMs, 502) : succeeded(latencyMs, status));
          return;
        }
        over = true;
        if (!stream.destroyed) stream.respond(forwardH2Headers(headers, NO_DROP, {}), { endStream: true });
        hooks.onGrpcStatus?.(grpc);
        hooks.onResponse(status);
        attemptPick.release(succeeded(latencyMs, status));
        end();
        return;
      }
      if (!isGrpc || spec.run.policy.grpcStatuses.size === 0) {
        // An answer with a body: relayed as it streams, final.
        over = true;
        relay(up, headers, attemptPick, latencyMs, status, undefined, undefined);
        return;
      }
      // gRPC sends its status in trailers: the headers wait for the first message (then the
      // answer is final) or for trailers with no message (then a listed status is retried).
      const onData = (chunk: Buffer): void => {
        up.off('trailers', onTrailers);
        if (over) return void up.close();
        over = true;
        up.pause();
        relay(up, headers, attemptPick, latencyMs, status, chunk, undefined);
      };
      const onTrailers = (trailers: IncomingHttpHeaders): void => {
        up.off('data', onData);
        if (over) return;
        const grpc = trailers['grpc-status'];
        if (grpc !== undefined && grpc !== '0' && retried({ kind: 'grpc', grpcStatus: Number(grpc) })) {
          up.resume();
          attemptPick.release(failed('WEFT_ERR_UPSTREAM_RESET', latencyMs, 502));
          return;
        }
        over = true;
        hooks.onGrpcStatus?.(grpc);
        relay(up, headers, attemptPick, latencyMs, status, undefined, forwardH2Headers(trailers, NO_DROP, {}));
      };
      up.once('data', onData);
      up.once('trailers', onTrailers);
    });
    up.on('error', (err) => {
      if (over || current !== up) return;
      const error = classify(err, 'request', spec.label(endpoint));
      if (retried(CONNECT_CODES.has(error.code) ? { kind: 'connect' } : { kind: 'reset' })) attemptPick.release(failed(error.code, spec.now() - started));
      else finish(error);
    });
  }

  // The rest of a streamed answer: body and trailers to the client, then the end.
  function relay(up: http2.ClientHttp2Stream, headers: IncomingHttpHeaders, attemptPick: CompletedPick, latencyMs: number, status: number, first: Buffer | undefined, held: Record<string, string | string[]> | undefined): void {
    let trailers = held;
    if (stream.destroyed) return void up.close(http2.constants.NGHTTP2_CANCEL);
    stream.respond(forwardH2Headers(headers, NO_DROP, {}), { waitForTrailers: true });
    hooks.onResponse(status);
    if (first) stream.write(first);
    up.on('trailers', (t: IncomingHttpHeaders) => {
      hooks.onGrpcStatus?.(t['grpc-status']);
      trailers = forwardH2Headers(t, NO_DROP, {});
    });
    stream.on('wantTrailers', () => {
      if (trailers && Object.keys(trailers).length > 0) stream.sendTrailers(trailers);
      else stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    up.pipe(stream);
    up.on('error', () => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    stream.once('close', () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
    up.on('close', () => {
      attemptPick.release(succeeded(latencyMs, status));
      end();
    });
  }

  stream.on('close', () => {
    if (!over) {
      over = true;
      spec.timers.clearTimeout(backoff);
      current?.close(http2.constants.NGHTTP2_CANCEL);
      pick.release(cancelled());
      end('client_closed');
    }
  });
  attempt();
}
