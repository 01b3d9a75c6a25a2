// `weft injector`'s settings table (rendered into docs/sidecar-config.md): the webhook server's own
// variables, parsed here, and the pod defaults that readInjectorSettings (settings.ts) reads, listed
// so that the docs and the unknown-name warning know them (a test holds the two to the same names).
import { ConfigReader, SettingProblem, bool, hostPort, int, oneOf, setting, str, type HostPort, type SettingType } from '../lib/config.js';
import { LOG_LEVELS as PROCESS_LOG_LEVELS } from '../lib/logger.js';
import { DEFAULT_SETTINGS, LOG_LEVELS, isQuantity, type ProxyResources } from './settings.js';

/** A Kubernetes quantity, or `none` to leave the field unset. */
function quantity(): SettingType<string | undefined> {
  return {
    label: 'quantity or none',
    parse: (raw, name) => (raw === 'none' ? undefined : isQuantity(raw) ? raw : new SettingProblem(`${name}=${JSON.stringify(raw)} is not a Kubernetes quantity (e.g. 100m, 64Mi)`)),
    format: (v) => v ?? 'none',
  };
}

function resourceRows<P extends string>(prefix: P, defaults: ProxyResources, what: string) {
  return {
    [`${prefix}CpuRequest`]: setting({ name: `WEFT_INJECTOR_${prefix.toUpperCase()}_CPU_REQUEST`, type: quantity(), default: defaults.cpuRequest, doc: `${what}: CPU request` }),
    [`${prefix}CpuLimit`]: setting({ name: `WEFT_INJECTOR_${prefix.toUpperCase()}_CPU_LIMIT`, type: quantity(), default: defaults.cpuLimit, doc: `${what}: CPU limit` }),
    [`${prefix}MemoryRequest`]: setting({ name: `WEFT_INJECTOR_${prefix.toUpperCase()}_MEMORY_REQUEST`, type: quantity(), default: defaults.memoryRequest, doc: `${what}: memory request` }),
    [`${prefix}MemoryLimit`]: setting({ name: `WEFT_INJECTOR_${prefix.toUpperCase()}_MEMORY_LIMIT`, type: quantity(), default: defaults.memoryLimit, doc: `${what}: memory limit` }),
  };
}

const d = DEFAULT_SETTINGS;

/** The webhook server's own variables (`weft injector` only; `weft inject` has no server). */
export const INJECTOR_SERVER_SETTINGS = {
  listen: setting({ name: 'WEFT_INJECTOR_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: 8443 }, doc: 'the HTTPS admission webhook' }),
  tlsDir: setting({ name: 'WEFT_INJECTOR_TLS_DIR', type: str('path'), default: '/var/run/weft/injector-tls', doc: 'its serving certificate (`tls.crt`, `tls.key`), reloaded when it changes' }),
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(PROCESS_LOG_LEVELS), default: 'info', doc: "pino level of the injector's own log" }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: '', defaultDoc: '(none)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
} as const;

/** What every injected pod gets unless its annotations say otherwise (read by readInjectorSettings). */
export const INJECTOR_POD_DEFAULT_SETTINGS = {
  image: setting({ name: 'WEFT_INJECTOR_IMAGE', type: str('image'), default: d.image, doc: 'image of `weft-init` and `weft-proxy`' }),
  imagePullPolicy: setting({ name: 'WEFT_INJECTOR_IMAGE_PULL_POLICY', type: oneOf(['Always', 'IfNotPresent', 'Never'] as const), default: d.imagePullPolicy, doc: 'their pull policy' }),
  caAddr: setting({ name: 'WEFT_CA_ADDR', type: str('URL'), default: d.caAddr, doc: "handed to the proxy as its `WEFT_CA_ADDR`" }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: d.trustDomain, doc: "handed to the proxy as its `WEFT_TRUST_DOMAIN`" }),
  trustAnchorsFile: setting({ name: 'WEFT_INJECTOR_TRUST_ANCHORS_FILE', type: str('path'), default: d.trustAnchorsFile, doc: "the trust anchors PEM written into each proxy's `WEFT_TRUST_ANCHORS` (re-read when it changes)" }),
  nativeSidecars: setting({ name: 'WEFT_INJECTOR_NATIVE_SIDECARS', type: bool(), default: d.nativeSidecars, doc: 'the proxy as a native sidecar (an init container with `restartPolicy: Always`, Kubernetes >= 1.29)' }),
  inboundMode: setting({ name: 'WEFT_INJECTOR_INBOUND_MODE', type: oneOf(['strict', 'permissive'] as const), default: d.inboundMode, doc: 'default inbound mode of `weft init` (`config.weft.dev/inbound-mode`)' }),
  proxyLogLevel: setting({ name: 'WEFT_INJECTOR_PROXY_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: d.logLevel, doc: 'default proxy log level (`config.weft.dev/log-level`)' }),
  ...resourceRows('proxy', d.proxyResources, 'the proxy'),
  ...resourceRows('init', d.initResources, '`weft-init`'),
  tokenExpirationSeconds: setting({ name: 'WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS', type: int({ min: 600, max: 86_400 }, 'seconds'), default: d.tokenExpirationSeconds, doc: 'lifetime asked for the projected `weft-ca` token' }),
};

/** Every variable `weft injector` reads. */
export const INJECTOR_SETTINGS = { ...INJECTOR_SERVER_SETTINGS, ...INJECTOR_POD_DEFAULT_SETTINGS };

/** The webhook server's own settings. */
export interface InjectorServerConfig {
  readonly listen: HostPort;
  readonly tlsDir: string;
  readonly logLevel: string;
  /** The pod's name for log lines; '' when unset. */
  readonly podName: string;
}

/** Reads the server's rows into `r` (the caller adds readInjectorSettings and calls done()). */
export function readInjectorServerConfig(r: ConfigReader): InjectorServerConfig {
  return Object.freeze({ ...r.table(INJECTOR_SERVER_SETTINGS) });
}
