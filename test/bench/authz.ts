// `npm run bench` section for authorization policy: the weft sidecar pair's CPU per request with
// 50 policy rules on the server's inbound side beside the same pair with none, in one run.
import { mkdtemp, mkdir, writeFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, CA_FILES } from '../../lib/pki/store.js';
import { runWrk, processUsage, stopProcess } from './tools.js';
import { startBenchProxy } from './weft-proxy.js';
import { startNginx, appConfAt } from './mesh.js';
import type { BenchRow, BenchSection } from './report.js';
import { compileAuthorizer } from '../../mesh/authz/decide.js';
import { parsePolicySection } from '../../mesh/authz/policy.js';

const NET = '127.0.78';
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '8');
const CONNECTIONS = 16;
// Each variant runs this many times, alternating, so drift on a shared machine hits both alike.
const ROUNDS = 3;
const CLIENT_ID = 'spiffe://cluster.local/ns/bench/sa/client';

/**
 * 50 rules, all about the client, so every one is evaluated on each request (the per-peer cache
 * cannot skip any): 5 DENY and 5 AUDIT rules that miss, 39 ALLOW rules that miss, and the 50th
 * that allows. The worst case for a pod with 50 rules.
 */
export function fiftyRules(): unknown {
  const policy = (name: string, action: string, rules: unknown[]): unknown => ({ metadata: { name, namespace: 'bench' }, spec: { action, rules } });
  const from = { principals: [CLIENT_ID] };
  const allow: unknown[] = [];
  for (let i = 0; i < 39; i++) allow.push({ from, to: { methods: ['GET', 'POST'], paths: [`/api/v${i}/*`, `/api/v${i}`] } });
  allow.push({ from, to: { ports: [8080], methods: ['GET'], paths: ['/*'] } });
  return {
    policies: [
      policy('deny', 'DENY', [0, 1, 2, 3, 4].map((i) => ({ from, to: { paths: [`/deny/${i}/*`] } }))),
      policy('audit', 'AUDIT', [0, 1, 2, 3, 4].map((i) => ({ from, to: { paths: [`/audit/${i}`] } }))),
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((p) => policy(`allow-${p}`, 'ALLOW', allow.slice(p * 5, p * 5 + 5))),
    ],
  };
}

/** Runs the authorization benchmark and returns its section. */
export async function benchAuthz(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-authz-'));
  const children: ChildProcess[] = [];
  try {
    const pem = await generateAuthorityPem('cluster.local', new Date());
    await mkdir(join(dir, 'ca'));
    for (const [field, file] of Object.entries(CA_FILES)) await writeFile(join(dir, 'ca', file), pem[field as keyof typeof pem] ?? '');
    children.push(await startNginx(dir, 'app', appConfAt(`${NET}.2:8080`), `http://${NET}.2:8080/`));
    const endpointsFile = join(dir, 'endpoints.json');
    const writeEndpoints = async (authorization: unknown): Promise<void> => {
      const doc = {
        services: [{ name: 'bench', namespace: 'bench', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: `${NET}.2`, identity: 'spiffe://cluster.local/ns/bench/sa/server', podName: 'server' }] }],
        authorization,
      };
      await writeFile(`${endpointsFile}.tmp`, JSON.stringify(doc));
      await rename(`${endpointsFile}.tmp`, endpointsFile);
    };
    await writeEndpoints({ policies: [] });
    const client = await startWeft(dir, 'client', `${NET}.1`);
    const server = await startWeft(dir, 'server', `${NET}.2`);
    children.push(client, server);
    const url = `http://${NET}.1:7001/`;
    const headers = { Host: 'bench.bench' };
    const variants = [
      { name: '0 rules', authorization: { policies: [] }, policies: 0 },
      { name: '50 rules', authorization: fiftyRules(), policies: 10 },
    ];
    const totals = new Map<string, { cpu: number; requests: number; rps: number[]; non2xx: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        await writeEndpoints(v.authorization);
        await waitPolicies(`http://${NET}.2:7020`, v.policies);
        await runWrk(url, { connections: CONNECTIONS, seconds: 2, headers }); // warm-up: pools, JIT, the new rules
        const pids = [client.pid ?? 0, server.pid ?? 0];
        const before = await Promise.all(pids.map(processUsage));
        const wrk = await runWrk(url, { connections: CONNECTIONS, seconds: SECONDS, headers });
        const after = await Promise.all(pids.map(processUsage));
        const cpu = after.reduce((n, u, i) => n + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0);
        const t = totals.get(v.name) ?? { cpu: 0, requests: 0, rps: [], non2xx: 0 };
        t.cpu += cpu;
        t.requests += wrk.requestsPerSec * SECONDS;
        t.rps.push(wrk.requestsPerSec);
        t.non2xx += wrk.errors + wrk.non2xx;
        totals.set(v.name, t);
      }
    }
    const none = totals.get('0 rules');
    const fifty = totals.get('50 rules');
    const rows: BenchRow[] = [];
    if (none && fifty) {
      const perReq = (t: { cpu: number; requests: number }): number => (t.cpu / t.requests) * 10_000;
      const ratio = perReq(fifty) / perReq(none);
      rows.push({ figure: `pair CPU s per 10k req @${CONNECTIONS}`, weft: perReq(fifty), baseline: perReq(none), goal: '<= 1.05x', met: ratio <= 1.05 });
      rows.push({ figure: `pair requests/s @${CONNECTIONS} (mean of ${ROUNDS})`, weft: mean(fifty.rps), baseline: mean(none.rps) });
      rows.push({ figure: 'errors+non2xx', weft: fifty.non2xx, baseline: none.non2xx });
    }
    const micro = decideNs();
    rows.push({ figure: 'decide() ns per request, in process', weft: micro.fifty, baseline: micro.none });
    return {
      title: 'authorization: wrk -> client proxy -> mTLS -> server proxy (50 rules vs none) -> app',
      baselineName: 'same pair, 0 rules',
      rows,
      notes: [
        `${ROUNDS} rounds of ${SECONDS} s per variant after a 2 s warm-up each, alternating 0 and 50 rules on the same pair (a policy change, not a restart).`,
        'the 50 rules all name the client, so each request evaluates every one (5 DENY and 5 AUDIT that miss, 39 ALLOW for GET that miss on the path, the 50th allows): the worst case, not a typical one.',
        'access logs off (WEFT_ACCESS_LOG=false); CPU is user+system of both proxy processes.',
      ],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

// The decision function alone, the same 50 rules against none, a million calls each.
function decideNs(): { none: number; fifty: number } {
  const pod = { namespace: 'bench', labels: {}, trustDomain: 'cluster.local', defaultPolicy: undefined };
  const time = (authorization: unknown): number => {
    const a = compileAuthorizer(parsePolicySection(authorization, 'bench'), pod);
    const n = 1_000_000;
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) if (a.decide(CLIENT_ID, 8080, 'GET', '/').allowed) allowed++;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (a.decide(CLIENT_ID, 8080, 'GET', '/').allowed) allowed++;
    const ns = Number(process.hrtime.bigint() - started) / n;
    if (allowed !== n + 100_000) throw new Error('the bench request must be allowed');
    return ns;
  };
  return { none: time({ policies: [] }), fifty: time(fiftyRules()) };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

async function waitPolicies(admin: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const body = await new Promise<string>((resolve) => {
      http
        .get(`${admin}/debug/authz?identity=${encodeURIComponent(CLIENT_ID)}&port=8080&method=GET&path=/`, { agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve(text));
        })
        .on('error', () => resolve(''));
    });
    try {
      if ((JSON.parse(body) as { policies: unknown[] }).policies.length === count) return;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the server proxy did not load ${count} policies`);
}

function startWeft(dir: string, name: string, address: string): Promise<ChildProcess> {
  return startBenchProxy({ dir, name, address, env: { WEFT_LOG_LEVEL: 'error' } });
}
