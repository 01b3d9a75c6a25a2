// Issues TLS serving certificates (DNS and IP SANs) from an authority: what `weft ca` presents on
// its own HTTPS listener. Pod leaves (URI SAN only) are issued by authority.ts instead.
import { isIP } from 'node:net';
import { BACKDATE_MS, type Authority } from '../lib/pki/authority.js';
import { ECDSA_SHA256, generateKeyPair, privateKeyToPem, randomSerial, x509 } from '../lib/pki/crypto.js';

/** A serving key and its chain, ready for node:https. */
export interface ServingMaterial {
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** Leaf then issuer, PEM. */
  readonly certChainPem: string;
  readonly notAfter: Date;
}

/** Signs a server certificate for `names` (DNS names and IP addresses mixed) with the issuer. */
export async function issueServingMaterial(opts: {
  authority: Authority;
  names: readonly string[];
  now: Date;
  lifetimeHours: number;
}): Promise<ServingMaterial> {
  const keys = await generateKeyPair();
  const issuer = opts.authority.issuer;
  const wanted = opts.now.getTime() + opts.lifetimeHours * 3_600_000;
  const notAfter = new Date(Math.min(wanted, issuer.cert.notAfter.getTime()));
  const first = opts.names[0] ?? 'localhost';
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${first.replace(/([,+"\\<>;=])/g, '\\$1')}`,
    issuer: issuer.cert.subject,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        opts.names.map((name) => (isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
    ],
  });
  return {
    keyPem: await privateKeyToPem(keys.privateKey),
    certChainPem: cert.toString('pem') + '\n' + issuer.cert.toString('pem') + '\n',
    notAfter,
  };
}
