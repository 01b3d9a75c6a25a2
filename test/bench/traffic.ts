// `npm run bench` section for traffic management: the CPU a weft pair spends per request with a
// mesh route, a retry policy and Peak-EWMA on, beside the same pair with all of it off, in one run.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, CA_FILES } from '../../lib/pki/store.js';
import { runWrk, processUsage, stopProcess } from './tools.js';
import { startBenchProxy } from './weft-proxy.js';
import type { BenchRow, BenchSection } from './report.js';

const NET = '127.0.78';
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '8');
const CONNECTIONS = 16;
const ROUNDS = 2;

const ROUTES = `kind: HTTPRoute
metadata: { name: bench, namespace: bench }
spec:
  parentRefs: [{ kind: Service, name: bench, port: 80 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: bench, port: 80 }]
      timeouts: { request: 10s }
      retry: { codes: [503], attempts: 2 }
`;

/** Runs the traffic benchmark and returns its section. */
export async function benchTraffic(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-traffic-'));
  const children: ChildProcess[] = [];
  const app = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
    res.end('ok\n');
  });
  try {
    const pem = await generateAuthorityPem('cluster.local', new Date());
    await mkdir(join(dir, 'ca'));
    for (const [field, file] of Object.entries(CA_FILES)) await writeFile(join(dir, 'ca', file), pem[field as keyof typeof pem] ?? '');
    await new Promise<void>((resolve) => app.listen(8080, `${NET}.2`, resolve));
    const endpoints = {
      services: [{ name: 'bench', namespace: 'bench', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: `${NET}.2`, identity: 'spiffe://cluster.local/ns/bench/sa/server', podName: 'server' }] }],
    };
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify(endpoints));
    await writeFile(join(dir, 'routes.yaml'), ROUTES);
    const server = await startWeft(dir, 'server', `${NET}.2`, {});
    const off = await startWeft(dir, 'client', `${NET}.1`, { WEFT_BALANCE_EWMA: 'false', WEFT_FAILURE_ACCRUAL: '0' });
    const on = await startWeft(dir, 'client', `${NET}.3`, { WEFT_ROUTES_FILE: join(dir, 'routes.yaml') });
    children.push(server, off, on);
    const contenders = [
      { name: 'on', client: on, url: `http://${NET}.3:7001/` },
      { name: 'off', client: off, url: `http://${NET}.1:7001/` },
    ];
    const totals = new Map<string, { cpu: number; requests: number; rps: number[]; errors: number }>();
    for (const c of contenders) await runWrk(c.url, { connections: CONNECTIONS, seconds: 2, headers: { Host: 'bench.bench' } }); // warm-up
    // Alternating rounds: drift on the shared machine falls on both sides alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of round % 2 === 0 ? contenders : [...contenders].reverse()) {
        const pids = [c.client.pid ?? 0, server.pid ?? 0];
        const before = await Promise.all(pids.map(processUsage));
        const wrk = await runWrk(c.url, { connections: CONNECTIONS, seconds: SECONDS, headers: { Host: 'bench.bench' } });
        const after = await Promise.all(pids.map(processUsage));
        const cpu = after.reduce((n, u, i) => n + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0);
        const t = totals.get(c.name) ?? { cpu: 0, requests: 0, rps: [], errors: 0 };
        t.cpu += cpu;
        t.requests += wrk.requestsPerSec * SECONDS;
        t.rps.push(wrk.requestsPerSec);
        t.errors += wrk.errors + wrk.non2xx;
        totals.set(c.name, t);
      }
    }
    const onT = totals.get('on');
    const offT = totals.get('off');
    const rows: BenchRow[] = [];
    if (onT && offT) {
      const perOn = (onT.cpu / onT.requests) * 10_000;
      const perOff = (offT.cpu / offT.requests) * 10_000;
      rows.push({ figure: `pair CPU s per 10k req @${CONNECTIONS}`, weft: perOn, baseline: perOff, goal: '<= 1.1x', met: perOn <= 1.1 * perOff });
      rows.push({ figure: `pair requests/s @${CONNECTIONS}`, weft: avg(onT.rps), baseline: avg(offT.rps) });
      rows.push({ figure: 'errors+non2xx', weft: onT.errors, baseline: offT.errors });
    }
    return {
      title: 'traffic management: the pair with a mesh route (timeout, retry on 503) and Peak-EWMA + failure accrual on, against the same pair with all off',
      baselineName: 'all off',
      rows,
      notes: [`${ROUNDS} alternating runs of ${SECONDS} s each after a 2 s warm-up, ${CONNECTIONS} connections; CPU is the client and the shared server proxy; app is a Node HTTP server in the bench process.`],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await new Promise((r) => app.close(r));
    await rm(dir, { recursive: true, force: true });
  }
}

function avg(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

function startWeft(dir: string, name: string, address: string, env: Record<string, string>): Promise<ChildProcess> {
  return startBenchProxy({ dir, name, address, env });
}
