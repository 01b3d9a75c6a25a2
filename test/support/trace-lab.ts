// A traced request's whole path for tests: an outside client -> real `weft gateway` -> the
// frontend's sidecar -> a frontend app that calls the backend through its own sidecar, forwarding
// the traceparent it got -> the backend's sidecar -> a backend app. Every weft process runs with a
// module-resolution probe (NODE_OPTIONS --import) that lists the @opentelemetry modules it loads.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { sidecarNodeOptions } from '../../lib/node-options.js';
import { LocalMesh, WEFT_MAIN, randomBase } from './local-mesh.js';

/** The trace headers an app received. */
export interface SeenHeaders {
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** The HTTP version the backend app was called with ('1.1', '2.0'); absent for the frontend. */
  readonly protocol?: string;
}

/** What one request through the lab returned. */
export interface LabAnswer {
  readonly status: number;
  readonly frontend: SeenHeaders;
  readonly backend: SeenHeaders;
}

/** A running lab. */
export interface TraceLab {
  /** Each process's @opentelemetry resolutions, one "url <- parent" line each, by process name ('' when none). */
  modulesLoaded(): Promise<Readonly<Record<string, string>>>;
  /** What the gateway wrote so far (its log). */
  gatewayOutput(): string;
  /**
   * GET through the gateway with `headers`; the answer carries what both apps saw. On a path under
   * `/h2/` the frontend calls the backend over h2c (prior knowledge) instead of HTTP/1.1.
   */
  get(headers?: Record<string, string>, path?: string): Promise<LabAnswer>;
  close(): Promise<void>;
}

// Written next to the processes' logs: records every resolved @opentelemetry URL of the process,
// with the module that asked for it ("url <- parent").
const PROBE = `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
const out = process.env.TRACE_LAB_MODULE_LOG;
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    if (out && resolved.url.includes('@opentelemetry')) appendFileSync(out, resolved.url + ' <- ' + (context.parentURL ?? '') + '\\n');
    return resolved;
  },
});
`;

const routes = (namespace: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: ${namespace} }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: ${namespace} }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [shop.test]
  rules: [{ backendRefs: [{ name: frontend, port: 80 }] }]
`;

function seen(req: { readonly headers: http.IncomingHttpHeaders }): SeenHeaders {
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);
  return { traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) };
}

async function listen(server: http.Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** Starts the lab; `env` goes to the gateway and both sidecars (the tracing settings). */
export async function startTraceLab(env: Record<string, string>): Promise<TraceLab> {
  const mesh = await LocalMesh.create();
  const base = randomBase();
  const front = `${base}.11`;
  const back = `${base}.12`;
  const gw = `${base}.13`;
  const probe = join(mesh.dir, 'otel-probe.mjs');
  await writeFile(probe, PROBE);
  const nodeOptions = `${sidecarNodeOptions(undefined)} --import=${pathToFileURL(probe).href}`;
  const moduleLog = (name: string): string => join(mesh.dir, `${name}.modules`);
  const servers: http.Server[] = [];
  const children: ChildProcess[] = [];

  // The backend app answers with the trace headers it got, over HTTP/1.1 or h2c (told apart by
  // the HTTP/2 preface, as a real app serving both on one port does).
  const answer = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    req.resume();
    const text = JSON.stringify({ ...seen(req), protocol: req.httpVersion });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };
  const backendH1 = http.createServer(answer);
  const backendH2 = http2.createServer(answer);
  const backend = net.createServer((socket) => {
    socket.once('data', (chunk) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.toString('latin1', 0, 3) === 'PRI') backendH2.emit('connection', socket);
      else {
        backendH1.emit('connection', socket);
        socket.resume();
      }
    });
    socket.on('error', () => socket.destroy());
  });
  // The frontend app calls the backend through its sidecar and forwards the trace headers it got,
  // as every app in a mesh must for a trace to stay connected.
  const frontend = http.createServer((req, res) => {
    req.resume();
    const mine = seen(req);
    const headers: Record<string, string> = { host: 'backend' };
    if (mine.traceparent !== undefined) headers.traceparent = mine.traceparent;
    if (mine.tracestate !== undefined) headers.tracestate = mine.tracestate;
    const reply = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ frontend: mine, backend: status === 200 ? JSON.parse(body) : { status, body } }));
    };
    const failed = (err: Error): void => void res.writeHead(599).end(JSON.stringify({ frontend: mine, backend: { error: String(err) } }));
    if ((req.url ?? '').startsWith('/h2/')) {
      const session = http2.connect(`http://${front}:7001`);
      session.on('error', failed);
      const h2headers: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': '/stock', ':authority': 'backend' };
      if (mine.traceparent !== undefined) h2headers.traceparent = mine.traceparent;
      if (mine.tracestate !== undefined) h2headers.tracestate = mine.tracestate;
      const stream = session.request(h2headers);
      let status = 0;
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (d: string) => (body += d));
      stream.on('end', () => {
        session.close();
        reply(status, body);
      });
      stream.on('error', failed);
      return;
    }
    const call = http.request({ host: front, port: 7001, path: '/stock', headers, agent: false }, (up) => {
      let body = '';
      up.setEncoding('utf8');
      up.on('data', (d: string) => (body += d));
      up.on('end', () => reply(up.statusCode ?? 502, body));
    });
    call.on('error', failed);
    call.end();
  });
  servers.push(backendH1, frontend);
  await new Promise<void>((resolve, reject) => {
    backend.once('error', reject);
    backend.listen(8080, back, () => resolve());
  });
  await listen(frontend, front, 8080);

  await mesh.setServices([
    { name: 'frontend', port: 80, targetPort: 8080, pods: [{ name: 'frontend-0', address: front, serviceAccount: 'frontend' }] },
    { name: 'backend', port: 80, targetPort: 8080, pods: [{ name: 'backend-0', address: back, serviceAccount: 'backend' }] },
  ]);
  await mesh.startProxy({ name: 'frontend-0', address: front, serviceAccount: 'frontend' }, { ...env, NODE_OPTIONS: nodeOptions, TRACE_LAB_MODULE_LOG: moduleLog('frontend-0') });
  await mesh.startProxy({ name: 'backend-0', address: back, serviceAccount: 'backend' }, { ...env, NODE_OPTIONS: nodeOptions, TRACE_LAB_MODULE_LOG: moduleLog('backend-0') });

  const routesFile = join(mesh.dir, 'routes.yaml');
  await writeFile(routesFile, routes(mesh.namespace));
  const gateway = spawn(process.execPath, [WEFT_MAIN, 'gateway'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_OPTIONS: nodeOptions,
      TRACE_LAB_MODULE_LOG: moduleLog('gateway'),
      WEFT_MODE: 'local',
      WEFT_POD_NAME: 'weft-gateway-0',
      WEFT_POD_NAMESPACE: mesh.namespace,
      WEFT_SERVICE_ACCOUNT: 'weft-gateway',
      WEFT_GATEWAY_ROUTES_FILE: routesFile,
      WEFT_GATEWAY_HTTP_ADDR: `${gw}:0`,
      WEFT_GATEWAY_HTTPS_ADDR: 'off',
      WEFT_ADMIN_ADDR: `${gw}:0`,
      WEFT_CA_DIR: mesh.caDir,
      WEFT_ENDPOINTS_FILE: mesh.endpointsFile,
      WEFT_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(gateway);
  let output = '';
  const exited = new Promise<void>((resolve) => gateway.once('exit', () => resolve()));
  // The gateway says where it listens in its "gateway started" line: read as it is written.
  const gatewayUrl = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const line = output.split('\n').find((l) => l.includes('"gateway started"'));
      if (line) resolve(`http://${gw}:${(JSON.parse(line) as { http: { port: number } }).http.port}`);
    };
    gateway.stdout.on('data', onData);
    gateway.stderr.on('data', onData);
    gateway.once('exit', (code) => reject(new Error(`gateway exited (${code}):\n${output}`)));
  });

  return {
    gatewayOutput: () => output,
    modulesLoaded: async () => {
      const out: Record<string, string> = {};
      for (const name of ['gateway', 'frontend-0', 'backend-0']) out[name] = await readFile(moduleLog(name), 'utf8').catch(() => '');
      return out;
    },
    get: (headers = {}, path = '/checkout') =>
      new Promise((resolve, reject) => {
        const req = http.request(`${gatewayUrl}${path}`, { headers: { host: 'shop.test', ...headers }, agent: false, timeout: 20_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => {
            try {
              const j = JSON.parse(body) as { frontend: SeenHeaders; backend: SeenHeaders };
              resolve({ status: res.statusCode ?? 0, frontend: j.frontend, backend: j.backend });
            } catch {
              reject(new Error(`unexpected answer ${res.statusCode}: ${body}`));
            }
          });
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      }),
    close: async () => {
      if (gateway.exitCode === null) gateway.kill('SIGTERM');
      const timer = setTimeout(() => gateway.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await mesh.close();
      for (const s of servers) {
        s.closeAllConnections();
        s.close();
      }
      backendH2.close();
      backend.close();
    },
  };
}
