// Forwards one HTTP/1.1 request under a retry policy and timeouts: each attempt's answer is held
// until the policy says whether it is final; a failed attempt goes, after a backoff, to another
// endpoint while the budget allows; the body is kept for a resend only while it fits the buffer.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Endpoint } from '../../mesh/discovery/endpoint-source.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import { classify, rescueHttp1 } from '../../mesh/rescue.js';
import { forwardRawHeaders, mayResendAfterReset } from '../../mesh/headers.js';
import { methodRetryable, type AttemptFailure, type RequestTimeouts, type RetryRun } from '../../mesh/traffic/retry-policy.js';
import { WeftError } from '../../lib/errors.js';
import type { TimerHandle, Timers } from '../../lib/timers.js';
import { endOnce, type AgentUpstream, type ForwardHooks } from './http1.js';

/** What one retried exchange needs besides the request and response. */
export interface RetryingSpec {
  /** The endpoint serve() picked for the first attempt. */
  readonly first: CompletedPick;
  /** Another pick for a retry, avoiding `avoid` when another endpoint is ready. */
  repick(avoid: Endpoint): CompletedPick | WeftError;
  /** The pooled upstream of an endpoint. */
  upstream(endpoint: Endpoint): AgentUpstream;
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

const NO_DROP: ReadonlySet<string> = new Set();
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
  if (hasBody && !overflow) {
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
  let upReq: http.ClientRequest | undefined;
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
    upReq?.destroy();
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
    const current = http.request({ agent: upstream.agent, host: upstream.host, port: upstream.port, method, path: req.url, headers: spec.headers(endpoint), setHost: false });
    upReq = current;
    const backendMs = spec.timeouts.backendRequestMs;
    if (backendMs > 0) {
      attemptTimer = spec.timers.setTimeout(() => {
        if (over || upReq !== current) return;
        current.destroy();
        const error = timeoutError(backendMs, 'backendRequest');
        if (retried({ kind: 'timeout' })) attemptPick.release(failed(error.code, spec.now() - startedMs));
        else finish(error);
      }, backendMs);
    }
    current.on('response', (upRes) => {
      if (over || upReq !== current) return void upRes.destroy();
      spec.timers.clearTimeout(attemptTimer);
      const status = upRes.statusCode ?? 502;
      const latencyMs = spec.now() - startedMs;
      if (status >= 400 && retried({ kind: 'status', status })) {
        // This answer is dropped; its endpoint is released with its status (a 5xx counts against it).
        upRes.resume();
        attemptPick.release(succeeded(latencyMs, status));
        return;
      }
      res.writeHead(status, upRes.statusMessage, forwardRawHeaders(upRes.rawHeaders, NO_DROP, []));
      hooks.onResponse(status);
      upRes.pipe(res);
      upRes.on('error', (err) => finish(classify(err, 'request', upstream)));
      res.on('finish', () => {
        if (over) return;
        over = true;
        stopTimers();
        attemptPick.release(succeeded(latencyMs, status));
        end();
      });
    });
    current.on('error', (err: Error & { code?: string }) => {
      if (over || upReq !== current) return;
      spec.timers.clearTimeout(attemptTimer);
      // A pooled connection the peer closed as it was reused: sent once more, as the plain path does.
      if (!staleResent && current.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && !res.headersSent && mayResendAfterReset(method, req.headers)) {
        staleResent = true;
        attempt(true);
        return;
      }
      const error = classify(err, current.reusedSocket ? 'request' : 'connect', upstream);
      if (retried(CONNECT_CODES.has(error.code) ? { kind: 'connect' } : { kind: 'reset' })) attemptPick.release(failed(error.code, spec.now() - startedMs));
      else finish(error);
    });
    if (!hasBody) {
      current.end();
      if (!resend) req.resume();
    } else if (!resend) {
      req.pipe(current);
    } else {
      current.end(Buffer.concat(chunks));
    }
  };

  res.on('close', () => {
    if (over || res.writableFinished) return;
    over = true;
    stopTimers();
    upReq?.destroy();
    pick.release(cancelled());
    end('client_closed');
  });
  attempt(false);
}

function timeoutError(ms: number, which: 'request' | 'backendRequest'): WeftError {
  return new WeftError('WEFT_ERR_TIMEOUT', which === 'request' ? `no response within the request timeout of ${ms} ms` : `the endpoint did not answer within the backendRequest timeout of ${ms} ms`);
}
