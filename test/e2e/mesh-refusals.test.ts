// The inbound listener refuses every peer that cannot prove a weft identity, and counts it; the
// outbound side refuses a server whose identity is not the one its endpoint must have.
import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { LocalMesh, randomBase, get, metric, type PodSpec } from '../support/local-mesh.js';
import { startEchoApp } from '../support/echo-app.js';
import { makeTestPki } from '../support/pki.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import { generateKeyPair, privateKeyToPem, x509, ECDSA_SHA256 } from '../../lib/pki/crypto.js';

const base = randomBase();
const client: PodSpec = { name: 'client-0', address: `${base}.1`, serviceAccount: 'client' };
const server: PodSpec = { name: 'hello-0', address: `${base}.2`, serviceAccount: 'hello' };
const mesh = await LocalMesh.create();
const app = await startEchoApp({ pod: server.name, address: server.address, port: 8080 });
t.teardown(async () => {
  await mesh.close();
  await app.close();
});
await mesh.setServices([
  { name: 'hello', port: 80, targetPort: 8080, pods: [server] },
  // Same pod, but the endpoint claims it must be "payments": the server's certificate says hello.
  { name: 'impostor', port: 80, targetPort: 8080, pods: [server], identityOverride: mesh.identity('payments') },
]);
const clientProxy = await mesh.startProxy(client);
const serverProxy = await mesh.startProxy(server);
const request = 'GET /secret HTTP/1.1\r\nHost: hello\r\nweft-dst-port: 8080\r\n\r\n';

/** Sends a request over `socket` and resolves what came back before the server hung up. */
function exchange(socket: net.Socket | tls.TLSSocket, connectEvent: string): Promise<{ connected: boolean; reply: string; error?: string }> {
  return new Promise((resolve) => {
    let reply = '';
    let connected = false;
    let error: string | undefined;
    socket.on(connectEvent, () => {
      connected = true;
      socket.write(request);
    });
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('error', (e) => (error = e.message));
    socket.on('close', () => resolve({ connected, reply, ...(error ? { error } : {}) }));
    setTimeout(() => socket.destroy(), 3000);
  });
}

async function refusedWith(t: Test, reason: string, connect: () => Promise<{ connected: boolean; reply: string; error?: string }>): Promise<void> {
  const before = await metric(serverProxy.admin, 'weft_tls_handshake_failures_total', { direction: 'inbound', reason });
  const hitsBefore = app.hits.length;
  const result = await connect();
  t.notMatch(result.reply, /HTTP\/1\.1 200/, 'no response from the app');
  t.equal(app.hits.length, hitsBefore, 'the app saw nothing');
  const after = await metric(serverProxy.admin, 'weft_tls_handshake_failures_total', { direction: 'inbound', reason });
  t.equal(after, before + 1, `counted as ${reason}`);
}

t.test('a plain-TCP client is refused and counted', async (t) => {
  await refusedWith(t, 'not_tls', () => exchange(net.connect(7006, server.address), 'connect'));
});

t.test('a plain-TLS client without a certificate is refused and counted', async (t) => {
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity('x'), now: new Date() });
  await refusedWith(t, 'no_client_cert', () =>
    exchange(tls.connect({ host: server.address, port: 7006, ca: material.trustBundlePem, checkServerIdentity: () => undefined }), 'secureConnect'),
  );
});

t.test('a client whose certificate comes from another CA is refused and counted', async (t) => {
  const other = await makeTestPki();
  const material = await other.leaf(mesh.identity('client'));
  await refusedWith(t, 'untrusted', () =>
    exchange(
      tls.connect({ host: server.address, port: 7006, key: material.keyPem, cert: material.certChainPem, rejectUnauthorized: false }),
      'secureConnect',
    ),
  );
});

t.test('a client with an expired certificate is refused and counted', async (t) => {
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity('client'), now: new Date(Date.now() - 3 * 3600_000), lifetimeHours: 1 });
  t.ok(material.notAfter.getTime() < Date.now(), 'the certificate is expired');
  await refusedWith(t, 'expired', () =>
    exchange(
      tls.connect({ host: server.address, port: 7006, key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem, checkServerIdentity: () => undefined }),
      'secureConnect',
    ),
  );
});

t.test('a client whose trusted certificate carries no weft identity is refused and counted', async (t) => {
  const keys = await generateKeyPair();
  const issuer = mesh.authority.issuer;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '01ab',
    subject: 'CN=not-a-workload',
    issuer: issuer.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'hello.test.svc' }]),
    ],
  });
  await refusedWith(t, 'no_identity', async () =>
    exchange(
      tls.connect({
        host: server.address,
        port: 7006,
        key: await privateKeyToPem(keys.privateKey),
        cert: leaf.toString('pem') + '\n' + issuer.cert.toString('pem'),
        ca: mesh.authority.root.toString('pem'),
        checkServerIdentity: () => undefined,
      }),
      'secureConnect',
    ),
  );
});

t.test('a server presenting an identity the endpoint may not have gets 502 WEFT_ERR_PEER_IDENTITY', async (t) => {
  const before = await metric(clientProxy.admin, 'weft_tls_handshake_failures_total', { direction: 'outbound', reason: 'wrong_identity' });
  const hits = app.hits.length;
  const res = await get(`http://${client.address}:7001/secret`, { host: 'impostor' });
  t.equal(res.status, 502);
  t.equal(res.headers['weft-error'], 'WEFT_ERR_PEER_IDENTITY');
  t.match(res.body, new RegExp(`presented ${mesh.identity('hello')}.*must be ${mesh.identity('payments')}`));
  t.equal(app.hits.length, hits, 'the request never reached the app');
  t.equal(await metric(clientProxy.admin, 'weft_tls_handshake_failures_total', { direction: 'outbound', reason: 'wrong_identity' }), before + 1);
  t.equal(await metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', status_code: '502', error_code: 'WEFT_ERR_PEER_IDENTITY' }), 1);
  // The right name still works over the same proxies.
  t.equal((await get(`http://${client.address}:7001/`, { host: 'hello' })).status, 200);
});

t.test('a peer asking for the proxy’s own port or no port is refused with 400', async (t) => {
  const material = await issueMaterial({ authority: mesh.authority, identity: mesh.identity('client'), now: new Date() });
  const send = (head: string): Promise<string> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: server.address, port: 7006, key: material.keyPem, cert: material.certChainPem, ca: material.trustBundlePem, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
      let reply = '';
      s.on('secureConnect', () => s.write(head));
      s.on('data', (d: Buffer) => {
        reply += d.toString();
        if (reply.includes('\r\n\r\n')) s.destroy();
      });
      s.on('close', () => resolve(reply));
    });
  t.match(await send('GET / HTTP/1.1\r\nHost: hello\r\nweft-dst-port: 7020\r\n\r\n'), /^HTTP\/1\.1 400[\s\S]*weft-error: WEFT_ERR_BAD_REQUEST/);
  t.match(await send('GET / HTTP/1.1\r\nHost: hello\r\n\r\n'), /^HTTP\/1\.1 400[\s\S]*weft-error: WEFT_ERR_BAD_REQUEST/);
});
