// Mesh routes in local mode through real `weft proxy` processes: HTTPRoutes whose parent is a
// Service split traffic by weight, match headers, rewrite the request, time out and retry.
import t from 'tap';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LocalMesh, randomBase, metric, type PodSpec } from '../support/local-mesh.js';

const base = randomBase();
const v1: PodSpec = { name: 'v1-0', address: `${base}.2`, serviceAccount: 'hello' };
const v2: PodSpec = { name: 'v2-0', address: `${base}.3`, serviceAccount: 'hello' };
const client: PodSpec = { name: 'rt-client-0', address: `${base}.10`, serviceAccount: 'client' };

const hits: { pod: string; method: string; url: string; bytes: number }[] = [];
const apps: http.Server[] = [];
for (const pod of [v1, v2]) {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      hits.push({ pod: pod.name, method: req.method ?? '', url: req.url ?? '', bytes });
      const body = JSON.stringify({ pod: pod.name, url: req.url, routed: req.headers['x-routed'] ?? null, canary: req.headers['x-canary'] ?? null });
      const send = (status: number): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (req.url?.startsWith('/slow')) return void setTimeout(() => send(200), 1000);
      send(req.url?.startsWith('/refuse') ? 503 : 200);
    });
  });
  await new Promise<void>((resolve) => server.listen(8080, pod.address, resolve));
  apps.push(server);
}

// A gRPC Echo on each pod, answering with its pod name.
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as {
  weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
interface Msg { text: string; pod?: string }
const grpcServers = [v1, v2].map((pod) => {
  const server = new grpc.Server();
  server.addService(pkg.weft.test.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, { text: call.request.text, pod: pod.name }),
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => call.end(),
  });
  return server;
});
for (const [i, server] of grpcServers.entries()) {
  await new Promise<void>((resolve, reject) => server.bindAsync(`${[v1, v2][i]?.address}:9090`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
}

const ROUTES = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo-canary, namespace: test }
spec:
  parentRefs: [{ kind: Service, name: echo, port: 9090 }]
  rules:
    - matches: [{ method: { service: weft.test.Echo, method: Unary }, headers: [{ name: x-canary, value: "1" }] }]
      backendRefs: [{ name: echo-v2, port: 9090 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: hello-split, namespace: test }
spec:
  parentRefs: [{ group: "", kind: Service, name: hello, port: 80 }]
  rules:
    - name: canary
      matches: [{ headers: [{ name: x-canary, value: "1" }] }]
      backendRefs: [{ name: hello-v2, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 100ms }
      backendRefs: [{ name: hello-v1, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-routed, value: "yes" }] }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2api } }
      backendRefs: [{ name: hello-v1, port: 80 }]
    - name: split
      backendRefs: [{ name: hello-v1, port: 80, weight: 90 }, { name: hello-v2, port: 80, weight: 10 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: posts
  namespace: test
  annotations: { retry.weft.dev/non-idempotent: "true" }
spec:
  parentRefs: [{ kind: Service, name: posts, port: 80 }]
  rules:
    - backendRefs: [{ name: hello-v1, port: 80 }, { name: hello-v2, port: 80 }]
      retry: { codes: [503], attempts: 2, backoff: 1ms }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: strict, namespace: test }
spec:
  parentRefs: [{ kind: Service, name: strict, port: 80 }]
  rules:
    - backendRefs: [{ name: hello-v1, port: 80 }, { name: hello-v2, port: 80 }]
      retry: { codes: [503], attempts: 2, backoff: 1ms }
`;

const mesh = await LocalMesh.create();
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((s) => new Promise((r) => s.close(r))));
  for (const server of grpcServers) server.forceShutdown();
});
await mesh.setServices([
  { name: 'hello', port: 80, targetPort: 8080, pods: [v1] },
  { name: 'hello-v1', port: 80, targetPort: 8080, pods: [v1] },
  { name: 'hello-v2', port: 80, targetPort: 8080, pods: [v2] },
  { name: 'posts', port: 80, targetPort: 8080, pods: [v1] },
  { name: 'strict', port: 80, targetPort: 8080, pods: [v1] },
  { name: 'echo', port: 9090, targetPort: 9090, pods: [v1] },
  { name: 'echo-v2', port: 9090, targetPort: 9090, pods: [v2] },
]);
const routesFile = join(mesh.dir, 'routes.yaml');
await writeFile(routesFile, ROUTES);
await Promise.all([v1, v2].map((pod) => mesh.startProxy(pod, { WEFT_ACCESS_LOG: 'false' })));
const proxy = await mesh.startProxy(client, { WEFT_ACCESS_LOG: 'false', WEFT_ROUTES_FILE: routesFile, WEFT_UPSTREAMS: 'echo:9090@9001' });

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
t.teardown(() => agent.destroy());
interface Answer {
  status: number;
  error: string;
  body: { pod?: string; url?: string; routed?: string | null };
  ms: number;
}
function call(host: string, opts: { path?: string; method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = Object.assign({ host }, opts.headers ?? {});
    if (opts.body) headers['content-length'] = String(opts.body.length);
    const req = http.request(`http://${client.address}:7001${opts.path ?? '/'}`, { method: opts.method ?? 'GET', agent, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let body: Answer['body'] = {};
        try {
          body = JSON.parse(text) as Answer['body'];
        } catch {
          // a mesh error answer is text
        }
        resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? ''), body, ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

t.test('a 90/10 weighted route over 2,000 requests lands within 3 standard deviations of 10 %', async (t) => {
  let v2Count = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < 2000) {
        next += 1;
        const a = await call('hello', { path: '/split' });
        if (a.status !== 200) throw new Error(`status ${a.status} ${a.error}`);
        if (a.body.pod === 'v2-0') v2Count += 1;
      }
    }),
  );
  const share = v2Count / 2000;
  const sd = Math.sqrt((0.1 * 0.9) / 2000);
  t.ok(Math.abs(share - 0.1) <= 3 * sd, `v2 got ${(share * 100).toFixed(2)} % (10 % +- ${(3 * sd * 100).toFixed(2)})`);
  t.ok((await metric(proxy.admin, 'weft_route_requests_total', { service: 'test/hello:80', route: 'test/hello-split/split' })) >= 2000, 'requests are counted per route');
});

t.test('a header match sends x-canary: 1 to v2 only', async (t) => {
  for (let i = 0; i < 50; i++) {
    const a = await call('hello', { path: '/c', headers: { 'x-canary': '1' } });
    t.equal(a.body.pod, 'v2-0');
    if (a.body.pod !== 'v2-0') break;
  }
  const other = await call('hello', { path: '/c', headers: { 'x-canary': '2' } });
  t.equal(other.status, 200, 'another value falls through to the split');
});

t.test('filters: the header is set and the prefix rewritten', async (t) => {
  const a = await call('hello', { path: '/api/items?x=1' });
  t.equal(a.status, 200);
  t.equal(a.body.url, '/v2api/items?x=1');
  t.equal(a.body.routed, 'yes');
});

t.test('a route timeout of 100 ms against a 1 s backend: 504 WEFT_ERR_TIMEOUT', async (t) => {
  const a = await call('hello', { path: '/slow' });
  t.equal(a.status, 504);
  t.equal(a.error, 'WEFT_ERR_TIMEOUT');
  t.ok(a.ms < 900, `answered in ${a.ms.toFixed(0)} ms`);
});

t.test('a POST under the buffer limit is retried only when the route allows it; a 1 MB POST never', async (t) => {
  const count = (marker: string): number => hits.filter((h) => h.url.includes(marker)).length;
  const small = Buffer.alloc(2048, 0x62);
  const allowed = await call('posts', { path: '/refuse?m=post-allowed', method: 'POST', body: small });
  t.equal(allowed.status, 503);
  t.equal(count('m=post-allowed'), 3, 'first attempt and two retries');
  t.same(hits.filter((h) => h.url.includes('m=post-allowed')).map((h) => h.bytes), [2048, 2048, 2048], 'each carried the body');
  const big = await call('posts', { path: '/refuse?m=post-big', method: 'POST', body: Buffer.alloc(1024 * 1024, 0x62) });
  t.equal(big.status, 503);
  t.equal(count('m=post-big'), 1, 'a 1 MB body is not retried');
  const strict = await call('strict', { path: '/refuse?m=post-strict', method: 'POST', body: small });
  t.equal(strict.status, 503);
  t.equal(count('m=post-strict'), 1, 'without the annotation a POST is not retried');
  const get = await call('strict', { path: '/refuse?m=get-strict' });
  t.equal(get.status, 503);
  t.equal(count('m=get-strict'), 3, 'a GET on the same route is');
});

t.test('a GRPCRoute sends calls with x-canary: 1 metadata to v2, the rest to the Service', async (t) => {
  const c = new pkg.weft.test.Echo(`${client.address}:9001`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(m: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  };
  t.teardown(() => c.close());
  const unary = (canary: boolean): Promise<string> =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      if (canary) md.set('x-canary', '1');
      c.Unary({ text: 'hi' }, md, (err, r) => (err ? reject(err) : resolve(r?.pod ?? '')));
    });
  for (let i = 0; i < 10; i++) t.equal(await unary(true), 'v2-0');
  for (let i = 0; i < 10; i++) t.equal(await unary(false), 'v1-0');
});

t.test('a Service without a route behaves as before', async (t) => {
  const a = await call('hello-v1', { path: '/plain' });
  t.equal(a.status, 200);
  t.equal(a.body.pod, 'v1-0');
});

t.test('the routes file is watched: a new version applies, a bad one is refused and the last good one stays', async (t) => {
  const waitFor = async (check: () => Promise<boolean>): Promise<boolean> => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  };
  await writeFile(routesFile, ROUTES.replace('weight: 90 }', 'weight: 0 }'));
  t.ok(await waitFor(async () => (await call('hello', { path: '/reload' })).body.pod === 'v2-0' && (await call('hello', { path: '/reload' })).body.pod === 'v2-0'), 'v1 weight 0: the split now sends everything to v2');
  for (let i = 0; i < 20; i++) t.equal((await call('hello', { path: '/reload' })).body.pod, 'v2-0');
  await writeFile(routesFile, 'kind: HTTPRoute\nmetadata: { name: broken }\nspec: { parentRefs: [{ kind: Service, name: hello }], rules: [{ backendRefs: [{ name: x }] }] }\n');
  t.ok(await waitFor(async () => (await proxy.log()).includes('WEFT_ERR_ROUTES_FILE')), 'the bad version is refused with its code');
  for (let i = 0; i < 20; i++) t.equal((await call('hello', { path: '/reload' })).body.pod, 'v2-0', 'the last good routes stay');
});
