// Forwards one HTTP/1.1 request under a retry policy and timeouts: each attempt's answer is held
// until the policy says whether it is final; a failed attempt goes, after a backoff, to another
// endpoint while the budget allows; the body is kept for a resend only while it fits the buffer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../../mesh/discovery/endpoint-source.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import { classify, rescueHttp1 } from '../../mesh/rescue.js';
import { mayResendAfterReset } from '../../mesh/headers.js';
import { failedOnReusedConnection } from '../../mesh/h1-client.js';
import { methodRetryable, type AttemptFailure, type RequestTimeouts, type RetryRun } from '../../mesh/traffic/retry-policy.js';
import { WeftError } from '../../lib/errors.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import { endOnce, isInvalidRequest, isReset, type ForwardHooks, type Http1Upstream } from './http1.js';
import { responseRawHeaders, trailerPairs, withoutExpect } from './h1-headers.js';

/** What one retried exchange needs besides the request and response. */
export interface RetryingSpec {
  /** The endpoint serve() picked for the first attempt. */
  readonly first: CompletedPick;
  /** Another pick for a retry, avoiding `avoid` when another endpoint is ready. */
  repick(avoid: Endpoint): CompletedPick | WeftError;
  /** The pooled upstream of an endpoint. */
  upstream(endpoint: Endpoint): Http1Upstream;
  /** The headers to send to an endpoint. */
  headers(endpoint: Endpoint): string[];
  /** The retry run (undefined: timeouts only). */
  readonly run: RetryRun | undefined;
  readonly timeouts: RequestTimeouts;
  /** The body is kept for a resend only up to this many bytes. */
  readonly bufferBytes: number;
  readonly timers: Timers;
  readonly now: () => number;
  /** Told of each attempt's endpoint (the exchange names the last one). */
  onAttempt(endpoint: Endpoint): void;
  /** Told of each retry sent, with its reason. */
  onRetry(reason: string): void;
  /** Told when the budget refused a retry. */
  onExhausted(): void;
}

const CONNECT_CODES: ReadonlySet<string> = new Set(['WEFT_ERR_CONNECT', 'WEFT_ERR_PEER_TLS', 'WEFT_ERR_PEER_IDENTITY']);

/** Forwards `req` attempt by attempt until an answer is final, then streams it into `res`. */
export function forwardRetrying(req: IncomingMessage, res: ServerResponse, spec: RetryingSpec, hooks: ForwardHooks): void {
  const end = endOnce(hooks);
  const method = req.method ?? 'GET';
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const declared = Number(req.headers['content-length'] ?? '0');
  // The body as sent, kept while it fits; `overflow` once it did not (it is then never resent).
  let chunks: Buffer[] = [];
  let buffered = 0;
  let overflow = hasBody && declared > spec.bufferBytes;
  const keeping = hasBody && !overflow;
  if (keeping) {
    req.on('data', (chunk: Buffer) => {
      if (overflow) return;
      buffered += chunk.length;
      if (buffered > spec.bufferBytes) {
        overflow = true;
        chunks = [];
      } else {
        chunks.push(chunk);
      }
    });
  }
  let pick = spec.first;
  // Whether `pick` has been sent to (false during a backoff: the next endpoint has seen nothing).
  let sent = true;
  let upReq: AttemptControl | undefined;
  let attemptTimer: TimerHandle | undefined;
  let backoffTimer: TimerHandle | undefined;
  let pickedMs = spec.now();
  let staleResent = false;
  let over = false;

  const stopTimers = (): void => {
    spec.timers.clearTimeout(requestTimer);
    spec.timers.clearTimeout(attemptTimer);
    spec.timers.clearTimeout(backoffTimer);
  };
  // Ends the exchange with `error`, answering it when nothing went out yet.
  const finish = (error: WeftError): void => {
    if (over) return;
    over = true;
    stopTimers();
    upReq?.cancel();
    pick.release(sent ? failed(error.code, spec.now() - pickedMs) : cancelled());
    if (!res.headersSent) {
      rescueHttp1(res, error);
      hooks.onResponse(error.status);
    } else {
      res.destroy();
    }
    end(error);
  };
  const requestMs = spec.timeouts.requestMs;
  const requestTimer = requestMs > 0 ? spec.timers.setTimeout(() => finish(timeoutError(requestMs, 'request')), requestMs) : undefined;

  // The body can be sent again: none, or all of it buffered and read to its end.
  const replayable = (): boolean => !hasBody || (!overflow && req.readableEnded);

  // After a failed attempt: true when a retry is on its way (to another endpoint when one is ready).
  const retried = (failure: AttemptFailure): boolean => {
    const run = spec.run;
    if (over || !run || res.headersSent || !replayable()) return false;
    if (failure.kind !== 'connect' && !methodRetryable(method, run.policy)) return false;
    const verdict = run.next(failure);
    if (!verdict.retry) {
      if (verdict.why === 'budget') spec.onExhausted();
      return false;
    }
    const next = spec.repick(pick.endpoint);
    if (next instanceof WeftError) return false;
    spec.onRetry(verdict.reason);
    pick = next;
    sent = false;
    backoffTimer = spec.timers.setTimeout(() => attempt(true), verdict.delayMs);
    return true;
  };

  const attempt = (resend: boolean): void => {
    if (over) return;
    const attemptPick = pick;
    const endpoint = attemptPick.endpoint;
    sent = true;
    spec.onAttempt(endpoint);
    pickedMs = spec.now();
    const startedMs = pickedMs;
    const upstream = spec.upstream(endpoint);
    const current = new AttemptControl();
    upReq = current;
    const live = (): boolean => !over && upReq === current && !current.cancelled;
    const backendMs = spec.timeouts.backendRequestMs;
    if (backendMs > 0) {
      attemptTimer = spec.timers.setTimeout(() => {
        if (!live()) return;
        current.cancel();
        const error = timeoutError(backendMs, 'backendRequest');
        if (retried({ kind: 'timeout' })) attemptPick.release(failed(error.code, spec.now() - startedMs));
        else finish(error);
      }, backendMs);
    }
    let status = 0;
    let latencyMs = 0;
    // A dropped answer (retried on its status) is read to its end and ignored, keeping its connection.
    let dropped = false;
    const handler: Dispatcher.DispatchHandler = {
      onConnect: (abort) => current.connected(abort),
      onHeaders: (code, raw, resume, statusText) => {
        if (code < 200) return true;
        if (!live()) return false;
        spec.timers.clearTimeout(attemptTimer);
        status = code;
        latencyMs = spec.now() - startedMs;
        if (status >= 400 && retried({ kind: 'status', status })) {
          // This answer is dropped; its endpoint is released with its status (a 5xx counts against it).
          dropped = true;
          attemptPick.release(succeeded(latencyMs, status));
          return true;
        }
        res.writeHead(status, statusText, responseRawHeaders(raw));
        hooks.onResponse(status);
        current.resume = resume;
        return true;
      },
      onData: (chunk) => {
        if (dropped) return true;
        if (!live()) return false;
        if (res.write(chunk)) return true;
        if (current.resume) res.once('drain', current.resume);
        return false;
      },
      onComplete: (trailers) => {
        if (dropped || !live()) return;
        if (trailers !== null && trailers.length > 0) res.addTrailers(trailerPairs(trailers));
        res.end(() => {
          if (over) return;
          over = true;
          stopTimers();
          attemptPick.release(succeeded(latencyMs, status));
          end();
        });
      },
      onError: (err: Error & { code?: string }) => {
        // A failed attempt lets go of the body, so that `req` flows on into the buffer for a retry.
        current.body?.destroy();
        if (dropped || !live()) return;
        spec.timers.clearTimeout(attemptTimer);
        if (res.headersSent) return finish(classify(err, 'request', upstream));
        const reused = failedOnReusedConnection(err);
        // A pooled connection the peer closed as it was reused: sent once more, as the plain path does.
        if (!staleResent && current.sent && reused && isReset(err) && mayResendAfterReset(method, req.headers)) {
          staleResent = true;
          attempt(true);
          return;
        }
        const error = isInvalidRequest(err) ? new WeftError('WEFT_ERR_BAD_REQUEST', `the request cannot be forwarded as sent: ${err.message}`) : classify(err, reused ? 'request' : 'connect', upstream);
        if (error.code !== 'WEFT_ERR_BAD_REQUEST' && retried(CONNECT_CODES.has(error.code) ? { kind: 'connect' } : { kind: 'reset' })) attemptPick.release(failed(error.code, spec.now() - startedMs));
        else finish(error);
      },
    };
    const headers = spec.headers(endpoint);
    const options: Dispatcher.DispatchOptions = {
      origin: upstream.origin,
      path: req.url ?? '/',
      method,
      headers: req.headers.expect === undefined ? headers : withoutExpect(headers),
      // While the body is being kept, `req` flows into the buffer from the start: undici, which
      // reads it only once connected, gets it through a pipe that holds what it has not read yet.
      body: !hasBody ? null : resend ? Buffer.concat(chunks) : keeping ? (current.body = req.pipe(new PassThrough())) : req,
      reset: false,
    };
    if (!hasBody && !resend) req.resume();
    upstream.dispatcher.dispatch(options, handler);
  };

  res.on('close', () => {
    if (over || res.writableFinished) return;
    over = true;
    stopTimers();
    upReq?.cancel();
    pick.release(cancelled());
    end('client_closed');
  });
  attempt(false);
}

function timeoutError(ms: number, which: 'request' | 'backendRequest'): WeftError {
  return new WeftError('WEFT_ERR_TIMEOUT', which === 'request' ? `no response within the request timeout of ${ms} ms` : `the endpoint did not answer within the backendRequest timeout of ${ms} ms`);
}

// One attempt's handle on its undici request: cancelled before undici connected it, it is
// aborted as soon as undici does; after, at once (its connection closes, as node:http's destroy did).
class AttemptControl {
  cancelled = false;
  sent = false;
  /** The pipe carrying the first attempt's body while it is also kept for a resend. */
  body: PassThrough | undefined = undefined;
  resume: (() => void) | undefined = undefined;
  #abort: ((err?: Error) => void) | undefined = undefined;

  connected(abort: (err?: Error) => void): void {
    this.sent = true;
    this.#abort = abort;
    if (this.cancelled) abort(new Error('the attempt was cancelled'));
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.body?.destroy();
    if (this.#abort) this.#abort(new Error('the attempt was cancelled'));
  }
}
