// The SPIFFE identity string every part of weft names a workload by.
import { WeftError } from './errors.js';

/** A parsed workload identity. */
export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// DNS-1123 label for namespaces; service-account names are DNS-1123 subdomains.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/;

/** spiffe://<td>/ns/<ns>/sa/<sa>; throws WEFT_ERR_IDENTITY_INVALID on bad parts. */
export function formatIdentity(id: Identity): string {
  const problem = identityProblem(id);
  if (problem) throw new WeftError('WEFT_ERR_IDENTITY_INVALID', problem);
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses an identity URI, or returns undefined when it is not a weft identity. */
export function parseIdentity(uri: string): Identity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const id = { trustDomain: m[1] ?? '', namespace: m[2] ?? '', serviceAccount: m[3] ?? '' };
  return identityProblem(id) ? undefined : id;
}

function identityProblem(id: Identity): string | undefined {
  if (!TRUST_DOMAIN.test(id.trustDomain)) return `trust domain ${JSON.stringify(id.trustDomain)} is not a DNS name`;
  if (!NAMESPACE.test(id.namespace)) return `namespace ${JSON.stringify(id.namespace)} is not a DNS-1123 label`;
  if (!SERVICE_ACCOUNT.test(id.serviceAccount)) {
    return `service account ${JSON.stringify(id.serviceAccount)} is not a DNS-1123 subdomain`;
  }
  return undefined;
}

/**
 * Extracts the weft identity from Node's `subjectaltname` string ("URI:spiffe://..., DNS:x").
 * Returns undefined when there is none or more than one URI SAN (SPIFFE allows exactly one).
 */
export function identityFromSubjectAltName(subjectAltName: string | undefined): string | undefined {
  if (!subjectAltName) return undefined;
  const uris = subjectAltName
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
  if (uris.length !== 1) return undefined;
  const uri = uris[0] ?? '';
  return parseIdentity(uri) ? uri : undefined;
}

/** The pod's TLS material at one moment. Replaced whole on renewal. */
export interface TlsMaterial {
  /** The pod's identity (the leaf's URI SAN). */
  readonly identity: string;
  /** PKCS#8 PEM private key; it never leaves the process. */
  readonly keyPem: string;
  /** Leaf then issuer, PEM. */
  readonly certChainPem: string;
  /** Trust anchors (roots), PEM. */
  readonly trustBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}
