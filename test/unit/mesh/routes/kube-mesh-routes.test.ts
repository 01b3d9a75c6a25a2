// Kubernetes mode's mesh routes: which route objects are mesh routes, what each caller sees
// (GAMMA producer and consumer routes), consumer precedence, and a bad route left out alone.
import t from 'tap';
import { compileKubeRoutes, trimMeshRoute, visibleTo, type KubeRoute } from '../../../../mesh/routes/kube-mesh-routes.js';
import { routesToWire } from '../../../../destination/routes-kind.js';

const route = (namespace: string, name: string, parent: { name: string; namespace?: string; group?: string; kind?: string }, backend: string): KubeRoute => ({
  metadata: { name, namespace, annotations: { note: 'kept' } },
  spec: { parentRefs: [{ kind: 'Service', ...parent }], rules: [{ backendRefs: [{ name: backend, namespace: parent.namespace ?? namespace, port: 80 }] }] },
});
const head = { path: '/', method: 'GET', headers: {} };
const backendFor = (routes: readonly KubeRoute[], caller: string, svc: { namespace: string; name: string }): string | undefined => {
  const choice = compileKubeRoutes(routes, caller, () => undefined).decide({ ...svc, port: 80 }, head, () => 0);
  return choice === undefined || choice instanceof Error ? undefined : choice.backend.name;
};

t.test('only routes with a Service parentRef (group "" or core) are mesh routes; the kind is set', async (t) => {
  const gatewayRoute: KubeRoute = { metadata: { name: 'web', namespace: 'shop' }, spec: { parentRefs: [{ name: 'edge' }], rules: [] } };
  t.equal(trimMeshRoute(gatewayRoute, 'HTTPRoute'), undefined, 'a Gateway parent: not a mesh route');
  const core = trimMeshRoute(route('shop', 'r', { name: 'orders', group: 'core' }, 'v2'), 'GRPCRoute');
  t.equal(core?.kind, 'GRPCRoute');
  t.same(core?.spec?.parentRefs, [{ kind: 'Service', name: 'orders', group: '' }], 'group core is normalised to ""');
  const mixed: KubeRoute = { metadata: { name: 'm', namespace: 'shop' }, spec: { parentRefs: [{ name: 'edge' }, { kind: 'Service', name: 'orders' }], rules: [] } };
  t.same(trimMeshRoute(mixed, 'HTTPRoute')?.spec?.parentRefs, [{ kind: 'Service', name: 'orders', group: '' }], 'the Gateway parentRef is dropped');
});

t.test('producer routes apply to every caller; consumer routes only to their own namespace', async (t) => {
  const producer = route('shop', 'canary', { name: 'orders' }, 'orders-v2');
  const consumer = route('web', 'mine', { name: 'orders', namespace: 'shop' }, 'orders-web');
  const elsewhere = route('other', 'theirs', { name: 'orders', namespace: 'shop' }, 'orders-other');
  t.ok(visibleTo(producer, 'anyone'));
  t.ok(visibleTo(consumer, 'web'));
  t.equal(visibleTo(consumer, 'shop'), undefined, 'a consumer route is not seen by the producer namespace');
  t.same(routesToWire([producer, consumer, elsewhere], 'web').routes.map((r) => r.metadata?.name), ['canary', 'mine'], 'what weft destination streams to a caller in web');
  const all = [producer, consumer, elsewhere];
  const orders = { namespace: 'shop', name: 'orders' };
  t.equal(backendFor(all, 'billing', orders), 'orders-v2', 'a third namespace gets the producer route');
  t.equal(backendFor(all, 'shop', orders), 'orders-v2', 'the producer namespace gets its own route');
  t.equal(backendFor(all, 'web', orders), 'orders-web', "the consumer's namespace: its route wins over the producer's");
  t.equal(backendFor(all, 'other', orders), 'orders-other');
});

t.test('a bad route is reported and left out; the others apply', async (t) => {
  const bad: KubeRoute = { metadata: { name: 'bad', namespace: 'shop' }, spec: { parentRefs: [{ kind: 'Service', name: 'cart' }], rules: [{ backendRefs: [{ name: 'cart-v2' }] }] } };
  const good = route('shop', 'canary', { name: 'orders' }, 'orders-v2');
  const refused: string[] = [];
  const compiled = compileKubeRoutes([bad, good], 'shop', (name, err) => refused.push(`${name}: ${err.message}`));
  t.match(refused, [/HTTPRoute shop\/bad: .*port is required/]);
  t.equal(compiled.decide({ namespace: 'shop', name: 'cart', port: 80 }, head, () => 0), undefined, 'the bad route does not apply');
  t.equal(backendFor([bad, good], 'shop', { namespace: 'shop', name: 'orders' }), 'orders-v2');
});
