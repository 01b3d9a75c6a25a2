// Issues the pod's own TLS material in-process from an authority: what local mode does in place
// of asking `weft ca`, and what tests use to make peers.
import { createCsr, issueLeaf, parseCsr, type Authority } from './authority.js';
import { generateKeyPair, privateKeyToPem } from './crypto.js';
import type { TlsMaterial } from '../identity.js';

/** Makes a key, a CSR, and signs it for `identity`; the result is ready for node:tls. */
export async function issueMaterial(opts: {
  authority: Authority;
  identity: string;
  now: Date;
  lifetimeHours?: number;
}): Promise<TlsMaterial> {
  const keys = await generateKeyPair();
  const csr = await parseCsr(await createCsr(keys, opts.identity));
  const leaf = issueLeaf({
    issuer: opts.authority.issuer,
    csr,
    identity: opts.identity,
    now: opts.now,
    ...(opts.lifetimeHours === undefined ? {} : { lifetimeHours: opts.lifetimeHours }),
  });
  return {
    identity: opts.identity,
    keyPem: await privateKeyToPem(keys.privateKey),
    certChainPem: leaf.pem + '\n' + opts.authority.issuer.cert.toString('pem') + '\n',
    trustBundlePem: opts.authority.root.toString('pem') + '\n',
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}
