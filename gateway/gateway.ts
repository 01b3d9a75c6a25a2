// Composition root of `weft gateway`, read in request order: admin first (so /ready can say why
// it is not ready) -> identity and discovery -> route file (validated, hot-reloaded) -> the
// HTTP and HTTPS listeners (TLS by SNI, HTTP/2 by ALPN) -> GatewayHandler (route, policies,
// filters) -> mTLS into the mesh through the sidecar's balancers and peer pool.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { Server } from 'node:net';
import type { SecureContext } from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import { startAdminServer } from '../lib/admin-server.js';
import { ServiceBalancers } from '../mesh/balance/service-balancers.js';
import { PeerPool } from '../mesh/peer-pool.js';
import { clientSecureContext } from '../mesh/mesh-tls.js';
import { Drain } from '../mesh/drain.js';
import type { EndpointSource } from '../mesh/discovery/endpoint-source.js';
import type { IdentityProvider, TlsMaterial } from '../mesh/identity/identity-provider.js';
import type { Logger } from '../lib/logger.js';
import type { HostPort } from '../lib/config.js';
import type { GatewayConfig } from './config.js';
import { WeftError } from '../lib/errors.js';
import { guardHandshakes, type HandshakeGuard } from '../lib/tls-guard.js';
import { createGatewayMetrics } from './metrics.js';
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
  readonly addresses: { readonly admin: HostPort; readonly http?: HostPort; readonly https?: HostPort };
  /** Stops accepting, lets in-flight requests finish within the grace, closes all. True if all finished. */
  shutdown(): Promise<boolean>;
}

/** Starts the gateway. */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.log;
  const metrics = createGatewayMetrics(deps.registry);
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

  const quota = buildQuotaBackend(config.quota, { registry: deps.registry, log, timers: deps.timers ?? realTimers });
  const handler = new GatewayHandler({
    quota: quota.backend,
    logger: log,
    metrics,
    balancers,
    pool,
    discoveryWaitMs: config.discoveryWaitMs,
    trustedProxies: config.trustedProxies,
    defaultTimeoutMs: config.defaultTimeoutMs,
    readyReplicas: () => replicas,
    clock: deps.clock ?? Date.now,
    random: deps.random ?? Math.random,
    drain,
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
  const loader = new StateLoader({ log, metrics, apply: (s) => handler.setState(s) });
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
      // Each consumer's use against its plan's windows, from Redis when it counts the quotas.
      ['/debug/usage', (_req: IncomingMessage, res: ServerResponse) => serveUsage(res, handler.state, quota)],
      [
        '/debug/routes',
        (_req: IncomingMessage, res: ServerResponse) => {
          const body = `${JSON.stringify({ generation: loader.generation, absentKinds: kubeRoutes?.absentKinds ?? [], conditions: handler.state?.conditions ?? [], warnings: handler.state?.warnings ?? [] }, null, 2)}\n`;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        },
      ],
    ]),
  });

  await deps.identity.start();
  const material = deps.identity.current();
  if (!material) throw new Error('identity provider started without a certificate');
  onMaterial(material);
  if (routes) await routes.start();
  // Not awaited: /ready says "routes not loaded" until every collection is listed and built.
  kubeRoutes?.start();

  const servers: Server[] = [];
  let httpServer: http.Server | undefined;
  let httpsServer: http2.Http2SecureServer | undefined;
  let guard: HandshakeGuard | undefined;
  if (config.http) {
    httpServer = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => handler.handle('HTTP', req, res));
    await listen(httpServer, config.http);
    servers.push(httpServer);
  }
  if (config.https) {
    httpsServer = http2.createSecureServer({
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      // The certificate is chosen per connection by SNI from the state in force at the handshake.
      SNICallback: (servername, cb) => {
        const state = handler.state;
        const cert = state?.table.certificateFor(servername || undefined);
        const ctx = cert && state?.contexts.get(cert);
        if (ctx) cb(null, ctx);
        else cb(new Error(`no certificate for ${JSON.stringify(servername)}`));
      },
      // Asked of every client but only required where a listener sets frontendValidation;
      // the handler checks the chain against that listener's CA.
      requestCert: true,
      rejectUnauthorized: false,
    });
    httpsServer.on('request', (req, res) => handler.handle('HTTPS', req, res));
    // Handshakes are bounded in time and number; failures are counted by reason and summarized.
    const handshakeFailures = new Counter({
      name: 'weft_tls_handshake_failures_total',
      help: 'Failed TLS handshakes on the HTTPS listener, by reason (handshake_timeout, too_many_handshakes, ...)',
      labelNames: ['direction', 'reason'] as const,
      registers: [deps.registry],
    });
    guard = guardHandshakes(httpsServer, {
      ...config.handshake,
      listener: 'https',
      timers: realTimers,
      log,
      onFailure: (reason) => handshakeFailures.inc({ direction: 'inbound', reason }),
    });
    await listen(httpsServer, config.https);
    servers.push(httpsServer);
  }
  const addressOf = (server: Server): HostPort => {
    const a = server.address();
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '', port: 0 };
  };
  const addresses = {
    admin: addressOf(admin),
    ...(httpServer ? { http: addressOf(httpServer) } : {}),
    ...(httpsServer ? { https: addressOf(httpsServer) } : {}),
  };
  log.info({ identity: config.identity, ...addresses, routes: config.routesFile || 'kubernetes' }, 'gateway started');

  return {
    addresses,
    shutdown: async () => {
      log.info({ inflight: drain.inflight, graceMs: config.shutdownGraceMs }, 'draining');
      routes?.close();
      await kubeRoutes?.stop();
      for (const s of servers) s.close();
      guard?.close();
      httpServer?.closeIdleConnections();
      const clean = await drain.drain(config.shutdownGraceMs);
      if (!clean) log.warn({ inflight: drain.inflight }, 'grace period over; closing the rest');
      httpServer?.closeAllConnections();
      stopSelfWatch();
      pool.close();
      balancers.close();
      deps.identity.close();
      leaf.close();
      await deps.source.close();
      admin.close();
      admin.closeAllConnections();
      await quota.close();
      return clean;
    },
  };
}

function listen(server: Server, addr: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
}
