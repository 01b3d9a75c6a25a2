// The gateway's request path, read top to bottom in request order: host and TLS name -> route
// lookup -> IP list -> CORS -> API key / JWT -> rate limit -> body limit -> filters (redirect,
// header modifiers, rewrite, mirror) -> weighted backend -> ready endpoint -> forward -> response
// filters, metrics and one access-log line.
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../lib/logger.js';
import { WeftError, type ErrorCode } from '../lib/errors.js';
import type { CompletedPick, PickOutcome } from '../mesh/balance/picker.js';
import { PickQueue } from '../mesh/balance/pick-queue.js';
import { classify } from '../mesh/rescue.js';
import type { ServiceBalancers } from '../mesh/balance/service-balancers.js';
import type { PeerPool } from '../mesh/peer-pool.js';
import type { ServiceRef } from '../mesh/discovery/endpoint-source.js';
import type { GatewayMetrics } from './metrics.js';
import type { GatewayState } from './state.js';
import { mayResendAfterReset } from '../mesh/headers.js';
import { endToEndHeaders, refuse, type GatewayRequest, type GatewayResponse } from './respond.js';
import { openMeshRequest } from './upstream.js';
import type { Drain } from '../mesh/drain.js';
import { checkApiKey } from './policies/api-key.js';
import { anyContains, clientIp, type Cidr } from './policies/cidr.js';
import { actualResponseHeaders, isPreflight, preflightResponse } from './policies/cors.js';
import type { EffectivePolicies } from './policies/policy-set.js';
import { RateLimiter, replicaShare, type RateDecision } from './policies/rate-limit.js';
import { mirrorFires, modifyHeaders, redirectLocation, rewritePath, type HeaderMap } from './routes/filters.js';
import { normalizeHost } from './routes/hostnames.js';
import { mirrorTarget, pickWeighted, type Protocol, type RouteDecision } from './routes/route-table.js';
import type { FilterSpec } from './routes/resources.js';

/** What the handler is built from; the command wires real ones, tests their own. */
export interface GatewayHandlerOptions {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The sidecar's per-service balancers (P2C over ready endpoints), shared with its discovery. */
  readonly balancers: ServiceBalancers;
  /** The sidecar's mTLS connection pool. */
  readonly pool: PeerPool;
  /** How long the first request to a service waits for discovery's first answer. */
  readonly discoveryWaitMs: number;
  /** Peers whose X-Forwarded-For is believed. */
  readonly trustedProxies: readonly Cidr[];
  /** Used when a rule sets no timeout (ms; 0 = none). */
  readonly defaultTimeoutMs: number;
  /** Ready gateway replicas (the rate limit is divided by this). */
  readonly readyReplicas: () => number;
  readonly clock: () => number;
  readonly random: () => number;
  /** In-flight bookkeeping for graceful shutdown. */
  readonly drain: Drain;
}

type Matched = Extract<RouteDecision, { kind: 'matched' }>;

/** Per-request facts carried to the access log. */
interface Outcome {
  route: string;
  backend: string;
  code?: ErrorCode;
  policy?: string;
  consumer?: string;
  client: string;
}

/** Serves requests against the current GatewayState; setState swaps configuration atomically. */
export class GatewayHandler {
  readonly #o: GatewayHandlerOptions;
  readonly #limiter = new RateLimiter();
  readonly #queue: PickQueue;
  #state: GatewayState | undefined;

  constructor(options: GatewayHandlerOptions) {
    this.#o = options;
    this.#queue = new PickQueue(options.discoveryWaitMs);
  }

  /** Replaces the configuration; requests already running keep the state they started with. */
  setState(state: GatewayState): void {
    this.#state = state;
    // Subscribe up front so the first request does not wait for discovery.
    for (const ref of state.table.services()) this.#o.balancers.get(ref);
  }

  get state(): GatewayState | undefined {
    return this.#state;
  }

  /** Entry point for both sockets. */
  handle(protocol: Protocol, req: GatewayRequest, res: GatewayResponse): void {
    const started = performance.now();
    this.#o.drain.begin();
    if (this.#o.drain.draining && 'shouldKeepAlive' in res) res.shouldKeepAlive = false;
    const outcome: Outcome = { route: '-', backend: '-', client: req.socket?.remoteAddress ?? '' };
    res.once('close', () => {
      this.#o.drain.end();
      this.#finish(req, res, outcome, started);
    });
    try {
      this.#route(protocol, req, res, outcome);
    } catch (e) {
      this.#failed(res, e);
    }
  }

  // A bug must cost one request, never the process (an unhandled rejection would end it).
  #failed(res: GatewayResponse, e: unknown): void {
    const error = classify(e, 'internal');
    this.#o.logger.error({ err: e, code: error.code }, 'gateway handler failed');
    refuse(res, error.code, error.code === 'WEFT_ERR_INTERNAL' ? 'internal gateway error' : error.message);
  }

  #route(protocol: Protocol, req: GatewayRequest, res: GatewayResponse, out: Outcome): void {
    const state = this.#state;
    if (!state) return this.#refuse(res, out, 'WEFT_ERR_NOT_READY', 'the gateway has no route configuration yet');
    const headers = req.headers as IncomingHttpHeaders & { ':authority'?: string };
    const authority = headers[':authority'] ?? headers.host;
    if (!authority) return this.#refuse(res, out, 'WEFT_ERR_BAD_REQUEST', 'no Host or :authority');
    const host = normalizeHost(authority);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const search = q >= 0 ? rawUrl.slice(q) : '';

    if (protocol === 'HTTPS') {
      const socket = req.socket as TLSSocket;
      const sni = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : undefined;
      const cert = state.table.certificateFor(sni ?? host);
      if (sni && sni !== host && state.table.certificateFor(host) !== cert) {
        return this.#refuse(res, out, 'WEFT_ERR_MISDIRECTED', `the connection was opened for ${sni}, not ${host}`);
      }
      if (cert?.clientCaPem && !clientCertTrusted(socket, cert.clientCaPem, this.#o.clock())) {
        return this.#refuse(res, out, 'WEFT_ERR_CLIENT_CERT', `${cert.label} needs a client certificate from its trusted CA`);
      }
    }

    const query = new URLSearchParams(search);
    const decision = state.table.lookup(protocol, { host, path, method: req.method ?? 'GET', headers: req.headers, query });
    if (decision.kind === 'no-route') return this.#refuse(res, out, 'WEFT_ERR_NO_ROUTE', `no route for ${host}${path}`);
    out.route = decision.rule.route.label;
    const pol = state.policies.effective(decision.listener.gateway, decision.rule.route);
    const xff = firstValue(headers['x-forwarded-for']);
    const client = clientIp(req.socket?.remoteAddress ?? '', xff, this.#o.trustedProxies);
    out.client = client;

    if (pol.ipAccess) {
      const { allow, deny } = pol.ipAccess.value;
      if (anyContains(deny, client) || (allow.length > 0 && !anyContains(allow, client))) {
        return this.#reject(res, out, pol.ipAccess.name, 'WEFT_ERR_IP_DENIED', `${client} is not allowed`);
      }
    }
    const origin = firstValue(headers.origin);
    let corsHeaders: Record<string, string> = {};
    if (pol.cors) {
      if (isPreflight(req.method ?? '', req.headers)) {
        const answer = preflightResponse(pol.cors.value, origin ?? '', firstValue(headers['access-control-request-method']) ?? '', firstValue(headers['access-control-request-headers']));
        if (answer.status !== 204) return this.#reject(res, out, pol.cors.name, 'WEFT_ERR_CORS_REJECTED', `preflight from ${origin} refused`, answer.headers);
        res.writeHead(204, answer.headers);
        res.end();
        return;
      }
      corsHeaders = actualResponseHeaders(pol.cors.value, origin);
    }

    let fwdHeaders: HeaderMap = endToEndHeaders(req.headers);
    let fwdSearch = search;
    if (pol.apiKey) {
      const cfg = pol.apiKey.value;
      let presented: string | undefined;
      if ('header' in cfg.source) {
        presented = firstValue(headers[cfg.source.header]);
        delete fwdHeaders[cfg.source.header];
      } else {
        presented = query.get(cfg.source.query) ?? undefined;
        const rest = new URLSearchParams(search);
        rest.delete(cfg.source.query);
        const s = rest.toString();
        fwdSearch = s === '' ? '' : `?${s}`;
      }
      const result = checkApiKey(cfg, presented);
      const where = 'header' in cfg.source ? `header="${cfg.source.header}"` : `query="${cfg.source.query}"`;
      if (!result.ok) {
        return this.#reject(res, out, pol.apiKey.name, 'WEFT_ERR_UNAUTHORIZED', `API key ${result.reason}`, {
          'www-authenticate': `ApiKey realm="weft", ${where}${result.reason === 'unknown' ? ', error="invalid_key"' : ''}`,
        });
      }
      out.consumer = result.consumer;
      fwdHeaders[cfg.consumerHeader] = result.consumer;
    }
    if (pol.jwt) {
      const jwt = pol.jwt;
      jwt.value.verify(firstValue(headers.authorization), new Date(this.#o.clock())).then(
        (result) => {
          if (!result.ok) {
            return this.#reject(res, out, jwt.name, 'WEFT_ERR_UNAUTHORIZED', `bearer token refused: ${result.reason}`, {
              'www-authenticate': `Bearer realm="weft", error="invalid_token"`,
            });
          }
          if (result.consumer !== undefined && out.consumer === undefined) out.consumer = result.consumer;
          fwdHeaders = { ...fwdHeaders, ...result.headers };
          this.#afterAuth(protocol, req, res, out, decision, pol, { path, search: fwdSearch, host, headers: fwdHeaders, corsHeaders });
        },
        (e: unknown) => this.#reject(res, out, jwt.name, 'WEFT_ERR_UNAUTHORIZED', `bearer token refused: ${(e as Error).message}`),
      ).catch((e: unknown) => this.#failed(res, e));
      return;
    }
    this.#afterAuth(protocol, req, res, out, decision, pol, { path, search: fwdSearch, host, headers: fwdHeaders, corsHeaders });
  }

  #afterAuth(
    protocol: Protocol,
    req: GatewayRequest,
    res: GatewayResponse,
    out: Outcome,
    decision: Matched,
    pol: EffectivePolicies,
    r: { path: string; search: string; host: string; headers: HeaderMap; corsHeaders: Record<string, string> },
  ): void {
    if (res.writableEnded || res.destroyed) return;
    let limitHeaders: Record<string, string> = {};
    if (pol.rateLimit) {
      const cfg = pol.rateLimit.value;
      const k = cfg.key;
      const value =
        'header' in k ? (firstValue(req.headers[k.header]) ?? '') : k.type === 'Consumer' ? (out.consumer ?? `ip:${out.client}`) : k.type === 'ClientIP' ? out.client : decision.rule.route.label;
      // take() checks and counts in one synchronous step: no await between the two.
      const d: RateDecision = this.#limiter.take(`${pol.rateLimit.name}|${decision.rule.route.label}|${value}`, replicaShare(cfg.limit, this.#o.readyReplicas()), cfg.windowMs, this.#o.clock());
      limitHeaders = { 'ratelimit-limit': String(d.limit), 'ratelimit-remaining': String(d.remaining), 'ratelimit-reset': String(d.resetSeconds) };
      if (!d.allowed) {
        return this.#reject(res, out, pol.rateLimit.name, 'WEFT_ERR_RATE_LIMITED', `limit of ${d.limit} per window used up`, {
          ...limitHeaders,
          'retry-after': String(d.resetSeconds),
          ...r.corsHeaders,
        });
      }
    }
    const maxBytes = pol.bodyLimit?.value.maxBytes;
    const declared = Number(firstValue(req.headers['content-length']) ?? NaN);
    if (pol.bodyLimit && maxBytes !== undefined && declared > maxBytes) {
      return this.#reject(res, out, pol.bodyLimit.name, 'WEFT_ERR_BODY_TOO_LARGE', `body of ${declared} bytes is over ${maxBytes}`, r.corsHeaders);
    }

    const rule = decision.rule;
    const scheme = protocol === 'HTTPS' ? 'https' : 'http';
    let headers = r.headers;
    let path = r.path;
    let upstreamHost = firstValue(req.headers[':authority'] as string | undefined) ?? firstValue(req.headers.host) ?? r.host;
    const responseMods: FilterSpec[] = [];
    const mirrors: Extract<FilterSpec, { type: 'RequestMirror' }>[] = [];
    for (const f of rule.filters) {
      switch (f.type) {
        case 'RequestRedirect': {
          const location = redirectLocation(f, { scheme, host: r.host, path: r.path, search: r.search }, decision.listener.port, decision.match.path);
          out.backend = 'redirect';
          res.writeHead(f.statusCode, { location, 'content-length': '0', ...r.corsHeaders });
          res.end();
          return;
        }
        case 'RequestHeaderModifier':
          headers = modifyHeaders(headers, f.modifier);
          break;
        case 'ResponseHeaderModifier':
          responseMods.push(f);
          break;
        case 'URLRewrite':
          if (f.hostname !== undefined) upstreamHost = f.hostname;
          path = rewritePath(path, f.path, decision.match.path);
          break;
        case 'RequestMirror':
          if (mirrorFires(f.percent, this.#o.random)) mirrors.push(f);
          break;
      }
    }
    const backend = pickWeighted(rule.backends, this.#o.random);
    if (!backend) return this.#refuse(res, out, 'WEFT_ERR_BACKEND_INVALID', `rule ${rule.route.label} has no backend with a weight above 0`);
    out.backend = backend.label;
    if (backend.kind === 'invalid') return this.#refuse(res, out, 'WEFT_ERR_BACKEND_INVALID', backend.reason);
    for (const f of backend.filters) {
      if (f.type === 'RequestHeaderModifier') headers = modifyHeaders(headers, f.modifier);
      else if (f.type === 'ResponseHeaderModifier') responseMods.push(f);
      else if (f.type === 'RequestMirror' && mirrorFires(f.percent, this.#o.random)) mirrors.push(f);
    }
    // The pick queue answers at once, or once discovery has (the client leaving cancels the wait).
    const cancel = this.#queue.pick(this.#o.balancers.get(backend.ref), backend.label, (picked) => {
      try {
        if (picked instanceof WeftError) {
          if (picked.code === 'WEFT_ERR_UNKNOWN_SERVICE') return this.#refuse(res, out, 'WEFT_ERR_BACKEND_INVALID', `Service ${backend.label} does not exist`);
          return this.#refuse(res, out, 'WEFT_ERR_NO_ENDPOINTS', `Service ${backend.label} has no ready endpoint`);
        }
        this.#forward(req, res, out, pol, r, { rule, backend: backend.ref, label: backend.label, entry: picked, headers, path, upstreamHost, responseMods, mirrors, scheme, limitHeaders });
      } catch (e) {
        this.#failed(res, e);
      }
    });
    res.once('close', cancel);
  }

  // Mirrors never wait: a mirror backend without an endpoint right now gets no copy.
  #pickNow(ref: ServiceRef): CompletedPick | undefined {
    const p = this.#o.balancers.get(ref).picker.pick();
    return p.type === 'complete' ? p : undefined;
  }

  #forward(
    req: GatewayRequest,
    res: GatewayResponse,
    out: Outcome,
    pol: EffectivePolicies,
    r: { path: string; search: string; host: string; headers: HeaderMap; corsHeaders: Record<string, string> },
    f: {
      rule: Matched['rule'];
      backend: ServiceRef;
      label: string;
      entry: CompletedPick;
      headers: HeaderMap;
      path: string;
      upstreamHost: string;
      responseMods: FilterSpec[];
      mirrors: Extract<FilterSpec, { type: 'RequestMirror' }>[];
      scheme: 'http' | 'https';
      limitHeaders: Record<string, string>;
    },
  ): void {
    const { rule, entry, responseMods, mirrors, scheme, limitHeaders } = f;
    let { headers } = f;
    const endpoint = entry.endpoint;
    const maxBytes = pol.bodyLimit?.value.maxBytes;
    if (res.writableEnded || res.destroyed) return entry.release(CANCELLED);
    const peer = req.socket?.remoteAddress ?? '';
    headers = forwardedHeaders(headers, { peer, trustedPeer: anyContains(this.#o.trustedProxies, peer), proto: scheme, host: r.host });
    headers.host = f.upstreamHost;
    const head = { method: req.method ?? 'GET', path: f.path + r.search, headers: headers as OutgoingHttpHeaders };
    let upstream = openMeshRequest(this.#o.pool, endpoint, head);
    // A pooled connection the peer closed just as it was reused fails before any response:
    // a retry-safe request without a body (the mesh's one rule) is sent again, once, on a fresh connection.
    const bodyless = mayResendAfterReset(head.method, req.headers);
    let retried = false;
    const mirrorReqs = mirrors.flatMap((m) => {
      const ref = mirrorTarget(m.backend);
      const mp = ref ? this.#pickNow(ref) : undefined;
      if (!mp) return [];
      const mreq = openMeshRequest(this.#o.pool, mp.endpoint, head);
      mreq.on('response', (mres) => mres.resume());
      mreq.on('error', () => undefined); // a mirror's failure never touches the real request
      mreq.on('close', () => mp.release(mreq.destroyed && !mreq.writableFinished ? CANCELLED : SUCCEEDED));
      return [mreq];
    });

    const timeoutMs = minPositive(rule.requestTimeoutMs, rule.backendTimeoutMs) ?? (this.#o.defaultTimeoutMs > 0 ? this.#o.defaultTimeoutMs : undefined);
    let timer: NodeJS.Timeout | undefined;
    // Set once the client is gone or the timeout fired: nothing is retried after that.
    let gaveUp = false;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        gaveUp = true;
        upstream.destroy();
        done('WEFT_ERR_TIMEOUT');
        this.#refuse(res, out, 'WEFT_ERR_TIMEOUT', `no answer within ${timeoutMs} ms`);
      }, timeoutMs);
    }
    const pickedMs = this.#o.clock();
    // The pick ignores every release after the first, so the first outcome is the one it keeps.
    const done = (code?: ErrorCode): void => {
      if (timer) clearTimeout(timer);
      const latencyMs = this.#o.clock() - pickedMs;
      entry.release(code ? { result: 'failure', code, latencyMs } : { result: gaveUp ? 'cancelled' : 'success', code: '', latencyMs });
    };
    res.once('close', () => {
      gaveUp = true;
      done();
      if (!upstream.writableFinished || !res.writableFinished) upstream.destroy();
    });

    const wire = (u: typeof upstream): void => {
      u.on('response', (ures) => {
        let rh: HeaderMap = endToEndHeaders(ures.headers);
        for (const f of responseMods) if (f.type === 'ResponseHeaderModifier') rh = modifyHeaders(rh, f.modifier);
        rh = { ...rh, ...r.corsHeaders, ...limitHeaders };
        if (res.headersSent) return ures.destroy();
        try {
          res.writeHead(ures.statusCode ?? 502, rh as OutgoingHttpHeaders);
        } catch (e) {
          // A header the client side cannot carry (HTTP/2 forbids some): one failed request.
          ures.destroy();
          return this.#failed(res, e);
        }
        ures.pipe(res as NodeJS.WritableStream);
        ures.on('error', () => res.destroy());
        ures.on('end', () => done());
      });
      u.on('error', (e: NodeJS.ErrnoException) => {
        if (bodyless && !retried && !gaveUp && u.reusedSocket && !res.headersSent) {
          retried = true;
          upstream = openMeshRequest(this.#o.pool, endpoint, head);
          wire(upstream);
          upstream.end();
          return;
        }
        if (e.code === 'WEFT_BODY_LIMIT') {
          done();
          if (res.headersSent) return res.destroy();
          return this.#reject(res, out, pol.bodyLimit?.name ?? 'BodyLimitPolicy', 'WEFT_ERR_BODY_TOO_LARGE', `body is over ${maxBytes} bytes`, r.corsHeaders);
        }
        // The mesh's one classifier: TLS, unreachable, timeout and reset mean what they mean in the proxy.
        const error = classify(e, u.reusedSocket ? 'request' : 'connect', { what: `${f.label} at ${endpoint.address}:${endpoint.port} (${endpoint.identity})`, unreachable: 'WEFT_ERR_CONNECT' });
        done(error.code);
        if (res.headersSent) return res.destroy();
        this.#refuse(res, out, error.code, error.message);
      });
    };
    wire(upstream);

    // The body streams through: counted (not buffered) when a limit applies, teed to mirrors.
    let body: NodeJS.ReadableStream = req as unknown as NodeJS.ReadableStream;
    if (maxBytes !== undefined) {
      const counter = new ByteLimit(maxBytes);
      counter.on('error', (e) => upstream.destroy(e));
      body = (req as unknown as NodeJS.ReadableStream).pipe(counter);
    }
    if (mirrorReqs.length > 0) {
      body.on('data', (chunk: Buffer) => {
        for (const m of mirrorReqs) m.write(chunk);
      });
      body.on('end', () => {
        for (const m of mirrorReqs) m.end();
      });
    }
    body.pipe(upstream);
  }

  #refuse(res: GatewayResponse, out: Outcome, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
    out.code = code;
    refuse(res, code, message, headers);
  }

  #reject(res: GatewayResponse, out: Outcome, policy: string, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
    out.policy = policy;
    this.#o.metrics.rejections.inc({ route: out.route, policy, code });
    this.#refuse(res, out, code, message, headers);
  }

  #finish(req: GatewayRequest, res: GatewayResponse, out: Outcome, started: number): void {
    const ms = performance.now() - started;
    const status = res.headersSent ? res.statusCode : 0;
    this.#o.metrics.requests.inc({ route: out.route, backend: out.backend, code: String(status) });
    this.#o.metrics.latency.observe({ route: out.route, backend: out.backend }, ms / 1000);
    this.#o.logger.info(
      {
        method: req.method,
        host: req.headers[':authority'] ?? req.headers.host,
        path: (req.url ?? '').split('?')[0],
        status,
        route: out.route,
        backend: out.backend,
        client: out.client,
        ...(out.consumer ? { consumer: out.consumer } : {}),
        ...(out.code ? { code: out.code } : {}),
        ...(out.policy ? { policy: out.policy } : {}),
        durationMs: Math.round(ms * 100) / 100,
      },
      'access',
    );
  }
}

const CANCELLED: PickOutcome = { result: 'cancelled', code: '', latencyMs: -1 };
const SUCCEEDED: PickOutcome = { result: 'success', code: '', latencyMs: -1 };

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function minPositive(...values: (number | undefined)[]): number | undefined {
  const xs = values.filter((v): v is number => v !== undefined && v > 0);
  return xs.length === 0 ? undefined : Math.min(...xs);
}

/**
 * X-Forwarded-For / -Proto / -Host and Forwarded (RFC 7239). Incoming values are kept only from
 * a trusted proxy; anyone else could forge them.
 */
export function forwardedHeaders(headers: HeaderMap, f: { peer: string; trustedPeer: boolean; proto: string; host: string }): HeaderMap {
  const out = { ...headers };
  const peer = f.peer.replace(/^::ffff:/i, '');
  const prevXff = f.trustedPeer ? firstValue(out['x-forwarded-for']) : undefined;
  const prevFwd = f.trustedPeer ? firstValue(out.forwarded) : undefined;
  out['x-forwarded-for'] = prevXff ? `${prevXff}, ${peer}` : peer;
  out['x-forwarded-proto'] = f.proto;
  out['x-forwarded-host'] = f.host;
  const forNode = peer.includes(':') ? `"[${peer}]"` : peer;
  const element = `for=${forNode};proto=${f.proto};host=${JSON.stringify(f.host)}`;
  out.forwarded = prevFwd ? `${prevFwd}, ${element}` : element;
  return out;
}

/** Counts body bytes as they stream and fails once the limit is passed (nothing is buffered). */
class ByteLimit extends Transform {
  readonly #max: number;
  #seen = 0;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#max) {
      const err = Object.assign(new Error(`body over ${this.#max} bytes`), { code: 'WEFT_BODY_LIMIT' });
      cb(err);
      return;
    }
    cb(null, chunk);
  }
}

/** Checks the TLS peer's certificate chains to one of the PEM CAs and is within its validity. */
export function clientCertTrusted(socket: TLSSocket, caPem: string, nowMs: number): boolean {
  const peer = socket.getPeerCertificate?.(true);
  if (!peer || !peer.raw) return false;
  const cas = caPem
    .split(/(?=-----BEGIN CERTIFICATE-----)/)
    .filter((p) => p.includes('BEGIN CERTIFICATE'))
    .map((p) => new X509Certificate(p));
  let cur = new X509Certificate(peer.raw);
  let next: typeof peer | undefined = peer;
  for (let depth = 0; depth < 6; depth++) {
    if (Date.parse(cur.validFrom) > nowMs || Date.parse(cur.validTo) < nowMs) return false;
    if (cas.some((ca) => cur.checkIssued(ca) && cur.verify(ca.publicKey))) return true;
    const issuer: typeof peer | undefined = next?.issuerCertificate;
    if (!issuer || !issuer.raw || issuer === next) return false;
    const issuerCert = new X509Certificate(issuer.raw);
    if (!cur.checkIssued(issuerCert) || !cur.verify(issuerCert.publicKey)) return false;
    cur = issuerCert;
    next = issuer;
  }
  return false;
}

