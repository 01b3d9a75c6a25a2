// The DER leaf writer against @peculiar/x509: for the same serial, validity, key, SAN and issuer
// the TBSCertificate bytes are identical, and the signed certificate verifies with node:crypto and
// OpenSSL.
import t from 'tap';
import { execFile } from 'node:child_process';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, createIssuer, createRoot, issueLeaf, parseCsr, BACKDATE_MS } from '../../../../lib/pki/authority.js';
import { ECDSA_SHA256, generateKeyPair, x509 } from '../../../../lib/pki/crypto.js';
import { subjectNameDer } from '../../../../lib/pki/leaf-der.js';

const td = 'cluster.local';
const identity = 'spiffe://cluster.local/ns/shop/sa/orders';

/** What @peculiar/x509 writes for a leaf of the same shape: the reference. */
async function referenceTbs(opts: { issuer: { cert: x509.X509Certificate; key: CryptoKey }; publicKey: CryptoKey; serial: string; notBefore: Date; notAfter: Date; identity: string }): Promise<Buffer> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial,
    subject: '',
    issuer: opts.issuer.cert.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    publicKey: opts.publicKey,
    signingKey: opts.issuer.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.identity }], true),
      await x509.AuthorityKeyIdentifierExtension.create(opts.issuer.cert),
    ],
  });
  return tbsOf(new Uint8Array(cert.rawData));
}

function tbsOf(der: Uint8Array): Buffer {
  // Certificate ::= SEQUENCE { tbsCertificate, ... }: the first element inside the outer header.
  const outerHeader = (der[1] ?? 0) < 0x80 ? 2 : 2 + ((der[1] ?? 0) & 0x7f);
  const inner = der.subarray(outerHeader);
  const innerLen = (inner[1] ?? 0) < 0x80 ? (inner[1] ?? 0) : Number.parseInt(Buffer.from(inner.subarray(2, 2 + ((inner[1] ?? 0) & 0x7f))).toString('hex'), 16);
  const innerHeader = (inner[1] ?? 0) < 0x80 ? 2 : 2 + ((inner[1] ?? 0) & 0x7f);
  return Buffer.from(inner.subarray(0, innerHeader + innerLen));
}

for (const when of ['2026-11-22T10:00:00Z', '2049-12-31T23:30:00Z', '2050-06-01T00:00:00Z']) {
  t.test(`the TBS equals @peculiar/x509's for the same leaf (${when})`, async (t) => {
    const now = new Date(when);
    const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100_000 });
    const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 50_000 });
    const keys = await generateKeyPair();
    const csr = await parseCsr(await createCsr(keys));
    const fixed = new Uint8Array(16).fill(0x42);
    const leaf = issueLeaf({ issuer, csr, identity, now, lifetimeHours: 24, random: () => fixed.slice() });
    const reference = await referenceTbs({ issuer, publicKey: keys.publicKey, serial: leaf.serialNumber, notBefore: leaf.notBefore, notAfter: leaf.notAfter, identity });
    t.equal(tbsOf(leaf.der).toString('hex'), reference.toString('hex'), 'byte-identical TBSCertificate');
    t.equal(now.getTime() - leaf.notBefore.getTime(), BACKDATE_MS);
    const node = new NodeX509(leaf.pem);
    t.ok(node.verify(new NodeX509(issuer.cert.toString('pem')).publicKey), 'signed by the issuer');
    t.equal(new Date(node.validTo).getTime(), leaf.notAfter.getTime(), 'notAfter as reported');
  });
}

t.test('the issuer name is copied from the issuer certificate, not re-encoded', async (t) => {
  const now = new Date('2026-11-22T10:00:00Z');
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 50 });
  const name = subjectNameDer(new Uint8Array(issuer.cert.rawData));
  t.equal(Buffer.from(name).toString('hex'), Buffer.from(issuer.cert.subjectName.toArrayBuffer()).toString('hex'));
  const leaf = issueLeaf({ issuer, csr: await parseCsr(await createCsr(await generateKeyPair())), identity, now });
  t.ok(new NodeX509(leaf.pem).checkIssued(new NodeX509(issuer.cert.toString('pem'))), 'the leaf names its issuer');
});

t.test('OpenSSL verifies the chain and reads the leaf as weft means it', async (t) => {
  const now = new Date();
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 50 });
  const leaf = issueLeaf({ issuer, csr: await parseCsr(await createCsr(await generateKeyPair())), identity, now });
  const dir = await mkdtemp(join(tmpdir(), 'weft-leaf-der-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'root.pem'), root.cert.toString('pem'));
  await writeFile(join(dir, 'issuer.pem'), issuer.cert.toString('pem'));
  await writeFile(join(dir, 'leaf.pem'), leaf.pem + '\n');
  const run = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => execFile('openssl', args, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
  t.match(await run(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuer.pem'), '-purpose', 'sslserver', join(dir, 'leaf.pem')]), /leaf\.pem: OK/);
  const text = await run(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text']);
  t.match(text, /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/orders/);
  t.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.match(text, /CA:FALSE/);
});
