// End to end through real `weft proxy` processes (local mode): failure-aware balancing (a dead
// replica, a slow one), retries within the budget (a flaky replica, every replica failing), bodies
// and methods under the retry buffer, and the mesh-wide request timeout.
import t from 'tap';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LocalMesh, randomBase, metric, type PodSpec } from '../support/local-mesh.js';

const base = randomBase();
const pods: PodSpec[] = [0, 1, 2].map((i) => ({ name: `res-${i}`, address: `${base}.${i + 2}`, serviceAccount: 'res' }));
const clients = {
  plain: { name: 'plain-0', address: `${base}.10`, serviceAccount: 'client' },
  retrying: { name: 'retrying-0', address: `${base}.11`, serviceAccount: 'client' },
  timed: { name: 'timed-0', address: `${base}.12`, serviceAccount: 'client' },
} satisfies Record<string, PodSpec>;

// One app port per behaviour, on every pod; pod res-2 is the odd one out.
const PORTS = { dead: 8081, slow: 8082, flaky: 8083, doomed: 8084, ok: 8085, refuse: 8086 } as const;
type Kind = keyof typeof PORTS;
const hits = new Map<string, number>();
const servers: http.Server[] = [];

function behaviour(kind: Kind, pod: number, n: number, req: IncomingMessage, res: ServerResponse): void {
  const reply = (status: number): void => {
    const body = JSON.stringify({ pod: `res-${pod}`, kind, n });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const sleep = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('sleep') ?? '0');
  if (sleep > 0) return void setTimeout(() => reply(200), sleep);
  if (kind === 'slow' && pod === 2) return void setTimeout(() => reply(200), 200);
  if (kind === 'flaky' && pod === 2) return reply(n % 3 === 0 ? 503 : 200);
  if (kind === 'doomed' || kind === 'refuse') return reply(503);
  reply(200);
}

for (const [kind, port] of Object.entries(PORTS) as [Kind, number][]) {
  for (let pod = 0; pod < 3; pod++) {
    if (kind === 'dead' && pod === 2) continue; // its app is down; its sidecar stays ready
    const server = http.createServer((req, res) => {
      const key = `${kind}/${pod}`;
      const n = (hits.get(key) ?? 0) + 1;
      hits.set(key, n);
      req.resume();
      req.on('end', () => behaviour(kind, pod, n, req, res));
    });
    await new Promise<void>((resolve) => server.listen(port, pods[pod]?.address, resolve));
    servers.push(server);
  }
}
// A gRPC service on res-0 whose Unary answers after `text` milliseconds.
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as {
  weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
};
interface Msg { text: string; pod?: string }
const grpcServer = new grpc.Server();
grpcServer.addService(pkg.weft.test.Echo.service, {
  Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => void setTimeout(() => cb(null, { text: call.request.text, pod: 'res-0' }), Number(call.request.text)),
  Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => call.end(),
});
await new Promise<void>((resolve, reject) => grpcServer.bindAsync(`${pods[0]?.address}:9090`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
// grpc-flaky: res-0 answers every call UNAVAILABLE, res-1 answers it.
const grpcCalls = { failing: 0, serving: 0 };
const grpcFlaky = [0, 1].map((pod) => {
  const server = new grpc.Server();
  server.addService(pkg.weft.test.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (pod === 0) {
        grpcCalls.failing += 1;
        return cb({ code: grpc.status.UNAVAILABLE, details: 'going away' });
      }
      grpcCalls.serving += 1;
      cb(null, { text: call.request.text, pod: `res-${pod}` });
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => call.end(),
  });
  return server;
});
for (const [pod, server] of grpcFlaky.entries()) {
  await new Promise<void>((resolve, reject) => server.bindAsync(`${pods[pod]?.address}:9091`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
}
const hitsOf = (kind: Kind): number => [0, 1, 2].reduce((sum, pod) => sum + (hits.get(`${kind}/${pod}`) ?? 0), 0);

const mesh = await LocalMesh.create();
t.teardown(async () => {
  await mesh.close();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  grpcServer.forceShutdown();
  for (const server of grpcFlaky) server.forceShutdown();
});
await mesh.setServices([
  ...(Object.entries(PORTS) as [Kind, number][]).map(([kind, port]) => ({ name: kind, port: 80, targetPort: port, pods })),
  { name: 'grpc', port: 9090, targetPort: 9090, pods: pods.slice(0, 1) },
  { name: 'grpc-flaky', port: 9091, targetPort: 9091, pods: pods.slice(0, 2) },
]);
await Promise.all(pods.map((pod) => mesh.startProxy(pod, { WEFT_ACCESS_LOG: 'false' })));
const plain = await mesh.startProxy(clients.plain, { WEFT_ACCESS_LOG: 'false' });
const retrying = await mesh.startProxy(clients.retrying, { WEFT_ACCESS_LOG: 'false', WEFT_RETRY_ATTEMPTS: '2', WEFT_RETRY_ON: '502,503,unavailable', WEFT_RETRY_BACKOFF_MS: '5', WEFT_UPSTREAMS: 'grpc-flaky:9091@9002' });
const timed = await mesh.startProxy(clients.timed, { WEFT_ACCESS_LOG: 'false', WEFT_REQUEST_TIMEOUT_MS: '100', WEFT_UPSTREAMS: 'grpc:9090@9001' });

interface Answer {
  status: number;
  error: string;
  pod: string;
  ms: number;
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
t.teardown(() => agent.destroy());

function call(client: PodSpec, host: string, opts: { method?: string; path?: string; body?: Buffer } = {}): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host };
    if (opts.body) headers['content-length'] = String(opts.body.length);
    const req = http.request(`http://${client.address}:7001${opts.path ?? '/'}`, { method: opts.method ?? 'GET', agent, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let pod = '';
        try {
          pod = (JSON.parse(text) as { pod?: string }).pod ?? '';
        } catch {
          // an error answer from the mesh is text
        }
        resolve({ status: res.statusCode ?? 0, error: String(res.headers['weft-error'] ?? ''), pod, ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

// `total` requests, `concurrency` at a time, in order of sending.
async function load(client: PodSpec, host: string, total: number, concurrency: number): Promise<Answer[]> {
  const answers: Answer[] = new Array<Answer>(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        answers[i] = await call(client, host);
      }
    }),
  );
  return answers;
}

t.test('one replica with its app down: without retries, under 2 % of requests after the first 20 reach it', async (t) => {
  const answers = await load(clients.plain, 'dead', 1000, 1);
  const after = answers.slice(20);
  const dead = after.filter((a) => a.error === 'WEFT_ERR_APP_UNREACHABLE').length;
  t.ok(dead / after.length < 0.02, `${dead} of ${after.length} reached the dead replica`);
  t.ok(answers.slice(0, 20).some((a) => a.error === 'WEFT_ERR_APP_UNREACHABLE') || dead > 0, 'the dead replica was tried at all (so ejection, not luck, kept it out)');
  t.ok((await metric(plain.admin, 'weft_endpoint_ejections_total', { pod: 'res-2' })) >= 1, 'the ejection is counted by endpoint');
});

t.test('one replica with its app down: with retries on, at least 99 % of 1,000 requests succeed', async (t) => {
  const answers = await load(clients.retrying, 'dead', 1000, 4);
  const ok = answers.filter((a) => a.status === 200).length;
  t.ok(ok >= 990, `${ok} of 1000 succeeded`);
  t.ok((await metric(retrying.admin, 'weft_retries_total', { service: 'test/dead:80', reason: 'status_502' })) >= 1, 'retries are counted by reason');
});

t.test('a replica 200 ms slower gets under 10 % of 1,000 requests', async (t) => {
  const answers = await load(clients.plain, 'slow', 1000, 8);
  const slow = answers.filter((a) => a.pod === 'res-2').length;
  t.ok(answers.every((a) => a.status === 200), 'all answered');
  t.ok(slow < 100, `the slow replica got ${slow} of 1000`);
});

t.test('a replica failing one request in three: retries on 503 give 100 % success within the budget', async (t) => {
  const before = hitsOf('flaky');
  const started = performance.now();
  const answers = await load(clients.retrying, 'flaky', 1000, 4);
  const seconds = (performance.now() - started) / 1000;
  const upstream = hitsOf('flaky') - before;
  const ok = answers.filter((a) => a.status === 200).length;
  t.equal(ok, 1000, '100 % success');
  // The floor: 10 retries a second over the 10 s window, or over the run when it is longer.
  const floor = 10 * Math.max(10, Math.ceil(seconds));
  t.ok(upstream > 1000, `some were retried (${upstream} upstream requests)`);
  t.ok(upstream <= 1.2 * 1000 + floor, `${upstream} upstream requests <= 1.2 x 1000 + ${floor}`);
  t.ok((await metric(retrying.admin, 'weft_retries_total', { service: 'test/flaky:80', reason: 'status_503' })) === upstream - 1000, 'each extra upstream request is a counted retry');
});

t.test('every replica failing: retries stop at the budget and the client gets the failure quickly', async (t) => {
  const before = hitsOf('doomed');
  const started = performance.now();
  const answers = await load(clients.retrying, 'doomed', 300, 4);
  const seconds = (performance.now() - started) / 1000;
  const retries = await metric(retrying.admin, 'weft_retries_total', { service: 'test/doomed:80' });
  const exhausted = await metric(retrying.admin, 'weft_retry_budget_exhausted_total', { service: 'test/doomed:80' });
  t.ok(answers.every((a) => a.status === 503), 'every client gets the 503');
  t.equal(hitsOf('doomed') - before, 300 + retries, 'upstream requests are the originals plus the counted retries');
  const allowed = 0.2 * 300 + 10 * Math.max(10, Math.ceil(seconds));
  t.ok(retries <= allowed, `${retries} retries <= ${allowed} (20 % of 300 plus the floor)`);
  t.ok(retries < 2 * 300, `not every request retried twice (${retries})`);
  t.ok(exhausted > 0, `the budget refused ${exhausted} retries`);
  const sorted = answers.map((a) => a.ms).sort((a, b) => a - b);
  const p90 = sorted[Math.floor(sorted.length * 0.9)] ?? 0;
  t.ok(p90 < 250, `90 % of failures answered within ${p90.toFixed(1)} ms`);
});

t.test('bodies: a PUT under the buffer limit is retried, a 1 MB PUT and a POST are not', async (t) => {
  const count = (): number => hitsOf('refuse');
  let before = count();
  const small = await call(clients.retrying, 'refuse', { method: 'PUT', body: Buffer.alloc(1024, 0x61) });
  t.equal(small.status, 503);
  t.equal(count() - before, 3, 'the small PUT went three times (two retries)');
  before = count();
  const big = await call(clients.retrying, 'refuse', { method: 'PUT', body: Buffer.alloc(1024 * 1024, 0x61) });
  t.equal(big.status, 503);
  t.equal(count() - before, 1, 'the 1 MB body went once');
  before = count();
  const post = await call(clients.retrying, 'refuse', { method: 'POST', body: Buffer.alloc(1024, 0x61) });
  t.equal(post.status, 503);
  t.equal(count() - before, 1, 'a POST is not retried without a route that allows it');
});

t.test('the mesh-wide request timeout answers 504 WEFT_ERR_TIMEOUT', async (t) => {
  const answer = await call(clients.timed, 'ok', { path: '/?sleep=1000' });
  t.equal(answer.status, 504);
  t.equal(answer.error, 'WEFT_ERR_TIMEOUT');
  t.ok(answer.ms < 900, `answered in ${answer.ms.toFixed(0)} ms`);
  const fast = await call(clients.timed, 'ok');
  t.equal(fast.status, 200, 'a fast request passes');
  t.ok((await metric(timed.admin, 'weft_responses_total', { direction: 'outbound', status_code: '504', error_code: 'WEFT_ERR_TIMEOUT' })) >= 1, 'the timeout is counted with its code');
});

t.test('a gRPC call past the request timeout gets DEADLINE_EXCEEDED', async (t) => {
  const client = new pkg.weft.test.Echo(`${clients.timed.address}:9001`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(m: Msg, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  };
  t.teardown(() => client.close());
  const unary = (text: string): Promise<{ err: grpc.ServiceError | null; reply?: Msg }> => new Promise((resolve) => client.Unary({ text }, (err, reply) => resolve({ err, reply })));
  const fast = await unary('0');
  t.equal(fast.err, null, 'a quick call passes');
  t.equal(fast.reply?.pod, 'res-0');
  const started = performance.now();
  const slow = await unary('1000');
  t.equal(slow.err?.code, grpc.status.DEADLINE_EXCEEDED);
  t.match(slow.err?.details, /WEFT_ERR_TIMEOUT/);
  t.ok(performance.now() - started < 900, 'answered at the timeout, not after the backend');
});

t.test('gRPC: a call answered UNAVAILABLE is retried on the other replica when the policy lists unavailable', async (t) => {
  const client = new pkg.weft.test.Echo(`${clients.retrying.address}:9002`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Unary(m: Msg, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  };
  t.teardown(() => client.close());
  let ok = 0;
  for (let i = 0; i < 50; i++) {
    const reply = await new Promise<{ err: grpc.ServiceError | null; r?: Msg }>((resolve) => client.Unary({ text: String(i) }, (err, r) => resolve({ err, r })));
    if (reply.err === null && reply.r?.pod === 'res-1') ok += 1;
    else if (i < 60) t.comment(`call ${i}: ${reply.err?.code} ${reply.err?.details} ${reply.r?.pod}`);
  }
  t.equal(ok, 50, 'every call answered by the serving replica');
  t.ok(grpcCalls.failing >= 1, `the failing replica was tried (${grpcCalls.failing} times) and its UNAVAILABLE retried`);
  t.equal(await metric(retrying.admin, 'weft_retries_total', { service: 'test/grpc-flaky:9091', reason: 'grpc_14' }), grpcCalls.failing, 'each UNAVAILABLE was a counted retry');
});
