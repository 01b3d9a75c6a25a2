import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createOpaqueInbound, formatPreamble, parsePreamble, readPreamble, tunnelOpaque, type OpaqueTarget } from '../../../../proxy/capture/opaque.js';
import { ExchangeRecorder, startExchange } from '../../../../proxy/exchange.js';
import { createProxyMetrics } from '../../../../proxy/metrics.js';
import { PeerPool } from '../../../../mesh/peer-pool.js';
import { clientSecureContext, peerIdentity, serverTlsOptions } from '../../../../mesh/mesh-tls.js';
import { createLogger } from '../../../../lib/logger.js';
import { makeTestPki } from '../../../support/pki.js';

t.test('preamble format and parse', async (t) => {
  t.equal(formatPreamble(5432).toString(), 'WEFT-TCP 5432\n');
  t.same(parsePreamble(Buffer.from('WEFT-TCP 5432\nhello')), { port: 5432, rest: Buffer.from('hello') });
  t.same(parsePreamble(Buffer.from('WEFT-TCP 1\n')), { port: 1, rest: Buffer.alloc(0) });
  for (const partial of ['', 'W', 'WEFT-TC', 'WEFT-TCP ', 'WEFT-TCP 65']) t.equal(parsePreamble(Buffer.from(partial)), undefined, partial);
  for (const bad of ['GET / HTTP/1.1\r\n', 'WEFT-TCP 0\n', 'WEFT-TCP 65536\n', 'WEFT-TCP 80 \n', 'WEFT-TCP x\n', 'WEFT-TCP 08\n', 'WEFT-TCP 1234567890123']) {
    t.match(parsePreamble(Buffer.from(bad)), { code: 'WEFT_ERR_BAD_REQUEST' }, JSON.stringify(bad));
  }
});

t.test('readPreamble waits across chunks and times out', async (t) => {
  const [a, b] = await socketPair();
  t.teardown(() => { a.destroy(); b.destroy(); });
  const read = readPreamble(b, 1000);
  a.write('WEFT-');
  setTimeout(() => a.write('TCP 99\nrest'), 10);
  const got = await read;
  t.equal(got.port, 99);
  t.equal(got.rest.toString(), 'rest');
  const [c, d] = await socketPair();
  t.teardown(() => { c.destroy(); d.destroy(); });
  await t.rejects(readPreamble(d, 50), { code: 'WEFT_ERR_TIMEOUT' });
});

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const a = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  const b = await accepted;
  srv.close();
  return [a, b];
}

t.test('a line protocol crosses client tunnel -> mTLS weft-tcp -> inbound -> app, both ways', async (t) => {
  const pki = await makeTestPki();
  const serverId = 'spiffe://cluster.local/ns/shop/sa/db';
  const clientId = 'spiffe://cluster.local/ns/shop/sa/web';
  const serverMat = await pki.leaf(serverId);
  const clientMat = await pki.leaf(clientId);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const log = createLogger({ level: 'silent', name: 'test', destination: sink });
  const registry = new Registry();
  const recorder = new ExchangeRecorder(createProxyMetrics(registry), log, () => performance.now());

  // The app: answers each "PING <word>" line with "PONG <word>" and remembers who connected.
  const appPeers: string[] = [];
  const app = net.createServer((s) => {
    appPeers.push(s.remoteAddress ?? '');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        s.write(`PONG ${buf.slice(0, i).replace(/^PING /, '')}\n`);
        buf = buf.slice(i + 1);
      }
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;

  // The server sidecar's inbound listener, with the opaque handler.
  const peers: string[] = [];
  const onOpaque = createOpaqueInbound({
    appHost: '127.0.0.1', reservedPorts: new Set([7006]), connectTimeoutMs: 1000, preambleTimeoutMs: 1000, recorder, log, now: () => performance.now(),
  });
  const inbound = tls.createServer(serverTlsOptions(serverMat), (s) => {
    const peer = peerIdentity(s) ?? '';
    peers.push(`${s.alpnProtocol}|${peer}`);
    onOpaque(s, peer);
  });
  await new Promise<void>((r) => inbound.listen(0, '127.0.0.1', r));
  const inboundPort = (inbound.address() as net.AddressInfo).port;

  // The client sidecar: a plain listener standing for the captured outbound port.
  const pool = new PeerPool({ peerPort: inboundPort, connectTimeoutMs: 1000, secureContext: () => clientSecureContext(clientMat) });
  // serve() owns the exchange in the proxy; here the hooks report straight to the recorder.
  const tunnel = (s: net.Socket, head: Buffer, target: OpaqueTarget): void => {
    const exchange = startExchange({ direction: 'outbound', protocol: 'tcp', method: '', authority: '', path: '' }, performance.now());
    tunnelOpaque(s, head, false, target, exchange, { connectPeer: (e, alpn) => pool.connect(e, alpn), connectTimeoutMs: 1000, now: () => performance.now() }, {
      onResponse: (status) => recorder.responded(exchange, status),
      onEnd: (error) => recorder.finish(exchange, error === undefined ? undefined : error === 'client_closed' ? error : error.code),
    });
  };
  const outbound = net.createServer((s) => {
    s.pause();
    tunnel(s, Buffer.from('PING one\n'), { kind: 'mesh', address: '127.0.0.1', port: appPort, identity: serverId, service: 'shop/db:5432' });
  });
  await new Promise<void>((r) => outbound.listen(0, '127.0.0.1', r));
  t.teardown(() => { app.close(); inbound.close(); outbound.close(); pool.close(); });

  const client = net.connect((outbound.address() as net.AddressInfo).port, '127.0.0.1');
  let received = '';
  client.on('data', (d) => {
    received += d.toString();
    if (received === 'PONG one\n') client.write('PING two\n');
    if (received.endsWith('PONG two\n')) client.end();
  });
  await new Promise((r) => client.on('close', r));
  t.equal(received, 'PONG one\nPONG two\n', 'head bytes and later bytes both crossed, replies came back');
  t.same(peers, [`weft-tcp|${clientId}`], 'the inbound side saw ALPN weft-tcp and the client identity');
  t.same(appPeers, ['127.0.0.1'], 'the app saw the sidecar as its peer');
  await new Promise((r) => setTimeout(r, 50));
  const metrics = await registry.getSingleMetricAsString('weft_requests_total');
  // This recorder knows no identity of its own: its side folds into unknown; the peer's is the identity it proved.
  t.match(metrics, `weft_requests_total{direction="outbound",service="shop/db:5432",route="",tls="true",src_workload="unknown",src_namespace="unknown",dst_workload="db",dst_namespace="shop"} 1`);
  t.match(metrics, `weft_requests_total{direction="inbound",service="port ${appPort}",route="",tls="true",src_workload="web",src_namespace="shop",dst_workload="unknown",dst_namespace="unknown"} 1`);

  // A peer asking for a reserved port is refused before anything reaches the app.
  const bad = tls.connect({ host: '127.0.0.1', port: inboundPort, secureContext: clientSecureContext(clientMat), ALPNProtocols: ['weft-tcp'], checkServerIdentity: () => undefined });
  await new Promise((r) => bad.once('secureConnect', r));
  bad.write('WEFT-TCP 7006\n');
  await new Promise((r) => bad.on('close', r));
  t.equal(appPeers.length, 1);
  await new Promise((r) => setTimeout(r, 20));
  const responses = await registry.getSingleMetricAsString('weft_responses_total');
  t.match(responses, /direction="inbound".*error_code="WEFT_ERR_BAD_REQUEST"\} 1/);

  // A tunnel to a sidecar with the wrong identity fails the identity check.
  const wrong = net.createServer((s) => {
    s.pause();
    tunnel(s, Buffer.alloc(0), { kind: 'mesh', address: '127.0.0.1', port: appPort, identity: 'spiffe://cluster.local/ns/shop/sa/other', service: 'x' });
  });
  await new Promise<void>((r) => wrong.listen(0, '127.0.0.1', r));
  t.teardown(() => wrong.close());
  const c2 = net.connect((wrong.address() as net.AddressInfo).port, '127.0.0.1');
  c2.on('error', () => {});
  await new Promise((r) => c2.on('close', r));
  await new Promise((r) => setTimeout(r, 20));
  t.match(await registry.getSingleMetricAsString('weft_responses_total'), /direction="outbound",service="x".*error_code="WEFT_ERR_PEER_IDENTITY"\} 1/);
});
