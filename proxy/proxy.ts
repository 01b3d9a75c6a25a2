// Composition root of `weft proxy`: wires the admin, outbound and inbound sides to an endpoint
// source and an identity provider, and drains them on shutdown.
import type { Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from '../lib/metrics-client.js';
import { startAdminServer } from '../lib/admin-server.js';
import { OutboundProxy } from './outbound/server.js';
import { InboundProxy } from './inbound/server.js';
import { PeerPool } from '../mesh/peer-pool.js';
import { ServiceBalancers } from '../mesh/balance/service-balancers.js';
import { clientSecureContext } from '../mesh/mesh-tls.js';
import { createProxyMetrics } from './metrics.js';
import { ExchangeRecorder } from './exchange.js';
import { LabelValues } from '../mesh/metrics/vocabulary.js';
import type { ConnectionFacts } from './connection-series.js';
import { Drain } from '../mesh/drain.js';
import type { ProxyConfig } from './config.js';
import type { AddressInfo, EndpointSource } from '../mesh/discovery/endpoint-source.js';
import type { IdentityProvider, TlsMaterial } from '../mesh/identity/identity-provider.js';
import type { Logger } from '../lib/logger.js';
import type { HostPort } from '../lib/config.js';
import type { TLSSocket } from 'node:tls';
import type tls from 'node:tls';
import { originalDestination, wasRedirected } from './capture/original-dst.js';
import { LeafReadiness } from '../mesh/identity/leaf-readiness.js';
import { realTimers, type Timers } from '../lib/timers.js';
import { createOpaqueInbound } from './capture/opaque.js';
import { Traffic, createTrafficMetrics } from '../mesh/traffic/traffic.js';
import { balanceOptionsOf, budgetTermsOf, defaultRetryPolicyOf, defaultTimeoutsOf } from '../mesh/traffic/traffic-settings.js';
import { RoutesFile } from '../mesh/routes/routes-file.js';
import { RemoteRoutes } from '../mesh/routes/remote-routes.js';
import { RemoteEndpointSource } from '../mesh/discovery/remote-endpoint-source.js';
import { InboundAuthz, AUTHZ_DEBUG_PATH } from './inbound/authorize.js';
import type { PolicySource } from '../mesh/authz/policy-source.js';
import { TapHub } from './tap/tap-hub.js';
import { tapRoutes } from './tap/tap-admin.js';
import { startTracing } from '../mesh/trace/tracing.js';

// Recent failures kept for /debug/recent-failures (a few KB each at most, headers left out).
const RECENT_FAILURES = 100;

/** What the proxy is built from, besides its config. */
export interface ProxyDeps {
  readonly log: Logger;
  readonly registry: Registry;
  readonly source: EndpointSource;
  readonly identity: IdentityProvider;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Clock and timers of the certificate's expiry re-check (fake in tests). */
  readonly timers?: Timers;
  /** Extra admin routes by path prefix (probe replay). */
  readonly adminRoutes?: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
  /** Where the inbound side's authorization policies come from; absent: no policy is enforced. */
  readonly policies?: PolicySource;
  /** Opaque TCP handler for ALPN weft-tcp on the inbound side. */
  readonly onOpaque?: (socket: TLSSocket, peer: string, facts?: ConnectionFacts) => void;
}

/** A running proxy. */
export interface RunningProxy {
  /** Where each listener ended up (port 0 in config means "any"). */
  readonly addresses: { readonly admin: HostPort; readonly outbound: HostPort; readonly inbound: HostPort; readonly upstreams: readonly HostPort[] };
  readonly balancers: ServiceBalancers;
  readonly pool: PeerPool;
  /** Stops accepting, lets in-flight requests finish within the grace, then closes all. True if all finished. */
  shutdown(): Promise<boolean>;
}

const UNUSED_SERVICE_MS = 10 * 60_000;

/** Starts the proxy: admin first (so /ready says why it is not ready), then outbound, then inbound once a certificate is held. */
export async function startProxy(config: ProxyConfig, deps: ProxyDeps): Promise<RunningProxy> {
  const now = deps.now ?? (() => performance.now());
  const metrics = createProxyMetrics(deps.registry, config.latencyBuckets);
  const tap = new TapHub(now, Date.now, RECENT_FAILURES);
  const recorder = new ExchangeRecorder(metrics, deps.log, now, config.accessLog, tap, new LabelValues(config.identity));
  const drain = new Drain();
  // Off (no OTLP endpoint): undefined, and nothing of OpenTelemetry is loaded.
  const tracing = await startTracing(config.trace, { serviceName: config.trace.serviceName ?? config.serviceAccount, namespace: config.namespace, pod: config.podName }, deps.log);
  const random = deps.random ?? Math.random;
  const traffic = new Traffic({
    terms: budgetTermsOf(config.traffic),
    defaultPolicy: defaultRetryPolicyOf(config.traffic),
    defaultTimeouts: defaultTimeoutsOf(config.traffic),
    metrics: createTrafficMetrics(deps.registry),
    now,
    random,
  });
  const balance = balanceOptionsOf(config.traffic, now);
  // Local mode's mesh routes; a bad file at start stops the proxy with WEFT_ERR_ROUTES_FILE.
  const routes = config.mode === 'local' && config.traffic.routesFile ? new RoutesFile(config.traffic.routesFile, config.namespace, deps.log) : undefined;
  await routes?.start();
  // Kubernetes mode's mesh routes come from weft destination on discovery's session (no API credentials).
  const source = deps.source;
  const remoteRoutes = source instanceof RemoteEndpointSource
    ? new RemoteRoutes({ open: (path) => source.openStream(path), identity: deps.identity, namespace: config.namespace, log: deps.log })
    : undefined;
  remoteRoutes?.start();
  const evictions = new Counter({ name: 'weft_discovery_evictions_total', help: 'Services dropped to stay within WEFT_MAX_SERVICES (least recently used first)', registers: [deps.registry] });
  const balancers = new ServiceBalancers(deps.source, {
    random,
    maxServices: config.maxServices,
    onEvict: () => evictions.inc(),
    balance: {
      ...balance,
      onEject: (endpoint, ms) => {
        traffic.ejected(endpoint);
        deps.log.warn({ endpoint: `${endpoint.address}:${endpoint.port}`, pod: endpoint.podName, peer: endpoint.identity, ejectedMs: ms }, 'endpoint ejected after consecutive failures');
      },
    },
  });
  let context: tls.SecureContext | undefined;
  const onMaterial = (material: TlsMaterial): void => {
    context = clientSecureContext(material);
    metrics.certificateExpiry.set(material.notAfter.getTime() / 1000);
  };
  deps.identity.onChange(onMaterial);
  const leaf = new LeafReadiness({ identity: deps.identity, expectedIdentity: config.identity, timers: deps.timers ?? realTimers, log: deps.log });
  const pool = new PeerPool({
    peerPort: config.peerPort,
    connectTimeoutMs: config.connectTimeoutMs,
    secureContext: () => context,
    onHandshakeFailure: (reason) => metrics.handshakeFailures.inc({ direction: 'outbound', reason }),
  });

  const authz = deps.policies
    ? new InboundAuthz({
        source: deps.policies,
        pod: { namespace: config.namespace, labels: config.podLabels, trustDomain: config.trustDomain, defaultPolicy: config.defaultInboundPolicy },
        registry: deps.registry,
        log: deps.log,
      })
    : undefined;
  const adminRoutes = new Map(deps.adminRoutes ?? []);
  for (const [path, handler] of tapRoutes(tap)) adminRoutes.set(path, handler);
  if (authz) adminRoutes.set(AUTHZ_DEBUG_PATH, (req, res) => authz.handleDebug(req, res));
  const authorize = authz ? authz.check.bind(authz) : undefined;

  const admin = await startAdminServer(config.admin, {
    registry: deps.registry,
    readiness: () => {
      const reasons: string[] = [];
      const leafReason = leaf.reason();
      if (leafReason) reasons.push(leafReason);
      if (!deps.source.synced) reasons.push('endpoints not loaded');
      if (authz && !authz.loaded) reasons.push('authorization policies not loaded');
      if (drain.draining) reasons.push('shutting down');
      return { ready: reasons.length === 0, reasons };
    },
    debugEndpoints: () => ({ services: balancers.debug() }),
    routes: adminRoutes,
  });

  const outbound = new OutboundProxy({
    balancers,
    pool,
    identity: deps.identity,
    recorder,
    metrics,
    names: { namespace: config.namespace, clusterDomain: config.clusterDomain },
    drain,
    now,
    log: deps.log,
    discoveryWaitMs: config.discoveryWaitMs,
    connectTimeoutMs: config.connectTimeoutMs,
    traffic,
    timers: realTimers,
    random,
    ...(tracing ? { tracing } : {}),
    ...(routes ? { routes } : remoteRoutes ? { routes: remoteRoutes } : {}),
    capture: {
      detectTimeoutMs: config.detectTimeoutMs,
      originalDestination,
      wasRedirected,
      resolve: (address, port) => resolveAddress(deps.source, address, port),
      opaquePorts: config.opaquePorts,
      egress: config.egress,
      selfAddresses: ownAddresses(),
      selfPorts: new Set([config.inbound.port, config.outbound.port, config.admin.port, ...config.upstreams.map((u) => u.listen.port)]),
      log: deps.log,
    },
  });
  const outboundServer = await outbound.listen(config.outbound);
  const upstreamServers: Server[] = [];
  for (const upstream of config.upstreams) upstreamServers.push(await outbound.listen(upstream.listen, upstream.service));

  await deps.identity.start();
  const material = deps.identity.current();
  if (!material) throw new Error('identity provider started without a certificate');
  onMaterial(material);
  const inbound = new InboundProxy(
    {
      appHost: config.appHost,
      reservedPorts: new Set([config.inbound.port, config.outbound.port, config.admin.port]),
      recorder,
      metrics,
      drain,
      log: deps.log,
      now,
      handshake: config.handshake,
      ...(authorize ? { authorize } : {}),
      ...(tracing ? { tracing } : {}),
      onOpaque:
        deps.onOpaque ??
        createOpaqueInbound({
          appHost: config.appHost,
          reservedPorts: new Set([config.inbound.port, config.outbound.port, config.admin.port]),
          connectTimeoutMs: config.connectTimeoutMs,
          preambleTimeoutMs: config.connectTimeoutMs,
          recorder,
          log: deps.log,
          now,
          ...(authorize ? { authorize } : {}),
        }),
    },
    material,
  );
  deps.identity.onChange((m) => inbound.setMaterial(m));
  const inboundServer = await inbound.listen(config.inbound);

  const sweeper = setInterval(() => balancers.sweep(UNUSED_SERVICE_MS), 60_000);
  sweeper.unref();

  const addressOf = (server: Server): HostPort => {
    const a = server.address();
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '', port: 0 };
  };
  deps.log.info(
    { identity: config.identity, inbound: addressOf(inboundServer), outbound: addressOf(outboundServer), admin: addressOf(admin) },
    'proxy started',
  );

  return {
    addresses: {
      admin: addressOf(admin),
      outbound: addressOf(outboundServer),
      inbound: addressOf(inboundServer),
      upstreams: upstreamServers.map(addressOf),
    },
    balancers,
    pool,
    shutdown: async () => {
      deps.log.info({ inflight: drain.inflight, graceMs: config.shutdownGraceMs }, 'draining');
      outbound.close();
      inbound.close();
      const clean = await drain.drain(config.shutdownGraceMs);
      if (!clean) deps.log.warn({ inflight: drain.inflight }, 'grace period over; closing the rest');
      outbound.destroy();
      inbound.destroy();
      pool.close();
      clearInterval(sweeper);
      balancers.close();
      routes?.close();
      remoteRoutes?.close();
      deps.identity.close();
      leaf.close();
      authz?.close();
      await deps.policies?.close();
      await deps.source.close();
      await tracing?.shutdown();
      admin.close();
      admin.closeAllConnections();
      return clean;
    },
  };
}

// What discovery knows of an address: the source's own answer (Kubernetes mode asks `weft
// destination`), or, for a source that only knows its endpoints (local mode), the pod at that IP.
// Local mode has no sidecar-less pods: every endpoint of the file is meshed.
function resolveAddress(source: EndpointSource, address: string, port: number): AddressInfo | Promise<AddressInfo> {
  if (source.resolveAddress) return source.resolveAddress(address, port);
  const owner = source.endpointAt?.(address, port);
  return owner ? { kind: 'pod', owner } : { kind: 'unknown' };
}

// The pod's own addresses: a captured connection to one of them on a proxy port would loop.
function ownAddresses(): ReadonlySet<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) addresses.add(info.address);
  return addresses;
}
