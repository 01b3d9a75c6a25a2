// Benchmark of `weft injector`: a real `weft injector` process answering a ~2 KB AdmissionReview
// over HTTPS keep-alive, one request at a time; p50/p99 latency and the size of the patch.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { answerReview } from '../../injector/admission.js';
import { DEFAULT_SETTINGS } from '../../injector/settings.js';
import { createIssuer, createRoot } from '../../lib/pki/authority.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import type { BenchSection } from './report.js';
import { WEFT_MAIN } from '../support/local-mesh.js';

const MAIN = WEFT_MAIN;
const WARMUP = 500;
const MEASURED = 5000;

/** A pod as a ReplicaSet creates it: two containers, probes, env, volumes (~2 KB as a review). */
export function sampleReview(uid: string): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: 'orders-7d9c6b5f4-',
          namespace: 'shop',
          labels: { app: 'orders', 'pod-template-hash': '7d9c6b5f4', 'app.kubernetes.io/version': '1.4.2' },
          annotations: { 'config.weft.dev/proxy-cpu-limit': '500m', 'prometheus.io/scrape': 'true' },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-7d9c6b5f4', uid: '3a1f1c2e-6d57-4a53-9a41-1b2c3d4e5f60', controller: true }],
        },
        spec: {
          serviceAccountName: 'orders',
          containers: [
            {
              name: 'orders',
              image: 'ghcr.io/example/orders:1.4.2',
              ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9000 }],
              env: [
                { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'orders-db', key: 'url' } } },
                { name: 'LOG_FORMAT', value: 'json' },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
              livenessProbe: { grpc: { port: 9000 }, periodSeconds: 10, failureThreshold: 3 },
              volumeMounts: [{ name: 'config', mountPath: '/etc/orders' }, { name: 'tmp', mountPath: '/tmp' }],
              securityContext: { runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
            },
            {
              name: 'log-shipper',
              image: 'fluent/fluent-bit:3.1',
              args: ['-c', '/fluent-bit/etc/fluent-bit.conf'],
              resources: { requests: { cpu: '10m', memory: '32Mi' } },
              volumeMounts: [{ name: 'tmp', mountPath: '/var/log/app', readOnly: true }],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'orders-config' } },
            { name: 'tmp', emptyDir: {} },
          ],
          terminationGracePeriodSeconds: 30,
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'shop', effect: 'NoSchedule' }],
        },
      },
      oldObject: null,
      dryRun: false,
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs the injector benchmark against a spawned `weft injector`. */
export async function benchInjector(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-injector-'));
  const now = new Date();
  const root = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 2 });
  const issuer = await createIssuer({ root, trustDomain: 'cluster.local', now, lifetimeHours: 1 });
  const leaf = await issueMaterial({ authority: { root: root.cert, issuer }, identity: 'spiffe://cluster.local/ns/weft-system/sa/weft-injector', now });
  await writeFile(join(dir, 'tls.crt'), leaf.certChainPem);
  await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  await writeFile(join(dir, 'roots.pem'), root.cert.toString('pem'));
  const settings = { ...DEFAULT_SETTINGS, trustAnchors: root.cert.toString('pem') };
  const child = spawn(process.execPath, [MAIN, 'injector'], {
    env: { PATH: process.env['PATH'] ?? '', WEFT_INJECTOR_ADDR: '127.0.0.1:0', WEFT_INJECTOR_TLS_DIR: dir, WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'roots.pem'), WEFT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: root.cert.toString('pem'), checkServerIdentity: () => undefined });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`weft injector did not start: ${out}`)), 15_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on https:\/\/\S+:(\d+)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`weft injector exited with ${code}: ${out}`)));
    });
    const body = JSON.stringify(sampleReview('bench-uid'));
    const post = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/mutate/ns-enabled', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`status ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const first = JSON.parse(await post()) as { response: { patch?: string } };
    const patchBytes = Buffer.from(first.response.patch ?? '', 'base64').length;
    if (patchBytes === 0) throw new Error('the benchmark review was not injected');
    for (let i = 0; i < WARMUP; i++) await post();
    const samples: number[] = [];
    const started = process.hrtime.bigint();
    for (let i = 0; i < MEASURED; i++) {
      const t0 = process.hrtime.bigint();
      await post();
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const totalS = Number(process.hrtime.bigint() - started) / 1e9;
    samples.sort((a, b) => a - b);
    const p99 = percentile(samples, 99);
    // The decision alone, in this process: what the webhook costs apart from TLS, HTTP and
    // scheduling, which dominate the tail when other work shares the two cores.
    const parsed = JSON.parse(body) as unknown;
    const core: number[] = [];
    for (let i = 0; i < MEASURED; i++) {
      const t0 = process.hrtime.bigint();
      answerReview(JSON.parse(JSON.stringify(parsed)) as unknown, settings, 'enabled');
      core.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    core.sort((a, b) => a - b);
    return {
      title: 'injector: AdmissionReview over HTTPS keep-alive (weft injector process, 1 connection)',
      rows: [
        { figure: 'p50 ms', weft: percentile(samples, 50) },
        { figure: 'p99 ms', weft: p99, goal: '< 5 ms', met: p99 < 5 },
        { figure: 'max ms', weft: samples[samples.length - 1] ?? 0 },
        { figure: 'reviews/s (sequential)', weft: MEASURED / totalS },
        { figure: 'decision p99 ms (in-process, no HTTPS)', weft: percentile(core, 99) },
        { figure: 'AdmissionReview bytes', weft: Buffer.byteLength(body) },
        { figure: 'patch bytes (JSON, before base64)', weft: patchBytes },
      ],
      notes: [
        `${MEASURED} reviews after ${WARMUP} warm-up, each waiting for the previous; client and server share the machine's cores`,
        `1-minute load average when the run ended: ${loadavg()[0]?.toFixed(1)} (above the core count, the tail measures the scheduler)`,
      ],
    };
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await rm(dir, { recursive: true, force: true });
  }
}
