// A local-mode proxy's own TLS material, issued in-process from the CA directory's issuer with
// node:crypto only (no @peculiar/x509: its 10 MB of resident memory would be paid by every proxy).
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { WeftError } from '../errors.js';
import type { TlsMaterial } from '../identity.js';
import type { AuthorityPem } from './ca-dir.js';
import { leafIssuer, signLeaf } from './leaf-issuer.js';

/** Checks the CA directory's issuer against its root and key, then signs a fresh key for `identity`. */
export function issueLocalMaterial(opts: { pem: AuthorityPem; identity: string; now: Date; lifetimeHours?: number }): TlsMaterial {
  let issuer;
  try {
    const root = new X509Certificate(opts.pem.rootCert);
    const issuerCert = new X509Certificate(opts.pem.issuerCert);
    const issuerKey = createPrivateKey(opts.pem.issuerKey);
    if (!issuerCert.verify(root.publicKey)) throw new Error('issuer.pem is not signed by root.pem');
    if (!issuerCert.checkPrivateKey(issuerKey)) throw new Error('issuer.key does not match issuer.pem');
    issuer = leafIssuer(new Uint8Array(issuerCert.raw), issuerKey, new Date(issuerCert.validTo));
  } catch (err) {
    throw new WeftError('WEFT_ERR_CA_MATERIAL', `CA material is unusable: ${(err as Error).message}`, { cause: err });
  }
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const leaf = signLeaf({ issuer, spki, identity: opts.identity, now: opts.now, lifetimeHours: opts.lifetimeHours });
  return {
    identity: opts.identity,
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certChainPem: `${leaf.pem}\n${opts.pem.issuerCert.trim()}\n`,
    trustBundlePem: `${opts.pem.rootCert.trim()}\n`,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}
