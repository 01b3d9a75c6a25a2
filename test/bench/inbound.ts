// `npm run bench` section for the inbound side alone: one weft client proxy in front of several
// server sides doing the inbound job (mutual TLS 1.3 from the client sidecar, keep-alive to the
// app): weft's inbound side today, the paired-connection prototype (inbound-prototype/), the
// undici floor's server side, nginx, and the TCP-level TLS pipe. Same certificates, same client,
// same load; the figure is the server side's CPU per request.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, authorityFromPem, CA_FILES } from '../../lib/pki/store.js';
import { runWrk, processUsage, childPids, startProcess, stopProcess, type WrkResult } from './tools.js';
import { startBenchProxy } from './weft-proxy.js';
import type { BenchRow, BenchSection } from './report.js';
import { startNginx, appConfAt, writeNginxCerts } from './mesh.js';

const PROTOTYPE_MAIN = fileURLToPath(new URL('./inbound-prototype-main.js', import.meta.url));
const UNDICI_FLOOR_MAIN = fileURLToPath(new URL('./undici-floor-main.js', import.meta.url));
const TLS_PIPE_MAIN = fileURLToPath(new URL('./tls-pipe-main.js', import.meta.url));
// Its own loopback range: the mesh section's is 127.0.77.x.
const NET = '127.0.79';
const APP_HOST = `${NET}.20`;
const APP = `${APP_HOST}:8080`;
const CLIENT = `${NET}.19`;
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '8');
const ROUNDS = Number(process.env.WEFT_BENCH_ROUNDS ?? '1');
const CONNECTIONS = [16, 64] as const;
const SERVER_ID = 'spiffe://cluster.local/ns/bench/sa/server';
const NGINX_SERVER_ID = 'spiffe://cluster.local/ns/bench/sa/nginx-server';

/** A server side behind the shared weft client: its service name, address and process. */
interface ServerSide {
  readonly name: string;
  readonly service: string;
  readonly address: string;
  readonly identity: string;
  pids: () => Promise<number[]>;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? (s[(s.length - 1) / 2] ?? NaN) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2;
};

/** Runs the inbound-side benchmark and returns its section. */
export async function benchInbound(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-inbound-'));
  const children: ChildProcess[] = [];
  const start = async (p: Promise<ChildProcess>): Promise<ChildProcess> => {
    const c = await p;
    children.push(c);
    return c;
  };
  try {
    const pem = await generateAuthorityPem('cluster.local', new Date());
    const authority = await authorityFromPem(pem);
    await mkdir(join(dir, 'ca'));
    for (const [field, file] of Object.entries(CA_FILES)) await writeFile(join(dir, 'ca', file), pem[field as keyof typeof pem] ?? '');
    await writeNginxCerts(dir, authority);
    const cert = join(dir, 'nginx-server.pem');
    const key = join(dir, 'nginx-server.key');
    const ca = join(dir, 'ca', 'root.pem');
    await start(startNginx(dir, 'app', appConfAt(APP), `http://${APP}/`));

    const placed = [['weft', 21, SERVER_ID], ['proto', 22, NGINX_SERVER_ID], ['floor', 23, NGINX_SERVER_ID], ['pipe', 24, NGINX_SERVER_ID], ['nginx', 25, NGINX_SERVER_ID]] as const;
    const services = placed.map(([name, host, identity]) => ({ name, namespace: 'bench', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: `${NET}.${host}`, identity, podName: name }] }));
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify({ services }));
    const sides: ServerSide[] = [];
    const weftServer = await start(startWeft(dir, 'server', `${NET}.21`));
    sides.push({ name: 'weft inbound', service: 'weft', address: `${NET}.21`, identity: SERVER_ID, pids: async () => [weftServer.pid ?? 0] });
    const proto = await start(startProcess(process.execPath, [...(process.env.WEFT_BENCH_PROTOTYPE_NODE_ARGS ?? '').split(' ').filter(Boolean), PROTOTYPE_MAIN, `${NET}.22:7006`, APP_HOST, cert, key, ca, 'spiffe://cluster.local/'], { PATH: process.env.PATH }, () => listening(`${NET}.22`, 7006)));
    sides.push({ name: 'prototype', service: 'proto', address: `${NET}.22`, identity: NGINX_SERVER_ID, pids: async () => [proto.pid ?? 0] });
    const floor = await start(startProcess(process.execPath, [UNDICI_FLOOR_MAIN, 'server', `${NET}.23:7006`, APP, cert, key, ca], { PATH: process.env.PATH }, () => listening(`${NET}.23`, 7006)));
    sides.push({ name: 'undici floor server', service: 'floor', address: `${NET}.23`, identity: NGINX_SERVER_ID, pids: async () => [floor.pid ?? 0] });
    const nginx = await start(startNginx(dir, 'server', nginxServerConf(dir, `${NET}.25:7006`), undefined));
    sides.push({ name: 'nginx server', service: 'nginx', address: `${NET}.25`, identity: NGINX_SERVER_ID, pids: () => childPids(nginx.pid ?? 0) });
    const pipe = await start(startProcess(process.execPath, [TLS_PIPE_MAIN, `${NET}.24:7006`, APP, cert, key, ca], { PATH: process.env.PATH }, () => listening(`${NET}.24`, 7006)));
    sides.push({ name: 'TLS pipe', service: 'pipe', address: `${NET}.24`, identity: NGINX_SERVER_ID, pids: async () => [pipe.pid ?? 0] });

    const client = await start(startWeft(dir, 'client', CLIENT));
    const url = `http://${CLIENT}:7001/`;
    // Every side answers through the client before anything is measured.
    for (const s of sides) {
      const r = await runWrk(url, { connections: 1, seconds: 1, headers: { Host: `${s.service}.bench` } });
      if (!(r.requestsPerSec > 0) || r.non2xx + r.errors > 0) throw new Error(`${s.name} does not answer through the weft client: ${JSON.stringify(r)}`);
    }

    const loadBefore = loadavg();
    const cpu = new Map<string, { server: number[]; client: number[]; wrk: WrkResult[]; peakMb: number }>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const connections of CONNECTIONS) {
        for (const s of sides) {
          const headers = { Host: `${s.service}.bench` };
          await runWrk(url, { connections, seconds: 2, headers });
          const pids = await s.pids();
          const usage = async (): Promise<{ server: number; client: number; peakMb: number }> => {
            const server = await Promise.all(pids.map(processUsage));
            const c = await processUsage(client.pid ?? 0);
            return { server: server.reduce((n, u) => n + u.cpuSeconds, 0), client: c.cpuSeconds, peakMb: server.reduce((n, u) => n + u.peakRssMb, 0) };
          };
          const before = await usage();
          const wrk = await runWrk(url, { connections, seconds: SECONDS, headers });
          const after = await usage();
          const requests = wrk.requestsPerSec * SECONDS;
          const k = `${s.name}@${connections}`;
          const m = cpu.get(k) ?? { server: [], client: [], wrk: [], peakMb: 0 };
          m.server.push(((after.server - before.server) / requests) * 1e6);
          m.client.push(((after.client - before.client) / requests) * 1e6);
          m.wrk.push(wrk);
          m.peakMb = after.peakMb;
          cpu.set(k, m);
        }
      }
    }
    const loadAfter = loadavg();

    const f = (n: number): string => (Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
    const table: string[][] = [];
    const rows: BenchRow[] = [];
    for (const connections of CONNECTIONS) {
      const serverCpu = (name: string): number => median(cpu.get(`${name}@${connections}`)?.server ?? []);
      const weft = serverCpu('weft inbound');
      const pipeCpu = serverCpu('TLS pipe');
      for (const s of sides) {
        const m = cpu.get(`${s.name}@${connections}`);
        if (!m) continue;
        const server = median(m.server);
        const errors = m.wrk.reduce((n, w) => n + w.errors + w.non2xx, 0);
        table.push([s.name, String(connections), f(median(m.wrk.map((w) => w.requestsPerSec))), median(m.wrk.map((w) => w.p50Ms)).toFixed(2), median(m.wrk.map((w) => w.p99Ms)).toFixed(2), f(server), m.server.map(f).join('/'), `${(server / weft).toFixed(2)}x`, `${(server / pipeCpu).toFixed(2)}x`, f(median(m.client)), String(errors), f(m.peakMb)]);
        if (s.name !== 'TLS pipe') rows.push({ figure: `${s.name}: server CPU us/req @${connections}`, weft: server, baseline: pipeCpu });
      }
    }
    return {
      title: 'inbound side: wrk -> weft client proxy -> mTLS 1.3 -> server side -> app (loopback, 2 shared cores)',
      baselineName: 'TCP-level TLS pipe',
      rows,
      table: { head: ['server side', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'server CPU us/req', 'per round', 'x weft', 'x pipe', 'client us/req', 'errors+non2xx', 'server peak RSS MB'], rows: table },
      notes: [
        `${ROUNDS} round(s) (WEFT_BENCH_ROUNDS), each ${SECONDS} s per row after a 2 s warm-up, sides interleaved within a round; figures are medians over rounds. app = nginx returning a 3-byte body (1 worker).`,
        `load average (1/5/15 min) at start ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, at end ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; absolute figures drift with the machine's load, ratios within one run less so.`,
        'one weft client proxy (defaults, log level warn) sends HTTP/1.1 over mutual TLS 1.3 to each server side; every side checks the client chain; weft and the prototype also read its SPIFFE ID, apply authorization, strip weft-dst-* and set weft-client-id.',
        "'prototype': (node flags in WEFT_BENCH_PROTOTYPE_NODE_ARGS, --cpu-prof say) one paired keep-alive app connection per TLS connection, request heads parsed and rewritten, bodies and responses copied through (test/bench/inbound-prototype/, docs/performance.md); it does not ship in the proxy.",
        "'TLS pipe': TLS terminated and bytes piped to a per-connection app connection with no HTTP parsing (the floor); 'undici floor server': node:https in, undici Pool to the app; nginx: 1 worker, access_log off.",
      ],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const sock = connect(port, host, () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}

// A weft proxy in local mode; its inbound side reaches the one app at APP_HOST.
function startWeft(dir: string, name: string, address: string): Promise<ChildProcess> {
  return startBenchProxy({ dir, name, address, appHost: APP_HOST });
}

function nginxServerConf(dir: string, listen: string): string {
  return `  upstream app { server ${APP}; keepalive 256; }
  server {
    listen ${listen} ssl;
    ssl_certificate ${dir}/nginx-server.pem;
    ssl_certificate_key ${dir}/nginx-server.key;
    ssl_client_certificate ${dir}/ca/root.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
}
