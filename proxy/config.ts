// `weft proxy`'s settings table (rendered into docs/sidecar-config.md) and the parser that turns
// its environment into a frozen ProxyConfig, listing every problem at once.
import { METRICS_SETTINGS } from '../mesh/metrics/vocabulary.js';
import { ConfigReader, durationMs, bool, hostPort, int, list, oneOf, optional, port, setting, str, type HostPort } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/logger.js';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT } from '../lib/ports.js';
import { MESH_MODE_SETTINGS, identityFrom, meshModeBlocks, type MeshModeSettings } from '../mesh/mode-settings.js';
import type { ServiceRef } from '../mesh/discovery/endpoint-source.js';
import { HANDSHAKE_SETTINGS, type HandshakeBounds } from '../lib/tls-guard.js';
import { ALLOW_ALL, EGRESS_MODES, parseEgressPolicy, type EgressPolicy } from '../mesh/egress-policy.js';
import { TRAFFIC_SETTINGS, trafficSettingsOf, type TrafficSettings } from '../mesh/traffic/traffic-settings.js';
import { DEFAULT_INBOUND_POLICIES, type DefaultInboundPolicy } from '../mesh/authz/policy.js';
import { TRACE_SETTINGS, traceSettingsOf, type TraceSettings } from '../mesh/trace/trace-settings.js';

/** An explicit upstream: a local port that always reaches one service. */
export interface UpstreamPort {
  readonly listen: HostPort;
  readonly service: ServiceRef;
}

/** Every variable `weft proxy` reads, in the order docs/sidecar-config.md lists them. */
export const PROXY_SETTINGS = {
  mode: MESH_MODE_SETTINGS.mode,
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: 'info', doc: 'pino level (`config.weft.dev/log-level`)' }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: 'cluster.local', doc: 'trust domain of identities' }),
  clusterDomain: setting({ name: 'WEFT_CLUSTER_DOMAIN', type: str('DNS name'), default: 'cluster.local', doc: 'suffix of full service names (`orders.shop.svc.<cluster domain>`)' }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: 'local', required: 'kubernetes', defaultDoc: '`local` (local mode)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
  namespace: setting({ name: 'WEFT_POD_NAMESPACE', type: str('DNS label'), default: 'default', required: 'kubernetes', defaultDoc: '`default` (local mode)', doc: 'downward API `metadata.namespace`: the identity, and the namespace of short service names' }),
  serviceAccount: setting({ name: 'WEFT_SERVICE_ACCOUNT', type: str('DNS name'), default: 'default', required: 'kubernetes', defaultDoc: '`default` (local mode)', doc: 'downward API `spec.serviceAccountName`: the identity' }),
  inbound: setting({ name: 'WEFT_INBOUND_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: INBOUND_PORT }, doc: 'mTLS listener for other sidecars' }),
  outbound: setting({ name: 'WEFT_OUTBOUND_ADDR', type: hostPort('127.0.0.1'), default: { host: '127.0.0.1', port: OUTBOUND_PORT }, doc: "plain listener for the app's outgoing calls" }),
  admin: setting({ name: 'WEFT_ADMIN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: ADMIN_PORT }, doc: '`/live`, `/ready`, `/metrics`, `/debug/endpoints`, `/app-probe/...`' }),
  appHost: setting({ name: 'WEFT_APP_HOST', type: str('host'), default: '127.0.0.1', doc: 'where the inbound side reaches the app' }),
  peerPort: setting({ name: 'WEFT_PEER_PORT', type: port(), default: INBOUND_PORT, doc: 'the port peer sidecars listen on for mTLS (their inbound listener)' }),
  upstreams: setting({ name: 'WEFT_UPSTREAMS', type: list('svc[.ns]:localPort or svc[.ns]:svcPort@localPort'), default: [], doc: 'explicit upstreams: each local port always reaches one service (`config.weft.dev/upstreams`)' }),
  upstreamHost: setting({ name: 'WEFT_UPSTREAM_HOST', type: optional(str('host')), default: undefined, defaultDoc: '(the host of `WEFT_OUTBOUND_ADDR`)', doc: 'the address the explicit upstream ports listen on' }),
  shutdownGraceMs: setting({ name: 'WEFT_SHUTDOWN_GRACE_MS', type: durationMs({ min: 0 }), default: 30_000, doc: 'how long SIGTERM waits for in-flight requests' }),
  connectTimeoutMs: setting({ name: 'WEFT_CONNECT_TIMEOUT_MS', type: durationMs({ min: 1 }), default: 3_000, doc: 'dialling a peer sidecar or the app' }),
  discoveryWaitMs: setting({ name: 'WEFT_DISCOVERY_WAIT_MS', type: durationMs({ min: 1 }), default: 5_000, doc: "how long a request waits for discovery's first answer about its service before it fails" }),
  maxServices: setting({
    name: 'WEFT_MAX_SERVICES',
    type: int({ min: 1 }),
    default: 50,
    doc: 'most services the proxy keeps watched at once; a new one evicts the least recently used idle one (counted in `weft_discovery_evictions_total`)',
  }),
  detectTimeoutMs: setting({
    name: 'WEFT_DETECT_TIMEOUT_MS',
    type: durationMs({ min: 1 }),
    default: 1_000,
    doc: "how long the outbound side waits for an app's first bytes before treating the connection as opaque TCP (server-speaks-first protocols); see [capture.md](capture.md#opaque-tcp-and-requests-by-ip)",
  }),
  opaquePorts: setting({
    name: 'WEFT_OPAQUE_PORTS',
    type: list('port or range (8000-8010)'),
    default: [],
    doc: 'destination ports whose outbound streams skip protocol detection, for server-speaks-first protocols (`config.weft.dev/opaque-ports`); see [capture.md](capture.md#opaque-ports)',
  }),
  egressMode: setting({
    name: 'WEFT_EGRESS_MODE',
    type: oneOf(EGRESS_MODES),
    default: 'allow',
    doc: '`allow`: destinations outside the mesh pass unchanged; `registry-only`: only those in `WEFT_EGRESS_ALLOW` (Helm `proxy.egress`); see [capture.md](capture.md#egress-policy)',
  }),
  egressAllow: setting({
    name: 'WEFT_EGRESS_ALLOW',
    type: list('host name, *.suffix, IP or CIDR'),
    default: [],
    doc: 'in `registry-only` mode, the destinations outside the mesh that pass: host names matched on the HTTP Host or TLS SNI, IPs and CIDRs on the original destination',
  }),
  appProbes: setting({ name: 'WEFT_APP_PROBES', type: optional(str('JSON')), default: undefined, doc: "the app's original probes, see \"Probes\" below" }),
  handshakeTimeoutMs: HANDSHAKE_SETTINGS.handshakeTimeoutMs,
  maxPendingHandshakes: HANDSHAKE_SETTINGS.maxPendingHandshakes,
  podLabels: setting({ name: 'WEFT_POD_LABELS', type: list('key=value'), default: [], doc: "the pod's labels, which authorization policies select pods by (`spec.selector.matchLabels`, docs/policy.md)" }),
  defaultInboundPolicy: setting({
    name: 'WEFT_DEFAULT_INBOUND_POLICY',
    type: optional(oneOf(DEFAULT_INBOUND_POLICIES)),
    default: undefined,
    defaultDoc: "(the namespace's default, else `all-unauthenticated`)",
    doc: 'what the inbound side allows when no ALLOW policy targets the pod: all-unauthenticated, all-authenticated, cluster-authenticated or deny (docs/policy.md)',
  }),
  latencyBuckets: METRICS_SETTINGS.latencyBuckets,
  accessLog: setting({ name: 'WEFT_ACCESS_LOG', type: bool(), default: false, doc: 'one log line per successful request too (failures are always logged); off by default: the line costs CPU on every request (`config.weft.dev/access-log`, Helm `proxy.accessLog`)' }),
  ...TRAFFIC_SETTINGS,
  ...TRACE_SETTINGS,
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
} as const;

/** Everything `weft proxy` needs, parsed (the mode fields are the gateway's too). */
export interface ProxyConfig extends MeshModeSettings {
  readonly logLevel: string;
  readonly clusterDomain: string;
  /** The pod's name, put on every log line. */
  readonly podName: string;
  readonly serviceAccount: string;
  readonly inbound: HostPort;
  readonly outbound: HostPort;
  readonly admin: HostPort;
  readonly appHost: string;
  /** Port peer sidecars listen on for mTLS (the inbound port). */
  readonly peerPort: number;
  readonly upstreams: readonly UpstreamPort[];
  readonly shutdownGraceMs: number;
  readonly connectTimeoutMs: number;
  readonly discoveryWaitMs: number;
  /** Most services watched at once (least recently used idle ones are evicted). */
  readonly maxServices: number;
  /** How long the outbound side waits for an app's first bytes before treating the stream as opaque TCP. */
  readonly detectTimeoutMs: number;
  readonly appProbes: string | undefined;
  /** One access-log line per successful request as well as per failure (off by default). */
  readonly accessLog: boolean;
  /** Bounds of the inbound listener's TLS handshakes. */
  readonly handshake: HandshakeBounds;
  /** Destination ports whose outbound streams skip protocol detection. */
  readonly opaquePorts: ReadonlySet<number>;
  /** The mesh-wide egress policy for destinations outside the mesh. */
  readonly egress: EgressPolicy;
  /** Balancing, retries and timeouts (mesh/traffic). */
  readonly traffic: TrafficSettings;
  /** Upper bounds of the latency histogram's buckets, seconds (WEFT_LATENCY_BUCKETS_SECONDS). */
  readonly latencyBuckets: readonly number[];
  /** The pod's labels, for authorization policy selectors. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** The pod's own default inbound policy; undefined inherits the namespace's. */
  readonly defaultInboundPolicy: DefaultInboundPolicy | undefined;
  /** Tracing (docs/tracing.md); off when no OTLP endpoint is set. */
  readonly trace: TraceSettings;
}

/** Parses the proxy environment; throws WEFT_ERR_CONFIG naming every bad variable. */
export function parseProxyConfig(env: Readonly<Record<string, string | undefined>>): ProxyConfig {
  // The mode decides which rows apply; a bad WEFT_MODE is reported once, by the table read below.
  const mode = new ConfigReader(env).setting(PROXY_SETTINGS.mode);
  const c = new ConfigReader(env);
  const v = c.table(PROXY_SETTINGS, { mode });
  // A missing namespace or service account is already a problem of its own row.
  const identity = v.namespace && v.serviceAccount ? identityFrom(c, v) : '';
  const upstreams = parseUpstreams(v.upstreams, v.upstreamHost ?? v.outbound.host, v.namespace, c);
  const egress = parseEgressPolicy(v.egressMode, v.egressAllow, 'WEFT_EGRESS_ALLOW');
  if (Array.isArray(egress)) for (const problem of egress) c.problem(problem);
  const config: ProxyConfig = {
    mode,
    logLevel: v.logLevel,
    trustDomain: v.trustDomain,
    clusterDomain: v.clusterDomain,
    podName: v.podName,
    namespace: v.namespace,
    serviceAccount: v.serviceAccount,
    identity,
    inbound: v.inbound,
    outbound: v.outbound,
    admin: v.admin,
    appHost: v.appHost,
    peerPort: v.peerPort,
    upstreams,
    shutdownGraceMs: v.shutdownGraceMs,
    connectTimeoutMs: v.connectTimeoutMs,
    discoveryWaitMs: v.discoveryWaitMs,
    maxServices: v.maxServices,
    detectTimeoutMs: v.detectTimeoutMs,
    certLifetimeHours: v.certLifetimeHours,
    appProbes: v.appProbes,
    accessLog: v.accessLog,
    latencyBuckets: v.latencyBuckets,
    handshake: { handshakeTimeoutMs: v.handshakeTimeoutMs, maxPendingHandshakes: v.maxPendingHandshakes },
    opaquePorts: parsePortList(v.opaquePorts, 'WEFT_OPAQUE_PORTS', c),
    egress: Array.isArray(egress) ? ALLOW_ALL : egress,
    traffic: trafficSettingsOf(v),
    podLabels: parseLabels(v.podLabels, c),
    defaultInboundPolicy: v.defaultInboundPolicy,
    trace: traceSettingsOf(v),
    ...meshModeBlocks(v, v.trustDomain),
  };
  const ports = [v.inbound.port, v.outbound.port, v.admin.port, ...upstreams.map((u) => u.listen.port)].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) c.problem(`listener ports collide: ${ports.join(', ')}`);
  c.done();
  return Object.freeze(config);
}

// svc[.ns][:svcPort]@localPort is the long form; "svc:localPort" (DESIGN.md) means service port 80.
function parseUpstreams(entries: readonly string[], host: string, namespace: string, c: ConfigReader): UpstreamPort[] {
  const upstreams: UpstreamPort[] = [];
  for (const entry of entries) {
    const m = /^([a-z0-9-]+)(?:\.([a-z0-9-]+))?(?::(\d+))?(?:@(\d+))?$/.exec(entry);
    const name = m?.[1];
    if (!m || !name) {
      c.problem(`WEFT_UPSTREAMS: ${JSON.stringify(entry)} is not "service[.namespace]:localPort"`);
      continue;
    }
    const [svcPortText, localText] = m[4] !== undefined ? [m[3] ?? '80', m[4]] : ['80', m[3]];
    const local = Number(localText);
    const svcPort = Number(svcPortText);
    if (!localText || !(local > 0 && local < 65536) || !(svcPort > 0 && svcPort < 65536)) {
      c.problem(`WEFT_UPSTREAMS: ${JSON.stringify(entry)} needs a local port between 1 and 65535`);
      continue;
    }
    upstreams.push({ listen: { host, port: local }, service: { name, namespace: m[2] ?? namespace, port: svcPort } });
  }
  return upstreams;
}

// "3306,5432,8000-8010": each entry a port or an ascending range (the injector checks the same).
function parsePortList(entries: readonly string[], name: string, c: ConfigReader): ReadonlySet<number> {
  const ports = new Set<number>();
  for (const entry of entries) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (!m || from < 1 || to > 65535 || to < from) {
      c.problem(`${name}: ${JSON.stringify(entry)} is not a port or a range like 8000-8010`);
      continue;
    }
    for (let p = from; p <= to; p++) ports.add(p);
  }
  return ports;
}

// "app=hello,tier=web": label keys may carry a prefix ("app.kubernetes.io/name").
function parseLabels(entries: readonly string[], c: ConfigReader): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of entries) {
    const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/.exec(entry);
    if (!m) c.problem(`WEFT_POD_LABELS: ${JSON.stringify(entry)} is not "key=value"`);
    else labels[m[1] ?? ''] = m[2] ?? '';
  }
  return labels;
}
