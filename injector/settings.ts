// The injector's own configuration (image, CA address, trust anchors, native sidecars, defaults),
// parsed from a string map so `weft injector`, `weft inject` and tests share one reader.
import { ConfigReader } from '../lib/config.js';

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
  readonly proxyResources: ProxyResources;
  readonly initResources: ProxyResources;
  /** Lifetime asked for the projected `weft-ca` token. */
  readonly tokenExpirationSeconds: number;
}

/** Defaults used when a variable is unset. */
export const DEFAULT_SETTINGS: InjectorSettings = {
  image: 'ghcr.io/weft-mesh/weft:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  caAddr: 'https://weft-ca.weft-system.svc:8443',
  trustDomain: 'cluster.local',
  trustAnchorsFile: '/var/run/weft/trust-anchors/roots.pem',
  trustAnchors: undefined,
  nativeSidecars: true,
  inboundMode: 'strict',
  logLevel: 'info',
  proxyResources: { cpuRequest: '10m', memoryRequest: '32Mi', memoryLimit: '256Mi' },
  initResources: { cpuRequest: '10m', memoryRequest: '16Mi', cpuLimit: '100m', memoryLimit: '64Mi' },
  tokenExpirationSeconds: 3600,
};

/** Reads WEFT_INJECTOR_* (and the shared WEFT_CA_ADDR, WEFT_TRUST_DOMAIN) into settings. */
export function readInjectorSettings(r: ConfigReader): InjectorSettings {
  const d = DEFAULT_SETTINGS;
  const res = (prefix: string, def: ProxyResources): ProxyResources => {
    const out: { -readonly [K in keyof ProxyResources]: string } = {};
    const pick = (key: keyof ProxyResources, suffix: string): void => {
      const name = `${prefix}_${suffix}`;
      const raw = r.optionalString(name);
      const value = raw ?? def[key];
      if (value === undefined || value === 'none') return;
      if (!isQuantity(value)) r.problem(`${name}=${JSON.stringify(value)} is not a Kubernetes quantity (e.g. 100m, 64Mi)`);
      else out[key] = value;
    };
    pick('cpuRequest', 'CPU_REQUEST');
    pick('cpuLimit', 'CPU_LIMIT');
    pick('memoryRequest', 'MEMORY_REQUEST');
    pick('memoryLimit', 'MEMORY_LIMIT');
    return out;
  };
  return {
    image: r.string('WEFT_INJECTOR_IMAGE', d.image),
    imagePullPolicy: r.oneOf('WEFT_INJECTOR_IMAGE_PULL_POLICY', ['Always', 'IfNotPresent', 'Never'] as const, d.imagePullPolicy),
    caAddr: r.string('WEFT_CA_ADDR', d.caAddr),
    trustDomain: r.string('WEFT_TRUST_DOMAIN', d.trustDomain),
    trustAnchorsFile: r.string('WEFT_INJECTOR_TRUST_ANCHORS_FILE', d.trustAnchorsFile),
    trustAnchors: undefined,
    nativeSidecars: r.boolean('WEFT_INJECTOR_NATIVE_SIDECARS', d.nativeSidecars),
    inboundMode: r.oneOf('WEFT_INJECTOR_INBOUND_MODE', ['strict', 'permissive'] as const, d.inboundMode),
    logLevel: r.oneOf('WEFT_INJECTOR_PROXY_LOG_LEVEL', LOG_LEVELS, d.logLevel),
    proxyResources: res('WEFT_INJECTOR_PROXY', d.proxyResources),
    initResources: res('WEFT_INJECTOR_INIT', d.initResources),
    tokenExpirationSeconds: r.integer('WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS', d.tokenExpirationSeconds, { min: 600, max: 86_400 }),
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
