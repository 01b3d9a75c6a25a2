// `npm run bench tracing`: what tracing costs a sidecar pair. Three weft pairs in one run, each
// client sidecar -> mutual TLS -> server sidecar -> one nginx app: tracing off (no endpoint),
// on with every request sampled and exported to an OTLP receiver in this process, and on with a
// sample ratio of 0 (context propagated, nothing exported). CPU per request from /proc.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, CA_FILES } from '../../lib/pki/store.js';
import { runWrk, processUsage, stopProcess, type WrkResult } from './tools.js';
import { startBenchProxy } from './weft-proxy.js';
import type { BenchSection } from './report.js';
import { WEFT_MAIN } from '../support/local-mesh.js';
import { appConfAt, startNginx } from './mesh.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';

const NET = '127.0.78';
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '8');
const CONNECTIONS = 16;

interface Pair {
  readonly name: string;
  /** The client sidecar's outbound listener, with the Host of its service. */
  readonly url: string;
  readonly service: string;
  readonly pids: () => number[];
}

interface Measured {
  readonly wrk: WrkResult;
  /** CPU microseconds per request of the client and the server sidecar together. */
  readonly cpuUsPerReq: number;
}

function startSidecar(dir: string, name: string, address: string, env: Record<string, string>, main = WEFT_MAIN): Promise<ChildProcess> {
  return startBenchProxy({ dir, name, address, env, main });
}

/** Runs the tracing benchmark and returns its section. */
export async function benchTracing(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-trace-'));
  const children: ChildProcess[] = [];
  const receiver = await startOtlpReceiver(`${NET}.100`);
  try {
    const pem = await generateAuthorityPem('cluster.local', new Date());
    await mkdir(join(dir, 'ca'));
    for (const [field, file] of Object.entries(CA_FILES)) await writeFile(join(dir, 'ca', file), pem[field as keyof typeof pem] ?? '');
    // WEFT_BENCH_BEFORE=<another build's dist/cli/main.js> (the branch's base): a fourth pair from
    // that build, so "off" is measured against code without tracing in the same run.
    const before = process.env.WEFT_BENCH_BEFORE;
    const variants: readonly { readonly name: string; readonly tag: string; readonly env: Record<string, string>; readonly main?: string }[] = [
      ...(before ? [{ name: 'before (no tracing code)', tag: 'before', env: {}, main: before }] : []),
      { name: 'tracing off', tag: 'off', env: {} },
      { name: 'tracing on, all sampled and exported', tag: 'on', env: { WEFT_TRACE_OTLP_ENDPOINT: receiver.url, WEFT_TRACE_EXPORT_DELAY_MS: '1000' } },
      { name: 'tracing on, ratio 0 (propagate only)', tag: 'unsampled', env: { WEFT_TRACE_OTLP_ENDPOINT: receiver.url, WEFT_TRACE_SAMPLE_RATIO: '0' } },
    ];
    const servers = variants.map((_, i) => `${NET}.${2 * i + 2}`);
    children.push(await startNginx(dir, 'app', servers.map((a) => appConfAt(`${a}:8080`)).join('\n'), `http://${servers[0]}:8080/`));
    const endpoints = {
      services: variants.map((v, i) => ({ name: v.tag, namespace: 'bench', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: servers[i], identity: `spiffe://cluster.local/ns/bench/sa/server-${v.tag}`, podName: `server-${v.tag}` }] })),
    };
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify(endpoints));
    const pairs: Pair[] = [];
    for (const [i, v] of variants.entries()) {
      const clientAddress = `${NET}.${2 * i + 1}`;
      const client = await startSidecar(dir, `client-${v.tag}`, clientAddress, v.env, v.main);
      const server = await startSidecar(dir, `server-${v.tag}`, servers[i] ?? '', v.env, v.main);
      children.push(client, server);
      pairs.push({ name: v.name, url: `http://${clientAddress}:7001/`, service: v.tag, pids: () => [client.pid ?? 0, server.pid ?? 0] });
    }
    const loadBefore = loadavg();
    const results = new Map<string, Measured>();
    // Two rounds, interleaved, so that a change in the machine's load falls on every pair alike.
    for (let round = 0; round < 2; round++) {
      for (const p of pairs) {
        const headers = { Host: `${p.service}.bench` };
        await runWrk(p.url, { connections: CONNECTIONS, seconds: 2, headers }); // warm-up: pools, JIT
        const before = await Promise.all(p.pids().map(processUsage));
        const wrk = await runWrk(p.url, { connections: CONNECTIONS, seconds: SECONDS, headers });
        const after = await Promise.all(p.pids().map(processUsage));
        if (wrk.non2xx > 0 || wrk.errors > 0) throw new Error(`${p.name}: ${wrk.non2xx} non-2xx answers and ${wrk.errors} socket errors`);
        const cpu = (after.reduce((n, u) => n + u.cpuSeconds, 0) - before.reduce((n, u) => n + u.cpuSeconds, 0)) / (wrk.requestsPerSec * SECONDS);
        const prev = results.get(p.name);
        // The better of the two rounds: noise from other work on the machine only ever adds.
        if (!prev || cpu * 1e6 < prev.cpuUsPerReq) results.set(p.name, { wrk, cpuUsPerReq: cpu * 1e6 });
      }
    }
    const loadAfter = loadavg();
    const off = results.get('tracing off');
    const on = results.get('tracing on, all sampled and exported');
    const unsampled = results.get('tracing on, ratio 0 (propagate only)');
    if (!off || !on || !unsampled) throw new Error('a pair was not measured');
    const base = results.get('before (no tracing code)');
    const serverSpans = receiver.spans.filter((s) => s.kind === 2).length;
    return {
      title: `tracing: a weft sidecar pair, ${CONNECTIONS} connections, off vs on (one run)`,
      baselineName: 'tracing off',
      rows: [
        { figure: 'pair CPU us/req, on (all sampled, exported)', weft: on.cpuUsPerReq, baseline: off.cpuUsPerReq },
        { figure: 'pair CPU us/req, on (ratio 0, propagate only)', weft: unsampled.cpuUsPerReq, baseline: off.cpuUsPerReq },
        { figure: 'requests/s, on (all sampled)', weft: on.wrk.requestsPerSec, baseline: off.wrk.requestsPerSec },
        { figure: 'requests/s, on (ratio 0)', weft: unsampled.wrk.requestsPerSec, baseline: off.wrk.requestsPerSec },
        { figure: 'p99 ms, on (all sampled)', weft: on.wrk.p99Ms, baseline: off.wrk.p99Ms },
        ...(base
          ? [
              { figure: 'pair CPU us/req, off vs before (baseline column: before)', weft: off.cpuUsPerReq, baseline: base.cpuUsPerReq },
              { figure: 'requests/s, off vs before (baseline column: before)', weft: off.wrk.requestsPerSec, baseline: base.wrk.requestsPerSec },
            ]
          : []),
      ],
      notes: [
        `${SECONDS} s per run after a 2 s warm-up, two interleaved rounds, the lower CPU per request of the two kept; app = nginx returning a 3-byte body.`,
        `the receiver (in the bench process, not counted) got ${receiver.spans.length} spans, ${serverSpans} of them server spans, from the sampled pair; none is expected from the ratio-0 pair.`,
        `load average (1/5/15 min) at start ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, at end ${loadAfter.map((x) => x.toFixed(2)).join(' ')}.`,
      ],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await receiver.close();
    await rm(dir, { recursive: true, force: true });
  }
}
