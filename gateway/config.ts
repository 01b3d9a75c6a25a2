// `weft gateway`'s settings table (rendered into docs/sidecar-config.md) and the parser that turns
// its environment into a frozen GatewayConfig, listing every problem at once.
import { METRICS_SETTINGS } from '../mesh/metrics/vocabulary.js';
import { handshakeSettings, type HandshakeBounds } from '../lib/tls-guard.js';
import { QUOTA_SETTINGS, quotaSettingsOf, type QuotaSettings } from './quota/quota-settings.js';
import { CACHE_SETTINGS, cacheSettingsOf, type CacheSettings } from './cache/cache-settings.js';
import { bool, ConfigReader, durationMs, hostPort, list, oneOf, port, setting, str, SettingProblem, type HostPort, type SettingType } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/logger.js';
import { ADMIN_PORT, INBOUND_PORT } from '../lib/ports.js';
import { MESH_MODE_SETTINGS, identityFrom, meshModeBlocks, type MeshModeSettings } from '../mesh/mode-settings.js';
import type { ServiceRef } from '../mesh/discovery/endpoint-source.js';
import { parseCidr, type Cidr } from './policies/cidr.js';
import { parseDedicatedSocket, type DedicatedSocket } from './routes/listener-scope.js';
import { STATUS_SETTINGS, type StatusConfig } from './status/status-settings.js';
import { TRACE_SETTINGS, traceSettingsOf, type TraceSettings } from '../mesh/trace/trace-settings.js';

/** A listener address, or `off` (undefined) to disable that listener. */
function listenerOrOff(defaultHost: string): SettingType<HostPort | undefined> {
  const addr = hostPort(defaultHost);
  return {
    label: 'host:port or off',
    parse: (raw, name) => (raw === 'off' ? undefined : addr.parse(raw, name)),
    format: (v) => (v === undefined ? 'off' : addr.format(v)),
  };
}

/** `name[.namespace][:port]` of a Service; the namespace is filled from WEFT_POD_NAMESPACE later. */
interface SelfServiceText {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly port: number;
}

function serviceRef(): SettingType<SelfServiceText> {
  return {
    label: 'name[.namespace][:port]',
    parse(raw, name) {
      const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?(?::(\d+))?$/.exec(raw);
      if (!m || m[1] === undefined) return new SettingProblem(`${name}=${JSON.stringify(raw)} is not "name[.namespace][:port]"`);
      return { name: m[1], namespace: m[3], port: Number(m[5] ?? 80) };
    },
    format: (v) => `${v.name}${v.namespace === undefined ? '' : `.${v.namespace}`}:${v.port}`,
  };
}

// Internet clients on slow links hold a handshake open for several round trips: a larger cap.
const GATEWAY_HANDSHAKE_SETTINGS = handshakeSettings(4096);

/** Every variable `weft gateway` reads, in the order docs/sidecar-config.md lists them. */
export const GATEWAY_SETTINGS = {
  mode: MESH_MODE_SETTINGS.mode,
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: 'info', doc: 'pino level' }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: 'cluster.local', doc: 'trust domain of identities' }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: '', defaultDoc: '(none)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
  namespace: setting({ name: 'WEFT_POD_NAMESPACE', type: str('DNS label'), default: 'weft-system', doc: "the gateway's namespace (its identity and its own Service)" }),
  serviceAccount: setting({ name: 'WEFT_SERVICE_ACCOUNT', type: str('DNS name'), default: 'weft-gateway', doc: 'identity `spiffe://<td>/ns/<ns>/sa/<sa>` presented to the mesh' }),
  routesFile: setting({
    name: 'WEFT_GATEWAY_ROUTES_FILE',
    type: str('path'),
    default: '',
    required: 'local',
    defaultDoc: '(none: routes from the API server)',
    doc: 'multi-document YAML with the route objects, watched for changes; in kubernetes mode, when set, it replaces the API server as the source of routes',
  }),
  http: setting({ name: 'WEFT_GATEWAY_HTTP_ADDR', type: listenerOrOff('0.0.0.0'), default: { host: '0.0.0.0', port: 8080 }, doc: 'plain HTTP listener; `off` disables it' }),
  https: setting({ name: 'WEFT_GATEWAY_HTTPS_ADDR', type: listenerOrOff('0.0.0.0'), default: { host: '0.0.0.0', port: 8443 }, doc: 'TLS listener (HTTP/2 and HTTP/1.1 by ALPN); `off` disables it' }),
  listenerAddrs: setting({
    name: 'WEFT_GATEWAY_LISTENER_ADDRS',
    type: list('http|https:<listener port>[:<namespace>/<gateway>]=<host>:<port>'),
    default: [],
    defaultDoc: '(none: every listener on the two shared sockets)',
    doc: 'dedicated sockets: `http:8080=0.0.0.0:9080` serves the HTTP listeners of port 8080 (of one Gateway when `:ns/name` is given) on their own socket; the shared sockets then leave them out',
  }),
  admin: setting({ name: 'WEFT_ADMIN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: ADMIN_PORT }, doc: '`/live`, `/ready`, `/metrics`, `/debug/endpoints`' }),
  selfService: setting({
    name: 'WEFT_GATEWAY_SERVICE',
    type: serviceRef(),
    default: { name: 'weft-gateway', namespace: undefined, port: 80 },
    doc: "the gateway's own Service (namespace: `WEFT_POD_NAMESPACE`); its ready endpoints are the replicas that share rate limits",
  }),
  trustedProxies: setting({ name: 'WEFT_GATEWAY_TRUSTED_PROXIES', type: list('CIDR'), default: [], doc: 'networks whose `X-Forwarded-For`/`Forwarded` are believed (a load balancer in front)' }),
  defaultTimeoutMs: setting({ name: 'WEFT_GATEWAY_DEFAULT_TIMEOUT_MS', type: durationMs({ min: 0 }), default: 60_000, doc: 'request timeout when a rule sets none (`0`: none)' }),
  upstreamClient: setting({
    name: 'WEFT_GATEWAY_UPSTREAM_CLIENT',
    type: oneOf(['node', 'undici'] as const),
    default: 'undici',
    doc: 'HTTP/1.1 client into the mesh: `undici` carries requests with or without a body (streamed, the body limit counted) except upgrades, HTTP/2 backends, mirrors, retry policies, the response cache, body edits and an HTTP/2 client\'s body of unknown length, which stay on node:http; `node` sends every request through node:http',
  }),
  latencyBuckets: METRICS_SETTINGS.latencyBuckets,
  ...QUOTA_SETTINGS,
  ...CACHE_SETTINGS,
  consumerKeySecrets: setting({
    name: 'WEFT_GATEWAY_CONSUMER_KEY_SECRETS',
    type: bool(),
    default: false,
    doc: "kubernetes mode: watch Secrets labelled `weft.dev/consumer-keys` in every namespace for consumers' key hashes (needs list and watch on Secrets, which the chart does not grant)",
  }),
  reloadDebounceMs: setting({ name: 'WEFT_GATEWAY_RELOAD_DEBOUNCE_MS', type: durationMs({ min: 0, max: 60_000 }), default: 100, doc: 'how long writes to the route file must settle before it is reloaded' }),
  peerPort: setting({ name: 'WEFT_PEER_PORT', type: port(), default: INBOUND_PORT, doc: "the sidecars' inbound port" }),
  connectTimeoutMs: setting({ name: 'WEFT_CONNECT_TIMEOUT_MS', type: durationMs({ min: 1 }), default: 3_000, doc: "dialling a backend's sidecar" }),
  discoveryWaitMs: setting({ name: 'WEFT_DISCOVERY_WAIT_MS', type: durationMs({ min: 0 }), default: 2_000, doc: 'how long the first request to a service waits for discovery' }),
  shutdownGraceMs: setting({ name: 'WEFT_SHUTDOWN_GRACE_MS', type: durationMs({ min: 0 }), default: 30_000, doc: 'SIGTERM: stop accepting, let in-flight requests finish this long' }),
  handshakeTimeoutMs: GATEWAY_HANDSHAKE_SETTINGS.handshakeTimeoutMs,
  maxPendingHandshakes: GATEWAY_HANDSHAKE_SETTINGS.maxPendingHandshakes,
  certLifetimeHours: MESH_MODE_SETTINGS.certLifetimeHours,
  caDir: MESH_MODE_SETTINGS.caDir,
  endpointsFile: MESH_MODE_SETTINGS.endpointsFile,
  caAddr: MESH_MODE_SETTINGS.caAddr,
  trustAnchors: MESH_MODE_SETTINGS.trustAnchors,
  trustAnchorsFile: MESH_MODE_SETTINGS.trustAnchorsFile,
  tokenFile: MESH_MODE_SETTINGS.tokenFile,
  kubeRetryMaxMs: MESH_MODE_SETTINGS.kubeRetryMaxMs,
  destinationAddr: MESH_MODE_SETTINGS.destinationAddr,
  destinationIdentity: MESH_MODE_SETTINGS.destinationIdentity,
  negativeTtlMs: MESH_MODE_SETTINGS.negativeTtlMs,
  ...STATUS_SETTINGS,
  ...TRACE_SETTINGS,
} as const;

/**
 * Everything `weft gateway` is configured with (the mode fields are the proxy's too). In
 * kubernetes mode routes come from the API server unless routesFile is set.
 */
export interface GatewayConfig extends MeshModeSettings {
  readonly logLevel: string;
  /** The pod's name for log lines; '' when unset. */
  readonly podName: string;
  /** Plain HTTP listener; undefined when disabled ("off"). */
  readonly http: HostPort | undefined;
  /** TLS listener (HTTP/1.1 and HTTP/2 by ALPN); undefined when disabled. */
  readonly https: HostPort | undefined;
  /** Listener ports (of every Gateway, or of one) served on sockets of their own. */
  readonly listenerSockets: readonly DedicatedSocket[];
  readonly admin: HostPort;
  readonly routesFile: string;
  /** The gateway's own Service, whose ready endpoints are the replicas sharing rate limits. */
  readonly selfService: ServiceRef;
  readonly trustedProxies: readonly Cidr[];
  readonly defaultTimeoutMs: number;
  readonly reloadDebounceMs: number;
  /** Kubernetes mode: watch Secrets labelled weft.dev/consumer-keys for consumers' key hashes. */
  readonly consumerKeySecrets: boolean;
  /** Where plan quotas are counted. */
  readonly quota: QuotaSettings;
  /** The HTTP/1.1 client plain requests into the mesh take (WEFT_GATEWAY_UPSTREAM_CLIENT). */
  readonly upstreamClient: 'node' | 'undici';
  /** The Redis of `backend: redis` CachePolicies. */
  readonly cache: CacheSettings;
  readonly peerPort: number;
  readonly connectTimeoutMs: number;
  readonly discoveryWaitMs: number;
  readonly shutdownGraceMs: number;
  /** Bounds of the TLS listener's handshakes. */
  readonly handshake: HandshakeBounds;
  /** Gateway API status writing (kubernetes mode). */
  /** Upper bounds of the latency histogram's buckets, seconds (WEFT_LATENCY_BUCKETS_SECONDS). */
  readonly latencyBuckets: readonly number[];
  readonly status: StatusConfig;
  /** Tracing (docs/tracing.md); off when no OTLP endpoint is set. */
  readonly trace: TraceSettings;
}

/** Parses the environment; throws WEFT_ERR_CONFIG listing every problem. */
export function parseGatewayConfig(env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  // The mode decides which rows apply; a bad WEFT_MODE is reported once, by the table read below.
  const mode = new ConfigReader(env).setting(GATEWAY_SETTINGS.mode);
  const c = new ConfigReader(env);
  const v = c.table(GATEWAY_SETTINGS, { mode });
  const identity = identityFrom(c, v);
  if (!v.http && !v.https) c.problem('WEFT_GATEWAY_HTTP_ADDR and WEFT_GATEWAY_HTTPS_ADDR are both off; nothing to listen on');
  const trustedProxies = v.trustedProxies.flatMap((t) => {
    const p = parseCidr(t);
    if (typeof p === 'string') {
      c.problem(`WEFT_GATEWAY_TRUSTED_PROXIES: ${p}`);
      return [];
    }
    return [p];
  });
  const listenerSockets = v.listenerAddrs.flatMap((raw) => {
    const d = parseDedicatedSocket(raw, '0.0.0.0');
    if (typeof d === 'string') {
      c.problem(`WEFT_GATEWAY_LISTENER_ADDRS: ${d}`);
      return [];
    }
    return [d];
  });
  const keys = new Set<string>();
  for (const d of listenerSockets) {
    const key = `${d.protocol.toLowerCase()}:${d.port}${d.gateway === undefined ? '' : `:${d.gateway}`}`;
    if (keys.has(key)) c.problem(`WEFT_GATEWAY_LISTENER_ADDRS: ${key} is given twice`);
    keys.add(key);
  }
  const config: GatewayConfig = {
    mode,
    logLevel: v.logLevel,
    trustDomain: v.trustDomain,
    podName: v.podName,
    identity,
    namespace: v.namespace,
    http: v.http,
    https: v.https,
    listenerSockets,
    admin: v.admin,
    routesFile: v.routesFile,
    selfService: { name: v.selfService.name, namespace: v.selfService.namespace ?? v.namespace, port: v.selfService.port },
    trustedProxies,
    defaultTimeoutMs: v.defaultTimeoutMs,
    reloadDebounceMs: v.reloadDebounceMs,
    consumerKeySecrets: v.consumerKeySecrets,
    quota: quotaSettingsOf(v, (m) => c.problem(m)),
    upstreamClient: v.upstreamClient,
    cache: cacheSettingsOf(v, (m) => c.problem(m)),
    peerPort: v.peerPort,
    latencyBuckets: v.latencyBuckets,
    connectTimeoutMs: v.connectTimeoutMs,
    discoveryWaitMs: v.discoveryWaitMs,
    shutdownGraceMs: v.shutdownGraceMs,
    handshake: { handshakeTimeoutMs: v.handshakeTimeoutMs, maxPendingHandshakes: v.maxPendingHandshakes },
    status: { write: v.statusWrite, lease: v.statusLease, leaseMs: v.statusLeaseMs, addresses: v.statusAddresses },
    certLifetimeHours: v.certLifetimeHours,
    trace: traceSettingsOf(v),
    ...meshModeBlocks(v, v.trustDomain),
  };
  c.done();
  return Object.freeze(config);
}
