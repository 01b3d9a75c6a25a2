// `weft up`: the whole mesh on loopback. Creates (or reuses) the CA directory, writes the
// endpoints file, starts a demo app and a real `weft proxy` process per pod, prints where
// everything is and a health line, and stops it all on Ctrl-C. `--check` sends requests through
// the mesh, reports, and exits.
import { proxyNodeOptions, sidecarNodeOptions } from '../lib/node-options.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type http from 'node:http';
import type { Writable } from 'node:stream';
import { parseMeshFile, layoutPods, endpointsFileFor, type MeshFile, type MeshPod } from './up/mesh-file.js';
import { startDemoApp } from './up/demo-app.js';
import { OWN_APP_HOST, startOwnApp, waitListening } from './up/own-app.js';
import { checkAuthz } from './up/authz-check.js';
import { explain, httpGet, waitReady, type ChildPart } from './up/health.js';
import { checkAddressesFree } from './up/port-holder.js';
import type { HostPort } from '../lib/config.js';
import { loadOrCreateCaDir } from '../lib/pki/store.js';
import { x509 } from '../lib/pki/crypto.js';
import { WeftError, isWeftError } from '../lib/errors.js';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT } from '../lib/ports.js';
import type { Command, CommandContext } from './command.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const DEFAULT_FILE = fileURLToPath(new URL('../../examples/local-mesh.yaml', import.meta.url));
// Returns as soon as every sidecar is ready; the bound only matters on a starved machine.
const READY_TIMEOUT_MS = 60_000;

interface UpArgs {
  readonly file: string;
  readonly check: boolean;
}

function parseArgs(argv: readonly string[]): UpArgs | string {
  let file = DEFAULT_FILE;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-f' || a === '--file') {
      const v = argv[++i];
      if (!v) return `${a} needs a path`;
      file = v;
    } else if (a === '--check') check = true;
    else return `unknown argument ${JSON.stringify(a)}; usage: weft up [-f mesh.yaml] [--check]`;
  }
  return { file, check };
}

/** A started pod: its sidecar process (a ChildPart) and its app. */
interface RunningPod extends ChildPart {
  readonly pod: MeshPod;
  readonly app?: http.Server;
}

/** The `weft up` subcommand. */
export const upCommand: Command = {
  summary: 'run the whole mesh on loopback',
  async run(ctx) {
    const args = parseArgs(ctx.argv);
    if (typeof args === 'string') {
      ctx.stderr.write(`weft up: WEFT_ERR_USAGE: ${args}\n`);
      return 2;
    }
    let mesh: MeshFile;
    try {
      mesh = parseMeshFile(await readFile(args.file, 'utf8').catch((err: Error) => {
        throw new WeftError('WEFT_ERR_MESH_FILE', `cannot read ${args.file}: ${err.message}`);
      }), args.file);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      ctx.stderr.write(`weft up: ${err.code}: ${err.message}\n`);
      return 2;
    }
    // Paths in a mesh file are relative to it; the built-in example keeps its state in the working directory.
    const meshDir = dirname(resolve(args.file));
    return runMesh(ctx, mesh, args.check, meshDir, args.file === DEFAULT_FILE ? process.cwd() : meshDir);
  },
};

// Every address a part of the mesh will listen on, with whose it is, for the check before the start.
function addressesOf(mesh: MeshFile, pods: readonly MeshPod[], gatewayPod: MeshPod | undefined): { address: HostPort; what: string }[] {
  const out: { address: HostPort; what: string }[] = [];
  for (const pod of pods) {
    out.push({ address: { host: pod.address, port: ADMIN_PORT }, what: `admin of ${pod.name}` });
    out.push({ address: { host: pod.address, port: INBOUND_PORT }, what: `inbound of ${pod.name}` });
    out.push({ address: pod.service ? { host: pod.address, port: OUTBOUND_PORT } : mesh.client.outbound, what: `outbound of ${pod.name}` });
    // Your app at an address is yours to run; your command's port must be free, like a demo app's.
    if (pod.service?.command !== undefined) out.push({ address: { host: OWN_APP_HOST, port: pod.service.targetPort }, what: `your app of ${pod.name}` });
    else if (pod.service && !pod.service.address) out.push({ address: { host: pod.address, port: pod.service.targetPort }, what: `app of ${pod.name}` });
  }
  if (mesh.gateway && gatewayPod) {
    out.push({ address: mesh.gateway.http, what: 'the gateway' });
    out.push({ address: { host: gatewayPod.address, port: ADMIN_PORT }, what: 'admin of the gateway' });
  }
  return out;
}

async function runMesh(ctx: CommandContext, mesh: MeshFile, check: boolean, meshDir: string, pathsDir: string): Promise<number> {
  const out = ctx.stdout;
  const stateDir = resolve(pathsDir, mesh.stateDir);
  const caDir = resolve(pathsDir, mesh.caDir);
  const pods = layoutPods(mesh);
  const gatewayPod = gatewayPodFor(mesh);
  await checkAddressesFree(addressesOf(mesh, pods, gatewayPod));
  await mkdir(join(stateDir, 'logs'), { recursive: true });
  const ca = await loadOrCreateCaDir(caDir, mesh.trustDomain, new Date());
  const root = new x509.X509Certificate(ca.rootCert);
  const endpointsFile = join(stateDir, 'endpoints.json');
  await writeFile(`${endpointsFile}.tmp`, JSON.stringify(withGateway(endpointsFileFor(mesh, pods), mesh, gatewayPod), null, 2));
  await rename(`${endpointsFile}.tmp`, endpointsFile);

  const running: RunningPod[] = [];
  // Your own apps (a service's `command`), each through its keeper; stopped after the sidecars.
  const ownApps: OwnApp[] = [];
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const r of running) if (r.exit === undefined) r.process.kill('SIGTERM');
    await Promise.all(running.map((r) => waitExit(r, 10_000)));
    for (const a of ownApps) if (a.exit === undefined) a.process.kill('SIGTERM');
    await Promise.all(ownApps.map((a) => waitExit(a, 10_000)));
    await Promise.all(running.map((r) => new Promise<void>((done) => (r.app ? r.app.close(() => done()) : done()))));
  };
  try {
    for (const pod of pods) {
      if (pod.service?.command !== undefined) {
        const logFile = join(stateDir, 'logs', `${pod.name}-app.log`);
        ownApps.push(track({ name: `${pod.name} (your app)`, process: startOwnApp(pod.service.command, pod.service.targetPort, meshDir, logFile), logFile }));
      }
      const app = pod.service && !isOwnApp(pod.service) ? await startDemoApp({ service: pod.service.name, pod: pod.name, address: pod.address, port: pod.service.targetPort }) : undefined;
      const logFile = join(stateDir, 'logs', `${pod.name}.log`);
      running.push(track({ name: pod.name, pod, process: spawnProxy(mesh, pod, caDir, endpointsFile, logFile), admin: { host: pod.address, port: ADMIN_PORT }, logFile, ...(app ? { app } : {}) }));
    }
    if (mesh.gateway && gatewayPod) {
      const logFile = join(stateDir, 'logs', `${gatewayPod.name}.log`);
      const proc = spawnGateway(mesh, gatewayPod, resolve(meshDir, mesh.gateway.routes), caDir, endpointsFile, logFile);
      running.push(track({ name: gatewayPod.name, pod: gatewayPod, process: proc, admin: { host: gatewayPod.address, port: ADMIN_PORT }, logFile }));
    }
    const notReady = await waitReady(running, READY_TIMEOUT_MS, ctx.shutdown, (ms) => new Promise((done) => setTimeout(done, ms)), Date.now);
    const ready = running.filter((r) => !notReady.includes(r));
    const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
    const appsDown: OwnApp[] = [];
    for (const a of ownApps) {
      const pod = pods.find((p) => a.name.startsWith(`${p.name} `));
      const address = { host: OWN_APP_HOST, port: pod?.service?.targetPort ?? 0 };
      if (!(await waitListening(address, () => a.exit !== undefined, READY_TIMEOUT_MS, sleep, Date.now))) appsDown.push(a);
    }
    const clientUrl = `http://${mesh.client.outbound.host}:${mesh.client.outbound.port}`;
    printLayout(out, mesh, running, caDir, stateDir, clientUrl, root);
    out.write(`${healthLine(ready, running, root)}\n`);
    if (appsDown.length > 0) out.write(`apps: DEGRADED: ${ownApps.length - appsDown.length}/${ownApps.length} of your apps listen\n`);
    for (const a of appsDown) out.write(`  ${a.name}: ${a.exit !== undefined ? `exited (${a.exit})` : 'does not listen on its targetPort'}\n    log: ${a.logFile}\n`);
    if (ready.length < running.length || appsDown.length > 0) {
      for (const { part, reason } of await explain(notReady)) out.write(`  ${part.name}: ${reason}\n    log: ${part.logFile}\n`);
      await stopAll();
      return 1;
    }
    if (check) {
      // Every check runs and reports, even after one failed.
      const results = [await checkMesh(out, mesh, pods), await checkGateway(out, mesh), await checkAuthz(out, mesh, pods)];
      const ok = results.every(Boolean);
      await stopAll();
      return ok ? 0 : 1;
    }
    out.write('Ctrl-C stops everything.\n');
    await new Promise<void>((done) => {
      if (ctx.shutdown.aborted) done();
      ctx.shutdown.addEventListener('abort', () => done(), { once: true });
      // Only an exit nobody asked for is news; a stop (Ctrl-C reaches the children too) is not.
      for (const r of running) r.process.once('exit', () => {
        if (!ctx.shutdown.aborted && !stopping) out.write(`${r.pod.name} stopped on its own (${r.exit ?? '?'}); see ${r.logFile}\n`);
      });
    });
    out.write('stopping: draining sidecars...\n');
    await stopAll();
    out.write('stopped.\n');
    return 0;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A process weft up started and tracks: its exit (status or signal) is recorded on it. */
interface Tracked {
  readonly name: string;
  readonly process: ChildProcess;
  readonly logFile: string;
  exit?: string;
}

/** A service's own app, run through the keeper. */
type OwnApp = Tracked;

const isOwnApp = (s: { readonly command?: string; readonly address?: HostPort }): boolean => s.command !== undefined || s.address !== undefined;

// Records the part's exit (status or signal) on it, for health and for the stop.
function track<T extends Tracked>(r: T): T {
  r.process.once('exit', (code, signal) => {
    r.exit = code !== null ? `status ${code}` : `signal ${signal ?? '?'}`;
  });
  return r;
}

// The children's stdout and stderr go to their log; the IPC channel is how they notice that weft
// up is gone (cli/main.ts stops a child whose channel closes), even after a SIGKILL.
function spawnChild(args: readonly string[], env: Record<string, string>, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  return child;
}

// The edge gateway: the last address of the pod range, its route file from the mesh file.
function gatewayPodFor(mesh: MeshFile): MeshPod | undefined {
  return mesh.gateway ? { name: 'weft-gateway', address: `${mesh.addressBase}.250`, serviceAccount: mesh.gateway.serviceAccount } : undefined;
}

// The gateway's own Service in the endpoints file: its ready replicas share rate limits.
function withGateway(file: object, mesh: MeshFile, pod: MeshPod | undefined): object {
  if (!pod) return file;
  const services = (file as { services: object[] }).services;
  const identity = `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/${pod.serviceAccount}`;
  return { ...file, services: [...services, { name: 'weft-gateway', namespace: mesh.namespace, ports: [{ port: 80, targetPort: mesh.gateway?.http.port ?? 8080 }], endpoints: [{ address: pod.address, identity, ready: true, podName: pod.name }] }] };
}

function spawnGateway(mesh: MeshFile, pod: MeshPod, routes: string, caDir: string, endpointsFile: string, logFile: string): ChildProcess {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    WEFT_MODE: 'local',
    WEFT_TRUST_DOMAIN: mesh.trustDomain,
    WEFT_POD_NAME: pod.name,
    WEFT_POD_NAMESPACE: mesh.namespace,
    WEFT_SERVICE_ACCOUNT: pod.serviceAccount,
    WEFT_GATEWAY_ROUTES_FILE: routes,
    WEFT_GATEWAY_HTTP_ADDR: `${mesh.gateway?.http.host ?? '127.0.0.1'}:${mesh.gateway?.http.port ?? 8080}`,
    WEFT_GATEWAY_HTTPS_ADDR: 'off',
    WEFT_ADMIN_ADDR: `${pod.address}:${ADMIN_PORT}`,
    WEFT_CA_DIR: caDir,
    WEFT_ENDPOINTS_FILE: endpointsFile,
    WEFT_SHUTDOWN_GRACE_MS: '5000',
    // The sidecars' heap bound: without it a 200 MB body through the gateway left 85 MB of RSS
    // behind, against 36-49 MB with it (test/e2e/gateway/transform.test.ts).
    NODE_OPTIONS: sidecarNodeOptions(undefined),
  };
  return spawnChild(['gateway'], env, logFile);
}

// Through the gateway: the demo key gets an answer from hello over mTLS; no key gets 401.
async function checkGateway(out: Writable, mesh: MeshFile): Promise<boolean> {
  if (!mesh.gateway) return true;
  const base = `http://${mesh.gateway.http.host}:${mesh.gateway.http.port}`;
  const withKey = await httpGet(`${base}/hello/check`, undefined, { 'x-api-key': 'demo-key' });
  const noKey = await httpGet(`${base}/hello/check`);
  let pod = '';
  try {
    pod = (JSON.parse(withKey.body) as { pod: string }).pod;
  } catch {
    pod = '';
  }
  const ok = withKey.status === 200 && pod.startsWith('hello-') && noKey.status === 401;
  out.write(`check gateway: ${ok ? 'ok' : 'FAILED'}: with the demo key ${withKey.status} from ${pod || '?'}, without a key ${noKey.status}\n`);
  return ok;
}

function spawnProxy(mesh: MeshFile, pod: MeshPod, caDir: string, endpointsFile: string, logFile: string): ChildProcess {
  const isClient = pod.service === undefined;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    WEFT_MODE: 'local',
    WEFT_TRUST_DOMAIN: mesh.trustDomain,
    WEFT_POD_NAME: pod.name,
    WEFT_POD_NAMESPACE: mesh.namespace,
    WEFT_SERVICE_ACCOUNT: pod.serviceAccount,
    // Demo apps listen on the pod's address; your own app on loopback or where you run it.
    WEFT_APP_HOST: pod.service?.address?.host ?? (pod.service?.command !== undefined ? OWN_APP_HOST : pod.address),
    // What authorization policies select pods by (docs/policy.md).
    WEFT_POD_LABELS: `app=${pod.service?.name ?? pod.name}`,
    WEFT_INBOUND_ADDR: `${pod.address}:${INBOUND_PORT}`,
    WEFT_ADMIN_ADDR: `${pod.address}:${ADMIN_PORT}`,
    WEFT_OUTBOUND_ADDR: isClient ? `${mesh.client.outbound.host}:${mesh.client.outbound.port}` : `${pod.address}:${OUTBOUND_PORT}`,
    WEFT_CA_DIR: caDir,
    WEFT_ENDPOINTS_FILE: endpointsFile,
    WEFT_SHUTDOWN_GRACE_MS: '5000',
    // The heap bounds the injector gives a sidecar without a memory limit (lib/node-options.ts).
    NODE_OPTIONS: proxyNodeOptions(undefined),
  };
  return spawnChild(['proxy'], env, logFile);
}

function printLayout(out: Writable, mesh: MeshFile, running: readonly RunningPod[], caDir: string, stateDir: string, clientUrl: string, root: x509.X509Certificate): void {
  const lines = [
    '',
    `weft up: mesh "${mesh.namespace}" on loopback (trust domain ${mesh.trustDomain})`,
    `  CA        ${caDir} (root expires ${root.notAfter.toISOString().slice(0, 10)})`,
    `  logs      ${join(stateDir, 'logs')}`,
    '',
    `  pod                 address         app     admin                              pid`,
  ];
  for (const r of running) {
    const s = r.pod.service;
    const app = s === undefined ? '-' : s.address ? `${s.address.host}:${s.address.port} (yours)` : s.command !== undefined ? `${OWN_APP_HOST}:${s.targetPort} (yours)` : `:${s.targetPort}`;
    lines.push(`  ${r.pod.name.padEnd(19)} ${r.pod.address.padEnd(15)} ${app.padEnd(7)} ${`http://${r.pod.address}:${ADMIN_PORT}/ready`.padEnd(34)} ${r.process.pid ?? '-'}`);
  }
  lines.push('', 'Try (each request crosses two sidecars over mTLS and lands on a replica picked per request):');
  for (const s of mesh.services) lines.push(`  curl -s -x ${clientUrl} http://${s.name}/`);
  lines.push(`  curl -s http://${running[0]?.pod.address ?? '127.0.0.1'}:${ADMIN_PORT}/metrics | grep weft_responses_total`, '');
  const first = running.find((r) => r.pod.service);
  if (mesh.authorization !== undefined && first?.pod.service) {
    const q = `identity=spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/intruder&port=${first.pod.service.targetPort}&method=GET&path=/admin`;
    lines.push('Authorization policies (docs/policy.md): would an "intruder" be allowed GET /admin on ' + first.pod.name + '?', `  curl -s 'http://${first.pod.address}:${ADMIN_PORT}/debug/authz?${q}'`, '');
  }
  if (mesh.gateway) {
    const gw = `http://${mesh.gateway.http.host}:${mesh.gateway.http.port}`;
    lines.push(
      'Through the edge gateway (API key "demo-key", 10 requests per 10 s; routes in ' + mesh.gateway.routes + '):',
      `  curl -s -H 'x-api-key: demo-key' ${gw}/hello/`,
      `  curl -si ${gw}/hello/            # 401 without a key`,
      '',
    );
  }
  out.write(lines.join('\n') + '\n');
}

function healthLine(ready: readonly RunningPod[], running: readonly RunningPod[], root: x509.X509Certificate): string {
  const state = ready.length === running.length ? 'healthy' : 'DEGRADED';
  const down = running.filter((r) => !ready.includes(r)).map((r) => r.pod.name);
  return `health: ${state}: ${ready.length}/${running.length} sidecars ready${down.length ? ` (not ready: ${down.join(', ')})` : ''}, root valid until ${root.notAfter.toISOString().slice(0, 10)}`;
}

// Sends requests through the client pod's sidecar to every service and checks that they were
// answered by every replica, each seeing the client's identity.
async function checkMesh(out: Writable, mesh: MeshFile, pods: readonly MeshPod[]): Promise<boolean> {
  let ok = true;
  const clientId = `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/${mesh.client.serviceAccount}`;
  for (const service of mesh.services) {
    if (service.replicas === 0 || isOwnApp(service)) continue;
    const seen = new Map<string, number>();
    let failures = 0;
    const n = service.replicas * 10;
    for (let i = 0; i < n; i++) {
      const res = await httpGet(`http://${mesh.client.outbound.host}:${mesh.client.outbound.port}/check`, service.name);
      try {
        const body = JSON.parse(res.body) as { pod: string; caller: string };
        if (res.status !== 200 || body.caller !== clientId) failures += 1;
        else seen.set(body.pod, (seen.get(body.pod) ?? 0) + 1);
      } catch {
        failures += 1;
      }
    }
    const expected = pods.filter((p) => p.service?.name === service.name).length;
    const pass = failures === 0 && seen.size === expected;
    ok &&= pass;
    const spread = [...seen.entries()].map(([pod, count]) => `${pod}=${count}`).join(' ');
    out.write(`check ${service.name}: ${pass ? 'ok' : 'FAILED'}: ${n - failures}/${n} answered over mTLS with caller ${clientId}; replicas ${spread}\n`);
  }
  return ok;
}

function waitExit(r: Tracked, timeoutMs: number): Promise<void> {
  if (r.exit !== undefined) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => {
      r.process.kill('SIGKILL');
    }, timeoutMs);
    r.process.once('exit', () => {
      clearTimeout(timer);
      done();
    });
  });
}
