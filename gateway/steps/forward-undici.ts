// The forward step's undici path (WEFT_GATEWAY_UPSTREAM_CLIENT=undici): the request goes over the
// peer pool's undici pool for the endpoint (its connections are the pool's mTLS sockets, the peer's
// identity checked as on the node:http path), and a per-request dispatch handler writes the answer
// straight to the client's response, with no IncomingMessage, ClientRequest or pipe in between. It
// takes the plain case only: a request without a body, upgrade, HTTP/2, mirror, retry policy,
// response cache or response edit; every other request goes through node:http as before.
import type { OutgoingHttpHeaders } from 'node:http';
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

/** What the undici path needs of the forward step's dependencies. */
export interface UndiciForwardDeps {
  readonly timers: Timers;
  /** Used when a rule sets no timeout (ms; 0 = none). */
  readonly defaultTimeoutMs: number;
  readonly respondError: (x: Exchange, r: Refusal) => void;
  readonly failed: (x: Exchange, err: unknown) => void;
}

/** True when the undici path can carry the exchange (see the file's opening comment). */
export function plainExchange(x: Exchange, retryPolicy: boolean): boolean {
  const h = x.req.headers;
  return (
    x.upgrade === undefined &&
    x.mirrors.length === 0 &&
    x.responseTap === undefined &&
    x.requestBody === undefined &&
    x.transform?.value.responseBody === undefined &&
    !retryPolicy &&
    h['transfer-encoding'] === undefined &&
    (h['content-length'] === undefined || h['content-length'] === '0')
  );
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
export function forwardUndici(deps: UndiciForwardDeps, x: Exchange, pool: PeerPool, entry: CompletedPick): StepResult {
  const flight = new UndiciFlight(deps, x, pool.dispatcher(entry.endpoint), entry);
  flight.send();
  return HANDED_OVER;
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

  constructor(deps: UndiciForwardDeps, x: Exchange, dispatcher: Dispatcher, entry: CompletedPick) {
    this.#deps = deps;
    this.#x = x;
    this.#dispatcher = dispatcher;
    this.#entry = entry;
    const target = x.target;
    const headers = meshHeaders(x.headers, entry.endpoint, target?.ref) as Record<string, string | string[]>;
    // undici closes the connection after a HEAD unless told not to (against servers that send a
    // body anyway); node:http kept it, and HEAD health checks must not cost a handshake each.
    this.#options = { path: x.upstreamPath + x.upstreamSearch, method: x.req.method ?? 'GET', headers, body: null, reset: false };
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
