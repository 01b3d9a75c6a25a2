// The floor Node's own HTTP stack sets on this machine: the smallest possible Node proxy (one
// hop, plain HTTP, keep-alive agent, no routing, no TLS, no metrics). The weft pair runs two
// such hops plus TLS; this figure says how much of the gap to nginx is Node's, not weft's.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts the minimal proxy in this process and returns its URL and a stop function. */
export async function startNodeFloorProxy(host: string, port: number, upstream: { host: string; port: number }): Promise<{ url: string; stop: () => Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const up = http.request({ host: upstream.host, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    up.end();
  });
  await new Promise<void>((resolve) => server.listen(port, host, () => resolve()));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${bound}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
