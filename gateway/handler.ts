// The gateway's request path as one ordered list of steps, read top to bottom in request order:
// read host -> TLS name and client certificate -> match route -> CORS filter -> IP list -> CORS -> API key ->
// JWT -> rate limit -> body limit -> transform (query) -> plan quota -> filters (redirect, header modifiers, rewrite, mirror) ->
// weighted backend -> response cache (a fresh hit answers here) -> transform (JSON request body) -> pick endpoint (waiting for discovery if need be) -> forward. The handler owns what
// surrounds the steps: the exchange, the drain count, error answers, metrics and the access log.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { RawLogLine } from '../lib/raw-log-line.js';
import { ACCESS_MSG, GatewayAccessLine, GATEWAY_ACCESS_KEYS } from './access-line.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { cancelled, type CompletedPick } from '../mesh/balance/picker.js';
import { PickQueue, type PickAnswer } from '../mesh/balance/pick-queue.js';
import { classify } from '../mesh/rescue.js';
import type { ServiceBalancers } from '../mesh/balance/service-balancers.js';
import type { Endpoint, ServiceRef } from '../mesh/discovery/endpoint-source.js';
import type { Traffic } from '../mesh/traffic/traffic.js';
import type { Drain } from '../mesh/drain.js';
import type { PeerPool } from '../mesh/peer-pool.js';
import { CONTINUE, refusal, runSteps, wait, type Answer, type ChainEnd, type Refusal, type Step, type StepResult } from './chain.js';
import { openExchange, type Exchange } from './exchange.js';
import type { GatewayMetrics } from './metrics.js';
import type { Cidr } from './policies/cidr.js';
import { policySteps } from './policies/policy-set.js';
import { RateLimiter } from './policies/rate-limit.js';
import { refuse, type GatewayRequest, type GatewayResponse } from './respond.js';
import type { Protocol } from './routes/route-table.js';
import { DEFAULT_SCOPES, type SocketScope } from './routes/listener-scope.js';
import type { GatewayState } from './state.js';
import { applyFilters, chooseBackend } from './steps/filters.js';
import { forward } from './steps/forward.js';
import { checkTls, matchRoute, readHost } from './steps/match.js';
import { corsFilter } from './steps/cors-filter.js';
import { quotaStep, type QuotaBackend } from './quota/quota-step.js';
import { SlidingWindowQuota } from './quota/sliding-window.js';
import { consumerLabel, planLabel } from './quota/usage.js';
import { transformRequestBody } from './transform/request-body.js';
import { recordEdgeRequest, recordGatewayRequest } from './request-series.js';
import { LabelValues } from '../mesh/metrics/vocabulary.js';
import { cacheStep } from './cache/cache-step.js';
import { ResponseCaches } from './cache/cache-policy.js';
import type { Tracing } from '../mesh/trace/tracing.js';

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
  /** Timers for request timeouts and discovery waits (the real ones unless a test passes its own). */
  readonly timers?: Timers;
  /** The retry engine for rules with an HTTPRoute `retry` (budgets, counters). */
  readonly traffic?: Traffic;
  /** Counts consumers' plan quotas (default: in this process). */
  readonly quota?: QuotaBackend;
  /** The metrics' label values (the gateway's own identity, bounds); default: identity unknown. */
  readonly labels?: LabelValues;
  /** The CachePolicy stores (default: a fresh set; the command shares its own with the admin purge). */
  readonly caches?: ResponseCaches;
  /** Tracing (docs/tracing.md): absent when off, and then no request is touched by it. */
  readonly tracing?: Tracing;
  /** WEFT_GATEWAY_UPSTREAM_CLIENT=undici: plain requests go over the peer pool's undici dispatchers. */
  readonly undici?: boolean;
}

/** A step with the name tests and logs know it by. */
export interface NamedStep {
  readonly name: string;
  readonly run: Step<Exchange>;
}

/** How answers that come after the chain (from forwarding) are written: by the handler. */
export interface LateAnswers {
  respondError(x: Exchange, r: Refusal): void;
  failed(x: Exchange, err: unknown): void;
}

/** The request path, in request order. */
export function gatewaySteps(o: GatewayHandlerOptions, limiter: RateLimiter, answers: LateAnswers): readonly NamedStep[] {
  const timers = o.timers ?? realTimers;
  const queue = new PickQueue(o.discoveryWaitMs, timers);
  return [
    { name: 'read host', run: readHost },
    { name: 'check TLS', run: checkTls(o.clock) },
    { name: 'match route', run: matchRoute(o.trustedProxies) },
    { name: 'CORS filter', run: corsFilter },
    ...policySteps({ clock: o.clock, readyReplicas: o.readyReplicas, limiter }),
    { name: 'plan quota', run: quotaStep(o.quota ?? localQuota(), o.clock) },
    { name: 'apply filters', run: applyFilters(o.random) },
    { name: 'choose backend', run: chooseBackend(o.random) },
    { name: 'response cache', run: cacheStep(o.caches ?? new ResponseCaches(), o.clock) },
    { name: 'transform request body', run: transformRequestBody },
    { name: 'pick endpoint', run: (x) => pickStep(queue, o.balancers, x) },
    {
      name: 'forward',
      run: forward({
        timers,
        pool: o.pool,
        trustedProxies: o.trustedProxies,
        defaultTimeoutMs: o.defaultTimeoutMs,
        pickNow: (ref, avoid) => pickUpstream(o.balancers, ref, avoid),
        ...(o.traffic ? { traffic: o.traffic } : {}),
        undici: o.undici === true,
        respondError: (x, r) => answers.respondError(x, r),
        failed: (x, err) => answers.failed(x, err),
        notEdited: (x, reason) => {
          o.metrics.bodyNotEdited.inc({ route: x.route, reason });
          o.logger.warn({ route: x.route, policy: x.transform?.name, reason }, 'response body sent unmodified');
        },
      }),
    },
  ];
}

// The default backend: counts in this process.
function localQuota(): QuotaBackend {
  const counter = new SlidingWindowQuota();
  return { kind: 'local', take: (key, windows, nowMs) => counter.take(key, windows, nowMs) };
}

/** An endpoint of a service right now, or none (mirrors never wait: no endpoint, no copy). */
export function pickUpstream(balancers: ServiceBalancers, ref: ServiceRef, avoid?: Endpoint): CompletedPick | undefined {
  const p = balancers.get(ref).picker.pick(avoid);
  return p.type === 'complete' ? p : undefined;
}

// The one place a request waits for an endpoint: the queue answers at once, or once discovery
// has answered for the service (at most discoveryWaitMs); a client that leaves cancels the wait.
function pickStep(queue: PickQueue, balancers: ServiceBalancers, x: Exchange): StepResult {
  const target = targetOf(x);
  let early: PickAnswer | undefined;
  let later: ((r: StepResult) => void) | undefined;
  const cancel = queue.pick(balancers.get(target.ref), target.label, (answer) => {
    if (later) later(takePick(x, target, answer));
    else early = answer;
  });
  if (early !== undefined) return takePick(x, target, early);
  return wait(
    new Promise<StepResult>((resolve) => {
      later = resolve;
      x.res.once('close', () => {
        cancel();
        resolve(CONTINUE); // the chain sees the client gone and stops
      });
    }),
  );
}

function takePick(x: Exchange, target: NonNullable<Exchange['target']>, answer: PickAnswer): StepResult {
  if (answer instanceof WeftError) {
    if (answer.code === 'WEFT_ERR_UNKNOWN_SERVICE') return refusal('WEFT_ERR_BACKEND_INVALID', `Service ${target.label} does not exist`);
    return refusal('WEFT_ERR_NO_ENDPOINTS', `Service ${target.label} has no ready endpoint`);
  }
  x.entry = answer;
  return CONTINUE;
}

function targetOf(x: Exchange): NonNullable<Exchange['target']> {
  if (!x.target) throw new Error('a pick ran before a backend was chosen');
  return x.target;
}

/** Serves requests against the current GatewayState; setState swaps configuration atomically. */
export class GatewayHandler {
  readonly #o: GatewayHandlerOptions;
  readonly #steps: readonly Step<Exchange>[];
  readonly #end: ChainEnd<Exchange>;
  #state: GatewayState | undefined;
  readonly #labels: LabelValues;
  /** The hand-serialised access line, unless the logger shapes lines in a way it does not reproduce. */
  readonly #access: GatewayAccessLine | undefined;

  constructor(options: GatewayHandlerOptions) {
    this.#o = options;
    this.#labels = options.labels ?? new LabelValues('');
    const raw = RawLogLine.of(options.logger, GATEWAY_ACCESS_KEYS);
    this.#access = raw ? new GatewayAccessLine(raw) : undefined;
    this.#end = {
      over: (x) => x.res.writableEnded || x.res.destroyed,
      refused: (x, r) => this.#respondError(x, r),
      answered: (x, a) => answerWith(x, a),
      failed: (x, err) => this.#failed(x, err),
    };
    // The limiter outlives configuration generations: a reload does not reset anyone's window.
    this.#steps = gatewaySteps(options, new RateLimiter(), { respondError: (x, r) => this.#respondError(x, r), failed: (x, err) => this.#failed(x, err) }).map((s) => s.run);
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

  /** Entry point for every socket: its scope, or a protocol for that protocol's shared socket. */
  handle(socket: Protocol | SocketScope, req: GatewayRequest, res: GatewayResponse, upgrade?: { socket: Duplex; head: Buffer }): void {
    const started = performance.now();
    this.#o.drain.begin();
    if (this.#o.drain.draining && 'shouldKeepAlive' in res) res.shouldKeepAlive = false;
    const x = openExchange(typeof socket === 'string' ? DEFAULT_SCOPES[socket] : socket, req, res, this.#state, started, upgrade);
    const tracing = this.#o.tracing;
    if (tracing) x.span = tracing.start({ kind: 'server', method: req.method ?? 'GET', path: x.path, authority: x.authority ?? '', traceparent: req.headers.traceparent, tracestate: req.headers.tracestate });
    res.once('close', () => {
      // A pick the chain never forwarded (the client left first) ends here; forward's own
      // release, when it ran, came first and wins.
      x.entry?.release(cancelled());
      this.#o.drain.end();
      this.#finish(x);
    });
    runSteps(this.#steps, x, this.#end);
  }

  /**
   * Entry point for an HTTP/1.1 upgrade (WebSocket) on a plain socket: the same steps, with a
   * response object on the raw socket for refusals and redirects, until the backend switches protocols.
   */
  handleUpgrade(socket: Protocol | SocketScope, req: IncomingMessage, raw: Duplex, head: Buffer): void {
    const res = new ServerResponse(req);
    res.assignSocket(raw as Socket);
    // An answer other than 101 ends the connection: no server reads another request from it.
    res.shouldKeepAlive = false;
    res.once('finish', () => raw.end());
    raw.on('error', () => raw.destroy());
    this.handle(socket, req, res, { socket: raw, head });
  }

  /** The one place a refusal becomes a response: the code (and policy) noted, then answered. */
  #respondError(x: Exchange, r: Refusal): void {
    if (r.policy !== undefined) {
      x.policy = r.policy;
      this.#o.metrics.rejections.inc({ route: x.route, policy: r.policy, code: r.code });
    }
    x.code = r.code;
    refuse(x.res, r.code, r.message, r.headers);
  }

  // A bug must cost one request, never the process (an unhandled rejection would end it).
  #failed(x: Exchange, e: unknown): void {
    const error = classify(e, 'internal');
    this.#o.logger.error({ err: e, code: error.code }, 'gateway handler failed');
    x.code = error.code;
    refuse(x.res, error.code, error.code === 'WEFT_ERR_INTERNAL' ? 'internal gateway error' : error.message);
  }

  #finish(x: Exchange): void {
    const { req, res } = x;
    const ms = performance.now() - x.started;
    const status = res.headersSent ? res.statusCode : 0;
    x.span?.end({ status, errorCode: x.code ?? '', peer: '', protocol: req.httpVersion === '2.0' ? 'h2' : 'http/1.1', route: x.route === '-' ? '' : x.route });
    recordGatewayRequest(this.#o.metrics, x.route, x.backend, status, consumerLabel(x.account, x.consumer), planLabel(x.account));
    recordEdgeRequest(this.#o.metrics, this.#labels, x, status, ms / 1000);
    const durationMs = Math.round(ms * 100) / 100;
    if (this.#access) return this.#access.write(req.method, x, status, durationMs);
    // Absent fields stay undefined, which the logger leaves out of the line.
    this.#o.logger.info(
      {
        method: req.method,
        host: x.authority,
        path: x.path,
        status,
        route: x.route,
        backend: x.backend,
        client: x.client,
        consumer: x.consumer || undefined,
        code: x.code,
        policy: x.policy,
        durationMs,
      },
      ACCESS_MSG,
    );
  }
}

// A bodyless answer decided by a step: a CORS preflight's 204, a redirect.
function answerWith(x: Exchange, a: Answer): void {
  x.res.writeHead(a.status, a.headers);
  x.res.end();
}
