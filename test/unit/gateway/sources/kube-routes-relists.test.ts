// The gateway's API-server route source counts its lists: a 410 on its watches (the test API
// server expiring them, as a watch cache that fell behind does) is one re-list per kind, reason
// `expired`, on the relists counter the gateway wires (weft_gateway_route_watch_relists_total).
import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../../lib/kube/config.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { KubeRoutes } from '../../../../gateway/sources/kube-routes.js';
import { StateLoader } from '../../../../gateway/sources/route-file.js';
import { createGatewayMetrics } from '../../../../gateway/metrics.js';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('a 410 on the route watches increments the relists counter (reason expired)', async (t) => {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const registry = new Registry();
  const logger = createLogger({ level: 'error', name: 'test', destination: { write: () => undefined } });
  const loader = new StateLoader({ log: logger, metrics: createGatewayMetrics(registry), apply: () => undefined });
  const restarts = new Counter({ name: 'weft_gateway_route_watch_restarts_total', help: 'r', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const relists = new Counter({ name: 'weft_gateway_route_watch_relists_total', help: 'l', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const source = new KubeRoutes({ client, loader, logger, restarts, relists, debounceMs: 20 });
  t.teardown(async () => {
    await source.stop();
    client.close();
    await api.stop();
  });
  const count = async (c: Counter<'resource' | 'reason'>, reason: string): Promise<number> =>
    (await c.get()).values.find((v) => v.labels.resource === 'httproutes' && v.labels.reason === reason)?.value ?? 0;
  source.start();
  await until('the first list of httproutes', async () => (await count(relists, 'initial')) === 1);
  await until('an httproutes watch request', async () => api.requests.includes('GET /apis/gateway.networking.k8s.io/v1/httproutes?watch'));
  t.equal(await count(relists, 'expired'), 0, 'no re-list before the 410');
  // The watch request has arrived but may not be registered yet: expire until one was open.
  await until('the re-list after a 410', async () => {
    api.expireWatches();
    return (await count(relists, 'expired')) >= 1;
  });
  t.ok((await count(relists, 'expired')) >= 1, 'the 410 led to a re-list of httproutes, counted with reason expired');
  t.ok((await count(restarts, 'expired')) >= 1, 'and to a restart, reason expired');
  t.equal(await count(relists, 'initial'), 1, 'the first list is counted once, reason initial');
});
