// The node:crypto CSR the sidecar sends passes the CA's strict reader (DER, P-256, signature) and
// carries the identity hint; OpenSSL reads it too.
import t from 'tap';
import { execFile } from 'node:child_process';
import { makeKeyAndCsr } from '../../../../lib/pki/csr-build.js';
import { parseCsr } from '../../../../lib/pki/authority.js';
import { x509 } from '../../../../lib/pki/crypto.js';

t.test('a CSR with an identity hint passes parseCsr and names the hint as a URI SAN', async (t) => {
  const made = await makeKeyAndCsr('spiffe://cluster.local/ns/shop/sa/orders');
  const checked = await parseCsr(made.csrPem);
  const csr = new x509.Pkcs10CertificateRequest(made.csrPem);
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  t.same(san?.names.toJSON(), [{ type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/orders' }]);
  const fromCsr = Buffer.from(checked.spki).toString('base64');
  t.equal(fromCsr, made.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), 'the CSR carries the key made with it');
  t.match(made.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
});

t.test('a CSR without a hint passes too, and openssl verifies its signature', async (t) => {
  const made = await makeKeyAndCsr();
  await parseCsr(made.csrPem);
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile('openssl', ['req', '-noout', '-verify'], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout + stderr)));
    child.stdin?.end(made.csrPem);
  });
  t.match(out, /verify OK/i);
});
