// `weft injector`'s settings table (rendered into docs/sidecar-config.md): the webhook server's own
// variables, parsed here, and the pod defaults of settings.ts, which `weft inject` reads too.
import { ConfigReader, hostPort, oneOf, setting, str, type HostPort } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/logger.js';
import { INJECTOR_POD_DEFAULT_SETTINGS } from './settings.js';
import { HANDSHAKE_SETTINGS } from '../lib/tls-guard.js';
import { ADMIN_PORT } from '../lib/ports.js';
import { WEBHOOK_CERT_SETTINGS, type WebhookTlsProvider } from './webhook-cert-settings.js';

/** The webhook server's own variables (`weft injector` only; `weft inject` has no server). */
export const INJECTOR_SERVER_SETTINGS = {
  listen: setting({ name: 'WEFT_INJECTOR_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: 8443 }, doc: 'the HTTPS admission webhook' }),
  admin: setting({ name: 'WEFT_ADMIN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: ADMIN_PORT }, doc: 'plain HTTP `/live`, `/ready`, `/metrics` (for Prometheus without the webhook\'s TLS)' }),
  tlsDir: setting({ name: 'WEFT_INJECTOR_TLS_DIR', type: str('path'), default: '/var/run/weft/injector-tls', doc: 'its serving certificate (`tls.crt`, `tls.key`), reloaded when it changes' }),
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: 'info', doc: "pino level of the injector's own log" }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: '', defaultDoc: '(none)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
  handshakeTimeoutMs: HANDSHAKE_SETTINGS.handshakeTimeoutMs,
  maxPendingHandshakes: HANDSHAKE_SETTINGS.maxPendingHandshakes,
  ...WEBHOOK_CERT_SETTINGS,
} as const;

/** Every variable `weft injector` reads. */
export const INJECTOR_SETTINGS = { ...INJECTOR_SERVER_SETTINGS, ...INJECTOR_POD_DEFAULT_SETTINGS };

/** The webhook server's own settings. */
export interface InjectorServerConfig {
  readonly listen: HostPort;
  /** The plain admin listener: /live, /ready, /metrics. */
  readonly admin: HostPort;
  readonly tlsDir: string;
  readonly logLevel: string;
  /** The pod's name for log lines; '' when unset. */
  readonly podName: string;
  /** Destroy a webhook connection whose TLS handshake has not finished after this long. */
  readonly handshakeTimeoutMs: number;
  /** TLS handshakes in progress at most; beyond it new connections are closed at once. */
  readonly maxPendingHandshakes: number;
  /** files: the mounted pair in tlsDir; self: injector/webhook-cert.ts makes and renews it. */
  readonly tlsProvider: WebhookTlsProvider;
  /** With self: the Secret holding the pair, in the injector's namespace. */
  readonly tlsSecret: string;
  /** With self: the MutatingWebhookConfiguration it writes the caBundle into. */
  readonly webhookName: string;
  /** With self: the Service whose DNS names the certificate carries. */
  readonly serviceName: string;
  /** With self: validity of what it makes. */
  readonly selfLifetimeSeconds: number;
  /** With self: how often it re-reads the Secret and the webhook configuration between renewals. */
  readonly selfResyncSeconds: number;
}

/** Reads the server's rows into `r` (the caller adds readInjectorSettings and calls done()). */
export function readInjectorServerConfig(r: ConfigReader): InjectorServerConfig {
  return Object.freeze({ ...r.table(INJECTOR_SERVER_SETTINGS) });
}
