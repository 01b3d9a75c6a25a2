// The settings rows of the mode plumbing (mesh/plumbing.ts) that `weft proxy` and `weft gateway`
// share, kept apart from the plumbing itself so that reading them loads no discovery or CA client.
import { durationMs, int, oneOf, optional, pemCertificates, setting, str, type ConfigReader, type SettingsValues } from '../lib/config.js';
import { isWeftError } from '../lib/errors.js';
import { formatIdentity } from '../lib/identity.js';

/** The two ways a meshed process finds endpoints and certificates. */
export const MESH_MODES = ['local', 'kubernetes'] as const;

/**
 * The settings rows of the mode plumbing, the same for `weft proxy` and `weft gateway`: each
 * component's table takes them whole, so both read these variables the same way.
 */
export const MESH_MODE_SETTINGS = {
  mode: setting({ name: 'WEFT_MODE', type: oneOf(MESH_MODES), default: 'kubernetes', doc: '`kubernetes`: endpoints from the API server, certificate from `weft ca`; `local`: both from files (`weft up`)' }),
  certLifetimeHours: setting({ name: 'WEFT_CERT_LIFETIME_HOURS', type: int({ min: 1 }, 'hours'), default: 24, doc: 'local mode: lifetime of the leaf the process signs for itself from `WEFT_CA_DIR`' }),
  caDir: setting({ name: 'WEFT_CA_DIR', type: str('path'), default: '', required: 'local', mode: 'local', doc: 'CA directory (root.pem, issuer.pem, issuer.key)' }),
  endpointsFile: setting({ name: 'WEFT_ENDPOINTS_FILE', type: str('path'), default: '', required: 'local', mode: 'local', doc: 'endpoints file, watched for changes (docs/local-mode.md)' }),
  caAddr: setting({ name: 'WEFT_CA_ADDR', type: str('URL'), default: 'https://weft-ca.weft-system.svc:8443', mode: 'kubernetes', doc: 'the `weft ca` service' }),
  trustAnchors: setting({
    name: 'WEFT_TRUST_ANCHORS',
    type: optional(pemCertificates()),
    default: undefined,
    mode: 'kubernetes',
    doc: "trust anchors as PEM text; the injector writes the bundle of weft's `weft-trust-anchors` ConfigMap here (docs/injection.md \"Trust anchors\"). When set, the file below is not read. Checked at start: no certificate, a non-certificate block, a block that does not parse or stray text is `WEFT_ERR_CONFIG` naming `WEFT_TRUST_ANCHORS`. Fixed for the pod's life: restart the pod to pick up a rotated bundle",
  }),
  trustAnchorsFile: setting({ name: 'WEFT_TRUST_ANCHORS_FILE', type: str('path'), default: '/var/run/weft/trust/roots.pem', mode: 'kubernetes', doc: 'trust anchors (PEM) read from a file, re-read before each certificate request; used only when `WEFT_TRUST_ANCHORS` is unset (the gateway mounts it this way, or a hand-written pod)' }),
  tokenFile: setting({ name: 'WEFT_TOKEN_FILE', type: str('path'), default: '/var/run/secrets/weft.dev/serviceaccount/token', mode: 'kubernetes', doc: 'projected service-account token, audience `weft-ca`' }),
  destinationAddr: setting({
    name: 'WEFT_DESTINATION_ADDR',
    type: str('host:port'),
    default: '',
    defaultDoc: '(none: read the API server with the pod\'s own credentials)',
    mode: 'kubernetes',
    doc: '`weft destination` (host:port), asked for endpoints and addresses over mutual TLS, so the process needs no API credentials; the injector sets it for every sidecar (`weft-destination.<weft namespace>.svc:8086`). Empty: the process watches the API server itself (the gateway, with its own RBAC)',
  }),
  destinationIdentity: setting({
    name: 'WEFT_DESTINATION_IDENTITY',
    type: optional(str('SPIFFE ID')),
    default: undefined,
    defaultDoc: '`spiffe://<trust domain>/ns/weft-system/sa/weft-destination`',
    mode: 'kubernetes',
    doc: "the identity `weft destination`'s certificate must carry; another one is refused (`WEFT_ERR_PEER_IDENTITY`)",
  }),
  negativeTtlMs: setting({
    name: 'WEFT_DISCOVERY_NEGATIVE_TTL_MS',
    type: durationMs({ min: 0 }),
    default: 30_000,
    mode: 'kubernetes',
    doc: 'with `WEFT_DESTINATION_ADDR`: how long a name that is not a service (and an address lookup) is believed before asking `weft destination` again',
  }),
} as const;

/** Local mode: the CA directory the process signs its own leaf from, and the endpoints file. */
export interface LocalModeSettings {
  readonly caDir: string;
  readonly endpointsFile: string;
}

/**
 * Kubernetes mode: the CA to ask for certificates. `trustAnchors` is the PEM of
 * WEFT_TRUST_ANCHORS (what the injector writes); when it is unset `trustAnchorsFile` is read.
 */
export interface KubernetesModeSettings {
  readonly caAddr: string;
  readonly trustAnchors: string | undefined;
  readonly trustAnchorsFile: string;
  readonly tokenFile: string;
  /** host:port of `weft destination`; '' means "watch the API server directly". */
  readonly destinationAddr: string;
  /** The identity `weft destination` must present (set when destinationAddr is). */
  readonly destinationIdentity: string;
  /** The negative cache's TTL (and the address lookups' cache). */
  readonly negativeTtlMs: number;
}

/** The mode settings both the proxy's and the gateway's configs carry (each config extends it). */
export interface MeshModeSettings {
  readonly mode: (typeof MESH_MODES)[number];
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  readonly identity: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly certLifetimeHours: number;
  /** Set in local mode only. */
  readonly local: LocalModeSettings | undefined;
  /** Set in kubernetes mode only. */
  readonly kubernetes: KubernetesModeSettings | undefined;
}

/** The local and kubernetes blocks of MeshModeSettings from the parsed rows: only the active mode's is set. */
export function meshModeBlocks(v: SettingsValues<typeof MESH_MODE_SETTINGS>, trustDomain = 'cluster.local'): Pick<MeshModeSettings, 'local' | 'kubernetes'> {
  return {
    local: v.mode === 'local' ? { caDir: v.caDir, endpointsFile: v.endpointsFile } : undefined,
    kubernetes:
      v.mode === 'kubernetes'
        ? {
            caAddr: v.caAddr,
            trustAnchors: v.trustAnchors,
            trustAnchorsFile: v.trustAnchorsFile,
            tokenFile: v.tokenFile,
            destinationAddr: v.destinationAddr,
            destinationIdentity: v.destinationIdentity ?? `spiffe://${trustDomain}/ns/weft-system/sa/weft-destination`,
            negativeTtlMs: v.negativeTtlMs,
          }
        : undefined,
  };
}

/**
 * The SPIFFE identity the parsed namespace, service account and trust domain name; a part that is
 * not a valid name is one more problem on `c` (and the identity is '').
 */
export function identityFrom(c: ConfigReader, v: { readonly trustDomain: string; readonly namespace: string; readonly serviceAccount: string }): string {
  try {
    return formatIdentity({ trustDomain: v.trustDomain, namespace: v.namespace, serviceAccount: v.serviceAccount });
  } catch (err) {
    if (!isWeftError(err)) throw err;
    c.problem(`WEFT_POD_NAMESPACE/WEFT_SERVICE_ACCOUNT/WEFT_TRUST_DOMAIN: ${err.message}`);
    return '';
  }
}
