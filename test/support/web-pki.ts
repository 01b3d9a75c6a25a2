// Public-style TLS material for gateway tests, made at test time: a CA that issues server
// certificates for DNS names (exact and wildcard) and client certificates for partners.
import { ECDSA_SHA256, generateKeyPair, privateKeyToPem, randomSerial, x509 } from '../../lib/pki/crypto.js';

/** A PEM certificate and its key. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A test CA. */
export interface WebCa {
  readonly caPem: string;
  /** A server certificate for these DNS names. */
  server(dnsNames: readonly string[], opts?: { notAfter?: Date }): Promise<PemPair>;
  /** A client certificate with this common name. */
  client(commonName: string, opts?: { notAfter?: Date }): Promise<PemPair>;
}

/** Creates a self-signed CA named `name`. */
export async function makeWebCa(name: string): Promise<WebCa> {
  const now = Date.now();
  const caKeys = await generateKeyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const issue = async (subject: string, extensions: x509.Extension[], notAfter?: Date): Promise<PemPair> => {
    const keys = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: notAfter ?? new Date(now + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyToPem(keys.privateKey) };
  };
  return {
    caPem: ca.toString('pem') + '\n',
    server: (dnsNames, opts = {}) =>
      issue(
        `CN=${dnsNames[0] ?? 'server'}`,
        [
          new x509.SubjectAlternativeNameExtension(dnsNames.map((d) => ({ type: 'dns' as const, value: d }))),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        ],
        opts.notAfter,
      ),
    client: (cn, opts = {}) => issue(`CN=${cn}`, [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])], opts.notAfter),
  };
}
