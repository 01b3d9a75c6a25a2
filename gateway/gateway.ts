// Composition root of `weft gateway`, read in request order: admin first (so /ready can say why
// it is not ready) -> identity and discovery -> route file (validated, hot-reloaded) -> the
// HTTP and HTTPS listeners (TLS by SNI, HTTP/2 by ALPN) -> GatewayHandler (route, policies,
// filters) -> mTLS into the mesh through the sidecar's balancers and peer pool.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecureContext } from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import { startAdminServer } from '../lib/admin-server.js';
import { ServiceBalancers } from '../mesh/balance/service-balancers.js';
import { PeerPool } from '../mesh/peer-pool.js';
import { clientSecureContext } from '../mesh/mesh-tls.js';
import { Drain } from '../mesh/drain.js';
import type { EndpointSource } from '../mesh/discovery/endpoint-source.js';
import { LocalEndpointSource } from '../mesh/discovery/local-endpoint-source.js';
import type { IdentityProvider, TlsMaterial } from '../mesh/identity/identity-provider.js';
import type { Logger } from '../lib/logger.js';
import type { HostPort } from '../lib/config.js';
import type { GatewayConfig } from './config.js';
import { WeftError } from '../lib/errors.js';
import { openSockets } from './listener-sockets.js';
import { createGatewayMetrics } from './metrics.js';
import { LabelValues } from '../mesh/metrics/vocabulary.js';
import { Traffic, createTrafficMetrics } from '../mesh/traffic/traffic.js';
import { DEFAULT_TRAFFIC_SETTINGS, budgetTermsOf } from '../mesh/traffic/traffic-settings.js';
import { GatewayHandler } from './handler.js';
import { RouteFile, StateLoader } from './sources/route-file.js';
import { KubeRoutes, ROUTE_RESOURCES } from './sources/kube-routes.js';
import { CONSUMER_KEY_SECRETS } from './consumers/key-secrets.js';
import { buildQuotaBackend, serveUsage } from './quota/quota-backend.js';
import type { KubeClient } from '../lib/kube/client.js';
import { LeafReadiness } from '../mesh/identity/leaf-readiness.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { startStatusWriting } from './status/status-writing.js';
import { computeStatuses, type StatusSource } from './status/gateway-status.js';
import { ResponseCaches } from './cache/cache-policy.js';
import { connectCacheRedis } from './cache/redis-store.js';
import { purgeCache, serveCacheDebug } from './cache/cache-admin.js';
import { registerCacheMetrics } from './cache/cache-metrics.js';
import { startTracing } from '../mesh/trace/tracing.js';

/** What the gateway is built from besides its config. */
export interface GatewayDeps {
  readonly log: Logger;
  readonly registry: Registry;
  readonly source: EndpointSource;
  readonly identity: IdentityProvider;
  readonly clock?: () => number;
  readonly random?: () => number;
  /** Clock and timers of the certificate's expiry re-check (fake in tests). */
  readonly timers?: Timers;
  /** Kubernetes mode without a routes file: routes are watched through this client. */
  readonly kubeClient?: KubeClient;
}

/** A running gateway. */
export interface RunningGateway {
  readonly addresses: {
    readonly admin: HostPort;
    readonly http?: HostPort;
    readonly https?: HostPort;
    /** The dedicated listener sockets (WEFT_GATEWAY_LISTENER_ADDRS), by name "http:8080[:ns/gateway]". */
    readonly listeners: readonly { readonly name: string; readonly host: string; readonly port: number }[];
  };
  /** Stops accepting, lets in-flight requests finish within the grace, closes all. True if all finished. */
  shutdown(): Promise<boolean>;
}

/** Starts the gateway. */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.log;
  const metrics = createGatewayMetrics(deps.registry, config.latencyBuckets);
  const drain = new Drain();
  const balancers = new ServiceBalancers(deps.source, { random: deps.random ?? Math.random });
  let meshContext: SecureContext | undefined;
  const onMaterial = (m: TlsMaterial): void => {
    meshContext = clientSecureContext(m);
  };
  deps.identity.onChange(onMaterial);
  const leaf = new LeafReadiness({ identity: deps.identity, expectedIdentity: config.identity, timers: deps.timers ?? realTimers, log });
  const pool = new PeerPool({ peerPort: config.peerPort, connectTimeoutMs: config.connectTimeoutMs, secureContext: () => meshContext });

  // Replicas of this gateway, from its own Service's endpoints: rate limits are shared among them.
  let replicas = 1;
  const stopSelfWatch = deps.source.watch(config.selfService, (snap) => {
    replicas = Math.max(1, (snap.endpoints ?? []).filter((e) => e.ready).length);
    metrics.readyReplicas.set(replicas);
  });

  // Off (no OTLP endpoint): undefined, and nothing of OpenTelemetry is loaded.
  const serviceName = config.trace.serviceName ?? config.identity.slice(config.identity.lastIndexOf('/') + 1);
  const tracing = await startTracing(config.trace, { serviceName, namespace: config.namespace, pod: config.podName }, log);
  const quota = buildQuotaBackend(config.quota, { registry: deps.registry, log, timers: deps.timers ?? realTimers });
  // CachePolicy stores outlive reloads; the admin port can purge them by route.
  const cacheRedis = connectCacheRedis(config.cache, { log, timers: deps.timers ?? realTimers });
  const caches = new ResponseCaches(cacheRedis.link, deps.clock ?? Date.now);
  registerCacheMetrics(deps.registry, caches);
  const handler = new GatewayHandler({
    undici: config.upstreamClient === 'undici',
    quota: quota.backend,
    caches,
    logger: log,
    metrics,
    labels: new LabelValues(config.identity),
    balancers,
    pool,
    discoveryWaitMs: config.discoveryWaitMs,
    trustedProxies: config.trustedProxies,
    defaultTimeoutMs: config.defaultTimeoutMs,
    readyReplicas: () => replicas,
    clock: deps.clock ?? Date.now,
    random: deps.random ?? Math.random,
    drain,
    ...(tracing ? { tracing } : {}),
    // HTTPRoute `retry` runs on the mesh's engine, each backend Service with its own budget.
    traffic: new Traffic({
      terms: budgetTermsOf(DEFAULT_TRAFFIC_SETTINGS),
      defaultPolicy: undefined,
      defaultTimeouts: { requestMs: 0, backendRequestMs: 0 },
      metrics: createTrafficMetrics(deps.registry),
      now: () => performance.now(),
      random: deps.random ?? Math.random,
    }),
  });
  // Kubernetes mode without a routes file: one replica at a time writes Gateway API status.
  const status = !config.routesFile && deps.kubeClient && config.status.write
    ? startStatusWriting({ client: deps.kubeClient, config: config.status, namespace: config.namespace, podName: config.podName, selfService: config.selfService, timers: deps.timers ?? realTimers, log })
    : undefined;
  // Which Services exist, for BackendNotFound: the API server's are all read with the routes; in
  // local mode the endpoints file names the rest; a routes file with other discovery cannot know.
  const local = deps.source instanceof LocalEndpointSource ? deps.source : undefined;
  const serviceElsewhere = !config.routesFile && deps.kubeClient
    ? (): boolean => false
    : local
      ? (namespace: string, name: string): boolean => local.file?.services.some((s) => s.namespace === namespace && s.name === name) ?? false
      : undefined;
  const loader = new StateLoader({ log, metrics, apply: (s) => handler.setState(s), onStatus: (s) => status?.update(s), ...(serviceElsewhere ? { serviceElsewhere } : {}) });
  // A routes file wins in either mode; without one (kubernetes mode only) the API server is the source.
  let routes: RouteFile | undefined;
  let kubeRoutes: KubeRoutes | undefined;
  if (config.routesFile) {
    routes = new RouteFile(config.routesFile, { log, loader, debounceMs: config.reloadDebounceMs });
  } else if (deps.kubeClient) {
    const restarts = new Counter({
      name: 'weft_gateway_route_watch_restarts_total',
      help: 'Route watch restarts against the API server, by resource and reason (expired: 410 re-list; error: broken or refused; closed: ended by the server)',
      labelNames: ['resource', 'reason'] as const,
      registers: [deps.registry],
    });
    const relists = new Counter({
      name: 'weft_gateway_route_watch_relists_total',
      help: 'Full route lists against the API server, by resource and reason (initial, expired, retry, recheck, continue-expired)',
      labelNames: ['resource', 'reason'] as const,
      registers: [deps.registry],
    });
    // Consumers' key Secrets are watched with the routes, so a rotated key applies like a route edit.
    const resources = config.consumerKeySecrets ? [...ROUTE_RESOURCES, CONSUMER_KEY_SECRETS] : ROUTE_RESOURCES;
    kubeRoutes = new KubeRoutes({ client: deps.kubeClient, loader, logger: log, restarts, relists, debounceMs: config.reloadDebounceMs, resources });
  } else {
    throw new WeftError('WEFT_ERR_CONFIG', 'the gateway has no route source: set WEFT_GATEWAY_ROUTES_FILE, or run in kubernetes mode with an API server');
  }

  const admin = await startAdminServer(config.admin, {
    registry: deps.registry,
    readiness: () => {
      const reasons: string[] = [];
      const leafReason = leaf.reason();
      if (leafReason) reasons.push(leafReason);
      if (!deps.source.synced) reasons.push('endpoints not loaded');
      if (routes && !handler.state) reasons.push('no route file loaded');
      if (kubeRoutes && (!kubeRoutes.synced || !handler.state)) reasons.push('routes not loaded');
      if (drain.draining) reasons.push('shutting down');
      return { ready: reasons.length === 0, reasons };
    },
    debugEndpoints: () => ({ services: balancers.debug(), replicas, generation: loader.generation }),
    // What the route source found: kinds the API server does not serve and each object left out whole or in part.
    routes: new Map([
      // The Gateway API status of what serves, as kubernetes mode writes it (`weft gateway status` prints it).
      ['/debug/status', (_req: IncomingMessage, res: ServerResponse) => sendStatus(res, loader.statusSource, listenerHosts)],
      // Each consumer's use against its plan's windows, from Redis when it counts the quotas.
      ['/debug/usage', (_req: IncomingMessage, res: ServerResponse) => serveUsage(res, handler.state, quota)],
      ['/debug/cache', (_req: IncomingMessage, res: ServerResponse) => serveCacheDebug(res, caches)],
      [
        '/debug/routes',
        (_req: IncomingMessage, res: ServerResponse) => {
          const body = `${JSON.stringify({ generation: loader.generation, absentKinds: kubeRoutes?.absentKinds ?? [], conditions: handler.state?.conditions ?? [], warnings: handler.state?.warnings ?? [] }, null, 2)}\n`;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        },
      ],
    ]),
    postRoutes: new Map([['/debug/cache/purge', (req: IncomingMessage, res: ServerResponse) => purgeCache(req, res, caches)]]),
  });

  await deps.identity.start();
  const material = deps.identity.current();
  if (!material) throw new Error('identity provider started without a certificate');
  onMaterial(material);
  if (routes) await routes.start();
  // Not awaited: /ready says "routes not loaded" until every collection is listed and built.
  kubeRoutes?.start();

  const listenerHosts: string[] = [];
  const sockets = await openSockets({ http: config.http, https: config.https, dedicated: config.listenerSockets, handshake: config.handshake, handler, registry: deps.registry, log });
  const addressOf = (name: string): HostPort | undefined => sockets.sockets.find((s) => s.name === name)?.address;
  const httpAddr = addressOf('http');
  const httpsAddr = addressOf('https');
  const listeners = sockets.sockets.filter((s) => !s.scope.shared).map((s) => ({ name: s.name, host: s.address.host, port: s.address.port }));
  const addresses = {
    admin: { host: (admin.address() as AddressInfo).address, port: (admin.address() as AddressInfo).port },
    ...(httpAddr ? { http: httpAddr } : {}),
    ...(httpsAddr ? { https: httpsAddr } : {}),
    listeners,
  };
  for (const a of [addresses.http, addresses.https]) if (a && !listenerHosts.includes(a.host)) listenerHosts.push(a.host);
  log.info({ identity: config.identity, ...addresses, routes: config.routesFile || 'kubernetes' }, 'gateway started');

  return {
    addresses,
    shutdown: async () => {
      log.info({ inflight: drain.inflight, graceMs: config.shutdownGraceMs }, 'draining');
      routes?.close();
      await kubeRoutes?.stop();
      await status?.stop();
      sockets.close();
      sockets.closeIdle();
      const clean = await drain.drain(config.shutdownGraceMs);
      if (!clean) log.warn({ inflight: drain.inflight }, 'grace period over; closing the rest');
      sockets.closeAll();
      stopSelfWatch();
      pool.close();
      balancers.close();
      deps.identity.close();
      leaf.close();
      await deps.source.close();
      admin.close();
      admin.closeAllConnections();
      await quota.close();
      cacheRedis.close();
      await tracing?.shutdown();
      return clean;
    },
  };
}

function sendStatus(res: ServerResponse, source: StatusSource | undefined, addresses: readonly string[]): void {
  const body = `${JSON.stringify({ statuses: source ? computeStatuses({ ...source, addresses }) : [] }, null, 2)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
