// `npm run bench` section for the data plane: wrk against the app directly, a weft sidecar pair
// and an nginx pair doing the same job (plain HTTP in, mutual TLS 1.3 between the two,
// keep-alive upstreams), at 16 and 64 connections, all on loopback in one run.
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { generateAuthorityPem, authorityFromPem, CA_FILES } from '../../lib/pki/store.js';
import { generateKeyPair, privateKeyToPem, x509, ECDSA_SHA256, randomSerial } from '../../lib/pki/crypto.js';
import type { Authority } from '../../lib/pki/authority.js';
import { runWrk, processUsage, childPids, startProcess, stopProcess, type WrkResult } from './tools.js';
import type { BenchRow, BenchSection } from './report.js';
import { WEFT_MAIN } from '../support/local-mesh.js';

const MAIN = WEFT_MAIN;
const FLOOR_MAIN = fileURLToPath(new URL('./node-floor-main.js', import.meta.url));
const NET = '127.0.77';
const APP = `${NET}.2:8080`;
const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? '8');
const CONNECTIONS = [16, 64] as const;

interface Contender {
  readonly name: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** PIDs whose RSS and CPU are the proxies' cost (empty for the app alone). */
  readonly pids: () => Promise<number[]>;
}

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
    const nginxWorkers = async (): Promise<number[]> => [...(await childPids(nginxClient.pid ?? 0)), ...(await childPids(nginxServer.pid ?? 0))];
    const contenders: Contender[] = [
      { name: 'app', url: `http://${APP}/`, headers: {}, pids: async () => [] },
      { name: 'weft', url: `http://${NET}.1:7001/`, headers: { Host: 'bench.bench' }, pids: async () => [weftClient.pid ?? 0, weftServer.pid ?? 0] },
      { name: 'nginx', url: `http://${NET}.3:7001/`, headers: {}, pids: nginxWorkers },
      { name: 'floor', url: floorUrl, headers: {}, pids: async () => [floor.pid ?? 0] },
    ];
    const results = new Map<string, { wrk: WrkResult; cpu: number }>();
    for (const connections of CONNECTIONS) {
      for (const c of contenders) {
        await runWrk(c.url, { connections, seconds: 2, headers: c.headers }); // warm-up: pools, JIT
        const pids = await c.pids();
        const before = await Promise.all(pids.map(processUsage));
        const wrk = await runWrk(c.url, { connections, seconds: SECONDS, headers: c.headers });
        const after = await Promise.all(pids.map(processUsage));
        const cpu = after.reduce((n, u, i) => n + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0);
        results.set(`${c.name}@${connections}`, { wrk, cpu });
      }
    }
    const weftPeak = await Promise.all([weftClient.pid ?? 0, weftServer.pid ?? 0].map(processUsage));
    const nginxPeak = await Promise.all((await nginxWorkers()).map(processUsage));

    const rows: BenchRow[] = [];
    for (const connections of CONNECTIONS) {
      const app = results.get(`app@${connections}`);
      const weft = results.get(`weft@${connections}`);
      const nginx = results.get(`nginx@${connections}`);
      const floorResult = results.get(`floor@${connections}`);
      if (!app || !weft || !nginx || !floorResult) continue;
      rows.push({ figure: `app direct: requests/s @${connections}`, weft: app.wrk.requestsPerSec });
      // Reference, not weft: one bare Node HTTP hop (weft's pair is two hops plus TLS).
      rows.push({ figure: `bare Node 1-hop proxy req/s @${connections}`, weft: floorResult.wrk.requestsPerSec, baseline: nginx.wrk.requestsPerSec });
      rows.push({ figure: `bare Node 1-hop CPU s/10k @${connections}`, weft: (floorResult.cpu / (floorResult.wrk.requestsPerSec * SECONDS)) * 10_000, baseline: (nginx.cpu / (nginx.wrk.requestsPerSec * SECONDS)) * 10_000 });
      const ratio = weft.wrk.requestsPerSec / nginx.wrk.requestsPerSec;
      rows.push({ figure: `pair requests/s @${connections}`, weft: weft.wrk.requestsPerSec, baseline: nginx.wrk.requestsPerSec, goal: '>= 0.5x', met: ratio >= 0.5 });
      rows.push({ figure: `pair p50 ms @${connections}`, weft: weft.wrk.p50Ms, baseline: nginx.wrk.p50Ms });
      rows.push({ figure: `pair p99 ms @${connections}`, weft: weft.wrk.p99Ms, baseline: nginx.wrk.p99Ms, goal: '<= 2x', met: weft.wrk.p99Ms <= 2 * nginx.wrk.p99Ms });
      rows.push({ figure: `pair CPU s per 10k req @${connections}`, weft: (weft.cpu / (weft.wrk.requestsPerSec * SECONDS)) * 10_000, baseline: (nginx.cpu / (nginx.wrk.requestsPerSec * SECONDS)) * 10_000 });
      rows.push({ figure: `pair errors+non2xx @${connections}`, weft: weft.wrk.errors + weft.wrk.non2xx, baseline: nginx.wrk.errors + nginx.wrk.non2xx });
    }
    const maxWeft = Math.max(...weftPeak.map((u) => u.peakRssMb));
    rows.push({ figure: 'client proxy peak RSS MB', weft: weftPeak[0]?.peakRssMb ?? NaN, baseline: nginxPeak[0]?.peakRssMb ?? NaN, goal: '< 80 MB', met: (weftPeak[0]?.peakRssMb ?? Infinity) < 80 });
    rows.push({ figure: 'server proxy peak RSS MB', weft: weftPeak[1]?.peakRssMb ?? NaN, baseline: nginxPeak[1]?.peakRssMb ?? NaN, goal: '< 80 MB', met: (weftPeak[1]?.peakRssMb ?? Infinity) < 80 });
    return {
      title: 'data plane: wrk -> client proxy -> mTLS 1.3 -> server proxy -> app (loopback, 2 cores shared by wrk, app and both proxies)',
      baselineName: 'nginx 1.22 pair',
      rows,
      notes: [
        `${SECONDS} s per run after a 2 s warm-up; app = nginx returning a 3-byte body (1 worker); each nginx proxy runs 1 worker, as each weft proxy is one process.`,
        'access logs off on both sides (weft: WEFT_ACCESS_LOG=false; nginx: access_log off); keep-alive upstreams on both; nginx checks the peer chain and name, weft the chain and SPIFFE identity.',
        `largest weft proxy peak RSS ${maxWeft.toFixed(1)} MB; nginx RSS is per worker process (its master adds ~1-2 MB).`,
        "'bare Node 1-hop' rows are a reference, not weft: the smallest Node proxy (plain HTTP, one hop, no TLS, routing or metrics) against the nginx pair; weft's pair is two such hops plus TLS, so Node's own HTTP stack bounds it near half that figure.",
      ],
    };
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

async function startWeft(dir: string, name: string, address: string): Promise<ChildProcess> {
  return startProcess(
    process.execPath,
    [...(process.env.WEFT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), MAIN, 'proxy'],
    {
      PATH: process.env.PATH,
      WEFT_MODE: 'local',
      WEFT_POD_NAME: name,
      WEFT_POD_NAMESPACE: 'bench',
      WEFT_SERVICE_ACCOUNT: name,
      WEFT_APP_HOST: address,
      WEFT_INBOUND_ADDR: `${address}:7006`,
      WEFT_OUTBOUND_ADDR: `${address}:7001`,
      WEFT_ADMIN_ADDR: `${address}:7020`,
      WEFT_CA_DIR: join(dir, 'ca'),
      WEFT_ENDPOINTS_FILE: join(dir, 'endpoints.json'),
      WEFT_ACCESS_LOG: 'false',
      ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      WEFT_LOG_LEVEL: 'warn',
    },
    async () => (await status(`http://${address}:7020/ready`)) === 200,
  );
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

// nginx checks a peer by DNS name, not by SPIFFE URI, so its leaves carry both.
async function writeNginxCerts(dir: string, authority: Authority): Promise<void> {
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

/** The status of a GET to `url`, 0 when it fails. */
export function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}
