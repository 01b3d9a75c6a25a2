// Parses the proxy's environment (docs/sidecar-config.md) into a frozen ProxyConfig, listing
// every problem at once.
import { ConfigReader, type HostPort } from '../lib/config.js';
import { formatIdentity } from '../lib/identity.js';
import { isWeftError } from '../lib/errors.js';
import { checkTrustAnchorsPem } from '../lib/trust-anchors.js';
import type { ServiceRef } from '../mesh/discovery/endpoint-source.js';

/** An explicit upstream: a local port that always reaches one service. */
export interface UpstreamPort {
  readonly listen: HostPort;
  readonly service: ServiceRef;
}

/** Everything `weft proxy` needs, parsed. */
export interface ProxyConfig {
  readonly mode: 'local' | 'kubernetes';
  readonly logLevel: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly podName: string;
  readonly namespace: string;
  readonly podIp: string;
  readonly serviceAccount: string;
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  readonly identity: string;
  readonly inbound: HostPort;
  readonly outbound: HostPort;
  readonly admin: HostPort;
  readonly appHost: string;
  /** Port peer sidecars listen on for mTLS (the inbound port). */
  readonly peerPort: number;
  readonly upstreams: readonly UpstreamPort[];
  readonly inboundMode: 'strict' | 'permissive';
  readonly shutdownGraceMs: number;
  readonly connectTimeoutMs: number;
  readonly discoveryWaitMs: number;
  /** How long the outbound side waits for an app's first bytes before treating the stream as opaque TCP. */
  readonly detectTimeoutMs: number;
  readonly certLifetimeHours: number;
  readonly appProbes: string | undefined;
  /** One access-log line per request (on by default; off for benchmarks). */
  readonly accessLog: boolean;
  readonly local: { readonly caDir: string; readonly endpointsFile: string } | undefined;
  /**
   * Kubernetes mode. `trustAnchors` is the PEM of WEFT_TRUST_ANCHORS (what the injector writes);
   * when it is unset the proxy reads `trustAnchorsFile` (WEFT_TRUST_ANCHORS_FILE) instead.
   */
  readonly kubernetes:
    | { readonly caAddr: string; readonly trustAnchors: string | undefined; readonly trustAnchorsFile: string; readonly tokenFile: string }
    | undefined;
}

/** Parses the proxy environment; throws WEFT_ERR_CONFIG naming every bad variable. */
export function parseProxyConfig(env: Readonly<Record<string, string | undefined>>): ProxyConfig {
  const c = new ConfigReader(env);
  const mode = c.oneOf('WEFT_MODE', ['local', 'kubernetes'] as const, 'kubernetes');
  const trustDomain = c.string('WEFT_TRUST_DOMAIN', 'cluster.local');
  const namespace = mode === 'kubernetes' ? c.required('WEFT_POD_NAMESPACE') : c.string('WEFT_POD_NAMESPACE', 'default');
  const serviceAccount = mode === 'kubernetes' ? c.required('WEFT_SERVICE_ACCOUNT') : c.string('WEFT_SERVICE_ACCOUNT', 'default');
  const podName = mode === 'kubernetes' ? c.required('WEFT_POD_NAME') : c.string('WEFT_POD_NAME', 'local');
  let identity = '';
  try {
    if (namespace && serviceAccount) identity = formatIdentity({ trustDomain, namespace, serviceAccount });
  } catch (err) {
    if (isWeftError(err)) c.problem(`WEFT_POD_NAMESPACE/WEFT_SERVICE_ACCOUNT/WEFT_TRUST_DOMAIN: ${err.message}`);
    else throw err;
  }
  const inbound = c.hostPort('WEFT_INBOUND_ADDR', { host: '0.0.0.0', port: 7006 });
  const outbound = c.hostPort('WEFT_OUTBOUND_ADDR', { host: '127.0.0.1', port: 7001 });
  const admin = c.hostPort('WEFT_ADMIN_ADDR', { host: '0.0.0.0', port: 7020 });
  const upstreamHost = c.string('WEFT_UPSTREAM_HOST', outbound.host);
  const upstreams: UpstreamPort[] = [];
  for (const entry of c.list('WEFT_UPSTREAMS')) {
    // svc[.ns][:svcPort]@localPort is the long form; "svc:localPort" (DESIGN.md) means service port 80.
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
    upstreams.push({ listen: { host: upstreamHost, port: local }, service: { name, namespace: m[2] ?? namespace, port: svcPort } });
  }
  const config: ProxyConfig = {
    mode,
    logLevel: c.oneOf('WEFT_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    trustDomain,
    clusterDomain: c.string('WEFT_CLUSTER_DOMAIN', 'cluster.local'),
    podName,
    namespace,
    podIp: c.string('WEFT_POD_IP', '127.0.0.1'),
    serviceAccount,
    identity,
    inbound,
    outbound,
    admin,
    appHost: c.string('WEFT_APP_HOST', '127.0.0.1'),
    peerPort: c.integer('WEFT_PEER_PORT', 7006, { min: 1, max: 65535 }),
    upstreams,
    inboundMode: c.oneOf('WEFT_INBOUND_MODE', ['strict', 'permissive'] as const, 'strict'),
    shutdownGraceMs: c.integer('WEFT_SHUTDOWN_GRACE_MS', 30_000, { min: 0 }),
    connectTimeoutMs: c.integer('WEFT_CONNECT_TIMEOUT_MS', 3_000, { min: 1 }),
    discoveryWaitMs: c.integer('WEFT_DISCOVERY_WAIT_MS', 5_000, { min: 1 }),
    detectTimeoutMs: c.integer('WEFT_DETECT_TIMEOUT_MS', 1_000, { min: 1 }),
    certLifetimeHours: c.integer('WEFT_CERT_LIFETIME_HOURS', 24, { min: 1 }),
    appProbes: c.optionalString('WEFT_APP_PROBES'),
    accessLog: c.boolean('WEFT_ACCESS_LOG', true),
    local: mode === 'local' ? { caDir: c.required('WEFT_CA_DIR'), endpointsFile: c.required('WEFT_ENDPOINTS_FILE') } : undefined,
    kubernetes:
      mode === 'kubernetes'
        ? {
            caAddr: c.string('WEFT_CA_ADDR', 'https://weft-ca.weft-system.svc:8443'),
            trustAnchors: trustAnchorsEnv(c),
            trustAnchorsFile: c.string('WEFT_TRUST_ANCHORS_FILE', '/var/run/weft/trust/roots.pem'),
            tokenFile: c.string('WEFT_TOKEN_FILE', '/var/run/secrets/weft.dev/serviceaccount/token'),
          }
        : undefined,
  };
  const ports = [inbound.port, outbound.port, admin.port, ...upstreams.map((u) => u.listen.port)].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) c.problem(`listener ports collide: ${ports.join(', ')}`);
  c.done();
  return Object.freeze(config);
}

/** WEFT_TRUST_ANCHORS: PEM text, checked now so a malformed bundle fails the start, naming the variable. */
export function trustAnchorsEnv(c: ConfigReader): string | undefined {
  const raw = c.optionalString('WEFT_TRUST_ANCHORS');
  if (raw === undefined) return undefined;
  try {
    return checkTrustAnchorsPem(raw);
  } catch (err) {
    c.problem(`WEFT_TRUST_ANCHORS ${(err as Error).message}`);
    return undefined;
  }
}
