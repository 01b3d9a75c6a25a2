// A small mesh for gateway tests: a CA directory, an endpoints file, echo backends that report
// what they received, each behind a real `weft proxy` sidecar on its own loopback address, and
// real `weft gateway` processes started on port 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, rename, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { loadOrCreateCaDir } from '../../lib/pki/store.js';
import { podProxyEnv, WEFT_MAIN } from './local-mesh.js';

export { WEFT_MAIN };

/** What an echo backend saw, as it reports it in its JSON body. */
export interface Echoed {
  readonly backend: string;
  readonly pod: string;
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly host: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyBytes: number;
  /** The body as received, when it was JSON (application/json or +json) of at most 1 MiB. */
  readonly body?: string;
}

interface Pod {
  readonly service: string;
  readonly name: string;
  readonly address: string;
  ready: boolean;
}

interface Svc {
  readonly name: string;
  readonly port: number;
  readonly extraPorts: readonly number[];
  readonly appProtocol: string | undefined;
}

/** Starts a pod's app on address:port in place of the HTTP echo; resolves how to stop it. */
export type AppStarter = (pod: { readonly service: string; readonly name: string; readonly address: string; readonly port: number }) => Promise<{ close(): Promise<void> }>;

const APP_PORT = 8080;

/** A started process with its log. */
export interface Proc {
  readonly child: ChildProcess;
  readonly logFile: string;
  exited: boolean;
}

/** Test mesh; one per test file, on its own random 127.x.y.0/24. */
export class GatewayMesh {
  readonly dir: string;
  readonly caDir: string;
  readonly endpointsFile: string;
  readonly namespace = 'test';
  readonly base: string;
  readonly #pods: Pod[] = [];
  readonly #services: Svc[] = [];
  readonly #apps: http.Server[] = [];
  readonly #otherApps: { close(): Promise<void> }[] = [];
  /** Every request the echo backends received, in arrival order. */
  readonly received: Echoed[] = [];
  readonly #procs: Proc[] = [];
  #next = 10;
  /** Ready gateway replica addresses, written as the Service weft-gateway. */
  readonly gatewayPods: { address: string; ready: boolean }[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.caDir = join(dir, 'ca');
    this.endpointsFile = join(dir, 'endpoints.json');
    this.base = `127.${100 + Math.floor(Math.random() * 150)}.${1 + Math.floor(Math.random() * 250)}`;
  }

  static async create(): Promise<GatewayMesh> {
    const mesh = new GatewayMesh(await mkdtemp(join(tmpdir(), 'weft-gw-')));
    await loadOrCreateCaDir(mesh.caDir, 'cluster.local', new Date());
    await mesh.writeEndpoints();
    return mesh;
  }

  /** A fresh loopback address of this mesh. */
  address(): string {
    return `${this.base}.${this.#next++}`;
  }

  /** Starts `replicas` echo pods (app + sidecar) for a service on port 80 (and `extraPorts`). */
  async addService(name: string, replicas = 1, opts: { ready?: boolean; extraPorts?: number[]; app?: AppStarter; appProtocol?: string } = {}): Promise<void> {
    this.#services.push({ name, port: 80, extraPorts: opts.extraPorts ?? [], appProtocol: opts.appProtocol });
    const pods: Pod[] = [];
    for (let i = 0; i < replicas; i++) {
      const pod: Pod = { service: name, name: `${name}-${i}`, address: this.address(), ready: opts.ready ?? true };
      pods.push(pod);
      this.#pods.push(pod);
      if (opts.app) this.#otherApps.push(await opts.app({ service: name, name: pod.name, address: pod.address, port: APP_PORT }));
      else this.#apps.push(await startEcho(name, pod.name, pod.address, this.received));
    }
    await this.writeEndpoints();
    for (const pod of pods) await this.#startProxy(pod);
  }

  /** The loopback addresses of a service's pods (each pod's sidecar admin is on port 7020 there). */
  podAddresses(service: string): string[] {
    return this.#pods.filter((p) => p.service === service).map((p) => p.address);
  }

  /** Marks every pod of a service ready or not. */
  async setReady(service: string, ready: boolean): Promise<void> {
    for (const p of this.#pods) if (p.service === service) p.ready = ready;
    await this.writeEndpoints();
  }

  /** Writes the endpoints file atomically (proxies and gateways watch it). */
  async writeEndpoints(): Promise<void> {
    const services = this.#services.map((s) => ({
      name: s.name,
      namespace: this.namespace,
      ports: [{ port: s.port, targetPort: APP_PORT, ...(s.appProtocol ? { appProtocol: s.appProtocol } : {}) }, ...s.extraPorts.map((p) => ({ port: p, targetPort: APP_PORT }))],
      endpoints: this.#pods
        .filter((p) => p.service === s.name)
        .map((p) => ({ address: p.address, identity: `spiffe://cluster.local/ns/${this.namespace}/sa/${s.name}`, ready: p.ready, podName: p.name })),
    }));
    services.push({
      name: 'weft-gateway',
      namespace: this.namespace,
      ports: [{ port: 80, targetPort: 8080 }],
      endpoints: this.gatewayPods.map((g, i) => ({ address: g.address, identity: `spiffe://cluster.local/ns/${this.namespace}/sa/weft-gateway`, ready: g.ready, podName: `weft-gateway-${i}` })),
    });
    await writeFile(`${this.endpointsFile}.tmp`, JSON.stringify({ services }));
    await rename(`${this.endpointsFile}.tmp`, this.endpointsFile);
  }

  async #startProxy(pod: Pod): Promise<void> {
    const proc = this.#spawn(`proxy-${pod.name}`, ['proxy'], {
      WEFT_MODE: 'local',
      ...podProxyEnv({ name: pod.name, address: pod.address, namespace: this.namespace, serviceAccount: pod.service }),
      WEFT_CA_DIR: this.caDir,
      WEFT_ENDPOINTS_FILE: this.endpointsFile,
      WEFT_LOG_LEVEL: 'warn',
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (proc.exited) throw new Error(`proxy ${pod.name} exited:\n${await readFile(proc.logFile, 'utf8')}`);
      const ok = await fetch(`http://${pod.address}:7020/ready`).then((r) => r.status === 200, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`proxy ${pod.name} not ready:\n${await readFile(proc.logFile, 'utf8')}`);
  }

  #spawn(name: string, args: string[], env: Record<string, string>): Proc {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [WEFT_MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const proc: Proc = { child, logFile, exited: false };
    child.once('exit', () => (proc.exited = true));
    this.#procs.push(proc);
    return proc;
  }

  /**
   * Starts `weft gateway` with `routesFile` on a fresh loopback address, ports 0, and resolves
   * once its log says where it listens. `env` overrides.
   */
  async startGateway(routesFile: string, env: Record<string, string> = {}, opts: { register?: boolean } = {}): Promise<GatewayProc> {
    const address = this.address();
    const name = `gateway-${address}`;
    if (opts.register) {
      this.gatewayPods.push({ address, ready: true });
      await this.writeEndpoints();
    }
    const proc = this.#spawn(name, ['gateway'], {
      WEFT_MODE: 'local',
      WEFT_POD_NAMESPACE: this.namespace,
      WEFT_SERVICE_ACCOUNT: 'weft-gateway',
      WEFT_GATEWAY_ROUTES_FILE: routesFile,
      WEFT_GATEWAY_HTTP_ADDR: `${address}:0`,
      WEFT_GATEWAY_HTTPS_ADDR: `${address}:0`,
      WEFT_ADMIN_ADDR: `${address}:0`,
      WEFT_CA_DIR: this.caDir,
      WEFT_ENDPOINTS_FILE: this.endpointsFile,
      WEFT_GATEWAY_RELOAD_DEBOUNCE_MS: '50',
      WEFT_LOG_LEVEL: 'info',
      ...env,
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const log = await readFile(proc.logFile, 'utf8').catch(() => '');
      const line = log.split('\n').find((l) => l.includes('"gateway started"'));
      if (line) {
        const j = JSON.parse(line) as { admin: { port: number }; http?: { port: number }; https?: { port: number }; listeners?: { name: string; port: number }[] };
        return {
          proc,
          address,
          http: `http://${address}:${j.http?.port ?? 0}`,
          httpsPort: j.https?.port ?? 0,
          admin: `http://${address}:${j.admin.port}`,
          listeners: new Map((j.listeners ?? []).map((l) => [l.name, l.port])),
          log: () => readFile(proc.logFile, 'utf8'),
          stop: () => stopProc(proc),
        };
      }
      if (proc.exited) throw new Error(`gateway exited:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`gateway did not start:\n${await readFile(proc.logFile, 'utf8')}`);
  }

  /** Runs `weft gateway` to completion (for start-up failures) and returns its exit code and output. */
  async runGatewayToExit(routesFile: string): Promise<{ code: number | null; output: string }> {
    const proc = this.#spawn(`gateway-fail-${this.#next++}`, ['gateway'], {
      WEFT_MODE: 'local',
      WEFT_POD_NAMESPACE: this.namespace,
      WEFT_GATEWAY_ROUTES_FILE: routesFile,
      WEFT_GATEWAY_HTTP_ADDR: `${this.address()}:0`,
      WEFT_GATEWAY_HTTPS_ADDR: 'off',
      WEFT_ADMIN_ADDR: `${this.address()}:0`,
      WEFT_CA_DIR: this.caDir,
      WEFT_ENDPOINTS_FILE: this.endpointsFile,
    });
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', (c) => resolve(c)));
    return { code, output: await readFile(proc.logFile, 'utf8') };
  }

  /** Stops every process and app, removes the directory. */
  async close(): Promise<void> {
    await Promise.all(this.#procs.map(stopProc));
    await Promise.all(this.#apps.map((a) => new Promise((r) => a.close(r))));
    await Promise.all(this.#otherApps.map((a) => a.close()));
    for (const a of this.#apps) a.closeAllConnections();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A running gateway process. */
export interface GatewayProc {
  readonly proc: Proc;
  readonly address: string;
  /** http://address:port of the plain listener. */
  readonly http: string;
  readonly httpsPort: number;
  readonly admin: string;
  /** Ports of the dedicated listener sockets (WEFT_GATEWAY_LISTENER_ADDRS), by name ("http:8080"). */
  readonly listeners: ReadonlyMap<string, number>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function stopProc(p: Proc): Promise<void> {
  if (p.exited) return;
  const done = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

async function startEcho(service: string, pod: string, address: string, received: Echoed[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    const keep = /[/+]json\b/.test(req.headers['content-type'] ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      bodyBytes += c.length;
      if (keep && bodyBytes <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const url = req.url ?? '/';
      const m = /[?&]status=(\d{3})/.exec(url);
      const delay = /[?&]sleepMs=(\d+)/.exec(url);
      const download = /[?&]downloadBytes=(\d+)/.exec(url);
      if (download) return sendBytes(res, Number(download[1]), /[?&]json=1/.test(url) ? 'application/json' : 'application/octet-stream');
      const body: Echoed = { backend: service, pod, method: req.method ?? '', url, host: req.headers.host ?? '', headers: req.headers, bodyBytes };
      if (keep && bodyBytes <= 1024 * 1024) Object.assign(body, { body: Buffer.concat(chunks).toString('utf8') });
      received.push(body);
      const text = JSON.stringify(body);
      // Query parameters resp-<header>=<value> are sent back as response headers (cache tests);
      // a request whose If-None-Match is the resp-etag asked for gets 304, as an origin answers.
      const extra: Record<string, string> = {};
      for (const [k, v] of new URL(url, 'http://echo').searchParams) if (k.startsWith('resp-')) extra[k.slice(5)] = v;
      const send = (): void => {
        if (extra.etag !== undefined && req.headers['if-none-match'] === extra.etag) {
          res.writeHead(304, extra);
          res.end();
          return;
        }
        // resp-transfer-encoding=chunked: no Content-Length, the body in two writes (length unknown ahead).
        if (extra['transfer-encoding'] === 'chunked') {
          res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'application/json', 'x-echo-backend': service, ...extra });
          res.write(text.slice(0, 10));
          res.end(text.slice(10));
          return;
        }
        res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-echo-backend': service, 'x-remove-me': 'yes', ...extra });
        res.end(text);
      };
      if (delay) setTimeout(send, Number(delay[1]));
      else send();
    });
  });
  server.keepAliveTimeout = 80_000;
  // WebSocket echo: each message comes back prefixed with the pod's name.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m: Buffer) => ws.send(`${pod}: ${m.toString()}`))));
  server.on('close', () => wss.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(APP_PORT, address, () => resolve());
  });
  return server;
}

// `?downloadBytes=N`: N bytes of "a" streamed with backpressure (never held whole).
function sendBytes(res: http.ServerResponse, total: number, contentType: string): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  res.writeHead(200, { 'content-type': contentType, 'content-length': total });
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const piece = total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
      sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** A request with node's http client (fresh connection), resolving status, headers and body text. */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent | false } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: opts.agent ?? false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Parses an echo body, or undefined when the response came from the gateway itself. */
export function echoed(body: string): Echoed | undefined {
  try {
    const j = JSON.parse(body) as Echoed;
    return typeof j.backend === 'string' ? j : undefined;
  } catch {
    return undefined;
  }
}
