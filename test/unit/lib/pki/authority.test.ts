import t from 'tap';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { createCsr, createIssuer, createRoot, issueLeaf, parseCsr, BACKDATE_MS } from '../../../../lib/pki/authority.js';
import { generateKeyPair, x509 } from '../../../../lib/pki/crypto.js';
import { isWeftError } from '../../../../lib/errors.js';

const now = new Date('2026-11-22T10:00:00Z');
const td = 'cluster.local';
const identity = 'spiffe://cluster.local/ns/shop/sa/orders';

t.test('issues a leaf that chains root -> issuer -> leaf with the SPIFFE URI SAN', async (t) => {
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 1000 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 500 });
  const keys = await generateKeyPair();
  const csr = await parseCsr(await createCsr(keys));
  const leaf = issueLeaf({ issuer, csr, identity, now });

  const nodeRoot = new NodeX509(root.cert.toString('pem'));
  const nodeIssuer = new NodeX509(issuer.cert.toString('pem'));
  const nodeLeaf = new NodeX509(leaf.pem);
  t.ok(nodeIssuer.verify(nodeRoot.publicKey), 'issuer signed by root');
  t.ok(nodeLeaf.verify(nodeIssuer.publicKey), 'leaf signed by issuer');
  t.ok(nodeLeaf.checkIssued(nodeIssuer), 'leaf names the issuer');
  t.equal(nodeLeaf.subjectAltName, `URI:${identity}`);
  t.equal(nodeLeaf.ca, false);
  t.equal(nodeIssuer.ca, true);
  t.same(nodeLeaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth + clientAuth');
  t.equal(leaf.notAfter.getTime() - now.getTime(), 24 * 3600_000, '24 h default lifetime');
  t.equal(now.getTime() - leaf.notBefore.getTime(), BACKDATE_MS, 'backdated for clock skew');
});

t.test('clamps the leaf lifetime to the issuer', async (t) => {
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 2 });
  const csr = await parseCsr(await createCsr(await generateKeyPair()));
  const leaf = issueLeaf({ issuer, csr, identity, now, lifetimeHours: 24 });
  t.equal(leaf.notAfter.getTime(), issuer.cert.notAfter.getTime());
  const longIssuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 10_000 });
  t.equal(longIssuer.cert.notAfter.getTime(), root.cert.notAfter.getTime(), 'issuer clamped to root');
});

t.test('gives every leaf a random positive serial', async (t) => {
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 50 });
  const csr = await parseCsr(await createCsr(await generateKeyPair()));
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) serials.add((issueLeaf({ issuer, csr, identity, now })).serialNumber);
  t.equal(serials.size, 20);
  for (const s of serials) t.ok(parseInt(s.slice(0, 2), 16) < 0x80, `serial ${s} is positive`);
});

t.test('signs the identity given, whatever the CSR asks for', async (t) => {
  const root = await createRoot({ trustDomain: td, now, lifetimeHours: 100 });
  const issuer = await createIssuer({ root, trustDomain: td, now, lifetimeHours: 50 });
  const csr = await parseCsr(await createCsr(await generateKeyPair(), 'spiffe://cluster.local/ns/kube-system/sa/admin'));
  const leaf = issueLeaf({ issuer, csr, identity, now });
  t.equal(new NodeX509(leaf.pem).subjectAltName, `URI:${identity}`);
});

t.test('refuses a CSR that is not PEM or not PKCS#10', async (t) => {
  await t.rejects(parseCsr('hello'), { code: 'WEFT_ERR_CSR_MALFORMED', message: /BEGIN CERTIFICATE REQUEST/ });
  await t.rejects(
    parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'),
    { code: 'WEFT_ERR_CSR_MALFORMED' },
  );
  await t.rejects(parseCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01])), { code: 'WEFT_ERR_CSR_MALFORMED' });
});

t.test('refuses a CSR whose signature does not verify', async (t) => {
  const pem = await createCsr(await generateKeyPair());
  const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff; // flip a byte inside the signature
  const err = await parseCsr(new Uint8Array(der)).then(() => undefined, (e: unknown) => e);
  t.ok(isWeftError(err), 'coded error');
  t.match(err, { code: /WEFT_ERR_CSR_(SIGNATURE|MALFORMED)/ });
  // A well-formed CSR whose signature covers different content: splice another key's signature in.
  const a = new x509.Pkcs10CertificateRequest(await createCsr(await generateKeyPair()));
  const b = new x509.Pkcs10CertificateRequest(await createCsr(await generateKeyPair()));
  const aDer = Buffer.from(a.rawData);
  const bSig = Buffer.from(b.signature);
  const aSig = Buffer.from(a.signature);
  const at = aDer.lastIndexOf(aSig);
  t.ok(at > 0, 'found signature bytes');
  if (aSig.length === bSig.length) {
    bSig.copy(aDer, at);
    await t.rejects(parseCsr(new Uint8Array(aDer)), { code: 'WEFT_ERR_CSR_SIGNATURE' });
  }
});

t.test('refuses a CSR whose key is RSA or P-384', async (t) => {
  const rsa = await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  );
  const rsaCsr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: rsa,
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  });
  await t.rejects(parseCsr(rsaCsr.toString('pem')), { code: 'WEFT_ERR_CSR_KEY_TYPE', message: /RSASSA/ });
  const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const p384Csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: p384,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
  });
  await t.rejects(parseCsr(p384Csr.toString('pem')), { code: 'WEFT_ERR_CSR_KEY_TYPE', message: /P-384/ });
});
