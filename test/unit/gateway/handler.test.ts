// The gateway handler's step list against fake requests (no sockets): the steps run in request
// order, a policy that answers stops the chain before the later policies and the backend, and
// each answer is counted and logged once.
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { GatewayHandler, gatewaySteps, type GatewayHandlerOptions } from '../../../gateway/handler.js';
import { createGatewayMetrics } from '../../../gateway/metrics.js';
import { RateLimiter } from '../../../gateway/policies/rate-limit.js';
import { hashKey } from '../../../gateway/policies/api-key.js';
import { parseResources } from '../../../gateway/routes/resources.js';
import { buildState } from '../../../gateway/state.js';
import { ServiceBalancers } from '../../../mesh/balance/service-balancers.js';
import type { EndpointSource } from '../../../mesh/discovery/endpoint-source.js';
import { Drain } from '../../../mesh/drain.js';
import { PeerPool } from '../../../mesh/peer-pool.js';
import { createLogger } from '../../../lib/logger.js';
import { FakeTimers } from '../../support/fake-timers.js';

/** A response that records what the handler wrote and closes when it ends. */
class FakeResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  headers: Record<string, string> = {};
  body = '';
  readonly closed = new Promise<void>((resolve) => this.once('close', () => resolve()));

  writeHead(status: number, headers: Record<string, string>): this {
    this.statusCode = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.headers[name];
  }

  end(body?: string): this {
    this.body = body ?? '';
    this.writableEnded = true;
    this.emit('close');
    return this;
  }

  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

// Discovery that never answers: a request that gets as far as the pick finds no endpoint.
const silentSource: EndpointSource = { watch: () => () => undefined, synced: true, close: async () => undefined };

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: d }
spec: { gatewayClassName: weft, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: d }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [api.test]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: moved, namespace: d }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [old.test]
  rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { hostname: new.test, statusCode: 301 } }] }]
---
apiVersion: weft.dev/v1alpha1
kind: IpAccessPolicy
metadata: { name: ips, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: api }, deny: [10.0.0.0/8] }
---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: cors, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: api }, allowOrigins: [https://app.test] }
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: api }, consumers: [{ name: alice, keySha256: ${hashKey('k1')} }] }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: one, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: api }, requests: 1, window: 1h, key: { type: Consumer } }
`;

function setup(t: { teardown(fn: () => void): void }, extra: Partial<GatewayHandlerOptions> = {}): { handler: GatewayHandler; options: GatewayHandlerOptions; registry: Registry; lines: string[]; send: (req: { host: string; path?: string; method?: string; from?: string; headers?: Record<string, string> }) => Promise<FakeResponse> } {
  const registry = new Registry();
  const lines: string[] = [];
  const balancers = new ServiceBalancers(silentSource, { random: () => 0.5 });
  const pool = new PeerPool({ peerPort: 7006, connectTimeoutMs: 100, secureContext: () => undefined });
  t.teardown(() => {
    pool.close();
    balancers.close();
  });
  const options: GatewayHandlerOptions = {
    logger: createLogger({ level: 'info', name: 'test', destination: { write: (s: string) => void lines.push(s) } }),
    metrics: createGatewayMetrics(registry),
    balancers,
    pool,
    discoveryWaitMs: 0,
    trustedProxies: [],
    defaultTimeoutMs: 0,
    readyReplicas: () => 1,
    clock: () => 1_000_000,
    random: () => 0.5,
    drain: new Drain(),
    ...extra,
  };
  const handler = new GatewayHandler(options);
  const send = async (r: { host: string; path?: string; method?: string; from?: string; headers?: Record<string, string> }): Promise<FakeResponse> => {
    const req = { headers: { host: r.host, ...r.headers }, url: r.path ?? '/', method: r.method ?? 'GET', socket: { remoteAddress: r.from ?? '192.0.2.1' } };
    const res = new FakeResponse();
    handler.handle('HTTP', req as unknown as IncomingMessage, res as unknown as ServerResponse);
    await res.closed;
    return res;
  };
  return { handler, options, registry, lines, send };
}

function load(handler: GatewayHandler): void {
  const built = buildState(parseResources(ROUTES, 'routes.yaml'), 'routes.yaml', 1, () => '');
  if ('problems' in built) throw new Error(built.problems.join('\n'));
  handler.setState(built.state);
}

t.test('the steps run in request order', async (t) => {
  const { options } = setup(t);
  const names = gatewaySteps(options, new RateLimiter(), { respondError: () => undefined, failed: () => undefined }).map((s) => s.name);
  t.same(names, [
    'read host',
    'check TLS',
    'match route',
    'CORS filter',
    'IpAccessPolicy',
    'CorsPolicy',
    'ApiKeyPolicy',
    'JwtPolicy',
    'RateLimitPolicy',
    'BodyLimitPolicy',
    'TransformPolicy',
    'plan quota',
    'apply filters',
    'choose backend',
    'response cache',
    'transform request body',
    'pick endpoint',
    'forward',
  ]);
});

t.test('a request before any configuration is answered 503 WEFT_ERR_NOT_READY', async (t) => {
  const { send } = setup(t);
  const res = await send({ host: 'api.test' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_NOT_READY');
});

t.test('the IP list answers before the API key is asked for', async (t) => {
  const { handler, send, registry } = setup(t);
  load(handler);
  const res = await send({ host: 'api.test', from: '10.1.2.3' });
  t.equal(res.statusCode, 403);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_IP_DENIED', 'denied by address, not for the missing key');
  t.match(await registry.getSingleMetricAsString('weft_gateway_policy_rejections_total'), /policy="IpAccessPolicy d\/ips",code="WEFT_ERR_IP_DENIED"\} 1/);
});

t.test('a CORS preflight is answered at the edge, before the API key is asked for', async (t) => {
  const { handler, send } = setup(t);
  load(handler);
  const res = await send({ host: 'api.test', method: 'OPTIONS', headers: { origin: 'https://app.test', 'access-control-request-method': 'GET' } });
  t.equal(res.statusCode, 204);
  t.equal(res.headers['access-control-allow-origin'], 'https://app.test');
});

t.test('a request without a key stops at the API key with a challenge', async (t) => {
  const { handler, send } = setup(t);
  load(handler);
  const res = await send({ host: 'api.test', headers: { origin: 'https://app.test' } });
  t.equal(res.statusCode, 401);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_UNAUTHORIZED');
  t.match(res.headers['www-authenticate'], /^ApiKey realm="weft", header="x-api-key"/);
});

t.test('a request that passes every policy reaches the pick; the next one is over the limit', async (t) => {
  const { handler, send, lines } = setup(t);
  load(handler);
  const first = await send({ host: 'api.test', headers: { 'x-api-key': 'k1' } });
  t.equal(first.headers['weft-error'], 'WEFT_ERR_NO_ENDPOINTS', 'discovery never answered, so the pick found no endpoint');
  t.equal(first.statusCode, 503);
  const second = await send({ host: 'api.test', headers: { 'x-api-key': 'k1' } });
  t.equal(second.statusCode, 429, 'the first request was counted by the rate limit step');
  t.equal(second.headers['retry-after'], second.headers['ratelimit-reset']);
  const access = lines.filter((l) => l.includes('"msg":"access"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(access.length, 2, 'one access line per request');
  t.match(access[0], { route: 'd/api/0', backend: 'd/app:80', consumer: 'alice', code: 'WEFT_ERR_NO_ENDPOINTS', status: 503 });
  t.match(access[1], { route: 'd/api/0', backend: '-', consumer: 'alice', code: 'WEFT_ERR_RATE_LIMITED', policy: 'RateLimitPolicy d/one', status: 429 });
  t.notOk('policy' in (access[0] ?? {}), 'no policy named when none refused');
});

t.test('a redirect answers from the filters step; no backend is chosen', async (t) => {
  const { handler, send, lines } = setup(t);
  load(handler);
  const res = await send({ host: 'old.test', path: '/a?b=1' });
  t.equal(res.statusCode, 301);
  t.equal(res.headers.location, 'http://new.test/a?b=1');
  t.match(JSON.parse(lines.find((l) => l.includes('"msg":"access"')) ?? '{}'), { route: 'd/moved/0', backend: 'redirect', status: 301 });
});

t.test('an unknown host is answered 404 WEFT_ERR_NO_ROUTE', async (t) => {
  const { handler, send } = setup(t);
  load(handler);
  const res = await send({ host: 'nowhere.test', path: '/x' });
  t.equal(res.statusCode, 404);
  t.match(res.body, /WEFT_ERR_NO_ROUTE: no route for nowhere.test\/x/);
});

t.test('a request waits for discovery in the pick step and is answered 503 when the wait runs out', async (t) => {
  const timers = new FakeTimers();
  const { handler, send, options } = setup(t, { timers, discoveryWaitMs: 500 });
  load(handler);
  const answered = send({ host: 'api.test', headers: { 'x-api-key': 'k1' } });
  // The steps up to the pick run synchronously: the discovery wait is already scheduled.
  t.same(timers.scheduled.map((s) => s.delayMs), [500], 'the pick parked the request for the discovery wait');
  t.equal(options.drain.inflight, 1, 'the parked request holds the drain');
  let over = false;
  answered.then(() => (over = true), () => undefined);
  await timers.advance(499);
  t.equal(over, false, 'not answered before the discovery wait runs out');
  await timers.advance(1);
  const res = await answered;
  t.equal(res.statusCode, 503);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_NO_ENDPOINTS');
  t.equal(options.drain.inflight, 0);
});
