// Starts real `weft proxy` processes in local mode on their own loopback addresses, with a CA
// directory and an endpoints file made for the test. Each test file gets its own 127.x.y.0/24.
import { proxyNodeOptions } from '../../lib/node-options.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, rename, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { loadOrCreateCaDir, authorityFromPem } from '../../lib/pki/store.js';
import type { Authority } from '../../lib/pki/authority.js';

/** The repository's root, from test/support under tap or from dist-test/test/support compiled. */
export const REPO_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist-test/') ? '../../../' : '../../', import.meta.url));
/** The production build's CLI entry (npm test builds first). */
export const WEFT_MAIN = `${REPO_ROOT}dist/cli/main.js`;
/** Where test support compiles to, for helpers that run as their own processes. */
export const TEST_BUILD = `${REPO_ROOT}dist-test/`;

/** The WEFT_* variables that place a pod's sidecar on its own address: identity names and the
 * three listeners on their cluster ports, the app on the same address. Shared by every harness. */
export function podProxyEnv(pod: { name: string; address: string; namespace: string; serviceAccount: string }): Record<string, string> {
  return {
    WEFT_POD_NAME: pod.name,
    WEFT_POD_NAMESPACE: pod.namespace,
    WEFT_SERVICE_ACCOUNT: pod.serviceAccount,
    WEFT_APP_HOST: pod.address,
    WEFT_INBOUND_ADDR: `${pod.address}:7006`,
    WEFT_OUTBOUND_ADDR: `${pod.address}:7001`,
    WEFT_ADMIN_ADDR: `${pod.address}:7020`,
  };
}

/** A random /24 inside 127.0.0.0/8 that no other test file is likely to use. */
export function randomBase(): string {
  return `127.${100 + Math.floor(Math.random() * 150)}.${1 + Math.floor(Math.random() * 250)}`;
}

/** A pod to describe in the endpoints file. */
export interface PodSpec {
  readonly name: string;
  readonly address: string;
  readonly serviceAccount: string;
  readonly ready?: boolean;
}

/** A service of the endpoints file. */
export interface ServiceSpec {
  readonly name: string;
  readonly port: number;
  readonly targetPort: number;
  readonly pods: readonly PodSpec[];
  /** Override the identity the endpoints must present (to test mismatches). */
  readonly identityOverride?: string;
}

/** A started proxy process. */
export interface ProxyProcess {
  readonly pod: PodSpec;
  readonly child: ChildProcess;
  readonly admin: string;
  readonly log: () => Promise<string>;
  exitCode: number | null | undefined;
  exited: Promise<number | null>;
}

/** The shared pieces of one test's mesh. */
export class LocalMesh {
  readonly dir: string;
  readonly caDir: string;
  readonly endpointsFile: string;
  readonly namespace = 'test';
  readonly trustDomain = 'cluster.local';
  authority!: Authority;
  readonly #procs: ProxyProcess[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.caDir = join(dir, 'ca');
    this.endpointsFile = join(dir, 'endpoints.json');
  }

  static async create(): Promise<LocalMesh> {
    const mesh = new LocalMesh(await mkdtemp(join(tmpdir(), 'weft-test-')));
    mesh.authority = await authorityFromPem(await loadOrCreateCaDir(mesh.caDir, mesh.trustDomain, new Date()));
    return mesh;
  }

  identity(serviceAccount: string): string {
    return `spiffe://${this.trustDomain}/ns/${this.namespace}/sa/${serviceAccount}`;
  }

  /** Writes the endpoints file atomically (the proxies watch it); `sections` adds top-level sections (authorization). */
  async setServices(services: readonly ServiceSpec[], sections: Record<string, unknown> = {}): Promise<void> {
    const doc = {
      ...sections,
      services: services.map((s) => ({
        name: s.name,
        namespace: this.namespace,
        ports: [{ port: s.port, targetPort: s.targetPort }],
        endpoints: s.pods.map((p) => ({
          address: p.address,
          identity: s.identityOverride ?? this.identity(p.serviceAccount),
          ready: p.ready ?? true,
          podName: p.name,
        })),
      })),
    };
    await writeFile(`${this.endpointsFile}.tmp`, JSON.stringify(doc));
    await rename(`${this.endpointsFile}.tmp`, this.endpointsFile);
  }

  /** Spawns `weft proxy` for a pod and waits for /ready. */
  async startProxy(pod: PodSpec, extraEnv: Record<string, string> = {}): Promise<ProxyProcess> {
    const logFile = join(this.dir, `${pod.name}.log`);
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [WEFT_MAIN, 'proxy'], {
      env: {
        PATH: process.env.PATH ?? '',
        // As `weft up` starts a sidecar: the heap bounds of lib/node-options.ts.
        NODE_OPTIONS: proxyNodeOptions(undefined),
        WEFT_MODE: 'local',
        ...podProxyEnv({ ...pod, namespace: this.namespace }),
        WEFT_CA_DIR: this.caDir,
        WEFT_ENDPOINTS_FILE: this.endpointsFile,
        WEFT_LOG_LEVEL: 'info',
        ...extraEnv,
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const proc: ProxyProcess = {
      pod,
      child,
      admin: `http://${pod.address}:7020`,
      log: () => readFile(logFile, 'utf8'),
      exitCode: undefined,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    // exited only ever resolves (on the child's exit event); the handler is for the linter's sake.
    proc.exited.then((code) => (proc.exitCode = code), () => undefined);
    this.#procs.push(proc);
    // Generous: on a loaded 2-core CI machine a cold Node start plus a certificate can take a while.
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== undefined) throw new Error(`proxy ${pod.name} exited with ${proc.exitCode}:\n${await proc.log()}`);
      const res = await get(`${proc.admin}/ready`).catch(() => undefined);
      if (res?.status === 200) return proc;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`proxy ${pod.name} not ready in 40 s:\n${await proc.log()}`);
  }

  /** Stops every proxy (SIGKILL after 5 s) and removes the temp dir. */
  async close(): Promise<void> {
    for (const p of this.#procs) if (p.exitCode === undefined) p.child.kill('SIGTERM');
    await Promise.all(
      this.#procs.map(async (p) => {
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** GET with Node's http client (no pooling), resolving status, headers and body. */
export function get(url: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

/** Reads one sample of a Prometheus text exposition (sum over series matching all labels). */
export async function metric(adminUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = (await get(`${adminUrl}/metrics`)).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Peak and current RSS of a process, in bytes (Linux /proc). */
export async function rss(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
