// The one way weft builds a TLS serving leaf (DNS and IP SANs, serverAuth): for `weft ca`'s own
// listener and for the injector's self-made webhook certificate. Pod leaves (URI SAN only) are
// written by leaf-der.ts instead.
import { isIP } from 'node:net';
import { ECDSA_SHA256, randomSerial, x509 } from './crypto.js';

/** What a serving leaf needs from its issuer and its request. */
export interface ServingLeafSpec {
  /** DNS names and IP addresses mixed; the first is also the subject's CN. */
  readonly names: readonly string[];
  readonly publicKey: CryptoKey;
  readonly issuerName: string;
  readonly issuerKey: CryptoKey;
  /** The issuer's certificate or public key, to derive the authorityKeyIdentifier from. */
  readonly issuerKeyId: x509.X509Certificate | CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Signs a serving leaf with a fresh random serial. */
export async function signServingLeaf(spec: ServingLeafSpec): Promise<x509.X509Certificate> {
  const first = spec.names[0] ?? 'localhost';
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // A name is a DNS label or an address; escaping keeps a hostile one from adding RDNs.
    subject: `CN=${first.replace(/([,+"\\<>;=])/g, '\\$1')}`,
    issuer: spec.issuerName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: spec.publicKey,
    signingKey: spec.issuerKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        spec.names.map((name) => (isIP(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(spec.issuerKeyId),
    ],
  });
}
