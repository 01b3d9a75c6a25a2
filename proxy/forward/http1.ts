// Forwards one HTTP/1.1 request over an undici dispatcher (or a WebSocket upgrade over a
// node:http agent), streaming both bodies with backpressure; never buffers a body.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { forwardRawHeaders, mayResendAfterReset } from '../../mesh/headers.js';
import { classify, rescueHttp1, rescueUpgrade, type UpstreamLabel } from '../../mesh/rescue.js';
import { failedOnReusedConnection } from '../../mesh/h1-client.js';
import { WeftError } from '../../lib/errors.js';
import { responseRawHeaders, trailerPairs, withoutExpect } from './h1-headers.js';

/** Where to send a request: an undici dispatcher (a pool per peer identity, or per app origin), its origin, its label. */
export interface Http1Upstream extends UpstreamLabel {
  readonly dispatcher: Dispatcher;
  /** `http://host:port` or `https://host:port`: the key of an undici Agent, ignored by a Pool. */
  readonly origin: string;
}

/** Where to send an upgrade: a node:http agent that dials (and checks) the upstream. */
export interface AgentUpstream extends UpstreamLabel {
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

/** Forwards `req` to the upstream and streams the response back into `res`. */
export function forwardHttp1(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Http1Upstream,
  headers: string[],
  hooks: ForwardHooks,
  attempt = 0,
): void {
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3). A
  // retry is always bodiless.
  const bodiless = attempt > 0 || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined);
  const relay = new Relay(req, res, upstream, headers, hooks, attempt);
  res.on('close', relay.clientClosed);
  if (bodiless && attempt === 0) req.resume();
  // Node's server already answered `Expect: 100-continue` itself; undici refuses to send it.
  const sent = req.headers.expect === undefined ? headers : withoutExpect(headers);
  const options: Dispatcher.DispatchOptions = {
    origin: upstream.origin,
    path: req.url ?? '/',
    method: req.method ?? 'GET',
    headers: sent,
    body: bodiless ? null : req,
    // undici closes the connection after a HEAD (against servers that send a body anyway);
    // node:http kept it, and a HEAD-heavy client (health checks) must not cost a handshake each.
    reset: false,
  };
  upstream.dispatcher.dispatch(options, relay);
}

// One attempt of one request, as undici's dispatch handler: the answer's head and body go
// straight into the server response, pausing undici's parser while the client is slow. One
// object of fixed shape per attempt; its only closures are the two bound callbacks (the client's
// close, the response's finish).
class Relay implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #upstream: Http1Upstream;
  readonly #headers: string[];
  readonly #hooks: ForwardHooks;
  readonly #attempt: number;
  #abort: ((err?: Error) => void) | undefined = undefined;
  #resume: (() => void) | undefined = undefined;
  // The request went out on a connection (undici called onConnect).
  #sent = false;
  // This attempt is over: ended, or handed to a retry.
  #over = false;

  constructor(req: IncomingMessage, res: ServerResponse, upstream: Http1Upstream, headers: string[], hooks: ForwardHooks, attempt: number) {
    this.#req = req;
    this.#res = res;
    this.#upstream = upstream;
    this.#headers = headers;
    this.#hooks = hooks;
    this.#attempt = attempt;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#sent = true;
    this.#abort = abort;
    // The client left while the request waited for a connection: it is never sent.
    if (this.#over) abort(new Error('the client closed the connection'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx: Node's server speaks for itself (100 Continue); the final answer follows.
    if (status < 200 || this.#over) return !this.#over;
    this.#resume = resume;
    this.#res.writeHead(status, statusText, responseRawHeaders(raw));
    this.#hooks.onResponse(status);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#over) return false;
    if (this.#res.write(chunk)) return true;
    // The client reads slower than the upstream sends: undici's parser waits for the drain.
    if (this.#resume) this.#res.once('drain', this.#resume);
    return false;
  }

  onComplete(trailers: Buffer[] | string[] | null): void {
    if (this.#over) return;
    if (trailers !== null && trailers.length > 0) this.#res.addTrailers(trailerPairs(trailers));
    this.#res.end(this.#finished);
  }

  onError(err: Error): void {
    if (this.#over) return;
    const res = this.#res;
    if (res.headersSent) {
      // The upstream died mid-answer: the client must see a broken response, never a short one.
      res.destroy();
      this.#end(classify(err, 'request', this.#upstream));
      return;
    }
    const reused = failedOnReusedConnection(err);
    if (this.#attempt === 0 && this.#sent && reused && isReset(err) && mayResendAfterReset(this.#req.method, this.#req.headers)) {
      // A pooled keep-alive connection closed by the server just as it was reused (its idle
      // timeout, or a drain): a bodiless idempotent request is sent once more on a fresh
      // connection. undici does not resend the request it was writing, so this is the only resend.
      this.#over = true;
      res.off('close', this.clientClosed);
      forwardHttp1(this.#req, res, this.#upstream, this.#headers, this.#hooks, 1);
      return;
    }
    const error = isInvalidRequest(err)
      ? new WeftError('WEFT_ERR_BAD_REQUEST', `the request cannot be forwarded as sent: ${err.message}`)
      : classify(err, reused ? 'request' : 'connect', this.#upstream);
    rescueHttp1(res, error);
    this.#hooks.onResponse(error.status);
    this.#end(error);
  }

  /** The client went away: the upstream request is cancelled (its connection closed). */
  readonly clientClosed = (): void => {
    if (this.#over || this.#res.writableFinished) return;
    this.#end('client_closed');
    if (this.#abort) this.#abort(new Error('the client closed the connection'));
  };

  readonly #finished = (): void => this.#end();

  #end(error?: WeftError | 'client_closed'): void {
    if (this.#over) return;
    this.#over = true;
    this.#hooks.onEnd(error);
  }
}

/** A connection reset or closed under the request, before any answer (Node's and undici's words for it). */
export function isReset(err: Error & { code?: string }): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'UND_ERR_SOCKET';
}

/**
 * undici refused the request itself (a header it will not send as given: a second Host or
 * Content-Length): the client's request, not the upstream, is at fault.
 */
export function isInvalidRequest(err: Error & { code?: string }): boolean {
  return err.code === 'UND_ERR_INVALID_ARG' || err.code === 'UND_ERR_NOT_SUPPORTED';
}

/** Forwards an HTTP/1.1 upgrade (WebSocket): on 101 the two sockets are joined byte for byte. */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  upstream: AgentUpstream,
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
function requestTo(upstream: AgentUpstream, req: IncomingMessage, headers: string[]): http.ClientRequest {
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
