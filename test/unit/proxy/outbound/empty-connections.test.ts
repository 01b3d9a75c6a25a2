// A connection to the outbound port that closes without a byte (a TCP health check, a port scan)
// is no request: no failure logged, nothing in the request series, one empty connection counted.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { Registry } from 'prom-client';
import { OutboundProxy } from '../../../../proxy/outbound/server.js';
import { ExchangeRecorder } from '../../../../proxy/exchange.js';
import { createProxyMetrics } from '../../../../proxy/metrics.js';
import { ServiceBalancers } from '../../../../mesh/balance/service-balancers.js';
import { Drain } from '../../../../mesh/drain.js';
import { ALLOW_ALL } from '../../../../mesh/egress-policy.js';
import { createLogger } from '../../../../lib/logger.js';
import { WeftError } from '../../../../lib/errors.js';
import type { EndpointSource } from '../../../../mesh/discovery/endpoint-source.js';
import type { TlsMaterial } from '../../../../mesh/identity/identity-provider.js';

const NO_SOURCE: EndpointSource = {
  subscribe: () => () => undefined,
  resolveAddress: () => ({ kind: 'unknown' }),
  close: async () => undefined,
} as unknown as EndpointSource;

t.test('a captured connection that closes before its first byte is counted as an empty connection, not a failed request', async (t) => {
  const logs: string[] = [];
  const log = createLogger({ level: 'info', name: 'test', destination: { write: (line: string) => logs.push(line) } });
  const registry = new Registry();
  const metrics = createProxyMetrics(registry);
  const now = (): number => performance.now();
  const balancers = new ServiceBalancers(NO_SOURCE, { random: () => 0.5 });
  const agent = new http.Agent();
  const proxy = new OutboundProxy({
    balancers,
    pool: {
      http1: () => agent,
      dispatcher: () => {
        throw new Error('unused');
      },
      http2: () => {
        throw new Error('unused');
      },
      connect: () => {
        throw new Error('unused');
      },
    },
    identity: { current: () => ({}) as TlsMaterial },
    recorder: new ExchangeRecorder(metrics, log, now, false),
    metrics,
    names: { namespace: 'shop', clusterDomain: 'cluster.local' },
    drain: new Drain(),
    now,
    log,
    discoveryWaitMs: 1_000,
    connectTimeoutMs: 1_000,
    // As under `weft init`: reading the original destination of a socket the client already
    // closed fails, which is what used to turn a health check into a WEFT_ERR_ORIGINAL_DST failure.
    capture: {
      detectTimeoutMs: 5_000,
      originalDestination: () => {
        throw new WeftError('WEFT_ERR_ORIGINAL_DST', 'getsockopt SO_ORIGINAL_DST: ENOTCONN');
      },
      wasRedirected: () => true,
      resolve: () => ({ kind: 'unknown' }),
      opaquePorts: new Set(),
      egress: ALLOW_ALL,
      selfAddresses: new Set(),
      selfPorts: new Set(),
      log,
    },
  });
  const server = await proxy.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => {
    proxy.close();
    proxy.destroy();
    balancers.close();
    agent.destroy();
  });
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.end());
      s.on('error', reject);
      s.on('close', () => resolve());
    });
  }
  // The proxy closes its side once it has counted the connection, so each close above follows the count.
  const scrape = async (name: string): Promise<string> => (await registry.getSingleMetricAsString(name)) ?? '';
  t.match(await scrape('weft_empty_connections_total'), 'weft_empty_connections_total{direction="outbound"} 3');
  t.match(await scrape('weft_connections_total'), 'weft_connections_total{direction="outbound"} 3', 'still counted as connections');
  t.notMatch(await scrape('weft_requests_total'), /direction=/, 'not in the request series');
  t.notMatch(await scrape('weft_responses_total'), /direction=/, 'nor in the response series');
  t.same(logs.filter((l) => /request failed|WEFT_ERR/.test(l)), [], 'no failure logged');
});
