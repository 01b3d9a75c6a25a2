// Benchmark of the edge gateway: requests/s and p99 through `weft gateway` with TLS termination,
// one API key check and one rate limit (high enough never to trigger), beside nginx doing TLS
// termination and proxying to the same backend the same way (mTLS to the backend's sidecar,
// which forwards to the app), on the same machine, driven by wrk.
import { spawn } from 'node:child_process';
import { writeFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow, BenchSection } from './report.js';
import { connect } from 'node:net';
import { processUsage, runWrk, startProcess, stopProcess } from './tools.js';
import { GatewayMesh } from '../support/gateway-mesh.js';
import { makeWebCa } from '../support/web-pki.js';
import { authorityFromPem, readCaDir } from '../../lib/pki/store.js';
import { issueMaterial } from '../../lib/pki/leaf.js';
import { hashKey } from '../../gateway/policies/api-key.js';
import { quotaRows } from './gateway-quota.js';

const API_KEY = 'bench-key';
const FLOOR_MAIN = fileURLToPath(new URL('./gateway-floor-main.js', import.meta.url));
const CONNECTIONS = 32;
const DURATION_S = 8;
// Alternated weft/nginx rounds of the main rows.
const ROUNDS = 3;

type Measured = { wrk: Awaited<ReturnType<typeof runWrk>>; cpuUsPerRequest: number; peakRssMb: number };

// The round with the median requests/s, with the median CPU per request of all rounds (each
// figure's own median; the peak RSS is the highest seen).
function medianOf(runs: readonly Measured[]): Measured {
  const mid = <T>(xs: readonly T[], by: (x: T) => number): T => [...xs].sort((a, b) => by(a) - by(b))[Math.floor(xs.length / 2)] as T;
  const byRps = mid(runs, (r) => r.wrk.requestsPerSec);
  return { wrk: byRps.wrk, cpuUsPerRequest: mid(runs, (r) => r.cpuUsPerRequest).cpuUsPerRequest, peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)) };
}

/** Runs the gateway benchmark section. */
export async function benchGateway(): Promise<BenchSection> {
  const mesh = await GatewayMesh.create();
  let nginx: ReturnType<typeof spawn> | undefined;
  let floor: ReturnType<typeof spawn> | undefined;
  try {
    await mesh.addService('bench');
    const web = await makeWebCa('bench web CA');
    const server = await web.server(['bench.test']);
    const indent = (s: string): string => s.trim().split('\n').map((l) => `    ${l}`).join('\n');
    const routes = `apiVersion: gateway.networking.k8s.io/v1
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
spec: { targetRef: { kind: HTTPRoute, name: bench }, consumers: [{ name: bencher, keySha256: ${hashKey(API_KEY)} }] }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: limit, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: bench }, requests: 1000000000, window: 1h, key: { type: Consumer } }
${CACHED_ROUTE}---
apiVersion: v1
kind: Secret
metadata: { name: cert, namespace: test }
stringData:
  tls.crt: |
${indent(server.certPem)}
  tls.key: |
${indent(server.keyPem)}
`;
    const file = join(mesh.dir, 'routes.yaml');
    await writeFile(file, routes);
    const gw = await mesh.startGateway(file, { WEFT_GATEWAY_HTTP_ADDR: 'off', WEFT_LOG_LEVEL: 'info' });
    // The same gateway with node:http as its client into the mesh (the default is undici).
    const gwNode = await mesh.startGateway(file, { WEFT_GATEWAY_HTTP_ADDR: 'off', WEFT_LOG_LEVEL: 'info', WEFT_GATEWAY_UPSTREAM_CLIENT: 'node' });

    // nginx takes the same path into the mesh: mTLS with a weft leaf to the backend's sidecar.
    const ngDir = join(mesh.dir, 'nginx');
    await mkdir(join(ngDir, 'logs'), { recursive: true });
    const ca = await readCaDir(mesh.caDir);
    if (!ca) throw new Error('no CA');
    const leaf = await issueMaterial({ authority: await authorityFromPem(ca), identity: 'spiffe://cluster.local/ns/test/sa/nginx', now: new Date() });
    await writeFile(join(ngDir, 'server.crt'), server.certPem);
    await writeFile(join(ngDir, 'server.key'), server.keyPem);
    await writeFile(join(ngDir, 'mesh.crt'), leaf.certChainPem);
    await writeFile(join(ngDir, 'mesh.key'), leaf.keyPem);
    await writeFile(join(ngDir, 'root.crt'), leaf.trustBundlePem);
    const endpoints = JSON.parse(await readFile(mesh.endpointsFile, 'utf8')) as { services: { name: string; endpoints: { address: string }[] }[] };
    const pod = endpoints.services.find((s) => s.name === 'bench')?.endpoints[0]?.address ?? '';
    const ngAddr = mesh.address();
    const ngPort = 20000 + Math.floor(Math.random() * 20000);
    await writeFile(
      join(ngDir, 'nginx.conf'),
      `daemon off;
master_process off;
worker_processes 1;
error_log ${ngDir}/logs/error.log warn;
pid ${ngDir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log ${ngDir}/logs/access.log;
  ${nginxCacheZone(ngDir)}
  client_body_temp_path ${ngDir}/body; proxy_temp_path ${ngDir}/proxy; fastcgi_temp_path ${ngDir}/fcgi; uwsgi_temp_path ${ngDir}/uwsgi; scgi_temp_path ${ngDir}/scgi;
  upstream mesh { server ${pod}:7006; keepalive 64; }
  server {
    listen ${ngAddr}:${ngPort} ssl;
    # nginx 1.22 offers TLS 1.0-1.2 unless told: without this line wrk spoke TLS 1.2 to nginx
    # and TLS 1.3 to the gateway. Both now negotiate TLS 1.3 (TLS_AES_256_GCM_SHA384).
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${ngDir}/server.crt;
    ssl_certificate_key ${ngDir}/server.key;
    ${nginxCacheLocation(ngDir)}
    location / {
      proxy_pass https://mesh;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header weft-dst-port 8080;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_ssl_certificate ${ngDir}/mesh.crt;
      proxy_ssl_certificate_key ${ngDir}/mesh.key;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`,
    );
    nginx = spawn('nginx', ['-c', join(ngDir, 'nginx.conf'), '-p', ngDir], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));

    // The Node floor: the same hops with nothing of weft's (gateway-floor-main.ts).
    const flAddr = mesh.address();
    const flPort = 20000 + Math.floor(Math.random() * 20000);
    floor = await startProcess(
      process.execPath,
      [FLOOR_MAIN, `${flAddr}:${flPort}`, `${pod}:7006`, ...['server.crt', 'server.key', 'mesh.crt', 'mesh.key', 'root.crt'].map((f) => join(ngDir, f))],
      { PATH: process.env.PATH },
      () => listening(flAddr, flPort),
    );
    const floorUrl = `https://${flAddr}:${flPort}/`;
    const headers = { Host: 'bench.test', 'x-api-key': API_KEY };
    // Warm-up (connections, JIT), then the measured runs.
    const gwUrl = `https://${gw.address}:${gw.httpsPort}/`;
    const ngUrl = `https://${ngAddr}:${ngPort}/`;
    const nodeUrl = `https://${gwNode.address}:${gwNode.httpsPort}/`;
    await runWrk(gwUrl, { connections: 8, seconds: 2, headers, threads: 1 });
    await runWrk(nodeUrl, { connections: 8, seconds: 2, headers, threads: 1 });
    await runWrk(ngUrl, { connections: 8, seconds: 2, headers, threads: 1 });
    await runWrk(floorUrl, { connections: 8, seconds: 2, headers, threads: 1 });
    // CPU per request of the proxy process itself: less sensitive than requests/s to whatever
    // else the machine is running, since both sides are charged only their own cycles.
    const measure = async (url: string, pid: number): Promise<Measured> => {
      const before = await processUsage(pid);
      const wrk = await runWrk(url, { connections: CONNECTIONS, seconds: DURATION_S, headers, threads: 1 });
      const after = await processUsage(pid);
      const requests = wrk.requestsPerSec * DURATION_S;
      return { wrk, cpuUsPerRequest: requests > 0 ? ((after.cpuSeconds - before.cpuSeconds) * 1e6) / requests : NaN, peakRssMb: after.peakRssMb };
    };
    // Rounds alternate weft and nginx so that a change in the neighbours' load falls on both;
    // each figure is the median of its rounds.
    const ws: Measured[] = [];
    const us: Measured[] = [];
    const bs: Measured[] = [];
    const fs: Measured[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ws.push(await measure(gwUrl, gw.proc.child.pid ?? 0));
      us.push(await measure(nodeUrl, gwNode.proc.child.pid ?? 0));
      bs.push(await measure(ngUrl, nginx.pid ?? 0));
      fs.push(await measure(floorUrl, floor.pid ?? 0));
    }
    await gwNode.stop();
    await stopProcess(floor);
    floor = undefined;
    const w = medianOf(ws);
    const u = medianOf(us);
    const b = medianOf(bs);
    const f = medianOf(fs);
    // The consumer path (key + plan quota, local and Redis backends), beside the same nginx run.
    const quota = await quotaRows({ mesh, certPem: server.certPem, keyPem: server.keyPem, apiKey: API_KEY, measure, warm: (url) => runWrk(url, { connections: 8, seconds: 2, headers, threads: 1 }), durationS: DURATION_S, measureNginx: () => measure(ngUrl, nginx?.pid ?? 0) });
    const weft = w.wrk;
    const base = b.wrk;
    const cacheRows = await benchCacheHit(measure, { gateway: gw.address, gatewayPort: gw.httpsPort, nginx: ngAddr, nginxPort: ngPort, pid: gw.proc.child.pid ?? 0, nginxPid: nginx.pid ?? 0, backendHits: () => mesh.received.filter((r) => r.url.startsWith('/cached')).length });
    const ratio = weft.requestsPerSec / base.requestsPerSec;
    return {
      title: 'edge gateway: TLS termination + API key + rate limit, into the mesh over mTLS',
      baselineName: 'nginx 1.22 (TLS + mTLS proxy)',
      rows: [
        { figure: `requests/s @${CONNECTIONS} conns`, weft: weft.requestsPerSec, baseline: base.requestsPerSec, goal: '>= 0.8x nginx', met: ratio >= 0.8 },
        { figure: 'p50 ms', weft: weft.p50Ms, baseline: base.p50Ms },
        { figure: 'p99 ms', weft: weft.p99Ms, baseline: base.p99Ms },
        { figure: 'errors + non-2xx', weft: weft.errors + weft.non2xx, baseline: base.errors + base.non2xx },
        { figure: 'proxy CPU us per request', weft: w.cpuUsPerRequest, baseline: b.cpuUsPerRequest },
        { figure: 'proxy peak RSS MB', weft: w.peakRssMb, baseline: b.peakRssMb },
        { figure: `requests/s @${CONNECTIONS} conns, node:http upstream`, weft: u.wrk.requestsPerSec, baseline: base.requestsPerSec },
        { figure: 'proxy CPU us per request, node:http upstream', weft: u.cpuUsPerRequest, baseline: b.cpuUsPerRequest },
        { figure: 'p99 ms, node:http upstream', weft: u.wrk.p99Ms, baseline: base.p99Ms },
        { figure: 'errors + non-2xx, node:http upstream', weft: u.wrk.errors + u.wrk.non2xx, baseline: base.errors + base.non2xx },
        // Not weft: the smallest Node program doing the same hops, beside nginx (the floor of this design).
        { figure: 'Node floor requests/s (https + undici, nothing else)', weft: f.wrk.requestsPerSec, baseline: base.requestsPerSec },
        { figure: 'Node floor CPU us per request', weft: f.cpuUsPerRequest, baseline: b.cpuUsPerRequest },
        ...quota.rows,
        ...cacheRows,
      ],
      notes: [
        `wrk -t1 -c${CONNECTIONS} -d${DURATION_S}s over HTTPS (HTTP/1.1, keep-alive) on loopback; one nginx worker vs one gateway process; ${ROUNDS} rounds alternating weft, weft with node:http upstream, nginx and the Node floor, medians.`,
        'Both speak TLS 1.3 (TLS_AES_256_GCM_SHA384) to wrk: nginx 1.22 is told ssl_protocols TLSv1.2 TLSv1.3 (before, its default made it TLS 1.2 against the gateway\'s 1.3).',
        'Both hop into the mesh the same way: mTLS (TLS 1.3) to the backend sidecar on 7006, which forwards to the echo app; both keep up to 64 connections to it alive.',
        'Unmarked gateway rows: its defaults (the undici client into the mesh). "node:http upstream" rows: the same routes on a second gateway started with WEFT_GATEWAY_UPSTREAM_CLIENT=node, measured in the same alternating rounds.',
        'Node floor rows (in the weft column, not weft): an https server and an undici client to the same sidecar with a mesh leaf, no route, policy, metric or log (gateway-floor-main.ts), in the same rounds.',
        'Both write one access-log line per request (nginx its access_log, the gateway its JSON line); the gateway also checks an API key and counts a rate limit, nginx only proxies.',
        CACHE_NOTE,
        'Gateway, sidecar, app, nginx and wrk share the machine\'s cores, so absolute figures are low; the ratio is the figure to read.',
        ...quota.notes,
      ],
    };
  } finally {
    if (floor) await stopProcess(floor);
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
    }
    await mesh.close();
  }
}

// The cache-hit rows: the same load on a route with the same API key and rate limit plus a
// CachePolicy, every request a hit; nginx answers the same path from its proxy_cache.
const CACHED_PATH = '/cached?resp-cache-control=max-age%3D3600';
const CACHED_ROUTE = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bench-cached, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /cached } }], backendRefs: [{ name: bench, port: 80 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys-cached, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: bench-cached }, consumers: [{ name: bencher, keySha256: ${hashKey(API_KEY)} }] }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: limit-cached, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: bench-cached }, requests: 1000000000, window: 1h, key: { type: Consumer } }
---
apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: cache, namespace: test }
spec: { targetRef: { kind: HTTPRoute, name: bench-cached } }
`;
const CACHE_NOTE = 'Cache-hit rows: a route with the same API key and rate limit plus a CachePolicy, the backend answering max-age=3600; every measured request is a hit (weft: Cache-Status hit, nginx: proxy_cache on the same path, key on the URI).';
const nginxCacheZone = (ngDir: string): string => `proxy_cache_path ${ngDir}/cache keys_zone=bench:10m;`;
const nginxCacheLocation = (ngDir: string): string => `location /cached {
      proxy_cache bench;
      proxy_cache_key $request_uri;
      proxy_pass https://mesh;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header weft-dst-port 8080;
      proxy_ssl_certificate ${ngDir}/mesh.crt;
      proxy_ssl_certificate_key ${ngDir}/mesh.key;
      proxy_ssl_protocols TLSv1.3;
    }`;

type Measure = (url: string, pid: number) => Promise<Measured>;

// Measures the cache-hit path of both after one warm-up that fills each cache.
async function benchCacheHit(measure: Measure, at: { gateway: string; gatewayPort: number; nginx: string; nginxPort: number; pid: number; nginxPid: number; backendHits: () => number }): Promise<BenchRow[]> {
  const headers = { Host: 'bench.test', 'x-api-key': API_KEY };
  const gwUrl = `https://${at.gateway}:${at.gatewayPort}${CACHED_PATH}`;
  const ngUrl = `https://${at.nginx}:${at.nginxPort}${CACHED_PATH}`;
  await runWrk(gwUrl, { connections: 8, seconds: 2, headers, threads: 1 });
  await runWrk(ngUrl, { connections: 8, seconds: 2, headers, threads: 1 });
  const h0 = at.backendHits();
  const w = await measure(gwUrl, at.pid);
  const h1 = at.backendHits();
  const b = await measure(ngUrl, at.nginxPid);
  const h2 = at.backendHits();
  return [
    { figure: `cache hit requests/s @${CONNECTIONS} conns`, weft: w.wrk.requestsPerSec, baseline: b.wrk.requestsPerSec },
    { figure: 'cache hit p99 ms', weft: w.wrk.p99Ms, baseline: b.wrk.p99Ms },
    { figure: 'cache hit errors + non-2xx', weft: w.wrk.errors + w.wrk.non2xx, baseline: b.wrk.errors + b.wrk.non2xx },
    { figure: 'cache hit proxy CPU us per request', weft: w.cpuUsPerRequest, baseline: b.cpuUsPerRequest },
    // Shows the measured runs were all hits: no request reached the backend.
    { figure: 'cache hit backend requests', weft: h1 - h0, baseline: h2 - h1, goal: '0', met: h1 - h0 === 0 },
  ];
}

// True once something accepts TCP connections on host:port.
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

// `node dist-test/test/bench/gateway.js` runs this section alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { renderSection } = await import('./report.js');
  process.stdout.write(renderSection(await benchGateway()));
}
