// Reads and writes the CA directory (root.pem, root.key, issuer.pem, issuer.key) that local mode
// and `weft up` use; kubernetes mode mounts the same file names from a Secret.
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { createIssuer, createRoot, type Authority } from './authority.js';
import { privateKeyFromPem, privateKeyToPem, x509 } from './crypto.js';
import { WeftError } from '../errors.js';
import { GENERATED_LIFETIMES } from './lifetimes.js';
import { CA_FILES, readCaDir, type AuthorityPem } from './ca-dir.js';

export { CA_FILES, readCaDir, type AuthorityPem };

/** Lifetimes used when a CA directory is created from nothing (defined with the CA's settings). */
export { GENERATED_LIFETIMES };

/** Creates a fresh root and issuer, as PEM. */
export async function generateAuthorityPem(
  trustDomain: string,
  now: Date,
  lifetimes: { rootHours: number; issuerHours: number } = GENERATED_LIFETIMES,
): Promise<AuthorityPem> {
  const root = await createRoot({ trustDomain, now, lifetimeHours: lifetimes.rootHours });
  const issuer = await createIssuer({ root, trustDomain, now, lifetimeHours: lifetimes.issuerHours });
  return {
    rootCert: root.cert.toString('pem'),
    rootKey: await privateKeyToPem(root.key),
    issuerCert: issuer.cert.toString('pem'),
    issuerKey: await privateKeyToPem(issuer.key),
  };
}

/** Parses stored PEM into a usable authority; checks the issuer chains to the root and holds its key. */
export async function authorityFromPem(pem: AuthorityPem): Promise<Authority> {
  try {
    const root = new x509.X509Certificate(pem.rootCert);
    const issuerCert = new x509.X509Certificate(pem.issuerCert);
    const issuerKey = await privateKeyFromPem(pem.issuerKey);
    if (!(await issuerCert.verify({ publicKey: root.publicKey, signatureOnly: true }))) {
      throw new Error('issuer.pem is not signed by root.pem');
    }
    const probe = new Uint8Array([1, 2, 3]);
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, issuerKey, probe);
    const issuerPublic = await issuerCert.publicKey.export();
    if (!(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, issuerPublic, sig, probe))) {
      throw new Error('issuer.key does not match issuer.pem');
    }
    return { root, issuer: { cert: issuerCert, key: issuerKey } };
  } catch (err) {
    if (err instanceof WeftError) throw err;
    throw new WeftError('WEFT_ERR_CA_MATERIAL', `CA material is unusable: ${(err as Error).message}`, { cause: err });
  }
}

/** Loads a CA directory; creates it (root and issuer) when it holds nothing yet. */
export async function loadOrCreateCaDir(dir: string, trustDomain: string, now: Date): Promise<AuthorityPem> {
  const existing = await readCaDir(dir);
  if (existing) return existing;
  const pem = await generateAuthorityPem(trustDomain, now);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Write each file beside its final name and rename, so a crash never leaves half a CA.
  for (const [field, file] of Object.entries(CA_FILES) as [keyof AuthorityPem, string][]) {
    const text = pem[field];
    if (text === undefined) continue;
    const target = join(dir, file);
    await writeFile(`${target}.tmp`, text, { mode: file.endsWith('.key') ? 0o600 : 0o644 });
    await rename(`${target}.tmp`, target);
  }
  return pem;
}
