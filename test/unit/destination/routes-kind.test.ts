// weft destination's `routes` kind against the test API server: nothing is sent until HTTPRoutes
// and GRPCRoutes were both listed (a held list keeps the stream silent), then the mesh routes the
// caller's namespace sees, again on each change; a Gateway's route is never sent.
import t from 'tap';
import { Counter, Registry } from 'prom-client';
import { TestApiServer } from '../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { routesKind } from '../../../destination/routes-kind.js';

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('silent until listed, then the routes the caller sees', async (t) => {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const mesh = (name: string, service: string) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace: 'shop' },
    spec: { parentRefs: [{ kind: 'Service', name: service }], rules: [{ backendRefs: [{ name: `${service}-v2`, port: 80 }] }] },
  });
  api.apply(mesh('canary', 'orders'));
  api.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'edge-route', namespace: 'shop' }, spec: { parentRefs: [{ name: 'edge' }], rules: [] } });
  // The HTTPRoute list is held without an answer: the kind is not listed yet.
  api.injectFault({ kind: 'hang' }, { verb: 'list', resource: 'httproutes' }, 1);
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const registry = new Registry();
  const counters = (name: string): Counter<'resource' | 'reason'> => new Counter({ name, help: name, labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const kind = routesKind({
    client,
    log: createLogger({ level: 'error', name: 'test', destination: { write: () => undefined } }),
    restarts: counters('r_total'),
    relists: counters('l_total'),
    backoff: { initialMs: 10, maxMs: 50 },
  });
  t.teardown(async () => {
    await kind.stop();
    client.close();
    await api.stop();
  });
  kind.start();
  const got: unknown[] = [];
  const stop = kind.subscribe('shop', (v) => got.push(v));
  await until('the held list', () => api.heldRequests === 1);
  t.same(got, [], 'nothing sent while HTTPRoutes are not listed');
  api.clearFaults();
  await until('the first value', () => got.length === 1);
  const names = (v: unknown): string[] => (v as { routes: { metadata: { name: string } }[] }).routes.map((r) => r.metadata.name);
  t.same(names(got[0]), ['canary'], "the mesh route, not the Gateway's");
  api.apply(mesh('cart', 'cart'));
  await until('the change', () => got.length === 2);
  t.same(names(got[1]).sort(), ['canary', 'cart'], 'the whole list again on a change');
  stop();
});
