// The dashboard's HTTP server: the page, the two libraries it draws with (read from the installed
// cytoscape and uplot packages at runtime, nothing bundled), and the JSON it polls.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import type { DashboardData } from './dashboard-data.js';
import type { HostPort } from '../../lib/config.js';

/** Files under /assets/: name -> [package, file in its dist folder, content type]. */
const ASSETS: Readonly<Record<string, readonly [string, string, string]>> = {
  'cytoscape.min.js': ['cytoscape', 'cytoscape.min.js', 'text/javascript'],
  'uPlot.iife.min.js': ['uplot', 'uPlot.iife.min.js', 'text/javascript'],
  'uPlot.min.css': ['uplot', 'uPlot.min.css', 'text/css'],
};

// Where a package's dist folder is: its entry point's folder (both packages keep their builds there).
function assetPath(pkg: string, file: string): string {
  return join(dirname(fileURLToPath(import.meta.resolve(pkg))), file);
}

/** Serves the dashboard on `addr`; resolves with the listening server. */
export async function startDashboardServer(addr: HostPort, data: DashboardData): Promise<http.Server> {
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const [name, [pkg, file, type]] of Object.entries(ASSETS)) assets.set(name, { body: await readFile(assetPath(pkg, file)), type });
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', DASHBOARD_PAGE);
    if (path === '/api/view') return send(res, 200, 'application/json', JSON.stringify(data.view()));
    if (path.startsWith('/api/service/')) {
      const name = decodeURIComponent(path.slice('/api/service/'.length));
      data.service(name).then(
        (view) => send(res, 200, 'application/json', JSON.stringify(view)),
        (err: Error) => send(res, 502, 'application/json', JSON.stringify({ code: 'WEFT_ERR_ADMIN_UNREACHABLE', message: err.message })),
      );
      return;
    }
    const asset = path.startsWith('/assets/') ? assets.get(path.slice('/assets/'.length)) : undefined;
    if (asset) return send(res, 200, asset.type, asset.body, 'max-age=3600');
    send(res, 404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  return server;
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': cache });
  res.end(body);
}
