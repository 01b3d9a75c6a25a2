// The forward step's undici path (WEFT_GATEWAY_UPSTREAM_CLIENT, `undici` by default): the request
// goes over the peer pool's undici pool for the endpoint (its connections are the pool's mTLS
// sockets, the peer's identity checked as on the node:http path), its body streamed with
// backpressure and counted against the body limit, and a per-request dispatch handler writes the
// answer straight to the client's response, with no IncomingMessage, ClientRequest or pipe in
// between. Upgrades, HTTP/2, mirrors, retry policies, the response cache and body edits stay on
// node:http (forward.ts), as does an HTTP/2 client's body of unknown length.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../../lib/errors.js';
import type { Timers } from '../../lib/timers.js';
import { cancelled, failed, succeeded, type CompletedPick } from '../../mesh/balance/picker.js';
import { failedOnReusedConnection } from '../../mesh/h1-client.js';
import { endToEndHeaders, mayResendAfterReset } from '../../mesh/headers.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import { classify } from '../../mesh/rescue.js';
import { HANDED_OVER, refusal, type Refusal, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { modifyHeaders, type HeaderMap } from '../routes/filters.js';
import { meshHeaders } from '../upstream.js';
import { BODY_LIMIT_CODE, ByteLimit } from './byte-limit.js';

/** What the undici path needs of the forward step's dependencies. */
export interface UndiciForwardDeps {
  readonly timers: Timers;
  /** Used when a rule sets no timeout (ms; 0 = none). */
  readonly defaultTimeoutMs: number;
  readonly respondError: (x: Exchange, r: Refusal) => void;
  readonly failed: (x: Exchange, err: unknown) => void;
}

/** How the undici path sends a request's body: none, or streamed from the client. */
export type UndiciBody = 'none' | 'stream';

/**
 * How the undici path would send the exchange's body, or undefined when it does not carry the
 * exchange (see the file's opening comment).
 */
export function undiciBody(x: Exchange, retryPolicy: boolean): UndiciBody | undefined {
  if (x.upgrade !== undefined || x.mirrors.length > 0 || x.responseTap !== undefined || x.requestBody !== undefined || x.transform?.value.responseBody !== undefined || retryPolicy) return undefined;
  const h = x.req.headers;
  const length = h['content-length'];
  if (length === '0') return 'none';
  if (length !== undefined || h['transfer-encoding'] !== undefined) return 'stream';
  // HTTP/1.1 without either header has no body (RFC 9112 6.3); an HTTP/2 request has one unless
  // its stream ended with its headers, and a body of unknown length stays on node:http.
  if (x.req.httpVersionMajor !== 2) return 'none';
  return (x.req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === true ? 'none' : undefined;
}

/** A rule's timeout: its own when it sets any (`0s` meaning none), else the gateway's default. */
export function requestTimeoutMs(rule: { readonly requestTimeoutMs?: number | undefined; readonly backendTimeoutMs?: number | undefined }, defaultTimeoutMs: number): number | undefined {
  if (rule.requestTimeoutMs !== undefined || rule.backendTimeoutMs !== undefined) return minPositive(rule.requestTimeoutMs, rule.backendTimeoutMs);
  return defaultTimeoutMs > 0 ? defaultTimeoutMs : undefined;
}

// The shorter of two timeouts, where undefined and 0 mean "none".
function minPositive(a: number | undefined, b: number | undefined): number | undefined {
  const x = a !== undefined && a > 0 ? a : undefined;
  const y = b !== undefined && b > 0 ? b : undefined;
  return x === undefined ? y : y === undefined ? x : Math.min(x, y);
}

/** Sends the exchange over undici; it owns the exchange from here and always answers it. */
export function forwardUndici(deps: UndiciForwardDeps, x: Exchange, pool: PeerPool, entry: CompletedPick, body: UndiciBody): StepResult {
  const flight = new UndiciFlight(deps, x, pool.dispatcher(entry.endpoint), entry, requestBody(x, body));
  flight.send();
  return HANDED_OVER;
}

// The client's body as undici reads it: the request itself, or through the counter of the body
// limit (its error fails the upstream request, answered 413 below).
function requestBody(x: Exchange, body: UndiciBody): Readable | null {
  if (body === 'none') return null;
  const req = x.req as unknown as Readable;
  const maxBytes = x.bodyLimit?.value.maxBytes;
  return maxBytes === undefined ? req : req.pipe(new ByteLimit(maxBytes));
}

const CLIENT_GONE = Object.assign(new Error('the client went away'), { code: 'WEFT_CLIENT_GONE' });

/** One request's dispatch: a fixed-shape handler object instead of a closure per callback. */
class UndiciFlight implements Dispatcher.DispatchHandler {
  readonly #deps: UndiciForwardDeps;
  readonly #x: Exchange;
  /** The peer pool's undici pool of the picked endpoint. */
  readonly #dispatcher: Dispatcher;
  readonly #entry: CompletedPick;
  readonly #options: Dispatcher.DispatchOptions;
  readonly #pickedMs: number;
  #timer: ReturnType<Timers['setTimeout']> | undefined = undefined;
  #controller: Dispatcher.DispatchController | undefined = undefined;
  #status = 0;
  /** Set once the client left or the timeout answered: the upstream is abandoned. */
  #gaveUp = false;
  #released = false;
  #resent = false;
  readonly #onDrain = (): void => this.#controller?.resume();

  constructor(deps: UndiciForwardDeps, x: Exchange, dispatcher: Dispatcher, entry: CompletedPick, body: Readable | null) {
    this.#deps = deps;
    this.#x = x;
    this.#dispatcher = dispatcher;
    this.#entry = entry;
    const target = x.target;
    const headers = meshHeaders(x.headers, entry.endpoint, target?.ref) as Record<string, string | string[]>;
    // Node's server answered `Expect: 100-continue` already; undici refuses to send it.
    if (headers.expect !== undefined) delete headers.expect;
    // undici closes the connection after a HEAD unless told not to (against servers that send a
    // body anyway); node:http kept it, and HEAD health checks must not cost a handshake each.
    this.#options = { path: x.upstreamPath + x.upstreamSearch, method: x.req.method ?? 'GET', headers, body, reset: false };
    this.#pickedMs = deps.timers.now();
  }

  send(): void {
    const x = this.#x;
    const timeoutMs = x.match ? requestTimeoutMs(x.match.rule, this.#deps.defaultTimeoutMs) : undefined;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      this.#timer = this.#deps.timers.setTimeout(() => {
        this.#gaveUp = true;
        this.#controller?.abort(CLIENT_GONE);
        this.#release('WEFT_ERR_TIMEOUT');
        this.#deps.respondError(x, refusal('WEFT_ERR_TIMEOUT', `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    x.res.once('close', () => {
      this.#gaveUp = true;
      this.#release();
      if (!x.res.writableFinished) this.#controller?.abort(CLIENT_GONE);
    });
    this.#dispatcher.dispatch(this.#options, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#gaveUp) controller.abort(CLIENT_GONE);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const x = this.#x;
    const res = x.res;
    if (this.#gaveUp || res.headersSent) return controller.abort(CLIENT_GONE);
    this.#status = statusCode;
    let rh: HeaderMap = endToEndHeaders(headers);
    for (const m of x.responseMods) rh = modifyHeaders(rh, m);
    Object.assign(rh, x.corsHeaders, x.limitHeaders);
    try {
      res.writeHead(statusCode, rh as OutgoingHttpHeaders);
    } catch (e) {
      // A header the client side cannot carry (HTTP/2 forbids some): one failed request.
      controller.abort(CLIENT_GONE);
      this.#release();
      this.#deps.failed(x, e);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#x.res as NodeJS.WritableStream;
    // The client reads slower than the backend sends: stop reading the backend until it drains.
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(): void {
    this.#release(undefined, this.#status);
    this.#x.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#gaveUp) return;
    const x = this.#x;
    const res = x.res;
    const code = (err as Error & { code?: unknown }).code;
    // A pooled connection the peer closed just as it was reused fails before any response: a
    // retry-safe request without a body (the mesh's one rule) is sent again, once.
    if (failedOnReusedConnection(err) && !this.#resent && !res.headersSent && mayResendAfterReset(this.#options.method, x.req.headers)) {
      this.#resent = true;
      this.#controller = undefined;
      this.#dispatcher.dispatch(this.#options, this);
      return;
    }
    if (code === BODY_LIMIT_CODE) {
      this.#release();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const maxBytes = x.bodyLimit?.value.maxBytes;
      this.#deps.respondError(x, refusal('WEFT_ERR_BODY_TOO_LARGE', `body is over ${maxBytes} bytes`, x.corsHeaders, x.bodyLimit?.name ?? 'BodyLimitPolicy'));
      return;
    }
    const at = this.#entry.endpoint;
    // undici's own errors come once a connection carried the request; the others from dialling it.
    const stage = typeof code === 'string' && code.startsWith('UND_ERR') ? 'request' : 'connect';
    const error = classify(err, stage, { what: `${x.target?.label ?? 'backend'} at ${at.address}:${at.port} (${at.identity})`, unreachable: 'WEFT_ERR_CONNECT' });
    this.#release(error.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#deps.respondError(x, refusal(error.code, error.message));
  }

  // The pick keeps the first outcome it is released with; the timer goes with it.
  #release(code?: ErrorCode, status = 0): void {
    if (this.#released) return;
    this.#released = true;
    this.#deps.timers.clearTimeout(this.#timer);
    const latencyMs = this.#deps.timers.now() - this.#pickedMs;
    this.#entry.release(code ? failed(code, latencyMs) : this.#gaveUp ? cancelled(latencyMs) : succeeded(latencyMs, status));
  }
}
