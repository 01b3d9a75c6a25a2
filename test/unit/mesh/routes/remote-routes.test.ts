// The proxy's remote routes source applies each list line from weft destination whole: a line
// that is not a routes list is ignored and the routes in force stay; an empty list clears them.
import t from 'tap';
import { RemoteRoutes } from '../../../../mesh/routes/remote-routes.js';
import { createLogger } from '../../../../lib/logger.js';
import type { IdentityProvider } from '../../../../mesh/identity/identity-provider.js';

// Never started here: apply() is what each stream line goes through.
const noIdentity: IdentityProvider = { current: () => undefined, onChange: () => undefined, start: async () => undefined, close: () => undefined };
const lines: string[] = [];
const log = createLogger({ level: 'info', name: 'test', destination: { write: (s: string) => void lines.push(s) } });
const head = { path: '/', method: 'GET', headers: {} };
const ref = { namespace: 'shop', name: 'orders', port: 80 };
const list = JSON.stringify({
  routes: [{ kind: 'HTTPRoute', metadata: { name: 'c', namespace: 'shop' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders-v2', port: 80 }] }] } }],
});

t.test('lists replace the routes; bad lines leave them', async (t) => {
  const routes = new RemoteRoutes({ open: () => { throw new Error('never opened here'); }, identity: noIdentity, namespace: 'web', log });
  t.ok(routes.current.empty, 'no routes before the first list');
  routes.apply(list);
  const choice = routes.current.decide(ref, head, () => 0);
  t.equal(choice instanceof Error ? undefined : choice?.backend.name, 'orders-v2', 'the producer route applies to a caller in another namespace');
  for (const bad of ['not json', '{"routes":{}}', '[]']) routes.apply(bad);
  t.notOk(routes.current.empty, 'lines that are not routes lists changed nothing');
  t.equal(lines.filter((l) => l.includes('not a routes list')).length, 3, 'each was logged');
  routes.apply('{"routes":[]}');
  t.ok(routes.current.empty, 'an empty list (the route deleted) clears them');
  routes.close();
});
