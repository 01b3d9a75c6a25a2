// The outbound side, read top to bottom in request order:
//   listen (127.0.0.1:7001, explicit upstream ports) -> original destination -> detect HTTP/1.1,
//   h2c or opaque TCP (skipped for opaque ports) -> decide (decision.ts: service, pod, passthrough
//   or refused) -> pick an endpoint -> forward over mTLS to that endpoint's sidecar, or unchanged
//   to the original destination.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NameContext } from '../../mesh/discovery/service-name.js';
import { serviceKey, type AddressInfo, type Endpoint, type ServiceRef } from '../../mesh/discovery/endpoint-source.js';
import type { CompletedPick } from '../../mesh/balance/picker.js';
import type { Address } from './decision.js';
import { OutboundRouter, UNKNOWN, type Captured, type Target } from './router.js';
import { PassthroughUpstreams } from '../forward/passthrough.js';
import { readSni } from '../capture/sni.js';
import type { Timers } from '../../lib/timers.js';
import type { ServiceBalancers } from '../../mesh/balance/service-balancers.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import { forwardHttp1, forwardUpgrade, type AgentUpstream, type Http1Upstream } from '../forward/http1.js';
import { forwardHttp2 } from '../forward/http2.js';
import { trackConnection } from '../connection-series.js';
import { DST_PORT_HEADER, DST_SERVICE_HEADER, CLIENT_ID_HEADER, forwardH2Headers, forwardRawHeaders } from '../../mesh/headers.js';
import { classify, rescueHttp1, rescueHttp2, rescueUpgrade } from '../../mesh/rescue.js';
import { startExchange, type Exchange, type ExchangeRecorder } from '../exchange.js';
import { serve, type ServeDeps } from '../serve.js';
import { WeftError, isWeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { IdentityProvider } from '../../mesh/identity/identity-provider.js';
import type { ProxyMetrics } from '../metrics.js';
import type { Drain } from '../../mesh/drain.js';
import type { HostPort } from '../../lib/config.js';
import { detectProtocol, replay, type Detection } from '../capture/detect.js';
import { tunnelOpaque, type OpaqueTarget } from '../capture/opaque.js';
import type { OutboundCapture } from '../capture/destination.js';
import type { Traffic } from '../../mesh/traffic/traffic.js';
import { realTimers } from '../../lib/timers.js';
import { forwardRetrying } from '../forward/retrying-http1.js';
import { defaultPlan, h2RetrySpec, retryingSpec, withTimeout, type H2StepDeps, type TrafficPlan } from './traffic-step.js';
import { forwardHttp2Retrying } from '../forward/retrying-http2.js';
import type { CompiledRoutes } from '../../mesh/routes/route-decision.js';
import { applyRuleHttp1, applyRuleHttp2, rulePlan } from './mesh-route-step.js';
import { noteRequest, tracedH2Headers, tracedRawHeaders, type Tracing } from '../trace-step.js';
import { absoluteToOrigin, describe, describePassthrough } from './describe.js';

/** What the outbound side needs. */
export interface OutboundDeps {
  readonly balancers: ServiceBalancers;
  /** The mTLS pool to peer sidecars (only these four calls: tests pass their own). */
  readonly pool: Pick<PeerPool, 'connect' | 'http1' | 'dispatcher' | 'http2'>;
  readonly identity: Pick<IdentityProvider, 'current'>;
  readonly recorder: ExchangeRecorder;
  readonly metrics: ProxyMetrics;
  readonly names: NameContext;
  readonly drain: Drain;
  readonly now: () => number;
  readonly log: Logger;
  /** How long a request waits for discovery's first answer about a service. */
  readonly discoveryWaitMs: number;
  /** Timers the discovery wait uses (real ones unless a test injects its own). */
  readonly timers?: Timers;
  readonly connectTimeoutMs: number;
  /** Captured traffic (weft init): detection timeout, original destination, endpoints by IP. */
  readonly capture?: OutboundCapture;
  /** Retries, budgets and timeouts (absent: every request takes the plain streaming path). */
  readonly traffic?: Traffic;
  /** Mesh routes of the Services this proxy calls (local mode: the routes file). */
  readonly routes?: { readonly current: CompiledRoutes };
  /** Uniform [0,1) source for weighted backends (Math.random unless a test seeds it). */
  readonly random?: () => number;
  /** Tracing (docs/tracing.md): absent when off, and then no request is touched by it. */
  readonly tracing?: Tracing;
}

// The original destination read at accept: an address, none (not captured, or no addon), or a failure.
type Original = Address | WeftError | undefined;

// weft's own headers are set by weft only: an app cannot forge a client identity or a port.
const DROP_FROM_APP: ReadonlySet<string> = new Set([DST_PORT_HEADER, DST_SERVICE_HEADER, CLIENT_ID_HEADER]);
const NO_DROP: ReadonlySet<string> = new Set();
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
  readonly #serve: ServeDeps;
  readonly #router: OutboundRouter;
  readonly #plain: PassthroughUpstreams;
  // Where each captured connection was headed, for the HTTP requests it carries.
  readonly #captured = new WeakMap<object, Captured>();
  #addonWarned = false;
  readonly #defaultPlan: TrafficPlan | undefined;
  // Each endpoint's upstream, made once per endpoint object (discovery replaces them on change).
  readonly #upstreams = new WeakMap<Endpoint, Http1Upstream>();

  constructor(deps: OutboundDeps) {
    this.#deps = deps;
    this.#serve = { drain: deps.drain, recorder: deps.recorder, log: deps.log, now: deps.now };
    this.#plain = new PassthroughUpstreams(deps.connectTimeoutMs);
    this.#router = new OutboundRouter(deps);
    this.#defaultPlan = defaultPlan(deps.traffic);
  }

  /** Listens for the app's calls; with `fixed`, every request goes to that service (explicit upstream). */
  async listen(addr: HostPort, fixed?: ServiceRef): Promise<net.Server> {
    const h1 = http.createServer({ keepAliveTimeout: 65_000 });
    this.#h1Servers.push(h1);
    h1.on('request', (req, res) => this.#onHttp1(req, res, fixed));
    h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head, fixed));
    const h2 = http2.createServer();
    h2.on('session', (session) => {
      // Emitted synchronously inside h2.emit('connection'): the socket's destination is the session's.
      const captured = this.#pendingH2;
      if (captured) this.#captured.set(session, captured);
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

  #pendingH2: Captured | undefined;

  // Detect: an h2c client opens with the HTTP/2 preface (prior knowledge, as gRPC does); HTTP/1.1
  // with a request line; anything else, or silence until the timeout (server-speaks-first), is
  // opaque TCP (proxy/capture/detect.ts).
  #detect(socket: Socket, h1: http.Server, h2: http2.Http2Server, fixed: ServiceRef | undefined): void {
    const { metrics, capture } = this.#deps;
    metrics.connections.inc({ direction: 'outbound' });
    metrics.openConnections.inc({ direction: 'outbound' });
    const facts = trackConnection(metrics, socket, 'outbound', this.#deps.now);
    this.#sockets.add(socket);
    socket.once('close', () => {
      metrics.openConnections.dec({ direction: 'outbound' });
      this.#sockets.delete(socket);
    });
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    const original = capture && !fixed ? this.#originalOf(socket, capture) : undefined;
    let captured: Captured | undefined;
    const onDetected = (detection: Detection): void => {
      // A TCP health check or a port scan: closed before its first byte, it asked for nothing, so
      // it is counted as a connection (weft_empty_connections_total), never as a failed request.
      if (detection.ended && detection.head.length === 0) {
        metrics.emptyConnections.inc({ direction: 'outbound' });
        socket.destroy();
        return;
      }
      if (socket.destroyed) return;
      if (detection.protocol === 'opaque' && capture && this.#onOpaque(socket, detection, fixed, captured ?? original)) return void (facts.protocol = 'tcp');
      replay(socket, detection);
      if (detection.protocol === 'h2') {
        // The h2 session reads what is buffered itself; resuming would drop it.
        this.#pendingH2 = captured;
        h2.emit('connection', socket);
        this.#pendingH2 = undefined;
      } else {
        // Non-HTTP bytes that no tunnel took meet the HTTP/1.1 parser, which answers 400.
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    // Discovery is asked about the destination first: an opaque port (config.weft.dev/opaque-ports)
    // means the server speaks first, so no bytes are awaited.
    const detect = async (): Promise<Detection> => {
      if (capture && original && !(original instanceof WeftError)) {
        const answer = capture.resolve(original.address, original.port);
        const known = answer instanceof Promise ? await answer.catch(() => UNKNOWN) : answer;
        captured = { original, known };
        this.#captured.set(socket, captured);
        if (capture.opaquePorts.has(original.port) || opaquePortsOf(known).includes(original.port)) {
          socket.allowHalfOpen = true;
          return { protocol: 'opaque', timedOut: false, head: Buffer.alloc(0), ended: false };
        }
      }
      return detectProtocol(socket, capture?.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS);
    };
    detect()
      .then(onDetected)
      .catch((err: unknown) => {
        // A bug while handing the connection on costs this connection, never the process.
        this.#deps.log.error({ code: 'WEFT_ERR_INTERNAL', err: String(err) }, 'outbound connection failed inside weft');
        socket.destroy();
      });
  }

  // The original destination of an accepted connection: undefined when it was not redirected (an
  // app dialling 7001 itself, as under `weft up`) or when the addon is missing (said once).
  #originalOf(socket: Socket, capture: OutboundCapture): Original {
    try {
      const original = capture.originalDestination(socket);
      return capture.wasRedirected(socket, original) ? { address: original.address, port: original.port } : undefined;
    } catch (err) {
      if (isWeftError(err, 'WEFT_ERR_ORIGINAL_DST_UNAVAILABLE')) {
        if (!this.#addonWarned) capture.log.warn({ code: err.code, err: err.message }, 'cannot read original destinations: captured traffic is routed by Host only');
        this.#addonWarned = true;
        return undefined;
      }
      return err instanceof WeftError ? err : new WeftError('WEFT_ERR_ORIGINAL_DST', (err as Error).message);
    }
  }

  // Opaque TCP: to the fixed service of an explicit upstream port, or by its original destination
  // (decision.ts). False when the connection was not captured: it then goes to the HTTP/1.1 server,
  // which answers 400.
  #onOpaque(socket: Socket, detection: Detection, fixed: ServiceRef | undefined, original: Captured | WeftError | Address | undefined): boolean {
    if (!fixed && original === undefined) return false;
    const exchange = startExchange({ direction: 'outbound', protocol: 'tcp', method: '', authority: '', path: '' }, this.#deps.now());
    const tunnelDeps = {
      connectPeer: (endpoint: Endpoint, alpn: string) => this.#deps.pool.connect(endpoint, alpn),
      connectTimeoutMs: this.#deps.connectTimeoutMs,
      now: this.#deps.now,
    };
    serve<{ readonly target: OpaqueTarget; readonly pick?: CompletedPick }>(this.#serve, {
      exchange,
      tunnel: true,
      route: (answer) => {
        if (original instanceof WeftError) return once(answer, original);
        const captured = original && 'known' in original ? original : undefined;
        const sni = detection.head.length > 0 ? readSni(detection.head) : undefined;
        return this.#router.route(captured, undefined, sni, fixed, 'tcp', (routed) => {
          if (routed instanceof WeftError) return answer(routed);
          if (routed.kind === 'passthrough') {
            exchange.reason = routed.reason;
            return answer({ target: { kind: 'passthrough', address: routed.address, port: routed.port } });
          }
          const { endpoint } = routed.pick;
          answer({ target: { kind: 'mesh', address: endpoint.address, port: endpoint.port, identity: endpoint.identity, service: serviceKey(routed.service) }, pick: routed.pick });
        });
      },
      pickOf: (t) => t.pick,
      respond: () => socket.destroy(),
      onClose: (listener) => socket.once('close', listener),
      forward: (t, hooks) => tunnelOpaque(socket, detection.head, detection.ended, t.target, exchange, tunnelDeps, hooks),
    });
    return true;
  }

  #onHttp1(req: IncomingMessage, res: ServerResponse, fixed: ServiceRef | undefined): void {
    absoluteToOrigin(req);
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'http/1.1', method: req.method ?? 'GET', authority: req.headers.host ?? '', path: req.url ?? '' },
      this.#deps.now(),
    );
    noteRequest(exchange, req.headers, this.#deps.tracing, 'client');
    if (this.#deps.drain.draining) res.setHeader('connection', 'close');
    serve<Target>(this.#serve, {
      exchange,
      route: (answer) => this.#router.route(this.#captured.get(req.socket), req.headers.host, undefined, fixed, 'http', answer, { path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers }),
      pickOf: targetPick,
      respond: (error) => rescueHttp1(res, error),
      onClose: (listener) => res.once('close', listener),
      forward: (target, hooks) => {
        if (target.kind === 'passthrough') {
          // Unchanged apart from hop-by-hop headers, to where the app was going.
          describePassthrough(exchange, target);
          forwardHttp1(req, res, this.#plain.http1(target.address, target.port), forwardRawHeaders(req.rawHeaders, NO_DROP, []), hooks);
          return;
        }
        const endpoint = describe(exchange, target);
        if (target.rule) applyRuleHttp1(target.rule, req);
        const plan = target.rule ? rulePlan(target.rule, this.#deps.traffic, this.#defaultPlan) : this.#defaultPlan;
        if (plan && this.#deps.traffic) {
          // Retries or timeouts apply: attempts are held, retried and timed (mesh/traffic).
          const step = { traffic: this.#deps.traffic, balancers: this.#deps.balancers, timers: this.#deps.timers ?? realTimers, now: this.#deps.now, upstream: (e: Endpoint) => this.#upstream(e), headers: (e: Endpoint) => tracedRawHeaders(exchange, req.rawHeaders, DROP_FROM_APP, [[DST_PORT_HEADER, String(e.port)], [DST_SERVICE_HEADER, exchange.service]]) };
          forwardRetrying(req, res, retryingSpec(step, plan, exchange, target.service, exchange.service, target.pick), hooks);
          return;
        }
        const headers = tracedRawHeaders(exchange, req.rawHeaders, DROP_FROM_APP, [[DST_PORT_HEADER, String(endpoint.port)], [DST_SERVICE_HEADER, exchange.service]]);
        forwardHttp1(req, res, this.#upstream(endpoint), headers, hooks);
      },
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, fixed: ServiceRef | undefined): void {
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'websocket', method: req.method ?? 'GET', authority: req.headers.host ?? '', path: req.url ?? '' },
      this.#deps.now(),
    );
    noteRequest(exchange, req.headers, this.#deps.tracing, 'client');
    serve<Target>(this.#serve, {
      exchange,
      route: (answer) => this.#router.route(this.#captured.get(req.socket), req.headers.host, undefined, fixed, 'http', answer),
      pickOf: targetPick,
      respond: (error) => rescueUpgrade(socket, error),
      onClose: (listener) => socket.once('close', listener),
      forward: (target, hooks) => {
        if (target.kind === 'passthrough') {
          describePassthrough(exchange, target);
          forwardUpgrade(req, socket, head, this.#plain.upgrade(target.address, target.port), forwardRawHeaders(req.rawHeaders, NO_DROP, [], true), hooks);
          return;
        }
        const endpoint = describe(exchange, target);
        const headers = tracedRawHeaders(exchange, req.rawHeaders, DROP_FROM_APP, [[DST_PORT_HEADER, String(endpoint.port)], [DST_SERVICE_HEADER, exchange.service]], true);
        forwardUpgrade(req, socket, head, this.#agentUpstream(endpoint), headers, hooks);
      },
    });
  }

  #onHttp2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, fixed: ServiceRef | undefined): void {
    const authority = headers[':authority'] ?? headers.host;
    const exchange = startExchange(
      { direction: 'outbound', protocol: 'h2', method: String(headers[':method'] ?? ''), authority: authority ?? '', path: String(headers[':path'] ?? '') },
      this.#deps.now(),
    );
    noteRequest(exchange, headers, this.#deps.tracing, 'client');
    stream.on('error', noop);
    serve<Target>(this.#serve, {
      exchange,
      route: (answer) =>
        this.#router.route(stream.session ? this.#captured.get(stream.session) : undefined, authority, undefined, fixed, 'http', answer, {
          path: String(headers[':path'] ?? '/'),
          method: String(headers[':method'] ?? 'GET'),
          headers,
        }),
      pickOf: targetPick,
      respond: (error) => rescueHttp2(stream, error, headers),
      onClose: (listener) => stream.once('close', listener),
      forward: (target, given) => {
        const plain = target.kind === 'passthrough';
        const endpoint = plain ? describePassthrough(exchange, target) : describe(exchange, target);
        // A passthrough is the app's own request to somewhere else: no mesh retries or timeouts.
        const plan = plain ? undefined : target.rule ? rulePlan(target.rule, this.#deps.traffic, this.#defaultPlan) : this.#defaultPlan;
        const timeoutMs = plan?.timeouts.requestMs || plan?.timeouts.backendRequestMs || 0;
        const hooks = timeoutMs > 0 ? withTimeout(given, timeoutMs, this.#deps.timers ?? realTimers, (error) => rescueHttp2(stream, error, headers)) : given;
        const sent = !plain && target.rule ? applyRuleHttp2(target.rule, headers) : headers;
        if (!plain && plan?.policy && this.#deps.traffic) {
          // A retry policy applies: attempts are held and retried (gRPC statuses included).
          forwardHttp2Retrying(stream, headers, h2RetrySpec(this.#h2Step(sent, exchange), plan.policy, exchange, target.service, exchange.service, target.pick), hooks);
          return;
        }
        const out = plain ? forwardH2Headers(headers, NO_DROP, {}) : tracedH2Headers(exchange, sent, DROP_FROM_APP, { [DST_PORT_HEADER]: String(endpoint.port), [DST_SERVICE_HEADER]: exchange.service });
        const label = { what: plain ? `passthrough ${exchange.endpoint}` : endpointName(endpoint), unreachable: 'WEFT_ERR_CONNECT' as const };
        let session: http2.ClientHttp2Session;
        try {
          session = plain ? this.#plain.http2(endpoint.address, endpoint.port) : this.#deps.pool.http2(endpoint);
        } catch (err) {
          const error = classify(err, 'connect', label);
          rescueHttp2(stream, error, headers);
          hooks.onResponse(error.status);
          hooks.onEnd(error);
          return;
        }
        forwardHttp2(stream, headers, session, out, label, hooks);
      },
    });
  }

  // What the HTTP/2 retry step needs: the pool's sessions and the headers for an endpoint.
  #h2Step(sent: IncomingHttpHeaders, exchange: Exchange): H2StepDeps {
    return {
      traffic: this.#deps.traffic as Traffic,
      balancers: this.#deps.balancers,
      timers: this.#deps.timers ?? realTimers,
      now: this.#deps.now,
      session: (e: Endpoint) => this.#deps.pool.http2(e),
      headers: (e: Endpoint) => tracedH2Headers(exchange, sent, DROP_FROM_APP, { [DST_PORT_HEADER]: String(e.port), [DST_SERVICE_HEADER]: exchange.service }),
      label: (e: Endpoint) => ({ what: endpointName(e), unreachable: 'WEFT_ERR_CONNECT' as const }),
    };
  }

  #upstream(endpoint: Endpoint): Http1Upstream {
    let upstream = this.#upstreams.get(endpoint);
    if (!upstream) {
      const dispatcher = this.#deps.pool.dispatcher(endpoint);
      const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
      upstream = { dispatcher, origin: `https://${host}:${endpoint.port}`, what: endpointName(endpoint), unreachable: 'WEFT_ERR_CONNECT' };
      this.#upstreams.set(endpoint, upstream);
    }
    return upstream;
  }

  // Upgrades (WebSocket) still go over node:http, on the pool's agent.
  #agentUpstream(endpoint: Endpoint): AgentUpstream {
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
    this.#plain.close();
  }
}

// An app using the proxy as an HTTP proxy (HTTP_PROXY, curl -x) sends the absolute form
// "GET http://orders/path"; the upstream wants the origin form and the Host from the URL.
function targetPick(target: Target): CompletedPick | undefined {
  return target.kind === 'mesh' ? target.pick : undefined;
}

// An answer known at once: nothing to cancel.
function once<T>(answer: (value: T) => void, value: T): () => void {
  answer(value);
  return noop;
}

function noop(): void {}

function endpointName(endpoint: Endpoint): string {
  return `endpoint ${endpoint.address}:${endpoint.port} (${endpoint.podName ?? endpoint.identity})`;
}

// Destination ports discovery says skip detection (config.weft.dev/opaque-ports on the Service or pod).
function opaquePortsOf(known: AddressInfo): readonly number[] {
  if (known.kind === 'service') return known.opaquePorts ?? [];
  if (known.kind === 'pod') return known.owner.opaquePorts ?? [];
  return [];
}
