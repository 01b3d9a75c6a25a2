// The pod leaf certificate written directly in DER and signed with node:crypto. Every leaf has
// the same shape (empty subject, one URI SAN, fixed extensions), so only the serial, the validity,
// the key and the SAN change; building it through @peculiar/x509's ASN.1 schema layer cost about
// 2.5 ms of CPU a leaf, this costs a few tens of µs. The unit test checks that the TBS bytes equal
// what @peculiar/x509 writes for the same inputs.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { readElement, type DerElement } from './csr-der.js';

/** What changes from one leaf to the next; everything else is fixed by the shape. */
export interface LeafFields {
  /** Positive serial as hex (an even number of digits, first byte below 0x80). */
  readonly serialHex: string;
  /** The issuer certificate's subject Name, as DER (copied as the leaf's issuer). */
  readonly issuerName: Uint8Array;
  /** The AuthorityKeyIdentifier extension of the issuer, as a whole DER Extension element. */
  readonly authorityKeyId: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's SubjectPublicKeyInfo, as DER (from the checked CSR). */
  readonly spki: Uint8Array;
  /** The SPIFFE ID, written as the one URI SAN. */
  readonly identity: string;
}

/** ecdsa-with-SHA256, as an AlgorithmIdentifier without parameters (RFC 5758). */
const ECDSA_SHA256_ALG = Buffer.from('300a06082a8648ce3d040302', 'hex');
/** [0] EXPLICIT INTEGER 2: version v3. */
const VERSION_V3 = Buffer.from('a003020102', 'hex');
/** An empty subject: the identity lives in the SAN (SPIFFE X509-SVID). */
const EMPTY_NAME = Buffer.from('3000', 'hex');
/** basicConstraints, critical, cA false (the DEFAULT, so an empty SEQUENCE). */
const BASIC_CONSTRAINTS = Buffer.from('300c0603551d130101ff04023000', 'hex');
/** keyUsage, critical, digitalSignature only. */
const KEY_USAGE = Buffer.from('300e0603551d0f0101ff040403020780', 'hex');
/** extKeyUsage serverAuth and clientAuth, not critical. */
const EXT_KEY_USAGE = Buffer.from('301d0603551d250416301406082b0601050507030106082b06010505070302', 'hex');
/** The subjectAltName OID with critical TRUE (critical because the subject is empty, RFC 5280 4.2.1.6). */
const SAN_OID_CRITICAL = Buffer.from('0603551d110101ff', 'hex');

/** A DER header (tag and definite length) for `length` content octets. */
function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  if (length < 0x100) return Buffer.from([tag, 0x81, length]);
  if (length < 0x10000) return Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  throw new Error(`DER element of ${length} octets is larger than a leaf can be`);
}

function element(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([header(tag, body.length), body]);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, in whole seconds, Zulu. */
function time(d: Date): Buffer {
  const year = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return element(0x17, Buffer.from(`${two(year % 100)}${rest}`, 'latin1'));
  return element(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'latin1'));
}

/** The TBSCertificate of a pod leaf. */
export function leafTbs(f: LeafFields): Buffer {
  const serial = Buffer.from(f.serialHex, 'hex');
  if (serial.length === 0 || ((serial[0] ?? 0) & 0x80) !== 0) throw new Error('the serial must be a positive INTEGER');
  const san = element(0x30, SAN_OID_CRITICAL, element(0x04, element(0x30, element(0x86, Buffer.from(f.identity, 'utf8')))));
  const extensions = element(0xa3, element(0x30, BASIC_CONSTRAINTS, KEY_USAGE, EXT_KEY_USAGE, san, f.authorityKeyId));
  return element(
    0x30,
    VERSION_V3,
    element(0x02, serial),
    ECDSA_SHA256_ALG,
    f.issuerName,
    element(0x30, time(f.notBefore), time(f.notAfter)),
    EMPTY_NAME,
    f.spki,
    extensions,
  );
}

/** Signs a TBSCertificate with the issuer's P-256 key: the whole certificate, as DER. */
export function signTbs(tbs: Uint8Array, issuerKey: KeyObject): Buffer {
  const signature = sign('sha256', tbs, { key: issuerKey, dsaEncoding: 'der' });
  return element(0x30, tbs, ECDSA_SHA256_ALG, element(0x03, Buffer.from([0]), signature));
}

/** PEM of a DER certificate, 64 columns as OpenSSL and @peculiar/x509 write it. */
export function certificatePem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----`;
}

/** The elements of a DER certificate's TBSCertificate, in order. */
function tbsElements(cert: Uint8Array): DerElement[] {
  const top = readElement(cert, 0, cert.length, 'certificate');
  const tbs = readElement(cert, top.start, top.end, 'tbsCertificate');
  const out: DerElement[] = [];
  for (let at = tbs.start; at < tbs.end; ) {
    const el = readElement(cert, at, tbs.end, `tbsCertificate[${out.length}]`);
    out.push(el);
    at = el.end;
  }
  return out;
}

/** The subject Name of a DER certificate, as DER: the issuer name of every leaf it signs. */
export function subjectNameDer(cert: Uint8Array): Uint8Array {
  // [version], serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
  const els = tbsElements(cert);
  const offset = els[0]?.tag === 0xa0 ? 1 : 0;
  const subject = els[offset + 4];
  if (!subject) throw new Error('certificate has no subject');
  return cert.subarray(subject.at, subject.end);
}

/** subjectKeyIdentifier's OID, 2.5.29.14, as DER contents. */
const SKI_OID = '551d0e';

/**
 * The authorityKeyIdentifier extension for leaves of this issuer: the issuer's own
 * subjectKeyIdentifier when it has one (so that OpenSSL's AKID/SKID match holds for any issuer),
 * otherwise the SHA-1 of its public key bits (RFC 5280 4.2.1.2 method 1, what @peculiar/x509 does).
 */
export function authorityKeyIdExtension(cert: Uint8Array): Uint8Array {
  const els = tbsElements(cert);
  const offset = els[0]?.tag === 0xa0 ? 1 : 0;
  const spki = els[offset + 5];
  if (!spki) throw new Error('certificate has no subjectPublicKeyInfo');
  let keyId: Uint8Array | undefined;
  const extensions = els.find((e) => e.tag === 0xa3);
  if (extensions) {
    const list = readElement(cert, extensions.start, extensions.end, 'extensions');
    for (let at = list.start; at < list.end; ) {
      const ext = readElement(cert, at, list.end, 'extension');
      at = ext.end;
      const oid = readElement(cert, ext.start, ext.end, 'extension id');
      if (Buffer.from(cert.subarray(oid.start, oid.end)).toString('hex') !== SKI_OID) continue;
      // extnValue is the last element: an OCTET STRING holding the KeyIdentifier OCTET STRING.
      let value = readElement(cert, oid.end, ext.end, 'extension value');
      if (value.tag === 0x01) value = readElement(cert, value.end, ext.end, 'extension value');
      const id = readElement(cert, value.start, value.end, 'key identifier');
      keyId = cert.subarray(id.start, id.end);
    }
  }
  if (!keyId) {
    const alg = readElement(cert, spki.start, spki.end, 'algorithm');
    const bits = readElement(cert, alg.end, spki.end, 'subjectPublicKey');
    keyId = createHash('sha1').update(cert.subarray(bits.start + 1, bits.end)).digest();
  }
  return element(0x30, Buffer.from('0603551d23', 'hex'), element(0x04, element(0x30, element(0x80, keyId))));
}
