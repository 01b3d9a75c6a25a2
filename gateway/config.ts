// Parses `weft gateway`'s environment (a plain string map) into typed settings, listing every
// problem at once. docs/gateway.md documents each variable.
import { ConfigReader, type HostPort } from '../lib/config.js';
import { trustAnchorsEnv } from '../proxy/config.js';
import { formatIdentity } from '../lib/identity.js';
import { isWeftError } from '../lib/errors.js';
import type { ServiceRef } from '../mesh/discovery/endpoint-source.js';
import { parseCidr, type Cidr } from './policies/cidr.js';

/** Everything `weft gateway` is configured with. */
export interface GatewayConfig {
  readonly mode: 'local' | 'kubernetes';
  readonly logLevel: string;
  readonly trustDomain: string;
  readonly identity: string;
  readonly namespace: string;
  /** Plain HTTP listener; undefined when disabled ("off"). */
  readonly http: HostPort | undefined;
  /** TLS listener (HTTP/1.1 and HTTP/2 by ALPN); undefined when disabled. */
  readonly https: HostPort | undefined;
  readonly admin: HostPort;
  readonly routesFile: string;
  /** The gateway's own Service, whose ready endpoints are the replicas sharing rate limits. */
  readonly selfService: ServiceRef;
  readonly trustedProxies: readonly Cidr[];
  readonly defaultTimeoutMs: number;
  readonly reloadDebounceMs: number;
  readonly peerPort: number;
  readonly connectTimeoutMs: number;
  readonly discoveryWaitMs: number;
  readonly shutdownGraceMs: number;
  readonly certLifetimeHours: number;
  readonly local: { readonly caDir: string; readonly endpointsFile: string } | undefined;
  /** Kubernetes mode: the CA to ask for certificates (as `weft proxy`); routes come from the API server unless routesFile is set. */
  /** As the proxy's: `trustAnchors` (WEFT_TRUST_ANCHORS, PEM) wins over `trustAnchorsFile`. */
  readonly kubernetes:
    | { readonly caAddr: string; readonly trustAnchors: string | undefined; readonly trustAnchorsFile: string; readonly tokenFile: string }
    | undefined;
}

/** Parses the environment; throws WEFT_ERR_CONFIG listing every problem. */
export function parseGatewayConfig(env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  const c = new ConfigReader(env);
  const mode = c.oneOf('WEFT_MODE', ['local', 'kubernetes'] as const, 'kubernetes');
  const trustDomain = c.string('WEFT_TRUST_DOMAIN', 'cluster.local');
  const namespace = c.string('WEFT_POD_NAMESPACE', 'weft-system');
  const serviceAccount = c.string('WEFT_SERVICE_ACCOUNT', 'weft-gateway');
  let identity = '';
  try {
    identity = formatIdentity({ trustDomain, namespace, serviceAccount });
  } catch (err) {
    if (!isWeftError(err)) throw err;
    c.problem(`WEFT_POD_NAMESPACE/WEFT_SERVICE_ACCOUNT/WEFT_TRUST_DOMAIN: ${err.message}`);
  }
  const optionalAddr = (name: string, fallback: HostPort): HostPort | undefined => (env[name]?.trim() === 'off' ? undefined : c.hostPort(name, fallback));
  const http = optionalAddr('WEFT_GATEWAY_HTTP_ADDR', { host: '0.0.0.0', port: 8080 });
  const https = optionalAddr('WEFT_GATEWAY_HTTPS_ADDR', { host: '0.0.0.0', port: 8443 });
  if (!http && !https) c.problem('WEFT_GATEWAY_HTTP_ADDR and WEFT_GATEWAY_HTTPS_ADDR are both off; nothing to listen on');
  const selfText = c.string('WEFT_GATEWAY_SERVICE', 'weft-gateway:80');
  const self = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?(?::(\d+))?$/.exec(selfText);
  if (!self) c.problem(`WEFT_GATEWAY_SERVICE=${JSON.stringify(selfText)} is not "name[.namespace][:port]"`);
  const trustedProxies = c.list('WEFT_GATEWAY_TRUSTED_PROXIES').flatMap((t) => {
    const p = parseCidr(t);
    if (typeof p === 'string') {
      c.problem(`WEFT_GATEWAY_TRUSTED_PROXIES: ${p}`);
      return [];
    }
    return [p];
  });
  const config: GatewayConfig = {
    mode,
    logLevel: c.oneOf('WEFT_LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const, 'info'),
    trustDomain,
    identity,
    namespace,
    http,
    https,
    admin: c.hostPort('WEFT_ADMIN_ADDR', { host: '0.0.0.0', port: 7020 }),
    routesFile: mode === 'local' ? c.required('WEFT_GATEWAY_ROUTES_FILE') : c.string('WEFT_GATEWAY_ROUTES_FILE', ''),
    selfService: { name: self?.[1] ?? 'weft-gateway', namespace: self?.[3] ?? namespace, port: Number(self?.[5] ?? 80) },
    trustedProxies,
    defaultTimeoutMs: c.integer('WEFT_GATEWAY_DEFAULT_TIMEOUT_MS', 60_000, { min: 0 }),
    reloadDebounceMs: c.integer('WEFT_GATEWAY_RELOAD_DEBOUNCE_MS', 100, { min: 0, max: 60_000 }),
    peerPort: c.integer('WEFT_PEER_PORT', 7006, { min: 1, max: 65535 }),
    connectTimeoutMs: c.integer('WEFT_CONNECT_TIMEOUT_MS', 3000, { min: 1 }),
    discoveryWaitMs: c.integer('WEFT_DISCOVERY_WAIT_MS', 2000, { min: 0 }),
    shutdownGraceMs: c.integer('WEFT_SHUTDOWN_GRACE_MS', 30_000, { min: 0 }),
    certLifetimeHours: c.integer('WEFT_CERT_LIFETIME_HOURS', 24, { min: 1 }),
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
  c.done();
  return Object.freeze(config);
}
