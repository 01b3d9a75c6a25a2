// The issuing core: creates the root and issuer, and signs pod leaves for a proven identity.
// No I/O: keys, certificates, the clock and the random source come in as arguments.
import { createPublicKey, KeyObject, verify } from 'node:crypto';
import { ECDSA_SHA256, generateKeyPair, randomSerial, x509 } from './crypto.js';
import { WeftError } from '../errors.js';
import { checkCsrDer, csrPemToDer } from './csr-der.js';
import { BACKDATE_MS, DEFAULT_LEAF_LIFETIME_HOURS, leafIssuer, signLeaf, type IssuedLeaf, type LeafIssuer } from './leaf-issuer.js';

/** A certificate with the private key that signs with it. */
export interface SigningPair {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
}

/** What `weft ca` holds: the trust anchor and the intermediate it issues from. */
export interface Authority {
  readonly root: x509.X509Certificate;
  readonly issuer: SigningPair;
}

const HOUR_MS = 3_600_000;
export { BACKDATE_MS, DEFAULT_LEAF_LIFETIME_HOURS, type IssuedLeaf };

/** Creates a self-signed root (trust anchor). */
export async function createRoot(opts: { trustDomain: string; now: Date; lifetimeHours: number }): Promise<SigningPair> {
  const keys = await generateKeyPair();
  const name = `CN=weft root CA, O=${escapeDn(opts.trustDomain)}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter: new Date(opts.now.getTime() + opts.lifetimeHours * HOUR_MS),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

/** Creates an issuer (intermediate) signed by the root, clamped to the root's lifetime. */
export async function createIssuer(opts: {
  root: SigningPair;
  trustDomain: string;
  now: Date;
  lifetimeHours: number;
}): Promise<SigningPair> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=weft issuer, O=${escapeDn(opts.trustDomain)}`,
    issuer: opts.root.cert.subject,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter: clamp(new Date(opts.now.getTime() + opts.lifetimeHours * HOUR_MS), opts.root.cert.notAfter),
    publicKey: keys.publicKey,
    signingKey: opts.root.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(opts.root.cert),
    ],
  });
  return { cert, key: keys.privateKey };
}

/** A CSR that passed every check: all the CA takes from it is the key. */
export interface CheckedCsr {
  /** The requester's SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
}

/**
 * Parses and checks a PKCS#10 CSR: it must be strict DER, carry a P-256 key and be signed by that
 * key. Whatever names it asks for are ignored: the identity comes from the caller.
 */
export async function parseCsr(input: string | Uint8Array): Promise<CheckedCsr> {
  const der = typeof input === 'string' ? csrPemToDer(input) : input;
  const parts = checkCsrDer(der);
  if (!parts.p256) throw otherKeyRefusal(der);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(parts.spki), format: 'der', type: 'spki' });
  } catch (err) {
    // The DER is right but the point is not on the curve: no signature by it can be checked.
    throw new WeftError('WEFT_ERR_CSR_SIGNATURE', `CSR signature cannot be checked: its key is not a P-256 point (${(err as Error).message})`);
  }
  if (!verify('sha256', parts.info, { key, dsaEncoding: 'der' }, parts.signature)) {
    throw new WeftError('WEFT_ERR_CSR_SIGNATURE', 'CSR signature does not verify against its own key');
  }
  return { spki: parts.spki };
}

/** Names a key weft does not accept, through @peculiar/x509's reader (rare path: refusals only). */
function otherKeyRefusal(der: Uint8Array): WeftError {
  let algorithm: EcKeyAlgorithm;
  try {
    algorithm = new x509.Pkcs10CertificateRequest(Buffer.from(der)).publicKey.algorithm as EcKeyAlgorithm;
  } catch (err) {
    return new WeftError('WEFT_ERR_CSR_KEY_TYPE', `CSR key cannot be read: ${(err as Error).message}; only ECDSA P-256 is accepted`, { cause: err });
  }
  const what = algorithm.namedCurve ? `${algorithm.name} ${algorithm.namedCurve}` : algorithm.name;
  return new WeftError('WEFT_ERR_CSR_KEY_TYPE', `CSR key is ${what}; only ECDSA P-256 is accepted`);
}

const leafIssuers = new WeakMap<SigningPair, LeafIssuer>();

/** Signs a leaf for `identity` over the CSR's key: URI SAN only, client and server auth. */
export function issueLeaf(opts: {
  issuer: SigningPair;
  csr: CheckedCsr;
  identity: string;
  now: Date;
  lifetimeHours?: number;
  random?: (bytes: Uint8Array) => Uint8Array;
}): IssuedLeaf {
  let issuer = leafIssuers.get(opts.issuer);
  if (!issuer) {
    issuer = leafIssuer(new Uint8Array(opts.issuer.cert.rawData), KeyObject.from(opts.issuer.key), opts.issuer.cert.notAfter);
    leafIssuers.set(opts.issuer, issuer);
  }
  return signLeaf({ issuer, spki: opts.csr.spki, identity: opts.identity, now: opts.now, lifetimeHours: opts.lifetimeHours, random: opts.random });
}

/** Makes a CSR for a key; the CA ignores its names, so it carries the identity only as a hint. */
export async function createCsr(keys: CryptoKeyPair, identityHint?: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: identityHint ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identityHint }])] : [],
  });
  return csr.toString('pem');
}

function clamp(wanted: Date, limit: Date): Date {
  return wanted.getTime() > limit.getTime() ? new Date(limit.getTime()) : wanted;
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}
