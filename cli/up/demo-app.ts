// The demo app `weft up` runs in each service pod: plain HTTP, unaware of the mesh, answering
// with who it is and who called (the identity its sidecar vouches for).
import http from 'node:http';

/**
 * Starts a demo app on `address:port`. It believes `weft-client-id` only on a connection from its
 * own pod address, which is where its sidecar connects from (docs/local-mode.md "Who the demo
 * apps believe"); any other client, a direct curl included, is reported as caller null.
 */
export async function startDemoApp(opts: { service: string; pod: string; address: string; port: number }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const fromSidecar = req.socket.remoteAddress === opts.address;
    const body = JSON.stringify({
      service: opts.service,
      pod: opts.pod,
      address: opts.address,
      method: req.method,
      path: req.url,
      // Set by the inbound sidecar after verifying the caller's certificate.
      caller: fromSidecar ? (req.headers['weft-client-id'] ?? null) : null,
      viaSidecar: fromSidecar,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) + 1 });
    res.end(body + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address, () => resolve());
  });
  return server;
}
