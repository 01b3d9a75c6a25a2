// The outbound side, read top to bottom in request order:
//   listen (127.0.0.1:7001, explicit upstream ports) -> detect HTTP/1.1, h2c or opaque TCP ->
//   route by Host / :authority (an IP Host: by that pod IP; opaque: by the original destination)
//   -> pick an endpoint -> forward over mTLS to that endpoint's sidecar.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseAuthority, type NameContext } from '../../mesh/discovery/service-name.js';
import { serviceKey, type Endpoint, type ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import { EndpointLoad, release, type PickEntry } from '../../mesh/balance/picker.js';
import type { ServiceBalancers } from '../../mesh/balance/service-balancers.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import { forwardHttp1, forwardUpgrade, type ForwardHooks } from '../forward/http1.js';
import { forwardHttp2 } from '../forward/http2.js';
import { DST_PORT_HEADER, CLIENT_ID_HEADER, forwardH2Headers, forwardRawHeaders } from '../../mesh/headers.js';
import { rescueHttp1, rescueHttp2, ERROR_HEADER } from '../../mesh/rescue.js';
import { startExchange, type Exchange, type ExchangeRecorder } from '../exchange.js';
import { WeftError, isWeftError } from '../../lib/errors.js';
import type { IdentityProvider } from '../../mesh/identity/identity-provider.js';
import type { ProxyMetrics } from '../metrics.js';
import type { Drain } from '../../mesh/drain.js';
import type { HostPort } from '../../lib/config.js';
import { detectProtocol, replay, type Detection } from '../capture/detect.js';
import { tunnelOpaque, type OpaqueTarget } from '../capture/opaque.js';
import { opaqueTarget, type OutboundCapture } from '../capture/destination.js';

/** What the outbound side needs. */
export interface OutboundDeps {
  readonly balancers: ServiceBalancers;
  readonly pool: PeerPool;
  readonly identity: IdentityProvider;
  readonly recorder: ExchangeRecorder;
  readonly metrics: ProxyMetrics;
  readonly names: NameContext;
  readonly drain: Drain;
  readonly now: () => number;
  /** How long a request waits for discovery's first answer about a service. */
  readonly discoveryWaitMs: number;
  readonly connectTimeoutMs: number;
  /** Captured traffic (weft init): detection timeout, original destination, endpoints by IP. */
  readonly capture?: OutboundCapture;
}

/** A routing decision: the endpoint to use, or the error to answer with. */
type Route = { readonly service: ServiceRef; readonly entry: PickEntry } | WeftError;

// weft's own headers are set by weft only: an app cannot forge a client identity or a port.
const DROP_FROM_APP: ReadonlySet<string> = new Set([DST_PORT_HEADER, CLIENT_ID_HEADER]);
// Without capture, detection still ends: a silent client is handed to the HTTP server, whose own
// timeouts close it.
const DEFAULT_DETECT_TIMEOUT_MS = 10_000;

/** The outbound proxy: one HTTP/1.1 and one h2c engine behind every outbound listener. */
export class OutboundProxy {
  readonly #deps: OutboundDeps;
  readonly #listeners: net.Server[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #h2Sessions = new Set<http2.ServerHttp2Session>();
  readonly #h1Servers: http.Server[] = [];

  constructor(deps: OutboundDeps) {
    this.#deps = deps;
  }

  /** Listens for the app's calls; with `fixed`, every request goes to that service (explicit upstream). */
  async listen(addr: HostPort, fixed?: ServiceRef): Promise<net.Server> {
    const h1 = http.createServer({ keepAliveTimeout: 65_000 });
    this.#h1Servers.push(h1);
    h1.on('request', (req, res) => this.#onHttp1(req, res, fixed));
    h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head, fixed));
    const h2 = http2.createServer();
    h2.on('session', (session) => {
      this.#h2Sessions.add(session);
      session.on('close', () => this.#h2Sessions.delete(session));
    });
    h2.on('stream', (stream, headers) => this.#onHttp2(stream, headers, fixed));
    const server = net.createServer({ noDelay: true }, (socket) => this.#detect(socket, h1, h2, fixed));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => resolve());
    });
    this.#listeners.push(server);
    return server;
  }

  // Detect: an h2c client opens with the HTTP/2 preface (prior knowledge, as gRPC does); HTTP/1.1
  // with a request line; anything else, or silence until the timeout (server-speaks-first), is
  // opaque TCP (proxy/capture/detect.ts).
  #detect(socket: Socket, h1: http.Server, h2: http2.Http2Server, fixed: ServiceRef | undefined): void {
    const { metrics, capture } = this.#deps;
    metrics.connections.inc({ direction: 'outbound' });
    metrics.openConnections.inc({ direction: 'outbound' });
    this.#sockets.add(socket);
    socket.once('close', () => {
      metrics.openConnections.dec({ direction: 'outbound' });
      this.#sockets.delete(socket);
    });
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    void detectProtocol(socket, capture?.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS).then((detection) => {
      if (socket.destroyed) return;
      if (detection.protocol === 'opaque' && capture && this.#onOpaque(socket, detection, fixed, capture)) return;
      replay(socket, detection);
      if (detection.protocol === 'h2') {
        // The h2 session reads what is buffered itself; resuming would drop it.
        h2.emit('connection', socket);
      } else {
        // Non-HTTP bytes that no tunnel took meet the HTTP/1.1 parser, which answers 400.
        h1.emit('connection', socket);
        socket.resume();
      }
    });
  }

  // Opaque TCP: to the fixed service of an explicit upstream port, or to the original destination
  // (a pod IP the source knows -> mTLS to its sidecar; anything else -> straight there). False when
  // the connection was not captured (an app dialling 7001 itself, as under `weft up`): it then
  // goes to the HTTP/1.1 server as before.
  #onOpaque(socket: Socket, detection: Detection, fixed: ServiceRef | undefined, capture: OutboundCapture): boolean {
    const deps = {
      connectPeer: (endpoint: Endpoint, alpn: string) => this.#deps.pool.connect(endpoint, alpn),
      connectTimeoutMs: this.#deps.connectTimeoutMs,
      recorder: this.#deps.recorder,
      now: this.#deps.now,
    };
    const go = (target: OpaqueTarget | WeftError): void => {
      if (target instanceof WeftError) {
        this.#deps.recorder.finish(
          startExchange({ direction: 'outbound', protocol: 'tcp', method: '', authority: '', path: '' }, this.#deps.now()),
          target.code,
        );
        socket.destroy();
        return;
      }
      tunnelOpaque(socket, detection.head, detection.ended, target, deps);
    };
    if (fixed) {
      const route = this.#route(undefined, fixed);
      const toTarget = (r: Route): OpaqueTarget | WeftError => {
        if (r instanceof WeftError) return r;
        socket.once('close', () => release(r.entry.load));
        const { endpoint } = r.entry;
        return { kind: 'mesh', address: endpoint.address, port: endpoint.port, identity: endpoint.identity, service: serviceKey(r.service) };
      };
      if (route instanceof Promise) void route.then((r) => go(toTarget(r)));
      else go(toTarget(route));
      return true;
    }
    let target: OpaqueTarget | WeftError;
    try {
      const destination = capture.originalDestination(socket);
      if (!capture.wasRedirected(socket, destination)) return false;
      target = opaqueTarget(destination, true, capture.endpointAt(destination.address, destination.port));
    } catch (err) {
      if (isWeftError(err, 'WEFT_ERR_ORIGINAL_DST_UNAVAILABLE')) {
        // Without the addon, captured or not cannot be told: say why, and keep the old HTTP path.
        capture.log.warn({ code: err.code, err: err.message }, 'non-HTTP bytes on the outbound port; cannot read their original destination');
        return false;
      }
      target = err instanceof WeftError ? err : new WeftError('WEFT_ERR_ORIGINAL_DST', (err as Error).message);
    }
    if (!(target instanceof WeftError) && target.kind === 'mesh' && !this.#deps.identity.current()) {
      target = new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet');
    }
    go(target);
    return true;
  }

  // Route: authority -> service -> endpoint. Synchronous unless discovery has not answered yet.
  #route(authority: string | undefined, fixed: ServiceRef | undefined): Route | Promise<Route> {
    let service = fixed;
    if (!service) {
      const target = parseAuthority(authority, this.#deps.names);
      if (target.kind === 'invalid') return new WeftError('WEFT_ERR_BAD_REQUEST', target.reason);
      if (target.kind === 'ip') {
        // `curl http://<podIP>:<port>/`: that pod, if it is a mesh endpoint (capture/destination.ts).
        const owner = this.#deps.capture?.endpointAt(target.address, target.port);
        if (!owner) return new WeftError('WEFT_ERR_UNKNOWN_SERVICE', `${target.address}:${target.port} is an address, not a service name`);
        if (!this.#deps.identity.current()) return new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet');
        const endpoint: Endpoint = { address: target.address, port: target.port, identity: owner.identity, ready: true, ...(owner.podName ? { podName: owner.podName } : {}) };
        return { service: owner.service ?? { namespace: '', name: target.address, port: target.port }, entry: { endpoint, load: new EndpointLoad() } };
      }
      service = target.ref;
    }
    if (!this.#deps.identity.current()) return new WeftError('WEFT_ERR_NOT_READY', 'the proxy holds no certificate yet');
    const balancer = this.#deps.balancers.get(service);
    if (balancer.state.type === 'pending') {
      const ref = service;
      return balancer.settled(this.#deps.discoveryWaitMs).then(() => this.#pick(ref));
    }
    return this.#pick(service);
  }

  #pick(service: ServiceRef): Route {
    const state = this.#deps.balancers.get(service).state;
    const name = serviceKey(service);
    if (state.type === 'pending') return new WeftError('WEFT_ERR_NO_ENDPOINTS', `discovery has not answered for ${name} yet`);
    if (state.type === 'unknown') return new WeftError('WEFT_ERR_UNKNOWN_SERVICE', `no mesh service ${name}`);
    const picked = state.picker.pick();
    if (picked.type === 'no-endpoints') return new WeftError('WEFT_ERR_NO_ENDPOINTS', `${name} has no ready endpoint`);
    return { service, entry: picked.entry };
  }

  #hooks(exchange: Exchange, entry: PickEntry | undefined): ForwardHooks {
    const { recorder, drain } = this.#deps;
    drain.begin();
    return {
      onResponse: (status) => recorder.responded(exchange, status),
      onEnd: (error) => {
        if (entry) release(entry.load);
        drain.end();
        recorder.finish(exchange, error === undefined ? undefined : error === 'client_closed' ? 'client_closed' : error.code);
      },
    };
  }

  #onHttp1(req: IncomingMessage, res: ServerResponse, fixed: ServiceRef | undefined): void {
    absoluteToOrigin(req);
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'http/1.1', method: req.method ?? 'GET', authority: req.headers.host ?? '', path: req.url ?? '' },
      this.#deps.now(),
    );
    if (this.#deps.drain.draining) res.setHeader('connection', 'close');
    const route = this.#route(req.headers.host, fixed);
    if (route instanceof Promise) void route.then((r) => this.#forwardHttp1(req, res, exchange, r));
    else this.#forwardHttp1(req, res, exchange, route);
  }

  #forwardHttp1(req: IncomingMessage, res: ServerResponse, exchange: Exchange, route: Route): void {
    if (route instanceof WeftError) {
      const hooks = this.#hooks(exchange, undefined);
      rescueHttp1(res, route);
      hooks.onResponse(route.status);
      hooks.onEnd(route);
      return;
    }
    const { endpoint } = route.entry;
    describe(exchange, route.service, endpoint);
    const headers = forwardRawHeaders(req.rawHeaders, DROP_FROM_APP, [[DST_PORT_HEADER, String(endpoint.port)]]);
    forwardHttp1(req, res, this.#upstream(endpoint), headers, this.#hooks(exchange, route.entry));
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fixed: ServiceRef | undefined): void {
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'websocket', method: req.method ?? 'GET', authority: req.headers.host ?? '', path: req.url ?? '' },
      this.#deps.now(),
    );
    const go = (route: Route): void => {
      if (route instanceof WeftError) {
        const hooks = this.#hooks(exchange, undefined);
        const body = `${route.code}: ${route.message}\n`;
        socket.end(`HTTP/1.1 ${route.status} Mesh Error\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${route.code}\r\nconnection: close\r\n\r\n${body}`);
        hooks.onResponse(route.status);
        hooks.onEnd(route);
        return;
      }
      const { endpoint } = route.entry;
      describe(exchange, route.service, endpoint);
      const headers = forwardRawHeaders(req.rawHeaders, DROP_FROM_APP, [[DST_PORT_HEADER, String(endpoint.port)]], true);
      forwardUpgrade(req, socket, head, this.#upstream(endpoint), headers, this.#hooks(exchange, route.entry));
    };
    const route = this.#route(req.headers.host, fixed);
    if (route instanceof Promise) void route.then(go);
    else go(route);
  }

  #onHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, fixed: ServiceRef | undefined): void {
    const authority = headers[':authority'] ?? headers.host;
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'h2', method: String(headers[':method'] ?? ''), authority: authority ?? '', path: String(headers[':path'] ?? '') },
      this.#deps.now(),
    );
    stream.on('error', () => {});
    const go = (route: Route): void => {
      if (route instanceof WeftError) {
        const hooks = this.#hooks(exchange, undefined);
        rescueHttp2(stream, route, String(headers['content-type'] ?? '').startsWith('application/grpc'));
        hooks.onResponse(route.status);
        hooks.onEnd(route);
        return;
      }
      const { endpoint } = route.entry;
      describe(exchange, route.service, endpoint);
      const out = forwardH2Headers(headers, DROP_FROM_APP, { [DST_PORT_HEADER]: String(endpoint.port) });
      const hooks = this.#hooks(exchange, route.entry);
      let session: http2.ClientHttp2Session;
      try {
        session = this.#deps.pool.http2(endpoint);
      } catch (err) {
        const error = err instanceof WeftError ? err : new WeftError('WEFT_ERR_CONNECT', (err as Error).message);
        rescueHttp2(stream, error, false);
        hooks.onResponse(error.status);
        hooks.onEnd(error);
        return;
      }
      forwardHttp2(stream, headers, session, out, { what: endpointName(endpoint), unreachable: 'WEFT_ERR_CONNECT' }, hooks);
    };
    const route = this.#route(authority, fixed);
    if (route instanceof Promise) void route.then(go);
    else go(route);
  }

  #upstream(endpoint: Endpoint): Parameters<typeof forwardHttp1>[2] {
    return {
      agent: this.#deps.pool.http1(endpoint),
      host: endpoint.address,
      port: endpoint.port,
      what: endpointName(endpoint),
      unreachable: 'WEFT_ERR_CONNECT',
    };
  }

  /** Stops accepting; idle connections close now, busy ones after their current request. */
  close(): void {
    for (const server of this.#listeners) server.close();
    for (const session of this.#h2Sessions) session.close();
    // An HTTP/1.1 connection with no request in flight can go now; the rest get
    // `Connection: close` on their response (see #onHttp1).
    for (const h1 of this.#h1Servers) h1.closeIdleConnections();
  }

  /** Destroys whatever is still open (after the grace period). */
  destroy(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}

// An app using the proxy as an HTTP proxy (HTTP_PROXY, curl -x) sends the absolute form
// "GET http://orders/path"; the upstream wants the origin form and the Host from the URL.
function absoluteToOrigin(req: IncomingMessage): void {
  const url = req.url ?? '';
  if (!url.startsWith('http://')) return;
  try {
    const parsed = new URL(url);
    req.url = `${parsed.pathname}${parsed.search}`;
    req.headers.host = parsed.host;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if ((req.rawHeaders[i] ?? '').toLowerCase() === 'host') req.rawHeaders[i + 1] = parsed.host;
    }
  } catch {
    // Not a URL after all: leave it for the route step to refuse.
  }
}

function describe(exchange: Exchange, service: ServiceRef, endpoint: Endpoint): void {
  exchange.service = serviceKey(service);
  exchange.peer = endpoint.identity;
  exchange.endpoint = `${endpoint.address}:${endpoint.port}`;
}

function endpointName(endpoint: Endpoint): string {
  return `endpoint ${endpoint.address}:${endpoint.port} (${endpoint.podName ?? endpoint.identity})`;
}
