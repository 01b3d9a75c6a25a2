// `weft destination`'s settings table (rendered into docs/sidecar-config.md) and the parser that
// turns its environment into a frozen DestinationConfig, listing every problem at once.
import { ConfigReader, hostPort, oneOf, optional, pemCertificates, setting, str, type HostPort } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/logger.js';
import { ADMIN_PORT } from '../lib/ports.js';
import { identityFrom } from '../mesh/mode-settings.js';

/** The port `weft destination` serves its API on. */
export const DESTINATION_PORT = 8086;

/** Every variable `weft destination` reads. */
export const DESTINATION_SETTINGS = {
  logLevel: setting({ name: 'WEFT_LOG_LEVEL', type: oneOf(LOG_LEVELS), default: 'info', doc: 'pino level' }),
  podName: setting({ name: 'WEFT_POD_NAME', type: str('DNS name'), default: '', defaultDoc: '(none)', doc: 'downward API `metadata.name`; the `pod` field of every log line' }),
  trustDomain: setting({ name: 'WEFT_TRUST_DOMAIN', type: str('DNS name'), default: 'cluster.local', doc: 'trust domain of the identities it computes for endpoints and of its own' }),
  namespace: setting({ name: 'WEFT_POD_NAMESPACE', type: str('DNS label'), default: 'weft-system', doc: 'its own namespace: part of its identity' }),
  serviceAccount: setting({ name: 'WEFT_SERVICE_ACCOUNT', type: str('DNS name'), default: 'weft-destination', doc: 'its own service account: its identity, which proxies check (`WEFT_DESTINATION_IDENTITY`)' }),
  listen: setting({ name: 'WEFT_DESTINATION_LISTEN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: DESTINATION_PORT }, doc: 'the discovery API (HTTP/2, TLS 1.3, client certificate required)' }),
  admin: setting({ name: 'WEFT_ADMIN_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: ADMIN_PORT }, doc: '`/live`, `/ready`, `/metrics`' }),
  caAddr: setting({ name: 'WEFT_CA_ADDR', type: str('URL'), default: 'https://weft-ca.weft-system.svc:8443', doc: 'the `weft ca` service its serving certificate comes from' }),
  trustAnchors: setting({ name: 'WEFT_TRUST_ANCHORS', type: optional(pemCertificates()), default: undefined, doc: 'trust anchors as PEM text; when set, the file below is not read' }),
  trustAnchorsFile: setting({ name: 'WEFT_TRUST_ANCHORS_FILE', type: str('path'), default: '/var/run/weft/trust/roots.pem', doc: 'trust anchors (PEM): they check `weft ca` and every client certificate' }),
  tokenFile: setting({ name: 'WEFT_TOKEN_FILE', type: str('path'), default: '/var/run/secrets/weft.dev/serviceaccount/token', doc: 'projected service-account token, audience `weft-ca`' }),
} as const;

/** `weft destination` settings. */
export interface DestinationConfig {
  readonly logLevel: string;
  readonly podName: string;
  readonly trustDomain: string;
  /** spiffe://<td>/ns/<ns>/sa/<sa>: what its serving certificate names. */
  readonly identity: string;
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly caAddr: string;
  readonly trustAnchors: string | undefined;
  readonly trustAnchorsFile: string;
  readonly tokenFile: string;
}

/** Parses the `weft destination` environment, listing every problem at once. */
export function parseDestinationConfig(env: Readonly<Record<string, string | undefined>>): DestinationConfig {
  const c = new ConfigReader(env);
  const v = c.table(DESTINATION_SETTINGS);
  const config: DestinationConfig = {
    logLevel: v.logLevel,
    podName: v.podName,
    trustDomain: v.trustDomain,
    identity: identityFrom(c, v),
    listen: v.listen,
    admin: v.admin,
    caAddr: v.caAddr,
    trustAnchors: v.trustAnchors,
    trustAnchorsFile: v.trustAnchorsFile,
    tokenFile: v.tokenFile,
  };
  c.done();
  return Object.freeze(config);
}
