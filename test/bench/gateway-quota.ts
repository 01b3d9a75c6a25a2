// Rows of the gateway benchmark for the consumer path: an API key that names a Consumer object and
// its Plan's quota counted on every request, once with the `local` backend and once with `redis`
// (a real redis-server this file starts on loopback), each measured with the same wrk run as the
// section's other rows and set beside the nginx figures of the same run.
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchRow } from './report.js';
import { processUsage } from './tools.js';
import type { GatewayMesh } from '../support/gateway-mesh.js';
import { hashKey } from '../../gateway/policies/api-key.js';
import { freePort, startRedis } from '../support/redis-server.js';

/** What one measured wrk run gave (the section's own `measure`). */
export interface Measured {
  readonly wrk: { readonly requestsPerSec: number; readonly errors: number; readonly non2xx: number };
  readonly cpuUsPerRequest: number;
}

/** What the quota rows need from the section: its mesh, its TLS server material and its measure. */
export interface QuotaBenchInput {
  readonly mesh: GatewayMesh;
  readonly certPem: string;
  readonly keyPem: string;
  /** The API key the section's wrk headers send. */
  readonly apiKey: string;
  /** Runs the section's measured wrk against `url` and charges `pid` the CPU. */
  readonly measure: (url: string, pid: number) => Promise<Measured>;
  readonly warm: (url: string) => Promise<unknown>;
  /** Seconds of each measured wrk run. */
  readonly durationS: number;
  /** Measures nginx again, right after each quota run, so that both rows see the same neighbours. */
  readonly measureNginx: () => Promise<Measured>;
}

// Never reached: the limit is there to be counted on every request, not to refuse.
const PLAN_LIMIT = 1_000_000_000;

function routesFile(input: QuotaBenchInput): string {
  const indent = (s: string): string => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: https, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: cert }] } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bench, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ backendRefs: [{ name: bench, port: 80 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: bench } }
---
apiVersion: weft.dev/v1alpha1
kind: Plan
metadata: { name: bench, namespace: test }
spec: { limits: [{ requests: ${PLAN_LIMIT}, per: second }, { requests: ${PLAN_LIMIT}, per: minute }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: bencher, namespace: test }
spec: { plan: bench, apiKeys: [{ keySha256: ${hashKey(input.apiKey)} }] }
---
apiVersion: v1
kind: Secret
metadata: { name: cert, namespace: test }
stringData:
  tls.crt: |
${indent(input.certPem)}
  tls.key: |
${indent(input.keyPem)}
`;
}

// A redis-server on 127.0.0.1 (no persistence, its own directory), or the reason there is none.
async function startBenchRedis(dir: string): Promise<{ child: ChildProcess; port: number } | string> {
  const port = await freePort();
  await mkdir(dir, { recursive: true });
  try {
    return { child: await startRedis(port, dir), port };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The consumer-path rows (local and Redis quota backends) and their notes. */
export async function quotaRows(input: QuotaBenchInput): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const file = join(input.mesh.dir, 'routes-quota.yaml');
  await writeFile(file, routesFile(input));
  const rows: BenchRow[] = [];
  const notes: string[] = [
    'key + quota rows: the API key names a Consumer object whose Plan (two windows, per second and per minute, never reached) is counted on every request; same wrk run as above, nginx measured again right after each of them.',
  ];
  const run = async (label: string, env: Record<string, string>, extraPid?: number): Promise<void> => {
    const gw = await input.mesh.startGateway(file, { WEFT_GATEWAY_HTTP_ADDR: 'off', WEFT_LOG_LEVEL: 'info', ...env });
    try {
      const url = `https://${gw.address}:${gw.httpsPort}/`;
      await input.warm(url);
      const extraBefore = extraPid ? await processUsage(extraPid) : undefined;
      const m = await input.measure(url, gw.proc.child.pid ?? 0);
      const extraAfter = extraPid ? await processUsage(extraPid) : undefined;
      const n = await input.measureNginx();
      rows.push(
        { figure: `requests/s, key + quota (${label})`, weft: m.wrk.requestsPerSec, baseline: n.wrk.requestsPerSec },
        { figure: `gateway CPU us/request, key + quota (${label})`, weft: m.cpuUsPerRequest, baseline: n.cpuUsPerRequest },
        { figure: `errors + non-2xx, key + quota (${label})`, weft: m.wrk.errors + m.wrk.non2xx, baseline: n.wrk.errors + n.wrk.non2xx },
      );
      if (extraBefore && extraAfter) {
        const requests = m.wrk.requestsPerSec * input.durationS;
        // CPU the quota costs Redis itself, per request of the same run (not charged to the gateway row).
        rows.push({ figure: `redis-server CPU us/request (${label})`, weft: requests > 0 ? ((extraAfter.cpuSeconds - extraBefore.cpuSeconds) * 1e6) / requests : NaN });
      }
    } finally {
      await gw.stop();
    }
  };
  await run('local', { WEFT_GATEWAY_QUOTA_BACKEND: 'local' });
  const redis = await startBenchRedis(join(input.mesh.dir, 'redis'));
  if (typeof redis === 'string') {
    notes.push(`key + quota (redis) rows skipped: ${redis}.`);
    process.stdout.write(`gateway bench: key + quota (redis) skipped: ${redis}\n`);
    return { rows, notes };
  }
  try {
    await run('redis', { WEFT_GATEWAY_QUOTA_BACKEND: 'redis', WEFT_GATEWAY_QUOTA_REDIS_URL: `redis://127.0.0.1:${redis.port}` }, redis.child.pid);
    notes.push('redis: a redis-server on loopback started by the bench (no persistence); one Lua script call per request, charged to redis-server in its own row.');
  } finally {
    redis.child.kill('SIGTERM');
  }
  return { rows, notes };
}
