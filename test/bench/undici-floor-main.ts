// The floor row of the mesh bench: the smallest Node pair doing a sidecar's job (plain HTTP in,
// mutual TLS 1.3 between, keep-alive), with undici as the client on both hops. One process per
// side so its CPU reads from /proc like a weft proxy's:
//   node undici-floor-main.js client <listen host:port> <peer host:port> <cert> <key> <ca>
//   node undici-floor-main.js server <listen host:port> <app host:port> <cert> <key> <ca>
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [side, listen = '', upstream = '', certFile = '', keyFile = '', caFile = ''] = process.argv.slice(2);
const cert = readFileSync(certFile);
const key = readFileSync(keyFile);
const ca = readFileSync(caFile);

const splitAddr = (addr: string): { host: string; port: number } => {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
};
const up = splitAddr(upstream);
// The client side speaks mutual TLS 1.3 to the server side and checks its name, as nginx does.
const pool =
  side === 'client'
    ? new Pool(`https://${up.host}:${up.port}`, { connections: 256, connect: { cert, key, ca, servername: 'bench-server', minVersion: 'TLSv1.3' } })
    : new Pool(`http://${up.host}:${up.port}`, { connections: 256 });

// Hop-by-hop headers a proxy must not pass on; undici refuses some of them outright.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool.request({ path: req.url ?? '/', method: req.method ?? 'GET', headers, body }).then(
    (r) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
      res.writeHead(r.statusCode, out);
      r.body.pipe(res);
    },
    () => {
      res.writeHead(502);
      res.end();
    },
  );
}

const server = side === 'client' ? http.createServer({ keepAliveTimeout: 60_000 }, handle) : https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', keepAliveTimeout: 60_000 }, handle);
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
