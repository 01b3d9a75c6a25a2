// The injector's own configuration (image, CA address, trust anchors, native sidecars, defaults):
// a settings table parsed from a string map, so `weft injector`, `weft inject` and tests share one reader.
import { ConfigReader, SettingProblem, bool, int, list, oneOf, setting, str, type Setting, type SettingType } from '../lib/config.js';
import { EGRESS_MODES, parseEgressPolicy, type EgressMode } from '../mesh/egress-policy.js';

/** CPU and memory as Kubernetes quantities; an absent field is left unset on the proxy. */
export interface ProxyResources {
  readonly cpuRequest?: string;
  readonly cpuLimit?: string;
  readonly memoryRequest?: string;
  readonly memoryLimit?: string;
}

/** Inbound capture mode, shared with `weft init` and `weft proxy`. */
export type InboundMode = 'strict' | 'permissive';

/** Pino levels the proxy accepts for WEFT_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What the patching core needs besides the pod itself. */
export interface InjectorSettings {
  /** The weft image for both `weft-init` and `weft-proxy` (its entrypoint is the `weft` executable). */
  readonly image: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** `weft ca` address handed to the proxy as WEFT_CA_ADDR. */
  readonly caAddr: string;
  /** `weft destination` (host:port) handed to the proxy as WEFT_DESTINATION_ADDR: its only discovery. */
  readonly destinationAddr: string;
  /** The identity the destination must present, handed as WEFT_DESTINATION_IDENTITY ('' leaves the proxy's default). */
  readonly destinationIdentity: string;
  readonly trustDomain: string;
  /**
   * The injector's own mounted copy of `roots.pem` (WEFT_INJECTOR_TRUST_ANCHORS_FILE); the shell
   * reads it, and re-reads it when it changes, into `trustAnchors`.
   */
  readonly trustAnchorsFile: string;
  /**
   * The trust anchors PEM written into every proxy's WEFT_TRUST_ANCHORS; undefined until the file
   * was read and holds certificates. Without it the injector refuses to inject (never a pod that
   * cannot start): docs/injection.md "Trust anchors".
   */
  readonly trustAnchors: string | undefined;
  /** True: the proxy is an init container with restartPolicy Always (Kubernetes >= 1.29). */
  readonly nativeSidecars: boolean;
  readonly inboundMode: InboundMode;
  readonly logLevel: LogLevel;
  /** The proxies' access log for successful requests (WEFT_ACCESS_LOG), mesh-wide; a pod's annotation overrides it. */
  readonly accessLog: boolean;
  readonly proxyResources: ProxyResources;
  readonly initResources: ProxyResources;
  /** Lifetime asked for the projected `weft-ca` token. */
  readonly tokenExpirationSeconds: number;
  /** The mesh-wide egress policy written into every proxy's WEFT_EGRESS_MODE / WEFT_EGRESS_ALLOW. */
  readonly egressMode: EgressMode;
  readonly egressAllow: readonly string[];
  /** Registry credentials (Secret names) added to every injected pod: its proxy and init use the weft image. */
  readonly imagePullSecrets: readonly string[];
}

/** Defaults used when a variable is unset. */
export const DEFAULT_SETTINGS: InjectorSettings = {
  image: 'ghcr.io/weft-mesh/weft:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  caAddr: 'https://weft-ca.weft-system.svc:8443',
  destinationAddr: 'weft-destination.weft-system.svc:8086',
  destinationIdentity: '',
  trustDomain: 'cluster.local',
  trustAnchorsFile: '/var/run/weft/trust-anchors/roots.pem',
  trustAnchors: undefined,
  nativeSidecars: true,
  inboundMode: 'strict',
  logLevel: 'info',
  accessLog: false,
  proxyResources: { cpuRequest: '10m', memoryRequest: '32Mi', memoryLimit: '256Mi' },
  initResources: { cpuRequest: '10m', memoryRequest: '16Mi', cpuLimit: '100m', memoryLimit: '64Mi' },
  tokenExpirationSeconds: 3600,
  egressMode: 'allow',
  egressAllow: [],
  imagePullSecrets: [],
};

/** A Kubernetes quantity, or `none` to leave the field unset. */
function quantity(): SettingType<string | undefined> {
  return {
    label: 'quantity or none',
    parse: (raw, name) => (raw === 'none' ? undefined : isQuantity(raw) ? raw : new SettingProblem(`${name}=${JSON.stringify(raw)} is not a Kubernetes quantity (e.g. 100m, 64Mi)`)),
    format: (v) => v ?? 'none',
  };
}

// One resource variable: the container's prefix and the field's suffix, e.g. WEFT_INJECTOR_PROXY + CPU_LIMIT.
function resource(prefix: 'WEFT_INJECTOR_PROXY' | 'WEFT_INJECTOR_INIT', suffix: string, fallback: string | undefined, doc: string): Setting<string | undefined> {
  return setting({ name: `${prefix}_${suffix}`, type: quantity(), default: fallback, doc });
}

const d = DEFAULT_SETTINGS;

/** What every injected pod gets unless its annotations say otherwise: the injector's own table (docs/sidecar-config.md). */
export const INJECTOR_POD_DEFAULT_SETTINGS = {
  image: setting({ name: 'WEFT_INJECTOR_IMAGE', type: str('image'), default: d.image, doc: 'image of `weft-init` and `weft-proxy`' }),
  imagePullPolicy: setting({ name: 'WEFT_INJECTOR_IMAGE_PULL_POLICY', type: oneOf(['Always', 'IfNotPresent', 'Never'] as const), default: d.imagePullPolicy, doc: 'their pull policy' }),
  caAddr: setting({ name: 'WEFT_CA_ADDR', type: str('URL'), default: d.caAddr, doc: 'handed to the proxy as its `WEFT_CA_ADDR`' }),
  destinationAddr: setting({ name: 'WEFT_DESTINATION_ADDR', type: str('host:port'), default: d.destinationAddr, doc: 'handed to the proxy as its `WEFT_DESTINATION_ADDR`: where it asks for endpoints (it holds no API credentials)' }),
  destinationIdentity: setting({ name: 'WEFT_DESTINATION_IDENTITY', type: str('SPIFFE ID'), default: d.destinationIdentity, defaultDoc: "(none: the proxy's default)", doc: 'handed to the proxy as its `WEFT_DESTINATION_IDENTITY` when set' }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: d.trustDomain, doc: 'handed to the proxy as its `WEFT_TRUST_DOMAIN`' }),
  trustAnchorsFile: setting({ name: 'WEFT_INJECTOR_TRUST_ANCHORS_FILE', type: str('path'), default: d.trustAnchorsFile, doc: "the trust anchors PEM written into each proxy's `WEFT_TRUST_ANCHORS` (re-read when it changes)" }),
  nativeSidecars: setting({ name: 'WEFT_INJECTOR_NATIVE_SIDECARS', type: bool(), default: d.nativeSidecars, doc: 'the proxy as a native sidecar (an init container with `restartPolicy: Always`, Kubernetes >= 1.29)' }),
  inboundMode: setting({ name: 'WEFT_INJECTOR_INBOUND_MODE', type: oneOf(['strict', 'permissive'] as const), default: d.inboundMode, doc: 'default inbound mode of `weft init` (`config.weft.dev/inbound-mode`)' }),
  proxyLogLevel: setting({ name: 'WEFT_INJECTOR_PROXY_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: d.logLevel, doc: 'default proxy log level (`config.weft.dev/log-level`)' }),
  proxyAccessLog: setting({ name: 'WEFT_INJECTOR_PROXY_ACCESS_LOG', type: bool(), default: d.accessLog, doc: "mesh-wide default of the proxies' access log for successful requests (Helm `proxy.accessLog`; `config.weft.dev/access-log` per pod)" }),
  proxyCpuRequest: resource('WEFT_INJECTOR_PROXY', 'CPU_REQUEST', d.proxyResources.cpuRequest, 'the proxy: CPU request'),
  proxyCpuLimit: resource('WEFT_INJECTOR_PROXY', 'CPU_LIMIT', d.proxyResources.cpuLimit, 'the proxy: CPU limit'),
  proxyMemoryRequest: resource('WEFT_INJECTOR_PROXY', 'MEMORY_REQUEST', d.proxyResources.memoryRequest, 'the proxy: memory request'),
  proxyMemoryLimit: resource('WEFT_INJECTOR_PROXY', 'MEMORY_LIMIT', d.proxyResources.memoryLimit, 'the proxy: memory limit'),
  initCpuRequest: resource('WEFT_INJECTOR_INIT', 'CPU_REQUEST', d.initResources.cpuRequest, '`weft-init`: CPU request'),
  initCpuLimit: resource('WEFT_INJECTOR_INIT', 'CPU_LIMIT', d.initResources.cpuLimit, '`weft-init`: CPU limit'),
  initMemoryRequest: resource('WEFT_INJECTOR_INIT', 'MEMORY_REQUEST', d.initResources.memoryRequest, '`weft-init`: memory request'),
  initMemoryLimit: resource('WEFT_INJECTOR_INIT', 'MEMORY_LIMIT', d.initResources.memoryLimit, '`weft-init`: memory limit'),
  tokenExpirationSeconds: setting({ name: 'WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS', type: int({ min: 600, max: 86_400 }, 'seconds'), default: d.tokenExpirationSeconds, doc: 'lifetime asked for the projected `weft-ca` token' }),
  egressMode: setting({ name: 'WEFT_INJECTOR_EGRESS_MODE', type: oneOf(EGRESS_MODES), default: d.egressMode, doc: "the mesh-wide egress policy, written into each proxy's `WEFT_EGRESS_MODE` (Helm `proxy.egress.mode`)" }),
  egressAllow: setting({ name: 'WEFT_INJECTOR_EGRESS_ALLOW', type: list('host name, *.suffix, IP or CIDR'), default: d.egressAllow, doc: "written into each proxy's `WEFT_EGRESS_ALLOW` in registry-only mode (Helm `proxy.egress.allow`); checked at start" }),
  imagePullSecrets: setting({ name: 'WEFT_INJECTOR_IMAGE_PULL_SECRETS', type: list('Secret name'), default: d.imagePullSecrets, doc: "Secrets added to each injected pod's `imagePullSecrets` (Helm `imagePullSecrets`), so a private weft image pulls; names the pod lists already are not repeated" }),
} as const;

// A Secret's name is a DNS-1123 subdomain.
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// Only the fields that are set: an absent field is left unset on the container.
function resources(cpuRequest: string | undefined, cpuLimit: string | undefined, memoryRequest: string | undefined, memoryLimit: string | undefined): ProxyResources {
  const out: { -readonly [K in keyof ProxyResources]: string } = {};
  if (cpuRequest !== undefined) out.cpuRequest = cpuRequest;
  if (cpuLimit !== undefined) out.cpuLimit = cpuLimit;
  if (memoryRequest !== undefined) out.memoryRequest = memoryRequest;
  if (memoryLimit !== undefined) out.memoryLimit = memoryLimit;
  return out;
}

/** Reads WEFT_INJECTOR_* (and the shared WEFT_CA_ADDR, WEFT_TRUST_DOMAIN) into settings. */
export function readInjectorSettings(r: ConfigReader): InjectorSettings {
  const v = r.table(INJECTOR_POD_DEFAULT_SETTINGS);
  // Checked here with the proxy's own parser, so a bad entry stops the injector, not every pod.
  const egress = parseEgressPolicy(v.egressMode, v.egressAllow, 'WEFT_INJECTOR_EGRESS_ALLOW');
  if (Array.isArray(egress)) for (const problem of egress) r.problem(problem);
  for (const name of v.imagePullSecrets) {
    if (name.length > 253 || !SECRET_NAME.test(name)) r.problem(`WEFT_INJECTOR_IMAGE_PULL_SECRETS: ${JSON.stringify(name)} is not a Secret name (a DNS-1123 subdomain)`);
  }
  return {
    image: v.image,
    imagePullPolicy: v.imagePullPolicy,
    caAddr: v.caAddr,
    destinationAddr: v.destinationAddr,
    destinationIdentity: v.destinationIdentity,
    trustDomain: v.trustDomain,
    trustAnchorsFile: v.trustAnchorsFile,
    trustAnchors: undefined,
    nativeSidecars: v.nativeSidecars,
    inboundMode: v.inboundMode,
    logLevel: v.proxyLogLevel,
    accessLog: v.proxyAccessLog,
    proxyResources: resources(v.proxyCpuRequest, v.proxyCpuLimit, v.proxyMemoryRequest, v.proxyMemoryLimit),
    initResources: resources(v.initCpuRequest, v.initCpuLimit, v.initMemoryRequest, v.initMemoryLimit),
    tokenExpirationSeconds: v.tokenExpirationSeconds,
    egressMode: v.egressMode,
    egressAllow: v.egressAllow,
    imagePullSecrets: v.imagePullSecrets,
  };
}

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** True for a Kubernetes resource quantity that is not negative. */
export function isQuantity(raw: string): boolean {
  const m = QUANTITY.exec(raw);
  return m !== null && m[1] !== '-';
}

const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The numeric value of a quantity (for request <= limit checks), or undefined when malformed. */
export function quantityValue(raw: string): number | undefined {
  const m = QUANTITY.exec(raw);
  if (!m || m[1] === '-') return undefined;
  const base = Number(m[2]);
  const suffix = m[3] ?? '';
  if (/^[eE]/.test(suffix)) return base * 10 ** Number(suffix.slice(1));
  const mult = SUFFIX[suffix];
  return mult === undefined ? undefined : base * mult;
}
