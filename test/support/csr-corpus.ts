// A corpus of malformed PKCS#10 CSRs for tests: a valid P-256 CSR taken apart into a DER tree,
// each case one named mutation (BER, trailing bytes, wrong tags or lengths, bad keys, bad signatures).
import { webcrypto } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr } from '../../lib/pki/authority.js';
import { generateKeyPair, x509 } from '../../lib/pki/crypto.js';

/** A DER node: constructed ones hold children, primitive ones their contents. */
export interface Node {
  tag: number;
  kids?: Node[];
  body?: Buffer;
}

/** Parses DER (short and long definite lengths only; the valid input is DER). */
export function parse(buf: Buffer): Node {
  const [node] = parseAt(buf, 0);
  return node;
}

function parseAt(buf: Buffer, at: number): [Node, number] {
  const tag = buf[at] ?? 0;
  let len = buf[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  if (tag & 0x20) {
    const kids: Node[] = [];
    for (let p = start; p < end; ) {
      const [kid, next] = parseAt(buf, p);
      kids.push(kid);
      p = next;
    }
    return [{ tag, kids }, end];
  }
  return [{ tag, body: buf.subarray(start, end) }, end];
}

/** DER length octets (minimal). */
export function lengthOctets(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes a node back to DER, or with `len` overriding how its length is written. */
export function encode(node: Node, len?: (contentLength: number) => Buffer): Buffer {
  const content = node.kids ? Buffer.concat(node.kids.map((k) => encode(k))) : (node.body ?? Buffer.alloc(0));
  return Buffer.concat([Buffer.from([node.tag]), len ? len(content.length) : lengthOctets(content.length), content]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthOctets(content.length), content]);
}

/** One case of the corpus. */
export interface CsrCase {
  readonly name: string;
  readonly der: Buffer;
  /** The WEFT_ERR_CSR_* code weft answers with. */
  readonly code: 'WEFT_ERR_CSR_MALFORMED' | 'WEFT_ERR_CSR_KEY_TYPE' | 'WEFT_ERR_CSR_SIGNATURE';
  /**
   * What `openssl req -verify -inform DER` does with it: refuses; accepts (a well-formed request
   * whose key weft does not issue for); or is lenient (OpenSSL's d2i reads BER framing of the
   * outer SEQUENCE and stops after one object, where weft is stricter).
   */
  readonly openssl: 'refuses' | 'accepts' | 'lenient';
}

const clone = (n: Node): Node => (n.kids ? { tag: n.tag, kids: n.kids.map(clone) } : { tag: n.tag, body: Buffer.from(n.body ?? Buffer.alloc(0)) });

function kid(n: Node, ...path: number[]): Node {
  let at = n;
  for (const i of path) {
    const next = at.kids?.[i];
    if (!next) throw new Error(`no child ${path.join('.')}`);
    at = next;
  }
  return at;
}

/** PEM of a DER CSR. */
export function toPem(der: Buffer): string {
  return x509.PemConverter.encode(der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer, 'CERTIFICATE REQUEST');
}

/** A valid P-256 CSR (DER) and the malformed cases made from it. */
export async function csrCorpus(): Promise<{ valid: Buffer; cases: CsrCase[] }> {
  const valid = Buffer.from(x509.PemConverter.decodeFirst(await createCsr(await generateKeyPair(), 'spiffe://cluster.local/ns/shop/sa/orders')));
  const tree = parse(valid);
  const cases: CsrCase[] = [];
  const add = (name: string, code: CsrCase['code'], der: Buffer, openssl: CsrCase['openssl'] = 'refuses'): void => {
    cases.push({ name, der, code, openssl });
  };
  const mutate = (name: string, code: CsrCase['code'], change: (t: Node) => void): void => {
    const t = clone(tree);
    change(t);
    add(name, code, encode(t));
  };
  const M = 'WEFT_ERR_CSR_MALFORMED' as const;
  const K = 'WEFT_ERR_CSR_KEY_TYPE' as const;
  const S = 'WEFT_ERR_CSR_SIGNATURE' as const;

  // Non-DER framing of the whole request.
  add('one trailing zero byte after the request', M, Buffer.concat([valid, Buffer.from([0])]), 'lenient');
  add('a second request appended', M, Buffer.concat([valid, valid]), 'lenient');
  add('truncated by ten bytes', M, valid.subarray(0, valid.length - 10));
  add('outer SEQUENCE with a BER indefinite length', M, encodeIndefinite(tree), 'lenient');
  add('certificationRequestInfo with a BER indefinite length', M, tlv(0x30, Buffer.concat([encodeIndefinite(kid(tree, 0)), encode(kid(tree, 1)), encode(kid(tree, 2))])));
  add('outer length with a leading zero octet', M, Buffer.concat([Buffer.from([0x30]), padLength(valid.length - headerLength(valid)), valid.subarray(headerLength(valid))]), 'lenient');
  {
    const t = clone(tree);
    const version = encode(kid(t, 0, 0), (n) => Buffer.from([0x81, n]));
    const rest = Buffer.concat((kid(t, 0).kids ?? []).slice(1).map((k) => encode(k)));
    const info = tlv(0x30, Buffer.concat([version, rest]));
    add('version INTEGER with a long-form length', M, tlv(0x30, Buffer.concat([info, encode(kid(t, 1)), encode(kid(t, 2))])));
  }
  mutate('outer SEQUENCE tagged APPLICATION', M, (t) => (t.tag = 0x70));
  mutate('certificationRequestInfo tagged as a primitive SEQUENCE', M, (t) => {
    const info = kid(t, 0);
    info.body = Buffer.concat((info.kids ?? []).map((k) => encode(k)));
    delete info.kids;
    info.tag = 0x10;
  });
  mutate('certificationRequestInfo tagged context-specific [0]', M, (t) => (kid(t, 0).tag = 0xa0));
  mutate('signatureAlgorithm tagged as a SET', M, (t) => (kid(t, 1).tag = 0x31));
  mutate('subjectPKInfo tagged as a SET', M, (t) => (kid(t, 0, 2).tag = 0x31));
  mutate('version INTEGER not minimal (00 00)', M, (t) => (kid(t, 0, 0).body = Buffer.from([0, 0])));
  mutate('signature BIT STRING unused-bits octet 1', M, (t) => {
    const sig = kid(t, 2);
    sig.body = Buffer.concat([Buffer.from([1]), (sig.body ?? Buffer.alloc(0)).subarray(1)]);
  });
  mutate('signature BIT STRING unused-bits octet 9', M, (t) => {
    const sig = kid(t, 2);
    sig.body = Buffer.concat([Buffer.from([9]), (sig.body ?? Buffer.alloc(0)).subarray(1)]);
  });
  {
    // The ECDSA-Sig-Value inside the BIT STRING claims one byte less than it holds.
    const t = clone(tree);
    const body = Buffer.from(kid(t, 2).body ?? Buffer.alloc(0));
    body[2] = (body[2] ?? 0) - 1;
    kid(t, 2).body = body;
    add('wrong length inside the signature BIT STRING', M, encode(t));
  }
  {
    const t = clone(tree);
    const value = parse(Buffer.from((kid(t, 2).body ?? Buffer.alloc(0)).subarray(1)));
    const r = kid(value, 0);
    r.body = Buffer.concat([Buffer.from([0, 0]), r.body ?? Buffer.alloc(0)]);
    kid(t, 2).body = Buffer.concat([Buffer.from([0]), encode(value)]);
    add('signature r INTEGER with extra leading zeros', M, encode(t));
  }
  {
    const t = clone(tree);
    const body = Buffer.from(kid(t, 2).body ?? Buffer.alloc(0));
    kid(t, 2).body = Buffer.concat([body, Buffer.from([0, 0])]);
    add('two bytes after the signature value inside its BIT STRING', M, encode(t));
  }
  mutate('subjectPublicKey BIT STRING unused-bits octet 3', K, (t) => {
    const bits = kid(t, 0, 2, 1);
    bits.body = Buffer.concat([Buffer.from([3]), (bits.body ?? Buffer.alloc(0)).subarray(1, -1), Buffer.from([0xf8])]);
  });
  mutate('an extra element after the signature', M, (t) => t.kids?.push({ tag: 0x05, body: Buffer.alloc(0) }));
  mutate('an empty request SEQUENCE', M, (t) => (t.kids = []));

  // Keys.
  mutate('curve parameter is NULL, not an OID', K, (t) => {
    const alg = kid(t, 0, 2, 0);
    alg.kids = [kid(alg, 0), { tag: 0x05, body: Buffer.alloc(0) }];
  });
  mutate('curve parameter is an explicit-parameters SEQUENCE', K, (t) => {
    const alg = kid(t, 0, 2, 0);
    alg.kids = [kid(alg, 0), { tag: 0x30, kids: [{ tag: 0x02, body: Buffer.from([1]) }] }];
  });
  mutate('curve parameter missing', K, (t) => {
    const alg = kid(t, 0, 2, 0);
    alg.kids = [kid(alg, 0)];
  });
  mutate('P-384 curve OID over a P-256 point', K, (t) => {
    kid(t, 0, 2, 0, 1).body = Buffer.from('2b81040022', 'hex');
  });
  mutate('secp256k1 curve OID over a P-256 point', K, (t) => {
    kid(t, 0, 2, 0, 1).body = Buffer.from('2b8104000a', 'hex');
  });
  mutate('P-256 point truncated to 64 octets', K, (t) => {
    const bits = kid(t, 0, 2, 1);
    bits.body = (bits.body ?? Buffer.alloc(0)).subarray(0, -1);
  });
  mutate('P-256 point not on the curve', S, (t) => {
    const bits = kid(t, 0, 2, 1);
    const body = Buffer.from(bits.body ?? Buffer.alloc(0));
    body[40] = (body[40] ?? 0) ^ 0x01;
    bits.body = body;
  });
  {
    const rsa = await webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys: rsa, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } });
    add('a well-formed RSA-2048 request (key type weft refuses)', K, Buffer.from(csr.rawData), 'accepts');
  }

  // Signatures.
  mutate('signature bytes flipped', S, (t) => {
    const value = parse(Buffer.from((kid(t, 2).body ?? Buffer.alloc(0)).subarray(1)));
    const s = kid(value, 1);
    const body = Buffer.from(s.body ?? Buffer.alloc(0));
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
    s.body = body;
    kid(t, 2).body = Buffer.concat([Buffer.from([0]), encode(value)]);
  });
  mutate('subject changed after signing', S, (t) => {
    kid(t, 0).kids?.splice(1, 1, { tag: 0x30, kids: [{ tag: 0x31, kids: [{ tag: 0x30, kids: [{ tag: 0x06, body: Buffer.from('550403', 'hex') }, { tag: 0x0c, body: Buffer.from('admin') }] }] }] });
  });
  mutate('signature algorithm ecdsa-with-SHA384', S, (t) => (kid(t, 1, 0).body = Buffer.from('2a8648ce3d040303', 'hex')));
  return { valid, cases };
}

function headerLength(der: Buffer): number {
  const first = der[1] ?? 0;
  return first & 0x80 ? 2 + (first & 0x7f) : 2;
}

/** The length with one extra leading zero octet: valid BER, not DER. */
function padLength(n: number): Buffer {
  const minimal = lengthOctets(n);
  const bytes = minimal[0]! & 0x80 ? [...minimal.subarray(1)] : [n];
  return Buffer.from([0x80 | (bytes.length + 1), 0, ...bytes]);
}

function encodeIndefinite(node: Node): Buffer {
  const content = node.kids ? Buffer.concat(node.kids.map((k) => encode(k))) : (node.body ?? Buffer.alloc(0));
  return Buffer.concat([Buffer.from([node.tag, 0x80]), content, Buffer.from([0, 0])]);
}

/** Whether OpenSSL's `req -verify -inform DER` accepts the bytes; undefined when openssl is absent. */
export function opensslAccepts(der: Buffer): { accepted: boolean; output: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'weft-csr-'));
  try {
    const file = join(dir, 'req.der');
    writeFileSync(file, der);
    const run = spawnSync('openssl', ['req', '-verify', '-noout', '-inform', 'DER', '-in', file], { encoding: 'utf8' });
    if (run.error) return undefined;
    const output = `${run.stdout}${run.stderr}`.trim();
    // OpenSSL 3.0 exits 0 after "verify failure": the verdict is in the text.
    return { accepted: run.status === 0 && /verify OK/.test(output), output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
