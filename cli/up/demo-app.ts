// The demo app `weft up` runs in each service pod: plain HTTP, unaware of the mesh, answering
// with who it is and who called (the identity its sidecar vouches for).
import http from 'node:http';

/** Starts a demo app on `address:port`. */
export async function startDemoApp(opts: { service: string; pod: string; address: string; port: number }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({
      service: opts.service,
      pod: opts.pod,
      address: opts.address,
      method: req.method,
      path: req.url,
      // Set by the inbound sidecar after verifying the caller's certificate.
      caller: req.headers['weft-client-id'] ?? null,
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
