// The admin listener (7020): /live, /ready, /metrics, /debug/endpoints, and extra routes
// (probe replay) that other parts mount by path prefix.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { HostPort } from './config.js';

/** Readiness with the reasons a person needs when it is false. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** What the admin server shows. */
export interface AdminDeps {
  readonly registry: Registry;
  readonly readiness: () => Readiness;
  readonly debugEndpoints: () => unknown;
  /** Extra handlers by path prefix (e.g. "/app-probe/"). */
  readonly routes?: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
  /** Handlers of POST requests by exact path (e.g. "/debug/cache/purge"); every other path is GET-only. */
  readonly postRoutes?: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
}

/** Starts the admin server. */
export async function startAdminServer(addr: HostPort, deps: AdminDeps): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const post = req.method === 'POST' ? deps.postRoutes?.get(path) : undefined;
    if (post) return post(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (path === '/live') return send(res, 200, 'text/plain', 'live\n');
    if (path === '/ready') {
      const r = deps.readiness();
      return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r) + '\n');
    }
    if (path === '/metrics') {
      deps.registry.metrics().then(
        (text) => send(res, 200, deps.registry.contentType, text),
        (err: Error) => send(res, 500, 'text/plain', `metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/debug/endpoints') return send(res, 200, 'application/json', JSON.stringify(deps.debugEndpoints(), null, 2) + '\n');
    for (const [prefix, handler] of deps.routes ?? []) {
      if (path.startsWith(prefix)) return handler(req, res);
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  return server;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
