// The floor row of the gateway bench: the smallest Node program doing the gateway's hops (an
// `https` server with the public certificate, an undici client speaking mutual TLS 1.3 to the
// backend's sidecar with a mesh leaf, keep-alive on both), with no route, policy, metric or log.
// Its own process, so its CPU reads from /proc like the gateway's:
//   node gateway-floor-main.js <listen host:port> <sidecar host:port> <server cert> <server key> <mesh cert> <mesh key> <mesh root>
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [listen = '', upstream = '', serverCert = '', serverKey = '', meshCert = '', meshKey = '', meshRoot = ''] = process.argv.slice(2);
const splitAddr = (addr: string): { host: string; port: number } => {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
};
const up = splitAddr(upstream);
// The sidecar's certificate names a SPIFFE identity, not a host: nginx in the same bench does not
// verify it either (proxy_ssl_verify off), and no hop is checked here that nginx skips.
const pool = new Pool(`https://${up.host}:${up.port}`, {
  connections: 64,
  connect: { cert: readFileSync(meshCert), key: readFileSync(meshKey), ca: readFileSync(meshRoot), servername: '', rejectUnauthorized: false, minVersion: 'TLSv1.3' },
});
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function handle(req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string | string[]> = {};
  for (const k in req.headers) {
    const v = req.headers[k];
    if (v !== undefined && !HOP.has(k)) headers[k] = v;
  }
  headers['weft-dst-port'] = '8080';
  pool.request({ path: req.url ?? '/', method: req.method ?? 'GET', headers, body: null }).then(
    (r) => {
      const out: Record<string, string | string[]> = {};
      for (const k in r.headers) {
        const v = r.headers[k];
        if (v !== undefined && !HOP.has(k)) out[k] = v;
      }
      res.writeHead(r.statusCode, out);
      r.body.pipe(res);
    },
    () => {
      res.writeHead(502);
      res.end();
    },
  );
}

const server = https.createServer({ cert: readFileSync(serverCert), key: readFileSync(serverKey), keepAliveTimeout: 60_000 }, handle);
const bind = splitAddr(listen);
server.listen(bind.port, bind.host);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  pool.destroy().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
