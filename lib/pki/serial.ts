// Certificate serial numbers, kept apart from crypto.ts so that issuing a leaf does not load
// @peculiar/x509.
import { webcrypto } from 'node:crypto';

/** Random positive 128-bit serial as hex; the source is injectable for tests. */
export function randomSerial(random: (bytes: Uint8Array) => Uint8Array = (b) => webcrypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(16));
  // Clear the top bit so the DER INTEGER stays positive, and keep the first byte non-zero
  // so the serial keeps its full length.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
