// Benchmark of kubernetes-mode discovery: the endpoint source watching 1,000 services x 10
// endpoints on a test API server (its own process); the time from an EndpointSlice change sent
// to the API server to the new snapshot reaching the subscriber (what rebuilds the picker), and
// the memory the source holds with that load.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { fromKubeconfigText } from '../../lib/kube/config.js';
import { KubeClient } from '../../lib/kube/client.js';
import { createLogger } from '../../lib/logger.js';
import { KubeEndpointSource } from '../../mesh/discovery/kube-endpoint-source.js';
import type { ServiceSnapshot } from '../../mesh/discovery/endpoint-source.js';
import type { BenchSection } from './report.js';

const SERVER_MAIN = fileURLToPath(new URL('../support/test-apiserver-main.js', import.meta.url));
const SERVICES = Number(process.env.WEFT_BENCH_DISCOVERY_SERVICES ?? 1000);
const ENDPOINTS = 10;
const CHANGES = 300;
const NS = 'bench';

type Obj = Record<string, unknown>;

function objects(i: number, notReady = -1): { service: Obj; slice: Obj; pods: Obj[] } {
  const name = `svc-${i}`;
  const ip = (j: number): string => `10.${Math.floor(i / 250)}.${i % 250}.${j + 1}`;
  return {
    service: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } },
    pods: Array.from({ length: ENDPOINTS }, (_, j) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-${j}`, namespace: NS }, spec: { serviceAccountName: name }, status: { phase: 'Running', podIP: ip(j) } })),
    slice: {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-x1`, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: ENDPOINTS }, (_, j) => ({ addresses: [ip(j)], conditions: { ready: j !== notReady }, targetRef: { kind: 'Pod', name: `${name}-${j}`, namespace: NS } })),
    },
  };
}

/** EndpointSlice change -> new snapshot latency and memory with 1,000 services x 10 endpoints. */
export async function benchDiscovery(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-disc-'));
  const child = spawn(process.execPath, [SERVER_MAIN], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const pending: ((line: string) => void)[] = [];
  lines.on('line', (line) => pending.shift()?.(line));
  const next = (): Promise<string> => new Promise((resolve) => pending.push(resolve));
  const send = (cmd: unknown): Promise<string> => {
    const answer = next();
    child.stdin.write(JSON.stringify(cmd) + '\n');
    return answer;
  };
  const source: { s?: KubeEndpointSource; client?: KubeClient } = {};
  try {
    await next(); // {url, port, ...}: the server is up
    const kubeconfigPath = join(dir, 'kubeconfig');
    await send({ op: 'kubeconfig', path: kubeconfigPath });
    const { readFile } = await import('node:fs/promises');
    const kubeconfig = await readFile(kubeconfigPath, 'utf8');
    const made = JSON.parse(await send({ op: 'apply', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } })) as { error?: unknown };
    if (made.error) throw new Error(`namespace: ${JSON.stringify(made.error)}`);
    for (let i = 0; i < SERVICES; i += 50) {
      const batch = Array.from({ length: Math.min(50, SERVICES - i) }, (_, k) => objects(i + k));
      const answer = JSON.parse(await send({ op: 'applyMany', objects: batch.flatMap((b) => [b.service, ...b.pods, b.slice]) })) as { error?: unknown };
      if (answer.error) throw new Error(`loading: ${JSON.stringify(answer.error)}`);
    }
    const rssBefore = process.memoryUsage().rss;
    const client = new KubeClient(await fromKubeconfigText(kubeconfig, 'bench'));
    source.client = client;
    const s = new KubeEndpointSource({ client, trustDomain: 'cluster.local', log: createLogger({ level: 'silent', name: 'bench' }), registry: new Registry(), namespace: NS });
    source.s = s;
    await s.start();
    const latest = new Map<number, ServiceSnapshot>();
    const waiters = new Map<number, (snap: ServiceSnapshot) => boolean>();
    const loadStarted = Date.now();
    for (let i = 0; i < SERVICES; i++) {
      s.watch({ namespace: NS, name: `svc-${i}`, port: 80 }, (snap) => {
        latest.set(i, snap);
        const w = waiters.get(i);
        if (w && w(snap)) waiters.delete(i);
      });
    }
    const readyCount = (snap: ServiceSnapshot | undefined): number => (snap?.endpoints ?? []).filter((e) => e.ready).length;
    while ([...Array(SERVICES).keys()].some((i) => readyCount(latest.get(i)) !== ENDPOINTS)) {
      if (Date.now() - loadStarted > 180_000) throw new Error(`the ${SERVICES} services did not load in 180 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const loadMs = Date.now() - loadStarted;
    const rssLoaded = process.memoryUsage().rss;
    const latencies: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const i = Math.floor(Math.random() * SERVICES);
      const want = readyCount(latest.get(i)) === ENDPOINTS ? ENDPOINTS - 1 : ENDPOINTS;
      const changed = new Promise<void>((resolve) => waiters.set(i, (snap) => {
        if (readyCount(snap) !== want) return false;
        resolve();
        return true;
      }));
      const started = performance.now();
      child.stdin.write(JSON.stringify({ op: 'apply', object: objects(i, want === ENDPOINTS ? -1 : c % ENDPOINTS).slice }) + '\n');
      const ack = next();
      await changed;
      latencies.push(performance.now() - started);
      await ack;
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
    const p99 = pct(99);
    return {
      title: `discovery: ${SERVICES} services x ${ENDPOINTS} endpoints watched (Service + EndpointSlice watches, pod identities)`,
      rows: [
        { figure: 'slice change -> new snapshot p50 ms', weft: pct(50) },
        { figure: 'slice change -> new snapshot p99 ms', weft: p99, goal: '< 100 ms', met: p99 < 100 },
        { figure: `initial load s (lists, watches, ${SERVICES * ENDPOINTS} pod lookups)`, weft: loadMs / 1000 },
        { figure: 'RSS MB with the load (bench process)', weft: rssLoaded / 1e6 },
        { figure: 'RSS MB added by the load', weft: (rssLoaded - rssBefore) / 1e6 },
      ],
      notes: [
        `${CHANGES} changes, each one EndpointSlice write (an endpoint turning ready or not-ready) on a random service; timed from sending the write to the test API server (its own process) until the subscriber got the new snapshot.`,
        `The source ran in the bench process (${SERVICES * 2} watch streams over HTTPS); RSS includes what earlier sections left behind, the added figure is the load's own.`,
      ],
    };
  } finally {
    await source.s?.close();
    source.client?.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}
