// A local-mode proxy's certificate, issued from the CA directory with node:crypto alone: the chain
// verifies, the CA directory is checked, the AKI follows the issuer's own key id, and a proxy that
// issues its certificate this way never loads @peculiar/x509.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRoot } from '../../../../lib/pki/authority.js';
import { ECDSA_SHA256, generateKeyPair, privateKeyToPem, randomSerial, x509 } from '../../../../lib/pki/crypto.js';
import { generateAuthorityPem } from '../../../../lib/pki/store.js';
import { issueLocalMaterial } from '../../../../lib/pki/local-material.js';
import { REPO_ROOT } from '../../../support/local-mesh.js';

const identity = 'spiffe://cluster.local/ns/default/sa/web';
const now = new Date();

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
}

t.test('the material chains root -> issuer -> leaf, names the identity and loads into node:tls', async (t) => {
  const pem = await generateAuthorityPem('cluster.local', now);
  const m = issueLocalMaterial({ pem, identity, now, lifetimeHours: 2 });
  const [leafPem, issuerPem] = m.certChainPem.split(/(?<=-----END CERTIFICATE-----)\n/);
  const leaf = new X509Certificate(leafPem ?? '');
  const issuer = new X509Certificate(issuerPem ?? '');
  const root = new X509Certificate(m.trustBundlePem);
  t.ok(leaf.verify(issuer.publicKey) && issuer.verify(root.publicKey), 'each signed by the next');
  t.equal(leaf.subjectAltName, `URI:${identity}`);
  t.equal(m.notAfter.getTime(), new Date(leaf.validTo).getTime());
  t.ok(Math.abs(m.notAfter.getTime() - now.getTime() - 2 * 3_600_000) < 2000, 'the lifetime asked for');
  t.doesNotThrow(() => createSecureContext({ key: m.keyPem, cert: m.certChainPem, ca: m.trustBundlePem }), 'key and certificate belong together');
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-material-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'root.pem'), m.trustBundlePem);
  await writeFile(join(dir, 'issuer.pem'), issuerPem ?? '');
  await writeFile(join(dir, 'leaf.pem'), leafPem ?? '');
  t.match(await run('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuer.pem'), join(dir, 'leaf.pem')]), /OK/);
});

t.test('a CA directory whose issuer is not signed by its root, or whose key is not the issuer\'s, is refused', async (t) => {
  const a = await generateAuthorityPem('cluster.local', now);
  const b = await generateAuthorityPem('cluster.local', now);
  t.throws(() => issueLocalMaterial({ pem: { ...a, rootCert: b.rootCert }, identity, now }), { code: 'WEFT_ERR_CA_MATERIAL', message: /not signed by root\.pem/ });
  t.throws(() => issueLocalMaterial({ pem: { ...a, issuerKey: b.issuerKey }, identity, now }), { code: 'WEFT_ERR_CA_MATERIAL', message: /does not match issuer\.pem/ });
  t.throws(() => issueLocalMaterial({ pem: { ...a, issuerCert: 'not a certificate' }, identity, now }), { code: 'WEFT_ERR_CA_MATERIAL' });
});

t.test('the leaf names the issuer by the issuer\'s own subjectKeyIdentifier, whatever method made it', async (t) => {
  const root = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 10 });
  // An issuer whose key id is not the SHA-1 of its key (RFC 5280 allows any method).
  const keys = await generateKeyPair();
  const issuerCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=other issuer',
    issuer: root.cert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 3_600_000),
    publicKey: keys.publicKey,
    signingKey: root.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      new x509.SubjectKeyIdentifierExtension('0a0b0c0d0e0f'),
      await x509.AuthorityKeyIdentifierExtension.create(root.cert),
    ],
  });
  const m = issueLocalMaterial({ pem: { rootCert: root.cert.toString('pem'), issuerCert: issuerCert.toString('pem'), issuerKey: await privateKeyToPem(keys.privateKey) }, identity, now });
  const leaf = new x509.X509Certificate(m.certChainPem.split(/(?<=-----END CERTIFICATE-----)\n/)[0] ?? '');
  const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
  t.equal(aki?.keyId, '0a0b0c0d0e0f');
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-aki-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'root.pem'), root.cert.toString('pem'));
  await writeFile(join(dir, 'chain.pem'), m.certChainPem);
  await writeFile(join(dir, 'issuer.pem'), issuerCert.toString('pem'));
  await writeFile(join(dir, 'leaf.pem'), leaf.toString('pem'));
  t.match(await run('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuer.pem'), join(dir, 'leaf.pem')]), /OK/, 'OpenSSL finds the issuer by its key id');
  // The older way (a SHA-1 of the key) would not match this issuer's key id.
  t.not(aki?.keyId, Buffer.from(await issuerCert.publicKey.getKeyIdentifier()).toString('hex'));
});

t.test('the proxy command and a local identity load no @peculiar/x509', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-local-nox509-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pem = await generateAuthorityPem('cluster.local', now);
  for (const [file, text] of [['root.pem', pem.rootCert], ['issuer.pem', pem.issuerCert], ['issuer.key', pem.issuerKey]] as const) await writeFile(join(dir, file), text);
  // A module hook in the child records every module URL it loads; production code is untouched.
  const hooks = `import { registerHooks } from 'node:module';
registerHooks({ load(url, context, next) { if (url.includes('node_modules')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); } });`;
  const script = `await import(${JSON.stringify(`${REPO_ROOT}dist/cli/proxy.js`)});
const { LocalIdentityProvider } = await import(${JSON.stringify(`${REPO_ROOT}dist/mesh/identity/local-identity.js`)});
const log = { info() {}, error() {}, warn() {}, debug() {} };
const p = new LocalIdentityProvider({ caDir: ${JSON.stringify(dir)}, identity: ${JSON.stringify(identity)}, lifetimeHours: 1, log });
await p.start();
process.stdout.write(p.current().identity + '\\n');
p.close();`;
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hooks)}`, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) t.comment(err);
  t.equal(code, 0, 'the child exited 0');
  t.equal(out.trim(), identity, 'the identity was issued');
  t.match(err, /LOADED .*node_modules/, 'the hook saw the packages the proxy loads');
  t.notMatch(err, /@peculiar\/x509|reflect-metadata/, 'no certificate library');
});
