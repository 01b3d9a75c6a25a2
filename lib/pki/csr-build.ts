// The sidecar's key and PKCS#10 CSR made with node:crypto alone: a proxy that asks `weft ca` for
// its certificate never loads @peculiar/x509 and reflect-metadata (about 10 MB of its idle RSS).
import { generateKeyPair as generateKeyPairCb, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPair = promisify(generateKeyPairCb);

/** A fresh P-256 key and a CSR for it. */
export interface KeyAndCsr {
  /** PKCS#8 PEM of the private key (it never leaves the pod). */
  readonly keyPem: string;
  readonly publicKey: KeyObject;
  /** The CSR as PEM ("CERTIFICATE REQUEST"). */
  readonly csrPem: string;
}

// DER: tag, length (short or long form), contents.
function tlv(tag: number, ...parts: readonly Buffer[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const OID_EXTENSION_REQUEST = Buffer.from('06092a864886f70d01090e', 'hex'); // 1.2.840.113549.1.9.14
const OID_SUBJECT_ALT_NAME = Buffer.from('0603551d11', 'hex'); // 2.5.29.17
const ECDSA_WITH_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex'); // SEQUENCE { 1.2.840.10045.4.3.2 }

/**
 * Makes a P-256 key and a CSR signed with it: empty subject, and the identity as a URI SAN in an
 * extensionRequest attribute (a hint only: the CA signs what the token proves).
 */
export async function makeKeyAndCsr(identityHint?: string): Promise<KeyAndCsr> {
  const { privateKey, publicKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const attributes = identityHint
    ? tlv(
        0xa0,
        tlv(0x30, OID_EXTENSION_REQUEST, tlv(0x31, tlv(0x30, tlv(0x30, OID_SUBJECT_ALT_NAME, tlv(0x04, tlv(0x30, tlv(0x86, Buffer.from(identityHint, 'ascii')))))))),
      )
    : tlv(0xa0);
  const info = tlv(0x30, Buffer.from([0x02, 0x01, 0x00]), tlv(0x30), spki, attributes);
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  const der = tlv(0x30, info, ECDSA_WITH_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
    csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`,
  };
}
