// The outbound proxy on real loopback sockets with injected dependencies: a bug after a discovery
// wait costs one request a 500, a parked request holds the drain, and gRPC clients get gRPC errors.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { Registry } from 'prom-client';
import { OutboundProxy } from '../../../proxy/outbound/server.js';
import { ExchangeRecorder } from '../../../proxy/exchange.js';
import { createProxyMetrics } from '../../../proxy/metrics.js';
import { ServiceBalancers } from '../../../mesh/balance/service-balancers.js';
import { Drain } from '../../../mesh/drain.js';
import { createLogger } from '../../../lib/logger.js';
import type { Endpoint, EndpointSource, ServiceRef, ServiceSnapshot } from '../../../mesh/discovery/endpoint-source.js';
import type { TlsMaterial } from '../../../mesh/identity/identity-provider.js';

const MATERIAL: TlsMaterial = { identity: 'spiffe://cluster.local/ns/shop/sa/web', keyPem: '', certChainPem: '', trustBundlePem: '', notBefore: new Date(0), notAfter: new Date(8.64e15) };

/** Discovery that answers when the test says so; `watched` resolves when a request asked. */
class LateSource implements EndpointSource {
  synced = true;
  readonly #updates = new Map<string, (s: ServiceSnapshot) => void>();
  readonly #asked: ((ref: ServiceRef) => void)[] = [];
  watch(ref: ServiceRef, onUpdate: (s: ServiceSnapshot) => void): () => void {
    this.#updates.set(ref.name, onUpdate);
    for (const wake of this.#asked.splice(0)) wake(ref);
    return () => this.#updates.delete(ref.name);
  }
  watched(): Promise<ServiceRef> {
    return new Promise((resolve) => this.#asked.push(resolve));
  }
  answer(ref: ServiceRef, endpoints: Endpoint[] | undefined): void {
    this.#updates.get(ref.name)?.({ ref, endpoints });
  }
  async close(): Promise<void> {}
}

interface Harness {
  readonly port: number;
  readonly source: LateSource;
  readonly drain: Drain;
  readonly balancers: ServiceBalancers;
  readonly logs: string[];
  readonly endpoint: Endpoint;
}

// An app upstream, and the outbound proxy in front of it with `pool` standing for the mTLS pool.
async function harness(t: { teardown(fn: () => void): void }, pool: (agent: http.Agent, dispatcher: Dispatcher) => ConstructorParameters<typeof OutboundProxy>[0]['pool']): Promise<Harness> {
  const app = http.createServer((req, res) => res.end(`hello from ${req.headers.host}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  const agent = new http.Agent({ keepAlive: true });
  const dispatcher = new Pool(`http://127.0.0.1:${(app.address() as net.AddressInfo).port}`);
  const source = new LateSource();
  const drain = new Drain();
  const logs: string[] = [];
  const log = createLogger({ level: 'info', name: 'test', destination: { write: (line: string) => logs.push(line) } });
  const balancers = new ServiceBalancers(source, { random: () => 0.5 });
  const now = (): number => performance.now();
  const proxy = new OutboundProxy({
    balancers,
    pool: pool(agent, dispatcher),
    identity: { current: () => MATERIAL },
    recorder: new ExchangeRecorder(createProxyMetrics(new Registry()), log, now),
    metrics: createProxyMetrics(new Registry()),
    names: { namespace: 'shop', clusterDomain: 'cluster.local' },
    drain,
    now,
    log,
    discoveryWaitMs: 5_000,
    connectTimeoutMs: 1_000,
  });
  const server = await proxy.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => {
    proxy.close();
    proxy.destroy();
    app.close();
    agent.destroy();
    dispatcher.destroy().catch(() => {});
    balancers.close();
  });
  const port = (app.address() as net.AddressInfo).port;
  const endpoint: Endpoint = { address: '127.0.0.1', port, identity: 'spiffe://cluster.local/ns/shop/sa/orders', ready: true };
  return { port: (server.address() as net.AddressInfo).port, source, drain, balancers, logs, endpoint };
}

function get(port: number, host: string): Promise<{ status: number; code: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['weft-error'] as string | undefined, body }));
    }).on('error', reject);
  });
}

t.test('a throw inside a route continuation answers 500 WEFT_ERR_INTERNAL and the proxy keeps serving', async (t) => {
  let calls = 0;
  const h = await harness(t, (agent, dispatcher) => ({
    http1: () => agent,
    dispatcher: () => {
      calls += 1;
      // A bug in a dependency, hit after the request waited for discovery.
      if (calls === 1) throw new TypeError("Cannot read properties of undefined (reading 'agent')");
      return dispatcher;
    },
    http2: () => {
      throw new Error('unused');
    },
    connect: () => {
      throw new Error('unused');
    },
  }));
  const first = get(h.port, 'orders');
  const ref = await h.source.watched();
  h.source.answer(ref, [h.endpoint]);
  const failed = await first;
  t.same([failed.status, failed.code], [500, 'WEFT_ERR_INTERNAL'], 'the request that hit the bug gets a 500');
  t.match(failed.body, /^WEFT_ERR_INTERNAL: internal error: Cannot read properties/);
  t.ok(h.logs.some((l) => l.includes('"level":50') && l.includes('WEFT_ERR_INTERNAL')), 'the bug is logged at error with its code');
  const next = await get(h.port, 'orders');
  t.same([next.status, next.body], [200, 'hello from orders'], 'the next request is served');
  t.equal(h.drain.inflight, 0, 'both exchanges ended');
  t.notOk(h.balancers.get(ref).busy(), 'both picks were released');
});

t.test('a request parked waiting for discovery is counted by the drain: shutdown waits for it', async (t) => {
  const h = await harness(t, (agent, dispatcher) => ({
    http1: () => agent,
    dispatcher: () => dispatcher,
    http2: () => {
      throw new Error('unused');
    },
    connect: () => {
      throw new Error('unused');
    },
  }));
  const parked = get(h.port, 'orders');
  const ref = await h.source.watched();
  t.equal(h.drain.inflight, 1, 'counted from accept, before any endpoint is known');
  let drained: boolean | undefined;
  const draining = h.drain.drain(10_000).then((clean) => (drained = clean));
  await new Promise((r) => setImmediate(r));
  t.equal(drained, undefined, 'the drain is still waiting for the parked request');
  h.source.answer(ref, [h.endpoint]);
  t.same(await parked, { status: 200, code: undefined, body: 'hello from orders' });
  await draining;
  t.equal(drained, true, 'the drain finished cleanly once the parked request was answered');
});

t.test('a parked request whose client leaves ends its exchange and frees the drain', async (t) => {
  const h = await harness(t, (agent, dispatcher) => ({
    http1: () => agent,
    dispatcher: () => dispatcher,
    http2: () => {
      throw new Error('unused');
    },
    connect: () => {
      throw new Error('unused');
    },
  }));
  const req = http.get({ host: '127.0.0.1', port: h.port, path: '/', headers: { host: 'orders' }, agent: false });
  req.on('error', () => {});
  await h.source.watched();
  t.equal(h.drain.inflight, 1);
  const drained = h.drain.drain(10_000);
  req.destroy();
  t.equal(await drained, true, 'the drain ended when the client left');
  t.equal(h.drain.inflight, 0);
});

t.test('an outbound gRPC call whose peer cannot be reached gets a trailers-only gRPC error', async (t) => {
  const h = await harness(t, (agent, dispatcher) => ({
    http1: () => agent,
    dispatcher: () => dispatcher,
    http2: () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7006'), { code: 'ECONNREFUSED' });
    },
    connect: () => {
      throw new Error('unused');
    },
  }));
  const session = http2.connect(`http://127.0.0.1:${h.port}`);
  t.teardown(() => session.close());
  const call = session.request({ ':path': '/shop.Orders/Get', ':authority': 'orders', 'content-type': 'application/grpc' }, { endStream: true });
  const ref = await h.source.watched();
  h.source.answer(ref, [h.endpoint]);
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => call.on('response', resolve));
  call.resume();
  t.same([headers[':status'], headers['grpc-status'], headers['weft-error']], [200, '14', 'WEFT_ERR_CONNECT']);
});
