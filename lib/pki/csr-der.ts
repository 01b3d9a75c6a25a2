// A strict DER reader for PKCS#10 CSRs: refuses what OpenSSL refuses (BER, trailing bytes, wrong
// tags or lengths) before @peculiar/x509, whose BER-lenient parser accepts all of it, sees the bytes.
import { WeftError } from '../errors.js';

/** One DER element: its tag byte and where its contents sit in the input. */
export interface DerElement {
  /** Offset of the identifier octet: where the whole element starts. */
  readonly at: number;
  /** The identifier octet (class, constructed bit, tag number < 31). */
  readonly tag: number;
  /** Offset of the first content byte. */
  readonly start: number;
  /** Offset just past the last content byte. */
  readonly end: number;
}

/** What the CA needs of a checked request, as views into its DER. */
export interface CsrParts {
  /** The whole certificationRequestInfo element: the bytes the signature covers. */
  readonly info: Uint8Array;
  /** The whole SubjectPublicKeyInfo element, copied as-is into the certificate. */
  readonly spki: Uint8Array;
  /** The ECDSA-Sig-Value (DER SEQUENCE of r and s) inside the signature BIT STRING. */
  readonly signature: Uint8Array;
  /** False when the key is not P-256: the caller names the key and refuses it. */
  readonly p256: boolean;
}

/** Universal tags the CSR grammar uses. */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  sequence: 0x30,
  set: 0x31,
  attributes: 0xa0,
} as const;

/** DER OIDs (contents only) the CSR is checked against. */
const OID = {
  ecPublicKey: '2a8648ce3d0201',
  prime256v1: '2a8648ce3d030107',
  ecdsaWithSha256: '2a8648ce3d040302',
} as const;

/** Largest length weft reads: a CSR body is capped far below this anyway. */
const MAX_LENGTH_OCTETS = 3;

function malformed(detail: string): WeftError {
  return new WeftError('WEFT_ERR_CSR_MALFORMED', `CSR is not DER: ${detail}`);
}

/** Reads the element at `at`, which must end by `limit`; refuses BER and non-minimal lengths. */
export function readElement(der: Uint8Array, at: number, limit: number, what: string): DerElement {
  if (at >= limit) throw malformed(`${what}: missing`);
  const tag = der[at] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw malformed(`${what}: high tag numbers are not used in a CSR`);
  if (at + 1 >= limit) throw malformed(`${what}: truncated before its length`);
  const first = der[at + 1] ?? 0;
  let start = at + 2;
  let length = first;
  if (first === 0x80) throw malformed(`${what}: indefinite length (BER, not DER)`);
  if (first > 0x80) {
    const octets = first & 0x7f;
    if (octets > MAX_LENGTH_OCTETS) throw malformed(`${what}: length of ${octets} octets`);
    if (start + octets > limit) throw malformed(`${what}: truncated inside its length`);
    if (der[start] === 0) throw malformed(`${what}: length with a leading zero octet (not minimal)`);
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + i] ?? 0);
    if (length < 0x80) throw malformed(`${what}: long-form length ${length} (short form required)`);
    start += octets;
  }
  if (start + length > limit) throw malformed(`${what}: length ${length} runs past its container`);
  return { at, tag, start, end: start + length };
}

function expectTag(el: DerElement, tag: number, what: string): DerElement {
  if (el.tag !== tag) throw malformed(`${what}: tag 0x${hex(el.tag)}, expected 0x${hex(tag)}`);
  return el;
}

/** The elements of a constructed element, which must fill it exactly. */
function children(der: Uint8Array, parent: DerElement, what: string): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const el = readElement(der, at, parent.end, `${what}[${out.length}]`);
    out.push(el);
    at = el.end;
  }
  return out;
}

/** Checks any element and everything inside it against the DER rules of its universal type. */
function walk(der: Uint8Array, el: DerElement, what: string, depth: number): void {
  if (depth > 32) throw malformed(`${what}: nested too deep`);
  const constructed = (el.tag & 0x20) !== 0;
  const universal = (el.tag & 0xc0) === 0;
  const number = el.tag & 0x1f;
  if (universal && (number === 0x10 || number === 0x11) && !constructed) throw malformed(`${what}: a SEQUENCE or SET must be constructed`);
  if (universal && constructed && number !== 0x10 && number !== 0x11) throw malformed(`${what}: constructed encoding of a primitive type (BER, not DER)`);
  if (constructed) {
    for (const [i, child] of children(der, el, what).entries()) walk(der, child, `${what}[${i}]`, depth + 1);
    return;
  }
  if (!universal) return;
  switch (el.tag) {
    case TAG.boolean:
      if (el.end - el.start !== 1 || (der[el.start] !== 0 && der[el.start] !== 0xff)) throw malformed(`${what}: BOOLEAN must be one octet 00 or FF`);
      return;
    case TAG.integer:
      checkInteger(der, el, what);
      return;
    case TAG.bitString:
      checkBitString(der, el, what);
      return;
    case TAG.null:
      if (el.end !== el.start) throw malformed(`${what}: NULL with contents`);
      return;
    case TAG.oid:
      checkOid(der, el, what);
      return;
    default:
  }
}

function checkInteger(der: Uint8Array, el: DerElement, what: string): void {
  const len = el.end - el.start;
  if (len === 0) throw malformed(`${what}: empty INTEGER`);
  const a = der[el.start] ?? 0;
  const b = der[el.start + 1] ?? 0;
  if (len > 1 && ((a === 0 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0))) throw malformed(`${what}: INTEGER not minimally encoded`);
}

function checkBitString(der: Uint8Array, el: DerElement, what: string): void {
  if (el.end === el.start) throw malformed(`${what}: BIT STRING without its unused-bits octet`);
  const unused = der[el.start] ?? 0;
  if (unused > 7 || (unused > 0 && el.end - el.start === 1)) throw malformed(`${what}: BIT STRING unused-bits octet ${unused}`);
  // DER: the unused bits are zero.
  if (unused > 0 && ((der[el.end - 1] ?? 0) & ((1 << unused) - 1)) !== 0) throw malformed(`${what}: BIT STRING unused bits not zero`);
}

function checkOid(der: Uint8Array, el: DerElement, what: string): void {
  if (el.end === el.start) throw malformed(`${what}: empty OBJECT IDENTIFIER`);
  let fresh = true;
  for (let i = el.start; i < el.end; i++) {
    const byte = der[i] ?? 0;
    if (fresh && byte === 0x80) throw malformed(`${what}: OBJECT IDENTIFIER arc with a leading 0x80 (not minimal)`);
    fresh = (byte & 0x80) === 0;
  }
  if (!fresh) throw malformed(`${what}: OBJECT IDENTIFIER ends inside an arc`);
}

function contentHex(der: Uint8Array, el: DerElement): string {
  return Buffer.from(der.subarray(el.start, el.end)).toString('hex');
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Checks that `der` is exactly one DER CertificationRequest (RFC 2986):
 * SEQUENCE { SEQUENCE { INTEGER 0, Name, SubjectPublicKeyInfo, [0] attributes },
 * AlgorithmIdentifier, BIT STRING }, with an EC key whose curve parameter is an OID, and an
 * ECDSA-Sig-Value inside the signature of a P-256 request (other keys are left to the caller to
 * name and refuse). Throws WEFT_ERR_CSR_MALFORMED (structure),
 * WEFT_ERR_CSR_KEY_TYPE (key parameters) or WEFT_ERR_CSR_SIGNATURE (signature algorithm).
 * The signature itself is not verified here.
 */
export function checkCsrDer(der: Uint8Array): CsrParts {
  if (der.length === 0) throw malformed('empty');
  const top = expectTag(readElement(der, 0, der.length, 'CertificationRequest'), TAG.sequence, 'CertificationRequest');
  if (top.end !== der.length) throw malformed(`${der.length - top.end} trailing bytes after the request`);
  walk(der, top, 'CertificationRequest', 0);
  const [info, sigAlg, sig, ...extra] = children(der, top, 'CertificationRequest');
  if (!info || !sigAlg || !sig || extra.length > 0) throw malformed('CertificationRequest must hold exactly info, signatureAlgorithm and signature');
  expectTag(info, TAG.sequence, 'certificationRequestInfo');
  expectTag(sigAlg, TAG.sequence, 'signatureAlgorithm');
  expectTag(sig, TAG.bitString, 'signature');

  const [version, subject, spki, attributes, ...more] = children(der, info, 'certificationRequestInfo');
  if (!version || !subject || !spki || more.length > 0) throw malformed('certificationRequestInfo must hold version, subject, subjectPKInfo and attributes');
  expectTag(version, TAG.integer, 'version');
  if (contentHex(der, version) !== '00') throw malformed('version must be 0 (v1)');
  expectTag(subject, TAG.sequence, 'subject');
  for (const [i, rdn] of children(der, subject, 'subject').entries()) expectTag(rdn, TAG.set, `subject[${i}]`);
  expectTag(spki, TAG.sequence, 'subjectPKInfo');
  // OpenSSL reads the [0] attributes as optional; so does weft.
  if (attributes) expectTag(attributes, TAG.attributes, 'attributes');
  const p256 = checkKey(der, spki);

  const [sigOid, sigParams, ...sigMore] = children(der, sigAlg, 'signatureAlgorithm');
  if (!sigOid || sigMore.length > 0) throw malformed('signatureAlgorithm must hold an OID and at most its parameters');
  expectTag(sigOid, TAG.oid, 'signatureAlgorithm.algorithm');
  const infoBytes = der.subarray(info.at, info.end);
  const spkiBytes = der.subarray(spki.at, spki.end);
  if (!p256) return { info: infoBytes, spki: spkiBytes, signature: new Uint8Array(0), p256 };
  if (contentHex(der, sigOid) !== OID.ecdsaWithSha256 || sigParams) {
    throw new WeftError('WEFT_ERR_CSR_SIGNATURE', 'CSR signature algorithm is not ecdsa-with-SHA256 (without parameters)');
  }
  // The signature bits are an ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }, itself DER.
  if (der[sig.start] !== 0) throw malformed('signature: unused-bits octet must be 0');
  const value = expectTag(readElement(der, sig.start + 1, sig.end, 'signature value'), TAG.sequence, 'signature value');
  if (value.end !== sig.end) throw malformed('signature value: length does not match its BIT STRING');
  walk(der, value, 'signature value', 0);
  const [r, s, ...rsMore] = children(der, value, 'signature value');
  if (!r || !s || rsMore.length > 0) throw malformed('signature value must hold exactly r and s');
  for (const [name, n] of [['r', r], ['s', s]] as const) {
    expectTag(n, TAG.integer, `signature ${name}`);
    if (((der[n.start] ?? 0) & 0x80) !== 0 || n.end - n.start > 33) throw malformed(`signature ${name}: not a positive 256-bit integer`);
  }
  return { info: infoBytes, spki: spkiBytes, signature: der.subarray(sig.start + 1, sig.end), p256 };
}


/** An EC key must name its curve by OID (RFC 5480 namedCurve); P-256 points are 65 octets. True for P-256. */
function checkKey(der: Uint8Array, spki: DerElement): boolean {
  const [alg, bits, ...more] = children(der, spki, 'subjectPKInfo');
  if (!alg || !bits || more.length > 0) throw malformed('subjectPKInfo must hold algorithm and subjectPublicKey');
  expectTag(alg, TAG.sequence, 'subjectPKInfo.algorithm');
  expectTag(bits, TAG.bitString, 'subjectPublicKey');
  const [oid, params] = children(der, alg, 'subjectPKInfo.algorithm');
  if (!oid) throw malformed('subjectPKInfo.algorithm has no OID');
  expectTag(oid, TAG.oid, 'subjectPKInfo.algorithm.algorithm');
  // Other key types are named and refused by the caller, which knows their names.
  if (contentHex(der, oid) !== OID.ecPublicKey) return false;
  if (!params || params.tag !== TAG.oid) {
    throw new WeftError('WEFT_ERR_CSR_KEY_TYPE', 'CSR key is EC with a curve parameter that is not a named-curve OID; only ECDSA P-256 is accepted');
  }
  if (contentHex(der, params) !== OID.prime256v1) return false;
  if (der[bits.start] !== 0 || bits.end - bits.start !== 66 || der[bits.start + 1] !== 0x04) {
    throw new WeftError('WEFT_ERR_CSR_KEY_TYPE', 'CSR key is not an uncompressed P-256 point (65 octets starting 04)');
  }
  return true;
}

/** The DER inside exactly one PEM `CERTIFICATE REQUEST` block (strict base64, nothing around it). */
export function csrPemToDer(pem: string): Uint8Array {
  const m = /^\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]*?)\r?\n?-----END (NEW )?CERTIFICATE REQUEST-----\s*$/.exec(pem);
  if (!m) {
    if (!pem.includes('-----BEGIN CERTIFICATE REQUEST-----') && !pem.includes('-----BEGIN NEW CERTIFICATE REQUEST-----')) {
      throw new WeftError('WEFT_ERR_CSR_MALFORMED', 'CSR is malformed: no "-----BEGIN CERTIFICATE REQUEST-----" block');
    }
    throw new WeftError('WEFT_ERR_CSR_MALFORMED', 'CSR is malformed: want exactly one PEM CERTIFICATE REQUEST block of base64 and nothing else');
  }
  const b64 = (m[2] ?? '').replace(/\r?\n/g, '');
  const der = Buffer.from(b64, 'base64');
  if (b64.length === 0 || der.toString('base64') !== b64) throw new WeftError('WEFT_ERR_CSR_MALFORMED', 'CSR is malformed: the PEM body is not canonical base64');
  return new Uint8Array(der);
}
