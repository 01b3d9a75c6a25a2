// `npm run bench` section for the data plane: wrk against the app directly, a weft sidecar pair
// and an nginx pair doing the same job (plain HTTP in, mutual TLS 1.3 between the two,
// keep-alive upstreams), at 16 and 64 connections, all on loopback in one run.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, authorityFromPem, CA_FILES } from '../../lib/pki/store.js';
import { generateKeyPair, privateKeyToPem, x509, ECDSA_SHA256, randomSerial } from '../../lib/pki/crypto.js';
import type { Authority } from '../../lib/pki/authority.js';
import { runWrk, processUsage, childPids, startProcess, stopProcess, status, type WrkResult } from './tools.js';
import type { BenchRow, BenchSection } from './report.js';
import { WEFT_MAIN } from '../support/local-mesh.js';
import { startBenchProxy } from './weft-proxy.js';

export { status };

const MAIN = WEFT_MAIN;
const FLOOR_MAIN = fileURLToPath(new URL('./node-floor-main.js', import.meta.url));
const UNDICI_FLOOR_MAIN = fileURLToPath(new URL('./undici-floor-main.js', import.meta.url));
const NET = '127.0.77';
const APP = `${NET}.2:8080`;
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '6');
// Each contender is measured this many times, the rounds interleaved, and the round with the median
// pair CPU is reported: one 8 s run on a shared machine swung the ratios by a third.
const ROUNDS = Math.max(1, Number(process.env.WEFT_BENCH_ROUNDS ?? '3'));
const CONNECTIONS = [16, 64] as const;

interface Contender {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Per proxy (client side, server side), the PIDs whose RSS and CPU are its cost (none for the app alone). */
  readonly sides: () => Promise<number[][]>;
}

/** One contender's figures at one connection count. */
interface Measured {
  readonly wrk: WrkResult;
  /** CPU microseconds per request, per side. */
  readonly cpuUsPerReq: number[];
  /** Peak RSS (VmHWM) in MB after the run, per side. */
  readonly peakRssMb: number[];
}

const sum = <T>(xs: readonly T[], f: (x: T) => number): number => xs.reduce((n, x) => n + f(x), 0);

/** Runs the data-plane benchmark and returns its section. */
export async function benchMesh(): Promise<BenchSection> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-'));
  const children: ChildProcess[] = [];
  try {
    const pem = await generateAuthorityPem('cluster.local', new Date());
    const authority = await authorityFromPem(pem);
    await mkdir(join(dir, 'ca'));
    for (const [field, file] of Object.entries(CA_FILES)) await writeFile(join(dir, 'ca', file), pem[field as keyof typeof pem] ?? '');
    await writeNginxCerts(dir, authority);

    children.push(await startNginx(dir, 'app', appConf(dir), `http://${APP}/`));
    const endpoints = {
      services: [{ name: 'bench', namespace: 'bench', ports: [{ port: 80, targetPort: 8080 }], endpoints: [{ address: `${NET}.2`, identity: 'spiffe://cluster.local/ns/bench/sa/server', podName: 'server' }] }],
    };
    await writeFile(join(dir, 'endpoints.json'), JSON.stringify(endpoints));
    const weftClient = await startWeft(dir, 'client', `${NET}.1`);
    const weftServer = await startWeft(dir, 'server', `${NET}.2`);
    children.push(weftClient, weftServer);
    const nginxServer = await startNginx(dir, 'server', nginxServerConf(dir), undefined);
    const nginxClient = await startNginx(dir, 'client', nginxClientConf(dir), `http://${NET}.3:7001/`);
    children.push(nginxClient, nginxServer);

    const floorUrl = `http://${NET}.5:7001/`;
    const floor = await startProcess(process.execPath, [FLOOR_MAIN, `${NET}.5`, '7001', `${NET}.2`, '8080'], { PATH: process.env.PATH }, async () => (await status(floorUrl)) === 200);
    children.push(floor);
    const undiciServer = await startUndiciFloor(dir, 'server', `${NET}.7:7006`, APP);
    const undiciClient = await startUndiciFloor(dir, 'client', `${NET}.6:7001`, `${NET}.7:7006`);
    children.push(undiciClient, undiciServer);
    const pid = (c: ChildProcess): number[] => [c.pid ?? 0];
    // WEFT_BENCH_BEFORE=<a weft dist/cli/main.js>: the same pair from another build (the branch's
    // base, say) in this run, so a change is measured against its own before in one run.
    const before = process.env.WEFT_BENCH_BEFORE;
    const beforePair: ChildProcess[] = [];
    if (before) {
      const moved = { services: [{ ...endpoints.services[0], endpoints: [{ address: `${NET}.9`, identity: 'spiffe://cluster.local/ns/bench/sa/server', podName: 'server' }] }] };
      await writeFile(join(dir, 'endpoints-before.json'), JSON.stringify(moved));
      children.push(await startAppAt(dir, `${NET}.9:8080`));
      beforePair.push(await startWeft(dir, 'client', `${NET}.8`, before, 'endpoints-before.json'), await startWeft(dir, 'server', `${NET}.9`, before, 'endpoints-before.json'));
      children.push(...beforePair);
    }
    // The access log on (WEFT_ACCESS_LOG=true at level info: one line per request), for this build
    // and, with WEFT_BENCH_BEFORE, for the other one, each pair with its own app.
    const logged: { name: string; client: string; pair: ChildProcess[] }[] = [];
    for (const [name, main, c, s] of [['weft, access log on', MAIN, 10, 11], ...(before ? [['weft before, access log on', before, 12, 13] as const] : [])] as const) {
      const file = `endpoints-log-${s}.json`;
      await writeFile(join(dir, file), JSON.stringify({ services: [{ ...endpoints.services[0], endpoints: [{ address: `${NET}.${s}`, identity: 'spiffe://cluster.local/ns/bench/sa/server', podName: 'server' }] }] }));
      children.push(await startAppAt(dir, `${NET}.${s}:8080`));
      const logEnv = { WEFT_ACCESS_LOG: 'true', WEFT_LOG_LEVEL: 'info' };
      const pair = [await startWeft(dir, 'client', `${NET}.${c}`, main, file, logEnv), await startWeft(dir, 'server', `${NET}.${s}`, main, file, logEnv)];
      children.push(...pair);
      logged.push({ name, client: `${NET}.${c}`, pair });
    }
    const contenders: Contender[] = [
      { name: 'app', url: `http://${APP}/`, headers: {}, sides: async () => [] },
      { name: 'weft', url: `http://${NET}.1:7001/`, headers: { Host: 'bench.bench' }, sides: async () => [pid(weftClient), pid(weftServer)] },
      ...beforePair.map(() => ({ name: 'weft before', url: `http://${NET}.8:7001/`, headers: { Host: 'bench.bench' }, sides: async () => beforePair.map(pid) })).slice(0, 1),
      ...logged.map((l) => ({ name: l.name, url: `http://${l.client}:7001/`, headers: { Host: 'bench.bench' }, sides: async () => l.pair.map(pid) })),
      { name: 'nginx', url: `http://${NET}.3:7001/`, headers: {}, sides: async () => [await childPids(nginxClient.pid ?? 0), await childPids(nginxServer.pid ?? 0)] },
      { name: 'undici floor', url: `http://${NET}.6:7001/`, headers: {}, sides: async () => [pid(undiciClient), pid(undiciServer)] },
      { name: 'bare 1-hop', url: floorUrl, headers: {}, sides: async () => [pid(floor)] },
    ];
    const loadBefore = loadavg();
    const idle = new Map<string, number[]>();
    const idleAnon = new Map<string, number[]>();
    for (const c of contenders) {
      const usage = await Promise.all((await c.sides()).map((g) => Promise.all(g.map(processUsage))));
      idle.set(c.name, usage.map((g) => sum(g, (u) => u.rssMb)));
      idleAnon.set(c.name, usage.map((g) => sum(g, (u) => u.anonMb)));
    }
    const samples = new Map<string, Measured[]>();
    for (const connections of CONNECTIONS) {
      for (let round = 0; round < ROUNDS; round++) {
        for (const c of contenders) {
          await runWrk(c.url, { connections, seconds: 2, headers: c.headers }); // warm-up: pools, JIT
          const sides = await c.sides();
          const before = await Promise.all(sides.map((g) => Promise.all(g.map(processUsage))));
          const wrk = await runWrk(c.url, { connections, seconds: SECONDS, headers: c.headers });
          const after = await Promise.all(sides.map((g) => Promise.all(g.map(processUsage))));
          const requests = wrk.requestsPerSec * SECONDS;
          const cpuUsPerReq = after.map((g, i) => ((sum(g, (u) => u.cpuSeconds) - sum(before[i] ?? [], (u) => u.cpuSeconds)) / requests) * 1e6);
          const peakRssMb = after.map((g) => sum(g, (u) => u.peakRssMb));
          const key = `${c.name}@${connections}`;
          samples.set(key, [...(samples.get(key) ?? []), { wrk, cpuUsPerReq, peakRssMb }]);
        }
      }
    }
    const results = new Map<string, Measured>();
    for (const [key, runs] of samples) results.set(key, medianRound(runs));
    const loadAfter = loadavg();

    const rows: BenchRow[] = [];
    const table: string[][] = [];
    const f = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
    const times = (a: number, b: number): string => (Number.isNaN(a) ? '-' : `${(a / b).toFixed(2)}x`);
    for (const connections of CONNECTIONS) {
      const get = (name: string): Measured | undefined => results.get(`${name}@${connections}`);
      const app = get('app');
      const weft = get('weft');
      const nginx = get('nginx');
      const undici = get('undici floor');
      const bare = get('bare 1-hop');
      if (!app || !weft || !nginx || !undici || !bare) continue;
      const pair = (m: Measured): number => sum(m.cpuUsPerReq, (x) => x);
      for (const c of contenders) {
        const m = get(c.name);
        if (!m) continue;
        const [idleC, idleS] = idle.get(c.name) ?? [];
        const [anonC, anonS] = idleAnon.get(c.name) ?? [];
        const cpu = m.cpuUsPerReq.length > 0 ? pair(m) : NaN;
        table.push([c.name, String(connections), f(m.wrk.requestsPerSec), m.wrk.p50Ms.toFixed(2), m.wrk.p99Ms.toFixed(2), f(m.cpuUsPerReq[0]), f(m.cpuUsPerReq[1]), f(cpu), times(cpu, pair(nginx)), times(cpu, pair(undici)), `${f(idleC)}/${f(idleS)}`, `${f(anonC)}/${f(anonS)}`, `${f(m.peakRssMb[0])}/${f(m.peakRssMb[1])}`]);
      }
      rows.push({ figure: `app direct: requests/s @${connections}`, weft: app.wrk.requestsPerSec });
      const floorRatio = pair(weft) / pair(undici);
      rows.push({ figure: `pair CPU us/req vs undici floor @${connections}`, weft: pair(weft), baseline: pair(undici), goal: '<= 1.25x floor', met: floorRatio <= 1.25 });
      const ratio = weft.wrk.requestsPerSec / nginx.wrk.requestsPerSec;
      rows.push({ figure: `pair requests/s @${connections}`, weft: weft.wrk.requestsPerSec, baseline: nginx.wrk.requestsPerSec, goal: '>= 0.5x', met: ratio >= 0.5 });
      rows.push({ figure: `pair p50 ms @${connections}`, weft: weft.wrk.p50Ms, baseline: nginx.wrk.p50Ms });
      rows.push({ figure: `pair p99 ms @${connections}`, weft: weft.wrk.p99Ms, baseline: nginx.wrk.p99Ms, goal: '<= 2x', met: weft.wrk.p99Ms <= 2 * nginx.wrk.p99Ms });
      rows.push({ figure: `pair CPU us/req @${connections}`, weft: pair(weft), baseline: pair(nginx) });
      rows.push({ figure: `pair errors+non2xx @${connections}`, weft: weft.wrk.errors + weft.wrk.non2xx, baseline: nginx.wrk.errors + nginx.wrk.non2xx });
    }
    const [weftIdleC = NaN, weftIdleS = NaN] = idle.get('weft') ?? [];
    const [nginxIdleC, nginxIdleS] = idle.get('nginx') ?? [];
    const weftPeak = results.get(`weft@${CONNECTIONS[CONNECTIONS.length - 1]}`)?.peakRssMb ?? [];
    const nginxPeak = results.get(`nginx@${CONNECTIONS[CONNECTIONS.length - 1]}`)?.peakRssMb ?? [];
    rows.push({ figure: 'client proxy idle RSS MB', weft: weftIdleC, baseline: nginxIdleC, goal: '<= 60 MB', met: weftIdleC <= 60 });
    rows.push({ figure: 'server proxy idle RSS MB', weft: weftIdleS, baseline: nginxIdleS, goal: '<= 60 MB', met: weftIdleS <= 60 });
    const [weftAnonC = NaN, weftAnonS = NaN] = idleAnon.get('weft') ?? [];
    const [nginxAnonC, nginxAnonS] = idleAnon.get('nginx') ?? [];
    rows.push({ figure: 'client proxy idle private MB (RssAnon)', weft: weftAnonC, baseline: nginxAnonC });
    rows.push({ figure: 'server proxy idle private MB (RssAnon)', weft: weftAnonS, baseline: nginxAnonS });
    rows.push({ figure: 'client proxy peak RSS MB', weft: weftPeak[0] ?? NaN, baseline: nginxPeak[0], goal: '<= 100 MB', met: (weftPeak[0] ?? Infinity) <= 100 });
    rows.push({ figure: 'server proxy peak RSS MB', weft: weftPeak[1] ?? NaN, baseline: nginxPeak[1], goal: '<= 100 MB', met: (weftPeak[1] ?? Infinity) <= 100 });
    return {
      title: 'data plane: wrk -> client proxy -> mTLS 1.3 -> server proxy -> app (loopback, 2 cores shared by wrk, app and both proxies)',
      baselineName: 'nginx 1.22 pair',
      rows,
      table: {
        head: ['contender', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'CPU us/req client', 'server', 'pair', 'x nginx', 'x floor', 'idle RSS MB c/s', 'idle private MB c/s', 'peak RSS MB c/s'],
        rows: table,
      },
      notes: [
        `${ROUNDS} interleaved rounds of ${SECONDS} s per contender, each after a 2 s warm-up, the round with the median pair CPU shown; app = nginx returning a 3-byte body (1 worker); each nginx proxy runs 1 worker, as each weft proxy is one process.`,
        `load average (1/5/15 min) at start ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, at end ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; absolute figures drift with the machine's load, ratios within one run do not.`,
        "weft runs with its defaults (access log off) at log level warn and the NODE_OPTIONS the injector writes for a default pod; 'weft, access log on' sets WEFT_ACCESS_LOG=true and WEFT_LOG_LEVEL=info (a line per request on each side, to stdout, here /dev/null); nginx: access_log off; keep-alive upstreams everywhere; nginx checks the peer chain and name, weft the chain and SPIFFE identity.",
        "'undici floor' is the floor row: the smallest Node pair doing the same job (node:http in, undici Pool over mutual TLS 1.3 with the same certificates, node:https + undici Pool to the app); 'x floor' is each row's pair CPU per request against it.",
        'CPU us/req from /proc utime+stime over the measured run; nginx figures are its worker processes; peak RSS is VmHWM after that row\'s last round, idle RSS VmRSS before any load, idle private its RssAnon part (the rest is mostly the node binary\'s file pages, shared by every process of the same image on a node).',
        "'bare 1-hop' is one plain-HTTP Node hop (no TLS), a reference for Node's HTTP stack alone.",
      ],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

function startWeft(dir: string, name: string, address: string, main = MAIN, endpointsFile = 'endpoints.json', env: Record<string, string> = {}): Promise<ChildProcess> {
  return startBenchProxy({ dir, name, address, main, endpointsFile, env });
}

/** Starts one side of the undici floor pair with the nginx leaves (same authority as weft's). */
async function startUndiciFloor(dir: string, side: 'client' | 'server', listen: string, upstream: string): Promise<ChildProcess> {
  const args = [UNDICI_FLOOR_MAIN, side, listen, upstream, join(dir, `nginx-${side}.pem`), join(dir, `nginx-${side}.key`), join(dir, 'ca', 'root.pem')];
  return startProcess(process.execPath, args, { PATH: process.env.PATH }, async () => {
    if (side === 'client') return (await status(`http://${listen}/`)) === 200;
    return new Promise<boolean>((resolve) => {
      const [host = '', port = '0'] = listen.split(':');
      const sock = connect(Number(port), host, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
  });
}

// The same nginx app on another address (the 'before' pair's server pod needs its own).
async function startAppAt(dir: string, listen: string): Promise<ChildProcess> {
  return startNginx(dir, `app-${listen.replace(/[.:]/g, '-')}`, appConfAt(listen), `http://${listen}/`);
}

/** Starts nginx with `conf` in its own prefix under `dir`; ready when `readyUrl` answers 200. */
export async function startNginx(dir: string, name: string, conf: string, readyUrl: string | undefined): Promise<ChildProcess> {
  const prefix = join(dir, `nginx-${name}`);
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const file = join(prefix, 'nginx.conf');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  await writeFile(
    file,
    `${user}daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  client_body_temp_path ${prefix}/tmp; proxy_temp_path ${prefix}/tmp; fastcgi_temp_path ${prefix}/tmp; uwsgi_temp_path ${prefix}/tmp; scgi_temp_path ${prefix}/tmp;\n  keepalive_requests 1000000;\n${conf}\n}\n`,
  );
  let started = false;
  return startProcess('nginx', ['-p', prefix, '-c', file], { PATH: process.env.PATH }, async () => {
    if (readyUrl) return (await status(readyUrl)) === 200;
    // No plain URL to poll (the TLS server): give it a moment after start.
    if (!started) {
      started = true;
      return false;
    }
    return true;
  });
}

/** An nginx app answering 200 "ok" on `listen`. */
export function appConfAt(listen: string): string {
  return `  server { listen ${listen}; location / { return 200 "ok\\n"; } }`;
}

function appConf(_dir: string): string {
  return `  server { listen ${APP}; location / { return 200 "ok\\n"; } }`;
}

function nginxClientConf(dir: string): string {
  return `  upstream peer { server ${NET}.4:7006; keepalive 256; }
  server {
    listen ${NET}.3:7001;
    location / {
      proxy_pass https://peer;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${dir}/nginx-client.pem;
      proxy_ssl_certificate_key ${dir}/nginx-client.key;
      proxy_ssl_trusted_certificate ${dir}/ca/root.pem;
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name bench-server;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }`;
}

function nginxServerConf(dir: string): string {
  return `  upstream app { server ${APP}; keepalive 256; }
  server {
    listen ${NET}.4:7006 ssl;
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

// nginx checks a peer by DNS name, not by SPIFFE URI, so its leaves carry both (the inbound section uses them too).
export async function writeNginxCerts(dir: string, authority: Authority): Promise<void> {
  for (const name of ['client', 'server']) {
    const keys = await generateKeyPair();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=bench-${name}`,
      issuer: authority.issuer.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 24 * 3600_000),
      publicKey: keys.publicKey,
      signingKey: authority.issuer.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: `bench-${name}` },
          { type: 'url', value: `spiffe://cluster.local/ns/bench/sa/nginx-${name}` },
        ]),
      ],
    });
    await writeFile(join(dir, `nginx-${name}.pem`), `${leaf.toString('pem')}\n${authority.issuer.cert.toString('pem')}\n`);
    await writeFile(join(dir, `nginx-${name}.key`), await privateKeyToPem(keys.privateKey));
  }
}

// The round whose pair CPU is the median, reported whole (its wrk figures belong to it); peak RSS
// is the last round's, since VmHWM only grows.
function medianRound(runs: readonly Measured[]): Measured {
  const pairCpu = (m: Measured): number => sum(m.cpuUsPerReq, (x) => x);
  const sorted = [...runs].sort((a, b) => pairCpu(a) - pairCpu(b));
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  const last = runs[runs.length - 1];
  if (!mid || !last) throw new Error('no round measured');
  return { wrk: mid.wrk, cpuUsPerReq: mid.cpuUsPerReq, peakRssMb: last.peakRssMb };
}
