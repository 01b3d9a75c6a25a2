// The issuing core: creates the root and issuer, and signs pod leaves for a proven identity.
// No I/O: keys, certificates, the clock and the random source come in as arguments.
import { webcrypto } from 'node:crypto';
import { ECDSA_SHA256, generateKeyPair, randomSerial, x509 } from './crypto.js';
import { WeftError } from '../errors.js';
import { checkCsrDer, csrPemToDer } from './csr-der.js';

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
/** Leaves are backdated by this much so a peer whose clock runs a little behind accepts them. */
export const BACKDATE_MS = 60_000;
/** Default leaf lifetime (DESIGN.md: 24 h). */
export const DEFAULT_LEAF_LIFETIME_HOURS = 24;

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

/**
 * Parses and checks a PKCS#10 CSR: it must be well-formed, self-signed correctly and carry a
 * P-256 key. Whatever names it asks for are ignored: the identity comes from the caller.
 */
export async function parseCsr(input: string | Uint8Array): Promise<x509.Pkcs10CertificateRequest> {
  // Strict DER first: the x509 parser below is BER-lenient and would read what OpenSSL refuses.
  const der = typeof input === 'string' ? csrPemToDer(input) : input;
  checkCsrDer(der);
  let csr: x509.Pkcs10CertificateRequest;
  let algorithm: EcKeyAlgorithm;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(der));
  } catch (err) {
    throw new WeftError('WEFT_ERR_CSR_MALFORMED', `CSR is malformed: ${(err as Error).message}`, { cause: err });
  }
  try {
    algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  } catch (err) {
    throw new WeftError('WEFT_ERR_CSR_KEY_TYPE', `CSR key cannot be read: ${(err as Error).message}; only ECDSA P-256 is accepted`, { cause: err });
  }
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    const what = algorithm.namedCurve ? `${algorithm.name} ${algorithm.namedCurve}` : algorithm.name;
    throw new WeftError('WEFT_ERR_CSR_KEY_TYPE', `CSR key is ${what}; only ECDSA P-256 is accepted`);
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new WeftError('WEFT_ERR_CSR_SIGNATURE', `CSR signature cannot be checked: ${(err as Error).message}`);
  }
  if (!valid) throw new WeftError('WEFT_ERR_CSR_SIGNATURE', 'CSR signature does not verify against its own key');
  return csr;
}

/** Signs a leaf for `identity` over the CSR's key: URI SAN only, client and server auth. */
export async function issueLeaf(opts: {
  issuer: SigningPair;
  csr: x509.Pkcs10CertificateRequest;
  identity: string;
  now: Date;
  lifetimeHours?: number;
  random?: (bytes: Uint8Array) => Uint8Array;
}): Promise<x509.X509Certificate> {
  const lifetimeMs = (opts.lifetimeHours ?? DEFAULT_LEAF_LIFETIME_HOURS) * HOUR_MS;
  const publicKey = await opts.csr.publicKey.export(webcrypto as unknown as Crypto);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(opts.random),
    subject: '',
    issuer: opts.issuer.cert.subject,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter: clamp(new Date(opts.now.getTime() + lifetimeMs), opts.issuer.cert.notAfter),
    publicKey,
    signingKey: opts.issuer.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      // Critical because the subject is empty (RFC 5280 4.2.1.6, SPIFFE X509-SVID).
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.identity }], true),
      await x509.AuthorityKeyIdentifierExtension.create(opts.issuer.cert),
    ],
  });
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
