// The TCP-level TLS pipe, the floor of an inbound side: mutual TLS 1.3 terminated, then each
// connection's bytes piped to its own app connection with no HTTP parsing at all (no app port
// header, no identity header, no authorization; a reference, not a sidecar).
//   node tls-pipe-main.js <listen host:port> <app host:port> <cert> <key> <ca>
import tls from 'node:tls';
import net from 'node:net';
import { readFileSync } from 'node:fs';

const [listen = '', app = '', certFile = '', keyFile = '', caFile = ''] = process.argv.slice(2);
const split = (addr: string): { host: string; port: number } => ({ host: addr.slice(0, addr.lastIndexOf(':')), port: Number(addr.slice(addr.lastIndexOf(':') + 1)) });
const up = split(app);

const server = tls.createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile), ca: readFileSync(caFile), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'] },
  (socket) => {
    socket.setNoDelay(true);
    const upstream = net.connect({ host: up.host, port: up.port, noDelay: true });
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  },
);
const bind = split(listen);
server.listen(bind.port, bind.host);
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
