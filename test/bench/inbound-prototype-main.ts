// The inbound prototype as the server side of a bench pair (test/bench/inbound.ts): mutual TLS 1.3
// from the peer sidecar, then one paired keep-alive app connection per TLS connection, request
// heads parsed and rewritten, bodies and responses copied through (inbound-prototype/).
//   node inbound-prototype-main.js <listen host:port> <app host> <cert> <key> <ca> <allowed identity prefix>
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { PairedConnection, type PairOptions } from './inbound-prototype/paired-connection.js';

const [listen = '', appHost = '', certFile = '', keyFile = '', caFile = '', allowed = 'spiffe://'] = process.argv.slice(2);
const at = listen.lastIndexOf(':');

const opts: PairOptions = {
  appHost,
  reservedPorts: new Set([7001, 7006, 7020]),
  // The policy a sidecar applies with no policy objects: any peer of the trust domain.
  authorize: (peer) => peer.startsWith(allowed),
};

// The peer's SPIFFE ID from its certificate's URI SAN, read once per connection.
function spiffeId(socket: tls.TLSSocket): string | undefined {
  const san = socket.getPeerX509Certificate()?.subjectAltName ?? '';
  for (const entry of san.split(', ')) if (entry.startsWith('URI:spiffe://')) return entry.slice(4);
  return undefined;
}

const server = tls.createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), ca: readFileSync(caFile), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] },
  (socket) => {
    const peer = spiffeId(socket);
    if (!socket.authorized || peer === undefined) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    new PairedConnection(socket, peer, opts);
  },
);
server.listen(Number(listen.slice(at + 1)), listen.slice(0, at));
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
