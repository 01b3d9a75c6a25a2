// Trust anchors as PEM text: checks that a bundle (from WEFT_TRUST_ANCHORS, a mounted file or the
// injector's ConfigMap) holds only parsable certificates, so a bad bundle fails at start, not later.
import { X509Certificate } from 'node:crypto';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * Returns the bundle's certificates joined as one PEM text ending in a newline, or throws an
 * Error whose message says what is wrong (no certificate, a non-certificate block, a block that
 * does not parse, stray text). Callers wrap it in their own WEFT_ERR_* naming the source.
 */
export function checkTrustAnchorsPem(text: string): string {
  const certs: string[] = [];
  let rest = text;
  let index = 0;
  for (const m of text.matchAll(BLOCK)) {
    index += 1;
    if (m[1] !== 'CERTIFICATE') throw new Error(`PEM block ${index} is a ${m[1]}, not a CERTIFICATE`);
    try {
      new X509Certificate(m[0]);
    } catch (err) {
      throw new Error(`PEM block ${index} is not a parsable X.509 certificate (${(err as Error).message})`);
    }
    certs.push(m[0]);
    rest = rest.replace(m[0], '');
  }
  if (certs.length === 0) throw new Error('holds no PEM CERTIFICATE block');
  if (rest.trim() !== '') throw new Error(`holds text outside the PEM blocks: ${JSON.stringify(rest.trim().slice(0, 40))}`);
  return certs.join('\n') + '\n';
}
