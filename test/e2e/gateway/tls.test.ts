// HTTPS listeners of the real gateway: certificates chosen by SNI (exact and wildcard), HTTP/2
// and HTTP/1.1 by ALPN, 421 when SNI and Host name different listeners, client certificates for
// partner listeners, 404 for a host no listener serves.
import t from 'tap';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed } from '../../support/gateway-mesh.js';
import { makeWebCa, type PemPair } from '../../support/web-pki.js';

function secret(name: string, pair: PemPair): string {
  const indent = (s: string): string => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
  return `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: test }
type: kubernetes.io/tls
stringData:
  tls.crt: |
${indent(pair.certPem)}
  tls.key: |
${indent(pair.keyPem)}
`;
}

t.test('TLS termination', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  await mesh.addService('v2');
  const webCa = await makeWebCa('test web CA');
  const partnerCa = await makeWebCa('partner CA');
  const otherCa = await makeWebCa('someone else');
  const apiCert = await webCa.server(['api.example.com']);
  const wildCert = await webCa.server(['*.example.com']);
  const partnerCert = await webCa.server(['partner.example.com']);
  const indentCa = partnerCa.caPem.trim().split('\n').map((l) => `    ${l}`).join('\n');
  const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
    - name: api
      hostname: api.example.com
      port: 443
      protocol: HTTPS
      tls: { mode: Terminate, certificateRefs: [{ name: api-cert }] }
    - name: wild
      hostname: "*.example.com"
      port: 443
      protocol: HTTPS
      tls: { certificateRefs: [{ name: wild-cert }] }
    - name: partner
      hostname: partner.example.com
      port: 443
      protocol: HTTPS
      tls:
        certificateRefs: [{ name: partner-cert }]
        frontendValidation: { caCertificateRefs: [{ kind: ConfigMap, name: partner-ca }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: test }
spec:
  parentRefs: [{ name: edge, sectionName: api }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wild, namespace: test }
spec:
  parentRefs: [{ name: edge, sectionName: wild }]
  rules: [{ backendRefs: [{ name: v2, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: partner, namespace: test }
spec:
  parentRefs: [{ name: edge, sectionName: partner }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: partner-ca, namespace: test }
data:
  ca.crt: |
${indentCa}
${secret('api-cert', apiCert)}${secret('wild-cert', wildCert)}${secret('partner-cert', partnerCert)}`;
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const gw = await mesh.startGateway(file);
  const port = gw.httpsPort;

  const get1 = (servername: string, host: string, opts: { cert?: PemPair; path?: string } = {}) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string; peerCert: string; alpn: string | false }>((resolve, reject) => {
      // https.request hands ALPNProtocols to tls.connect, though its RequestOptions type omits it.
      const options: https.RequestOptions & Pick<tls.ConnectionOptions, 'ALPNProtocols'> = {
        host: gw.address,
        port,
        path: opts.path ?? '/',
        servername,
        headers: { host },
        ca: webCa.caPem,
        agent: false,
        ALPNProtocols: ['http/1.1'],
        ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}),
      };
      const req = https.request(
        options,
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            const sock = res.socket as tls.TLSSocket;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCert: sock.getPeerCertificate().subjectaltname ?? '', alpn: sock.alpnProtocol ?? false });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });

  await t.test('the exact-name certificate for its name', async (t) => {
    const r = await get1('api.example.com', 'api.example.com');
    t.equal(r.status, 200);
    t.equal(echoed(r.body)?.backend, 'v1');
    t.equal(r.peerCert, 'DNS:api.example.com', 'exact certificate chosen');
    t.equal(echoed(r.body)?.headers['x-forwarded-proto'], 'https');
  });

  await t.test('the wildcard certificate for other names', async (t) => {
    const r = await get1('shop.example.com', 'shop.example.com');
    t.equal(r.status, 200);
    t.equal(echoed(r.body)?.backend, 'v2');
    t.equal(r.peerCert, 'DNS:*.example.com', 'wildcard certificate chosen');
  });

  await t.test('421 when the Host names another listener than the SNI', async (t) => {
    const r = await get1('shop.example.com', 'api.example.com');
    t.equal(r.status, 421);
    t.equal(r.headers['weft-error'], 'WEFT_ERR_MISDIRECTED');
  });

  await t.test('a Host covered by the same certificate is not misdirected', async (t) => {
    const r = await get1('shop.example.com', 'blog.example.com');
    t.equal(r.status, 200);
    t.equal(echoed(r.body)?.backend, 'v2');
  });

  await t.test('a name no listener serves fails the handshake', async (t) => {
    await t.rejects(get1('www.other.test', 'www.other.test'));
  });

  await t.test('HTTP/2 through ALPN', async (t) => {
    const client = http2.connect(`https://${gw.address}:${port}`, { servername: 'api.example.com', ca: webCa.caPem });
    t.teardown(() => client.close());
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = client.request({ ':path': '/h2', ':authority': 'api.example.com' });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
      s.end();
    });
    t.equal(status, 200);
    t.equal(echoed(body)?.backend, 'v1');
    t.equal(echoed(body)?.url, '/h2');
    t.equal(echoed(body)?.host, 'api.example.com', 'the :authority becomes the upstream Host');
  });

  await t.test('HTTP/1.1 through ALPN', async (t) => {
    const r = await get1('api.example.com', 'api.example.com');
    t.equal(r.alpn, 'http/1.1');
  });

  await t.test('partner listener requires a client certificate from its CA', async (t) => {
    const none = await get1('partner.example.com', 'partner.example.com');
    t.equal(none.status, 403, 'no client certificate: 403');
    t.equal(none.headers['weft-error'], 'WEFT_ERR_CLIENT_CERT');
    const wrong = await get1('partner.example.com', 'partner.example.com', { cert: await otherCa.client('mallory') });
    t.equal(wrong.status, 403, 'a certificate from another CA: 403');
    const expired = await get1('partner.example.com', 'partner.example.com', { cert: await partnerCa.client('old', { notAfter: new Date(Date.now() - 1000) }) });
    t.equal(expired.status, 403, 'an expired partner certificate: 403');
    const ok = await get1('partner.example.com', 'partner.example.com', { cert: await partnerCa.client('acme') });
    t.equal(ok.status, 200, 'a partner certificate passes');
    t.equal(echoed(ok.body)?.backend, 'v1');
    const other = await get1('api.example.com', 'api.example.com');
    t.equal(other.status, 200, 'other listeners do not ask for one');
  });

});
