// The one serving-leaf builder: DNS and IP SANs, a hostile first name kept to one CN, the issuer's
// key id named, and a chain OpenSSL's verifier (through node:tls) accepts for the name.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { issueSelfServing } from '../../../../lib/pki/self-serving.js';
import { signServingLeaf } from '../../../../lib/pki/serving-leaf.js';
import { generateKeyPair, x509 } from '../../../../lib/pki/crypto.js';

t.test('the self-made webhook pair: the leaf verifies under its CA and serves its names', async (t) => {
  const pair = await issueSelfServing({ names: ['weft-injector.weft-system.svc', 'weft-injector'], nowMs: Date.now(), lifetimeHours: 1 });
  const leaf = new X509Certificate(pair.certPem);
  const ca = new X509Certificate(pair.caPem);
  t.ok(leaf.verify(ca.publicKey), 'signed by the CA');
  t.equal(leaf.subjectAltName, 'DNS:weft-injector.weft-system.svc, DNS:weft-injector');
  t.equal(leaf.checkHost('weft-injector.weft-system.svc'), 'weft-injector.weft-system.svc');
  t.equal(leaf.ca, false);
  t.match(leaf.keyUsage ?? [], ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
});

t.test('IP addresses become IP SANs and a hostile first name stays one CN', async (t) => {
  const issuerKeys = await generateKeyPair();
  const leafKeys = await generateKeyPair();
  const now = Date.now();
  const cert = await signServingLeaf({
    names: ['evil,O=weft+CN=root', '127.0.0.1', '::1'],
    publicKey: leafKeys.publicKey,
    issuerName: 'CN=test issuer',
    issuerKey: issuerKeys.privateKey,
    issuerKeyId: issuerKeys.publicKey,
    notBefore: new Date(now - 1000),
    notAfter: new Date(now + 3_600_000),
  });
  const leaf = new X509Certificate(Buffer.from(cert.rawData));
  t.equal(leaf.subject, 'CN=evil\\,O=weft\\+CN=root', 'one RDN: the comma and plus sign are escaped inside the CN');
  t.match(leaf.subjectAltName ?? '', /, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1$/);
  t.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = await x509.SubjectKeyIdentifierExtension.create(issuerKeys.publicKey);
  t.equal(aki?.keyId, ski.keyId, 'the authorityKeyIdentifier names the issuer key');
});
