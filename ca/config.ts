// `weft ca`'s settings table (rendered into docs/sidecar-config.md) and the parser that turns its
// environment into a frozen CaConfig, listing every problem at once.
import { ConfigReader, bool, durationMs, hostPort, int, list, oneOf, optional, setting, str, type HostPort } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/logger.js';
import { ADMIN_PORT } from '../lib/ports.js';
import { GENERATED_LIFETIMES } from '../lib/pki/lifetimes.js';
import { DEFAULT_MAX_IN_FLIGHT } from './shedding.js';
import { handshakeSettings, type HandshakeBounds } from '../lib/tls-guard.js';

// Every pod of the cluster renews here, so bursts of new connections are normal (a rollout, a
// CA restart); handshakes wait their turn here, and shedding answers 429 once they are through.
const CA_HANDSHAKE_SETTINGS = handshakeSettings(1024);

/** Every variable `weft ca` reads, in the order docs/sidecar-config.md lists them. */
export const CA_SETTINGS = {
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: 'info', doc: 'pino level' }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: '', defaultDoc: '(none)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: 'cluster.local', doc: 'trust domain of the identities it signs' }),
  namespace: setting({ name: 'WEFT_POD_NAMESPACE', type: optional(str('DNS label')), default: undefined, defaultDoc: "(the kubeconfig's namespace)", doc: 'its own namespace: its Secret and trust-anchors ConfigMap live there' }),
  listen: setting({ name: 'WEFT_CA_LISTEN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: 8443 }, doc: 'the HTTPS certificate API (`POST /v1/certificates`)' }),
  admin: setting({ name: 'WEFT_ADMIN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: ADMIN_PORT }, doc: '`/live`, `/ready`, `/metrics`' }),
  issuerDir: setting({ name: 'WEFT_CA_ISSUER_DIR', type: str('path'), default: '/var/run/weft/issuer', doc: 'a mounted issuer (`tls.crt`, `tls.key`); reloaded when it changes' }),
  trustAnchorsFile: setting({ name: 'WEFT_TRUST_ANCHORS_FILE', type: str('path'), default: '/var/run/weft/trust/roots.pem', doc: 'the trust anchors that go with a mounted issuer' }),
  generate: setting({ name: 'WEFT_CA_GENERATE', type: bool(), default: true, doc: 'with nothing mounted: keep the root and issuer in a Secret, creating them when missing' }),
  secretName: setting({ name: 'WEFT_CA_SECRET', type: str('name'), default: 'weft-ca-issuer', doc: 'that Secret (generated mode)' }),
  helmRelease: setting({ name: 'WEFT_CA_HELM_RELEASE', type: optional(str('name')), default: undefined, defaultDoc: '(none)', doc: "the Helm release that installed weft; the Secret and ConfigMap the CA creates then carry Helm's ownership metadata for it (label `app.kubernetes.io/managed-by=Helm`, annotations `meta.helm.sh/release-name` and `-namespace`), so a later `helm upgrade` with supplied trust adopts them (docs/rotate-trust.md)" }),
  helmReleaseNamespace: setting({ name: 'WEFT_CA_HELM_RELEASE_NAMESPACE', type: optional(str('DNS label')), default: undefined, defaultDoc: "(the CA's namespace)", doc: "that release's namespace" }),
  trustAnchorsConfigMap: setting({ name: 'WEFT_TRUST_ANCHORS_CONFIGMAP', type: str('name'), default: 'weft-trust-anchors', doc: 'the ConfigMap (key `roots.pem`) the generated root is published in' }),
  audience: setting({ name: 'WEFT_CA_TOKEN_AUDIENCE', type: str(), default: 'weft-ca', doc: 'the audience a pod token must carry' }),
  leafLifetimeHours: setting({ name: 'WEFT_CA_LEAF_LIFETIME_HOURS', type: int({ min: 1, max: 24 * 365 }, 'hours'), default: 24, doc: 'lifetime of the leaves it issues' }),
  leafLifetimeSeconds: setting({ name: 'WEFT_CA_LEAF_LIFETIME_SECONDS', type: optional(int({ min: 5, max: 365 * 86400 }, 'seconds')), default: undefined, doc: 'wins over the hours when set: for tests and very short-lived setups' }),
  rootLifetimeHours: setting({ name: 'WEFT_CA_ROOT_LIFETIME_HOURS', type: int({ min: 2 }, 'hours'), default: GENERATED_LIFETIMES.rootHours, doc: 'lifetime of a generated root' }),
  issuerLifetimeHours: setting({ name: 'WEFT_CA_ISSUER_LIFETIME_HOURS', type: int({ min: 1 }, 'hours'), default: GENERATED_LIFETIMES.issuerHours, doc: "lifetime of a generated issuer; at most the root's. The CA renews its generated issuer at two thirds of this life (docs/rotate-trust.md)" }),
  issuerLifetimeSeconds: setting({ name: 'WEFT_CA_ISSUER_LIFETIME_SECONDS', type: optional(int({ min: 60, max: 10 * 365 * 86400 }, 'seconds')), default: undefined, doc: 'wins over the hours when set: for tests of issuer renewal and very short-lived setups (at least 60 s: the third left after a renewal must outlast the 10 s leaf renewal margin)' }),
  servingNames: setting({ name: 'WEFT_CA_SERVING_NAMES', type: list('DNS name or IP'), default: [], defaultDoc: "(the Service's DNS names, localhost, 127.0.0.1)", doc: "names of the CA's serving certificate" }),
  reloadIntervalMs: setting({ name: 'WEFT_CA_RELOAD_INTERVAL_MS', type: durationMs({ min: 100 }), default: 10_000, doc: 'how often mounted material is checked for changes; in generated mode, how often the Secret is re-read (reloaded when changed, the issuer renewed when due) and the trust-anchors ConfigMap re-created when missing' }),
  maxInFlight: setting({ name: 'WEFT_CA_MAX_IN_FLIGHT', type: int({ min: 1 }), default: DEFAULT_MAX_IN_FLIGHT, doc: 'certificate requests handled at once (TokenReview and signing); beyond it a request is answered 429 `WEFT_ERR_CA_BUSY` with `Retry-After` at once' }),
  handshakeTimeoutMs: CA_HANDSHAKE_SETTINGS.handshakeTimeoutMs,
  maxPendingHandshakes: CA_HANDSHAKE_SETTINGS.maxPendingHandshakes,
} as const;

/** `weft ca` settings. */
export interface CaConfig {
  readonly logLevel: string;
  /** The pod's name for log lines; '' when unset. */
  readonly podName: string;
  readonly trustDomain: string;
  /** The CA's own namespace (its Secret and ConfigMap live there). */
  readonly namespace: string | undefined;
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly issuerDir: string;
  readonly trustAnchorsFile: string;
  readonly generate: boolean;
  readonly secretName: string;
  readonly trustAnchorsConfigMap: string;
  /** The Helm release the created Secret and ConfigMap are marked for; namespace undefined: the CA's. */
  readonly helmRelease: { readonly name: string; readonly namespace: string | undefined } | undefined;
  readonly audience: string;
  readonly leafLifetimeHours: number;
  readonly rootLifetimeHours: number;
  readonly issuerLifetimeHours: number;
  /** DNS names and IPs of the serving certificate ('' entries are filled from the namespace). */
  readonly servingNames: readonly string[] | undefined;
  readonly reloadIntervalMs: number;
  /** Certificate requests handled at once; the rest get 429 with Retry-After. */
  readonly maxInFlight: number;
  /** Bounds of the HTTPS listener's TLS handshakes. */
  readonly handshake: HandshakeBounds;
}

/** Parses the `weft ca` environment, listing every problem at once. */
export function parseCaConfig(env: Readonly<Record<string, string | undefined>>): CaConfig {
  const c = new ConfigReader(env);
  const v = c.table(CA_SETTINGS);
  const config: CaConfig = {
    logLevel: v.logLevel,
    podName: v.podName,
    trustDomain: v.trustDomain,
    namespace: v.namespace,
    listen: v.listen,
    admin: v.admin,
    issuerDir: v.issuerDir,
    trustAnchorsFile: v.trustAnchorsFile,
    generate: v.generate,
    secretName: v.secretName,
    trustAnchorsConfigMap: v.trustAnchorsConfigMap,
    helmRelease: v.helmRelease === undefined ? undefined : { name: v.helmRelease, namespace: v.helmReleaseNamespace },
    audience: v.audience,
    // Seconds win: they exist so tests and short-lived setups can shorten leaves below an hour.
    leafLifetimeHours: v.leafLifetimeSeconds !== undefined ? v.leafLifetimeSeconds / 3600 : v.leafLifetimeHours,
    rootLifetimeHours: v.rootLifetimeHours,
    issuerLifetimeHours: v.issuerLifetimeSeconds !== undefined ? v.issuerLifetimeSeconds / 3600 : v.issuerLifetimeHours,
    servingNames: v.servingNames.length > 0 ? v.servingNames : undefined,
    reloadIntervalMs: v.reloadIntervalMs,
    maxInFlight: v.maxInFlight,
    handshake: { handshakeTimeoutMs: v.handshakeTimeoutMs, maxPendingHandshakes: v.maxPendingHandshakes },
  };
  if (config.issuerLifetimeHours > config.rootLifetimeHours) {
    c.problem('the issuer lifetime (WEFT_CA_ISSUER_LIFETIME_HOURS or _SECONDS) must not exceed WEFT_CA_ROOT_LIFETIME_HOURS');
  }
  c.done();
  return Object.freeze(config);
}
