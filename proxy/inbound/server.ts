// The inbound side, read top to bottom in request order:
//   listen (7006) -> mutual TLS 1.3 (chain to the trust bundle, unexpired, a weft identity) ->
//   ALPN (h2 | http/1.1 | weft-tcp) -> read the app port -> authorize (policy) -> forward to the app
//   on WEFT_APP_HOST.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream, type ClientHttp2Session } from 'node:http2';
import tls, { type TLSSocket } from 'node:tls';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { peerIdentity, serverTlsOptions, handshakeFailureReason, unauthorizedReason } from '../../mesh/mesh-tls.js';
import { forwardHttp1, forwardUpgrade, type AgentUpstream } from '../forward/http1.js';
import { AppUpstreams } from '../forward/app-upstreams.js';
import { forwardHttp2 } from '../forward/http2.js';
import { trackConnection, type ConnectionFacts } from '../connection-series.js';
import { CLIENT_ID_HEADER, DST_PORT_HEADER, DST_SERVICE_HEADER } from '../../mesh/headers.js';
import { rescueHttp1, rescueHttp2, rescueUpgrade } from '../../mesh/rescue.js';
import { serve, type ServeDeps } from '../serve.js';
import { startExchange, type Exchange, type ExchangeRecorder } from '../exchange.js';
import { WeftError } from '../../lib/errors.js';
import type { TlsMaterial } from '../../mesh/identity/identity-provider.js';
import type { ProxyMetrics } from '../metrics.js';
import type { Drain } from '../../mesh/drain.js';
import type { Logger } from '../../lib/logger.js';
import type { HostPort } from '../../lib/config.js';
import { DEFAULT_HANDSHAKE_BOUNDS, guardHandshakes, type HandshakeBounds, type HandshakeGuard } from '../../lib/tls-guard.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import type { Tracing } from '../../mesh/trace/tracing.js';
import { noteRequest, tracedH2Headers, tracedRawHeaders } from '../trace-step.js';

/** What the inbound side needs. */
export interface InboundDeps {
  readonly appHost: string;
  /** Ports a peer may never ask for: the proxy's own listeners. */
  readonly reservedPorts: ReadonlySet<number>;
  readonly recorder: ExchangeRecorder;
  readonly metrics: ProxyMetrics;
  readonly drain: Drain;
  readonly log: Logger;
  readonly now: () => number;
  /** Bounds of the listener's TLS handshakes (lib/tls-guard.ts); absent means its defaults. */
  readonly handshake?: HandshakeBounds;
  /** Clock of the handshake guard (real unless a test passes a fake). */
  readonly timers?: Timers;
  /**
   * The authorization step (docs/policy.md): undefined lets the request through, a WeftError
   * (WEFT_ERR_FORBIDDEN) answers it. Absent: every authenticated peer is allowed.
   */
  readonly authorize?: (peer: string, port: number, method: string | undefined, path: string | undefined) => WeftError | undefined;
  /** Handles an opaque TCP connection (ALPN weft-tcp); absent means refused. */
  readonly onOpaque?: (socket: TLSSocket, peer: string, facts?: ConnectionFacts) => void;
  /** Tracing (docs/tracing.md): absent when off, and then no request is touched by it. */
  readonly tracing?: Tracing;
}

// A peer must not choose who the app thinks it is talking to.
const DROP_FROM_PEER: ReadonlySet<string> = new Set([DST_PORT_HEADER, DST_SERVICE_HEADER, CLIENT_ID_HEADER]);

/** The inbound proxy: mTLS termination in front of the local app. */
export class InboundProxy {
  readonly #deps: InboundDeps;
  readonly #tls: tls.Server;
  readonly #h1: http.Server;
  readonly #h2: http2.Http2Server;
  readonly #peers = new WeakMap<object, string>();
  readonly #appAgent: http.Agent;
  readonly #appUpstreams: AppUpstreams;
  readonly #appSessions = new Map<number, ClientHttp2Session>();
  readonly #h2Sessions = new Set<http2.ServerHttp2Session>();
  readonly #sockets = new Set<TLSSocket>();
  readonly #serve: ServeDeps;
  readonly #guard: HandshakeGuard;

  constructor(deps: InboundDeps, material: TlsMaterial) {
    this.#deps = deps;
    this.#serve = { drain: deps.drain, recorder: deps.recorder, log: deps.log, now: deps.now };
    const agentOptions: http.AgentOptions & { noDelay: boolean } = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', noDelay: true };
    // On a loopback app address other than 127.0.0.1 (local mode: each pod has its own) the app
    // sees its sidecar's connections come from that same address, as a pod's app sees 127.0.0.1,
    // so an app can tell its own sidecar from any other local client (docs/local-mode.md).
    const source = appSourceAddress(deps.appHost);
    if (source) agentOptions.localAddress = source;
    this.#appAgent = new http.Agent(agentOptions);
    this.#appUpstreams = new AppUpstreams(deps.appHost, source);
    // Longer than the client side's 60 s idle close, so the client always hangs up first.
    this.#h1 = http.createServer({ keepAliveTimeout: 75_000 });
    this.#h1.on('request', (req, res) => this.#onHttp1(req, res));
    this.#h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#h2 = http2.createServer();
    this.#h2.on('session', (session) => {
      this.#h2Sessions.add(session);
      session.on('close', () => this.#h2Sessions.delete(session));
    });
    this.#h2.on('stream', (stream, headers) => this.#onHttp2(stream, headers));
    this.#tls = tls.createServer({ ...serverTlsOptions(material), noDelay: true }, (socket) => this.#onSecure(socket));
    // Handshakes are bounded in time and number; their failures are counted and summarized, not logged one by one.
    this.#guard = guardHandshakes(this.#tls, {
      ...(deps.handshake ?? DEFAULT_HANDSHAKE_BOUNDS),
      listener: 'inbound',
      timers: deps.timers ?? realTimers,
      log: deps.log,
      classify: handshakeFailureReason,
      onFailure: (reason) => deps.metrics.handshakeFailures.inc({ direction: 'inbound', reason }),
    });
  }

  /** New handshakes use the renewed certificate; open connections keep theirs. */
  setMaterial(material: TlsMaterial): void {
    this.#tls.setSecureContext(serverTlsOptions(material));
  }

  async listen(addr: HostPort): Promise<tls.Server> {
    await new Promise<void>((resolve, reject) => {
      this.#tls.once('error', reject);
      this.#tls.listen(addr.port, addr.host, () => resolve());
    });
    return this.#tls;
  }

  // OpenSSL verified the chain and validity; refuse anything it did not authorize, then
  // anything that carries no weft identity.
  #onSecure(socket: TLSSocket): void {
    const { metrics, log } = this.#deps;
    const refused = unauthorizedReason(socket);
    if (refused) {
      metrics.handshakeFailures.inc({ direction: 'inbound', reason: refused });
      log.warn({ remote: socket.remoteAddress, reason: refused, err: String(socket.authorizationError ?? '') }, 'inbound peer refused: certificate not authorized');
      socket.destroy();
      return;
    }
    const peer = peerIdentity(socket);
    if (!peer) {
      metrics.handshakeFailures.inc({ direction: 'inbound', reason: 'no_identity' });
      log.warn({ remote: socket.remoteAddress }, 'inbound peer refused: certificate carries no weft identity');
      socket.destroy();
      return;
    }
    metrics.connections.inc({ direction: 'inbound' });
    metrics.openConnections.inc({ direction: 'inbound' });
    const facts = trackConnection(metrics, socket, 'inbound', this.#deps.now);
    this.#sockets.add(socket);
    socket.once('close', () => {
      metrics.openConnections.dec({ direction: 'inbound' });
      this.#sockets.delete(socket);
    });
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    this.#peers.set(socket, peer);
    switch (socket.alpnProtocol) {
      case 'h2':
        this.#h2.emit('connection', socket);
        return;
      case 'weft-tcp':
        facts.protocol = 'tcp';
        if (this.#deps.onOpaque) this.#deps.onOpaque(socket, peer, facts);
        else socket.destroy();
        return;
      default:
        this.#h1.emit('connection', socket);
    }
  }

  // The app port the client sidecar asked for (docs/sidecar-config.md).
  #dstPort(value: string | string[] | undefined): number | WeftError {
    const text = Array.isArray(value) ? value[0] : value;
    if (text === undefined) return new WeftError('WEFT_ERR_BAD_REQUEST', `missing ${DST_PORT_HEADER} header`);
    if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
      return new WeftError('WEFT_ERR_BAD_REQUEST', `${DST_PORT_HEADER}: ${JSON.stringify(text)} is not a port`);
    }
    const port = Number(text);
    if (this.#deps.reservedPorts.has(port)) {
      return new WeftError('WEFT_ERR_BAD_REQUEST', `${DST_PORT_HEADER}: ${port} is the proxy's own port`);
    }
    return port;
  }

  #start(protocol: Exchange['protocol'], method: string, authority: string, path: string, peer: string): Exchange {
    const exchange = startExchange({ direction: 'inbound', protocol, method, authority, path }, this.#deps.now());
    exchange.peer = peer;
    return exchange;
  }

  // Upgrades (WebSocket) go over node:http; every other request over undici (#appUpstreams).
  #appUpgrade(port: number): AgentUpstream {
    return { agent: this.#appAgent, host: this.#deps.appHost, port, what: `app port ${port}`, unreachable: 'WEFT_ERR_APP_UNREACHABLE' };
  }

  // Route: the app port the peer asked for, then the authorization policy's answer for this peer,
  // port, method and path; known at once, so there is nothing to cancel.
  #route(exchange: Exchange, headers: IncomingHttpHeaders, answer: (port: number | WeftError) => void): () => void {
    const port = this.#dstPort(headers[DST_PORT_HEADER]);
    if (port instanceof WeftError) {
      answer(port);
      return noop;
    }
    // The name the client sidecar routed by, so that both sides' series join on one service label.
    exchange.service = inboundService(headers[DST_SERVICE_HEADER], port);
    exchange.endpoint = `${this.#deps.appHost}:${port}`;
    answer(this.#deps.authorize?.(exchange.peer, port, exchange.method, exchange.path) ?? port);
    return noop;
  }

  #onHttp1(req: IncomingMessage, res: ServerResponse): void {
    const peer = this.#peers.get(req.socket) ?? '';
    const exchange = this.#start('http/1.1', req.method ?? 'GET', req.headers.host ?? '', req.url ?? '', peer);
    noteRequest(exchange, req.headers, this.#deps.tracing, 'server');
    if (this.#deps.drain.draining) res.setHeader('connection', 'close');
    serve<number>(this.#serve, {
      exchange,
      route: (answer) => this.#route(exchange, req.headers, answer),
      pickOf: noPick,
      respond: (error) => rescueHttp1(res, error),
      onClose: (listener) => res.once('close', listener),
      forward: (port, hooks) => {
        const headers = tracedRawHeaders(exchange, req.rawHeaders, DROP_FROM_PEER, [[CLIENT_ID_HEADER, peer]]);
        forwardHttp1(req, res, this.#appUpstreams.get(port), headers, hooks);
      },
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const peer = this.#peers.get(req.socket) ?? '';
    const exchange = this.#start('websocket', req.method ?? 'GET', req.headers.host ?? '', req.url ?? '', peer);
    noteRequest(exchange, req.headers, this.#deps.tracing, 'server');
    serve<number>(this.#serve, {
      exchange,
      route: (answer) => this.#route(exchange, req.headers, answer),
      pickOf: noPick,
      respond: (error) => rescueUpgrade(socket, error),
      onClose: (listener) => socket.once('close', listener),
      forward: (port, hooks) => {
        const headers = tracedRawHeaders(exchange, req.rawHeaders, DROP_FROM_PEER, [[CLIENT_ID_HEADER, peer]], true);
        forwardUpgrade(req, socket, head, this.#appUpgrade(port), headers, hooks);
      },
    });
  }

  #onHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const socket = stream.session?.socket;
    const peer = (socket && this.#peers.get(socket)) || peerFromSession(stream) || '';
    const exchange = this.#start('h2', String(headers[':method'] ?? ''), String(headers[':authority'] ?? ''), String(headers[':path'] ?? ''), peer);
    noteRequest(exchange, headers, this.#deps.tracing, 'server');
    stream.on('error', noop);
    serve<number>(this.#serve, {
      exchange,
      route: (answer) => this.#route(exchange, headers, answer),
      pickOf: noPick,
      respond: (error) => rescueHttp2(stream, error, headers),
      onClose: (listener) => stream.once('close', listener),
      forward: (port, hooks) => {
        const out = tracedH2Headers(exchange, headers, DROP_FROM_PEER, { [CLIENT_ID_HEADER]: peer });
        forwardHttp2(stream, headers, this.#appSession(port), out, { what: `app port ${port}`, unreachable: 'WEFT_ERR_APP_UNREACHABLE' }, hooks);
      },
    });
  }

  // One h2c session per app port, re-made when the app closes it.
  #appSession(port: number): ClientHttp2Session {
    const existing = this.#appSessions.get(port);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const host = this.#deps.appHost.includes(':') ? `[${this.#deps.appHost}]` : this.#deps.appHost;
    const source = appSourceAddress(this.#deps.appHost);
    const session = source
      ? http2.connect(`http://${host}:${port}`, { createConnection: () => net.connect({ host: this.#deps.appHost, port, localAddress: source }) })
      : http2.connect(`http://${host}:${port}`);
    const forget = (): void => {
      if (this.#appSessions.get(port) === session) this.#appSessions.delete(port);
    };
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref();
    this.#appSessions.set(port, session);
    return session;
  }

  /** Stops accepting; HTTP/2 peers get GOAWAY, idle HTTP/1.1 connections close. */
  close(): void {
    this.#tls.close();
    this.#guard.close();
    for (const session of this.#h2Sessions) session.close();
    this.#h1.closeIdleConnections();
  }

  /** Destroys whatever is still open (after the grace period), and the app pools. */
  destroy(): void {
    for (const socket of this.#sockets) socket.destroy();
    for (const session of this.#appSessions.values()) session.destroy();
    this.#appAgent.destroy();
    this.#appUpstreams.close();
  }
}

// HTTP/2 hands the stream a proxy of the socket; fall back to reading the certificate from it.
function peerFromSession(stream: ServerHttp2Stream): string | undefined {
  const socket = stream.session?.socket as TLSSocket | undefined;
  if (!socket || typeof socket.getPeerCertificate !== 'function') return undefined;
  return peerIdentity(socket);
}

function noPick(): undefined {
  return undefined;
}

function noop(): void {}

/** The source address the inbound side connects to the app from: the app's own loopback address in local mode. */
export function appSourceAddress(appHost: string): string | undefined {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(appHost) && appHost !== '127.0.0.1' ? appHost : undefined;
}

/** The service label of an inbound request: the client sidecar's ns/name:port, else "port N" (a gateway or an older client). */
export function inboundService(value: string | string[] | undefined, port: number): string {
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && /^[a-z0-9][-a-z0-9.]{0,252}\/[a-z0-9][-a-z0-9.]{0,252}:\d{1,5}$/.test(text) ? text : `port ${port}`;
}
