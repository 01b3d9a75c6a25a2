// Issues TLS serving certificates (DNS and IP SANs) from an authority: what `weft ca` presents on
// its own HTTPS listener (the leaf itself is built by lib/pki/serving-leaf.ts).
import { BACKDATE_MS, type Authority } from '../lib/pki/authority.js';
import { generateKeyPair, privateKeyToPem } from '../lib/pki/crypto.js';
import { signServingLeaf } from '../lib/pki/serving-leaf.js';

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
  const cert = await signServingLeaf({
    names: opts.names,
    publicKey: keys.publicKey,
    issuerName: issuer.cert.subject,
    issuerKey: issuer.key,
    issuerKeyId: issuer.cert,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter,
  });
  return {
    keyPem: await privateKeyToPem(keys.privateKey),
    certChainPem: cert.toString('pem') + '\n' + issuer.cert.toString('pem') + '\n',
    notAfter,
  };
}
