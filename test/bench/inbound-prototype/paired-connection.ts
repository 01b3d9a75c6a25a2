// One mutual-TLS connection from a peer sidecar paired with one keep-alive connection to the app:
// each request head is parsed (app port, authorization, identity header, body framing) and
// rewritten; body and response bytes are copied through, the response parsed only as far as
// knowing where it ends. One request at a time: a pipelined request waits, unparsed, until the
// response before it has ended, so responses can never be reordered or misattributed.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseRequestHead, parseResponseHead, type RequestHead } from './head-parser.js';
import { ChunkedFramer } from './chunked.js';

/** What a pair needs from its server. */
export interface PairOptions {
  readonly appHost: string;
  /** Ports a peer may not ask for (the sidecar's own). */
  readonly reservedPorts: ReadonlySet<number>;
  /** Whether `peer` may call `port` with `method` and `target`. */
  readonly authorize: (peer: string, port: number, method: string, target: string) => boolean;
}

// Headers a peer may not set and headers that end at this hop (RFC 9110 7.6.1). Transfer-Encoding
// stays: the chunked body passes through as it came.
const DROP: ReadonlySet<string> = new Set(['weft-dst-port', 'weft-dst-service', 'weft-client-id', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'upgrade', 'http2-settings']);
const EMPTY = Buffer.alloc(0);
// Pipelined bytes held while a response is in flight before the peer stops being read.
const MAX_PENDING = 65_536;

type Body = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked'; framer: ChunkedFramer };

/** Serves one peer connection; lives until either side closes. */
export class PairedConnection {
  readonly #tls: TLSSocket;
  readonly #peer: string;
  readonly #opts: PairOptions;
  #app: net.Socket | undefined;
  #appPort = 0;
  // Request side: bytes not yet parsed, the body being copied, whether a request is in flight.
  #in: Buffer = EMPTY;
  #reqBody: Body = { kind: 'none' };
  #inFlight = false;
  #method = '';
  #closeAfter = false;
  // Response side: bytes of a head not yet complete, then the body being copied.
  #out: Buffer = EMPTY;
  #resBody: Body | { kind: 'close' } | undefined;
  #answered = false;

  constructor(tls: TLSSocket, peer: string, opts: PairOptions) {
    this.#tls = tls;
    this.#peer = peer;
    this.#opts = opts;
    tls.on('data', (chunk: Buffer) => this.#onPeerData(chunk));
    tls.on('drain', () => this.#app?.resume());
    tls.on('error', () => tls.destroy());
    tls.on('close', () => this.#app?.destroy());
  }

  #onPeerData(chunk: Buffer): void {
    let buf = chunk;
    if (this.#inFlight && this.#reqBody.kind !== 'none') {
      const used = this.#copyRequestBody(buf, 0);
      if (used < 0) return;
      buf = buf.subarray(used);
      if (buf.length === 0) return;
    }
    this.#in = this.#in.length === 0 ? buf : Buffer.concat([this.#in, buf]);
    if (!this.#inFlight) this.#nextRequest();
    else if (this.#in.length > MAX_PENDING) this.#tls.pause();
  }

  // Parses the next request head from the held bytes and sends it on, with what it has of its body.
  #nextRequest(): void {
    if (this.#in.length === 0) return;
    const head = parseRequestHead(this.#in);
    if (head.kind === 'incomplete') return;
    if (head.kind === 'error') return this.#refuse(head.status, head.reason);
    const port = dstPort(head, this.#opts.reservedPorts);
    if (typeof port === 'string') return this.#refuse(400, port);
    if (!this.#opts.authorize(this.#peer, port, head.method, head.target)) return this.#refuse(403, 'forbidden');
    const app = this.#appFor(port);
    this.#inFlight = true;
    this.#answered = false;
    this.#method = head.method;
    this.#closeAfter = head.close;
    this.#resBody = undefined;
    app.write(forwardedHead(head, this.#peer), 'latin1');
    const rest = this.#in.subarray(head.size);
    this.#in = EMPTY;
    const f = head.framing;
    this.#reqBody = f.kind === 'length' ? { kind: 'length', left: f.length } : f.kind === 'chunked' ? { kind: 'chunked', framer: new ChunkedFramer() } : { kind: 'none' };
    if (rest.length === 0) return;
    const used = this.#reqBody.kind === 'none' ? 0 : this.#copyRequestBody(rest, 0);
    if (used < 0) return;
    this.#in = rest.subarray(used);
    if (this.#in.length > MAX_PENDING) this.#tls.pause();
  }

  // Copies the body bytes of `buf` from `start` to the app; returns how many belonged to the body.
  #copyRequestBody(buf: Buffer, start: number): number {
    const body = this.#reqBody;
    let end: number;
    if (body.kind === 'length') {
      end = Math.min(buf.length, start + body.left);
      body.left -= end - start;
      if (body.left === 0) this.#reqBody = { kind: 'none' };
    } else if (body.kind === 'chunked') {
      end = body.framer.feed(buf, start);
      if (end < 0) {
        this.#abort(body.framer.error);
        return -1;
      }
      if (body.framer.done) this.#reqBody = { kind: 'none' };
    } else {
      return 0;
    }
    if (end > start && this.#app?.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end)) === false) this.#tls.pause();
    return end - start;
  }

  #appFor(port: number): net.Socket {
    if (this.#app && this.#appPort === port && !this.#app.destroyed) return this.#app;
    this.#app?.destroy();
    const app = net.connect({ host: this.#opts.appHost, port, noDelay: true });
    this.#app = app;
    this.#appPort = port;
    app.on('data', (chunk: Buffer) => this.#onAppData(app, chunk));
    app.on('drain', () => this.#tls.resume());
    app.on('error', () => app.destroy());
    app.on('close', () => this.#onAppClose(app));
    return app;
  }

  #onAppData(app: net.Socket, chunk: Buffer): void {
    if (app !== this.#app || !this.#inFlight) {
      // Bytes nobody asked for: this connection's framing can no longer be trusted.
      app.destroy();
      return;
    }
    const buf = this.#out.length === 0 ? chunk : Buffer.concat([this.#out, chunk]);
    this.#out = EMPTY;
    let at = 0;
    while (at < buf.length) {
      const body = this.#resBody;
      if (body === undefined) {
        const head = parseResponseHead(at === 0 ? buf : buf.subarray(at), this.#method);
        if (head.kind === 'incomplete') {
          this.#out = buf.subarray(at);
          break;
        }
        if (head.kind === 'error') return this.#badResponse(head.status);
        this.#answered = true;
        if (head.interim) {
          this.#send(buf, at, at + head.size);
          at += head.size;
          continue;
        }
        if (head.close) this.#closeAfter = true;
        const f = head.framing;
        this.#resBody = f.kind === 'length' ? { kind: 'length', left: f.length } : f.kind === 'chunked' ? { kind: 'chunked', framer: new ChunkedFramer() } : f.kind === 'close' ? { kind: 'close' } : { kind: 'none' };
        const end = at + head.size;
        if (this.#resBody.kind === 'none') {
          this.#send(buf, at, end);
          return this.#responseDone(end < buf.length);
        }
        // Head and the start of the body go out together.
        const bodyEnd = this.#responseBodyEnd(buf, end);
        if (bodyEnd < 0) return this.#badResponse(502);
        this.#send(buf, at, bodyEnd);
        at = bodyEnd;
      } else {
        const bodyEnd = this.#responseBodyEnd(buf, at);
        if (bodyEnd < 0) return this.#badResponse(502);
        this.#send(buf, at, bodyEnd);
        at = bodyEnd;
      }
      if (this.#resBody?.kind === 'none') return this.#responseDone(at < buf.length);
    }
  }

  // Where the response body ends within `buf` from `start` (buf.length when it goes on), -1 refused.
  #responseBodyEnd(buf: Buffer, start: number): number {
    const body = this.#resBody;
    if (body === undefined || body.kind === 'close') return buf.length;
    if (body.kind === 'length') {
      const end = Math.min(buf.length, start + body.left);
      body.left -= end - start;
      if (body.left === 0) this.#resBody = { kind: 'none' };
      return end;
    }
    if (body.kind === 'chunked') {
      const end = body.framer.feed(buf, start);
      if (end >= 0 && body.framer.done) this.#resBody = { kind: 'none' };
      return end;
    }
    return start;
  }

  #send(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    if (!this.#tls.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end))) this.#app?.pause();
  }

  // The response has ended: the next pipelined request may go, unless either side asked to close,
  // the request body is still coming (the app answered early; what follows cannot be framed) or
  // the app sent bytes past the response (more than one answer to one request).
  #responseDone(extra: boolean): void {
    this.#inFlight = false;
    this.#resBody = undefined;
    if (extra) {
      const app = this.#app;
      this.#app = undefined;
      app?.destroy();
    }
    if (this.#closeAfter || this.#reqBody.kind !== 'none') {
      this.#tls.end();
      this.#app?.destroy();
      return;
    }
    this.#tls.resume();
    this.#nextRequest();
  }

  #onAppClose(app: net.Socket): void {
    if (app !== this.#app) return;
    this.#app = undefined;
    if (!this.#inFlight) return;
    if (this.#resBody?.kind === 'close') {
      this.#tls.end();
      return;
    }
    if (!this.#answered) this.#refuse(502, 'app closed before answering');
    else this.#tls.destroy();
  }

  #badResponse(status: number): void {
    this.#app?.destroy();
    if (!this.#answered) this.#refuse(status, 'bad response from the app');
    else this.#tls.destroy();
  }

  // Answers and closes: after a refused head nothing on this connection can be framed with trust.
  #refuse(status: number, reason: string): void {
    const body = `${reason}\n`;
    this.#tls.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status >= 500 ? 'Error' : 'Bad Request'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    this.#app?.destroy();
    this.#in = EMPTY;
  }

  // A request body whose framing broke after its head went to the app: the app connection goes
  // (the app holds half a request), and the peer gets a 400 unless a response had begun.
  #abort(reason: string): void {
    const app = this.#app;
    this.#app = undefined;
    app?.destroy();
    if (this.#answered) this.#tls.destroy();
    else this.#refuse(400, reason);
  }
}

// The app port from weft-dst-port: digits, 1-65535, not one of the sidecar's own.
function dstPort(head: RequestHead, reserved: ReadonlySet<number>): number | string {
  const i = head.lowerNames.indexOf('weft-dst-port');
  if (i < 0 || head.lowerNames.indexOf('weft-dst-port', i + 1) >= 0) return 'one weft-dst-port header expected';
  const text = head.fields[2 * i + 1] ?? '';
  const port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535 || reserved.has(port)) return `weft-dst-port: ${JSON.stringify(text)} is not an app port`;
  return port;
}

// The head as the app gets it: this hop's and weft's headers out, the verified identity in.
function forwardedHead(head: RequestHead, peer: string): string {
  let out = `${head.method} ${head.target} HTTP/1.1\r\n`;
  const names = head.lowerNames;
  const listed = head.connectionTokens;
  for (let i = 0; i < names.length; i++) {
    const lower = names[i] ?? '';
    if (DROP.has(lower) || (listed.length > 0 && listed.includes(lower) && lower !== 'transfer-encoding' && lower !== 'content-length')) continue;
    // One Content-Length, normalised: a list of equal values is sent on as the value.
    if (lower === 'content-length') {
      if (names.indexOf('content-length') !== i) continue;
      out += `${head.fields[2 * i] ?? ''}: ${head.framing.kind === 'length' ? head.framing.length : 0}\r\n`;
      continue;
    }
    out += `${head.fields[2 * i] ?? ''}: ${head.fields[2 * i + 1] ?? ''}\r\n`;
  }
  return out + `weft-client-id: ${peer}\r\n\r\n`;
}
