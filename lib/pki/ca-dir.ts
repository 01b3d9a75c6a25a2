// The CA directory's files (root.pem, root.key, issuer.pem, issuer.key) and reading them, with no
// certificate library: a local-mode proxy reads it at every renewal.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '../errors.js';

/** File names inside a CA directory (also the Secret's keys). */
export const CA_FILES = {
  rootCert: 'root.pem',
  rootKey: 'root.key',
  issuerCert: 'issuer.pem',
  issuerKey: 'issuer.key',
} as const;

/** PEM text of an authority, as stored. */
export interface AuthorityPem {
  readonly rootCert: string;
  readonly issuerCert: string;
  readonly issuerKey: string;
  /** Absent when the root key is kept offline (user-supplied root). */
  readonly rootKey?: string;
}

/** Reads a CA directory; undefined when it does not exist or is empty, an error when half there. */
export async function readCaDir(dir: string): Promise<AuthorityPem | undefined> {
  const read = async (file: string): Promise<string | undefined> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new WeftError('WEFT_ERR_CA_MATERIAL', `cannot read ${join(dir, file)}: ${(err as Error).message}`);
    }
  };
  const [rootCert, rootKey, issuerCert, issuerKey] = await Promise.all([
    read(CA_FILES.rootCert),
    read(CA_FILES.rootKey),
    read(CA_FILES.issuerCert),
    read(CA_FILES.issuerKey),
  ]);
  if (rootCert === undefined && issuerCert === undefined && issuerKey === undefined) return undefined;
  const missing = [
    rootCert === undefined ? CA_FILES.rootCert : '',
    issuerCert === undefined ? CA_FILES.issuerCert : '',
    issuerKey === undefined ? CA_FILES.issuerKey : '',
  ].filter((f) => f !== '');
  if (missing.length > 0 || rootCert === undefined || issuerCert === undefined || issuerKey === undefined) {
    throw new WeftError('WEFT_ERR_CA_MATERIAL', `CA directory ${dir} lacks ${missing.join(', ')}`);
  }
  return rootKey === undefined ? { rootCert, issuerCert, issuerKey } : { rootCert, rootKey, issuerCert, issuerKey };
}
