// Where `weft ca` gets its root and issuer in a cluster: files mounted from a kubernetes.io/tls
// Secret (tls.crt, tls.key, optional ca.crt) plus the trust anchors file, reloaded when they
// change; or, when none are mounted and generation is allowed, its own Secret read through the
// API, created at first start (two replicas racing: the loser re-reads the winner's) with the
// root published in the trust-anchors ConfigMap.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Authority } from '../lib/pki/authority.js';
import { authorityFromPem, generateAuthorityPem } from '../lib/pki/store.js';
import { x509 } from '../lib/pki/crypto.js';
import { WeftError } from '../lib/errors.js';
import { isKubeStatus, resourcePath, type KubeClient } from '../lib/kube/client.js';
import { ownerMetadata, withOwner, type OwnerMetadata } from './ownership.js';

/** The authority `weft ca` signs with, plus the PEM it hands out. */
export interface CaMaterial {
  readonly authority: Authority;
  /** Issuer certificate (and any intermediates above it), PEM: the `chain` of every answer. */
  readonly chainPem: string;
  /** Trust anchors (one or more roots during a rotation), PEM: the `trustBundle` of every answer. */
  readonly trustBundlePem: string;
  /** Where it came from, for logs. */
  readonly source: string;
}

/** Secret keys, as a kubernetes.io/tls Secret (cert-manager's shape) plus the root's key. */
export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', root: 'ca.crt', rootKey: 'root.key' } as const;
/** The ConfigMap key holding the trust anchors. */
export const TRUST_ANCHORS_KEY = 'roots.pem';

/** Splits a PEM bundle into its certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Builds the CA material from PEM text (pure apart from crypto): the issuer is the first
 * certificate of `issuerCertPem`; the root is whichever trust anchor signed the top of that chain.
 */
export async function materialFromPem(opts: {
  issuerCertPem: string;
  issuerKeyPem: string;
  trustAnchorsPem: string;
  source: string;
}): Promise<CaMaterial> {
  const chain = splitPemCertificates(opts.issuerCertPem);
  const anchors = splitPemCertificates(opts.trustAnchorsPem);
  if (chain.length === 0) throw new WeftError('WEFT_ERR_CA_MATERIAL', `${opts.source}: the issuer certificate holds no PEM CERTIFICATE`);
  if (anchors.length === 0) throw new WeftError('WEFT_ERR_CA_MATERIAL', `${opts.source}: the trust anchors hold no PEM CERTIFICATE`);
  const top = new x509.X509Certificate(chain[chain.length - 1] ?? '');
  let rootPem: string | undefined;
  for (const anchor of anchors) {
    const root = new x509.X509Certificate(anchor);
    if (await top.verify({ publicKey: root.publicKey, signatureOnly: true }).catch(() => false)) {
      rootPem = anchor;
      break;
    }
  }
  if (!rootPem) throw new WeftError('WEFT_ERR_CA_MATERIAL', `${opts.source}: no trust anchor signed the issuer chain`);
  // Each certificate of the chain must be signed by the next one (the top by the root).
  for (let i = 0; i < chain.length - 1; i++) {
    const child = new x509.X509Certificate(chain[i] ?? '');
    const parent = new x509.X509Certificate(chain[i + 1] ?? '');
    if (!(await child.verify({ publicKey: parent.publicKey, signatureOnly: true }).catch(() => false))) {
      throw new WeftError('WEFT_ERR_CA_MATERIAL', `${opts.source}: certificate ${i + 1} of the issuer chain is not signed by certificate ${i + 2}`);
    }
  }
  let authority: Authority;
  if (chain.length === 1) {
    // authorityFromPem also checks that the key belongs to the issuer certificate.
    authority = await authorityFromPem({ rootCert: rootPem, issuerCert: chain[0] ?? '', issuerKey: opts.issuerKeyPem });
  } else {
    const issuer = await authorityFromPem({ rootCert: chain[1] ?? '', issuerCert: chain[0] ?? '', issuerKey: opts.issuerKeyPem });
    authority = { root: new x509.X509Certificate(rootPem), issuer: issuer.issuer };
  }
  return {
    authority,
    chainPem: chain.join('\n') + '\n',
    trustBundlePem: anchors.join('\n') + '\n',
    source: opts.source,
  };
}

/** Reads the mounted files; undefined when the issuer files are not there (yet). */
export async function readMountedMaterial(issuerDir: string, trustAnchorsFile: string | undefined): Promise<{ text: string; load: () => Promise<CaMaterial> } | undefined> {
  const read = async (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);
  const cert = await read(join(issuerDir, SECRET_KEYS.cert));
  const key = await read(join(issuerDir, SECRET_KEYS.key));
  if (cert === undefined || key === undefined) return undefined;
  const anchors = (trustAnchorsFile ? await read(trustAnchorsFile) : undefined) ?? (await read(join(issuerDir, SECRET_KEYS.root)));
  if (anchors === undefined) {
    throw new WeftError('WEFT_ERR_CA_MATERIAL', `${issuerDir} has the issuer but no trust anchors (${trustAnchorsFile ?? 'no file'} nor ${SECRET_KEYS.root})`);
  }
  return {
    // What changes when the Secret or ConfigMap is updated; compared to decide on a reload.
    text: cert + key + anchors,
    load: () => materialFromPem({ issuerCertPem: cert, issuerKeyPem: key, trustAnchorsPem: anchors, source: issuerDir }),
  };
}

interface SecretObject {
  metadata?: { name?: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined): string | undefined => (text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8'));

/**
 * Reads the CA Secret through the API, creating it (with a fresh root and issuer) when it does
 * not exist. When another replica creates it first (409), its Secret is read and used.
 * Also makes sure the trust-anchors ConfigMap holds the root.
 */
export async function loadOrCreateSecretMaterial(opts: {
  client: KubeClient;
  namespace: string;
  secretName: string;
  configMapName: string | undefined;
  /** Labels and annotations of the Secret and ConfigMap it creates (default: weft-ca's own). */
  owner?: OwnerMetadata;
  trustDomain: string;
  now: Date;
  lifetimes?: { rootHours: number; issuerHours: number };
  /** Called when this process generated the material (for logs). */
  onGenerated?: () => void;
}): Promise<CaMaterial> {
  const secretPath = resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: opts.namespace, name: opts.secretName });
  const owner = opts.owner ?? ownerMetadata(undefined);
  let secret: SecretObject | undefined;
  try {
    secret = await opts.client.request<SecretObject>('GET', secretPath);
  } catch (err) {
    if (!isKubeStatus(err, 404)) throw err;
  }
  if (!secret) {
    const pem = await generateAuthorityPem(opts.trustDomain, opts.now, opts.lifetimes);
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: opts.secretName, namespace: opts.namespace, ...withOwner(undefined, owner) },
      type: 'kubernetes.io/tls',
      data: {
        [SECRET_KEYS.cert]: b64(pem.issuerCert),
        [SECRET_KEYS.key]: b64(pem.issuerKey),
        [SECRET_KEYS.root]: b64(pem.rootCert),
        ...(pem.rootKey ? { [SECRET_KEYS.rootKey]: b64(pem.rootKey) } : {}),
      },
    };
    try {
      secret = await opts.client.request<SecretObject>('POST', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: opts.namespace }), body);
      opts.onGenerated?.();
    } catch (err) {
      if (!isKubeStatus(err, 409)) throw err;
      // Another replica won the race: use its root and issuer, never two roots.
      secret = await opts.client.request<SecretObject>('GET', secretPath);
    }
  }
  const data = secret.data ?? {};
  const cert = unb64(data[SECRET_KEYS.cert]);
  const key = unb64(data[SECRET_KEYS.key]);
  const root = unb64(data[SECRET_KEYS.root]);
  if (!cert || !key || !root) {
    throw new WeftError('WEFT_ERR_CA_MATERIAL', `Secret ${opts.namespace}/${opts.secretName} lacks ${[!cert && SECRET_KEYS.cert, !key && SECRET_KEYS.key, !root && SECRET_KEYS.root].filter(Boolean).join(', ')}`);
  }
  const material = await materialFromPem({ issuerCertPem: cert, issuerKeyPem: key, trustAnchorsPem: root, source: `Secret ${opts.namespace}/${opts.secretName}` });
  if (opts.configMapName) await publishTrustAnchors(opts.client, opts.namespace, opts.configMapName, material.trustBundlePem, owner);
  return material;
}

/**
 * Creates or updates the trust-anchors ConfigMap so it holds `roots`, with the owner's labels and
 * annotations laid over those it has; says which it did.
 */
export async function publishTrustAnchors(
  client: KubeClient,
  namespace: string,
  name: string,
  roots: string,
  owner: OwnerMetadata = ownerMetadata(undefined),
): Promise<'unchanged' | 'created' | 'updated'> {
  const path = resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace, name });
  for (let attempt = 0; attempt < 5; attempt++) {
    let existing: { metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; data?: Record<string, string> } | undefined;
    try {
      existing = await client.request('GET', path);
    } catch (err) {
      if (!isKubeStatus(err, 404)) throw err;
    }
    if (existing?.data?.[TRUST_ANCHORS_KEY] === roots) return 'unchanged';
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace,
        // An update keeps the labels and annotations others put there (a PUT replaces them all).
        ...withOwner(existing?.metadata, owner),
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: { ...(existing?.data ?? {}), [TRUST_ANCHORS_KEY]: roots },
    };
    try {
      if (existing) await client.request('PUT', path, body);
      else await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace }), body);
      return existing ? 'updated' : 'created';
    } catch (err) {
      // Another replica wrote it in between: look again.
      if (!isKubeStatus(err, 409)) throw err;
    }
  }
  throw new WeftError('WEFT_ERR_CA_MATERIAL', `ConfigMap ${namespace}/${name}: kept conflicting with another writer`);
}
