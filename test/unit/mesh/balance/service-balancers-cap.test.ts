import t from 'tap';
import { ServiceBalancers } from '../../../../mesh/balance/service-balancers.js';
import type { EndpointSource, ServiceRef, ServiceSnapshot } from '../../../../mesh/discovery/endpoint-source.js';

/** A source that records open subscriptions and answers "unknown service" at once. */
function recordingSource(): EndpointSource & { open: Set<string>; opened: number } {
  const open = new Set<string>();
  const src = {
    open,
    opened: 0,
    synced: true,
    watch(ref: ServiceRef, onUpdate: (s: ServiceSnapshot) => void): () => void {
      const key = `${ref.namespace}/${ref.name}:${ref.port}`;
      open.add(key);
      src.opened += 1;
      onUpdate({ ref, endpoints: undefined });
      return () => open.delete(key);
    },
    close: async () => undefined,
  };
  return src;
}

const ref = (name: string): ServiceRef => ({ namespace: 'shop', name, port: 80 });

t.test('beyond maxServices the least recently used service is evicted and unsubscribed', async (t) => {
  let now = 0;
  const evicted: string[] = [];
  const source = recordingSource();
  const balancers = new ServiceBalancers(source, { now: () => now, maxServices: 3, onEvict: (r) => evicted.push(r.name) });
  for (const name of ['a', 'b', 'c']) {
    now += 1;
    balancers.get(ref(name));
  }
  now += 1;
  balancers.get(ref('a')); // a is used again: b is now the oldest
  now += 1;
  balancers.get(ref('d'));
  t.same(evicted, ['b']);
  t.equal(balancers.size, 3);
  t.same([...source.open].sort(), ['shop/a:80', 'shop/c:80', 'shop/d:80'], 'the evicted service holds no subscription');
  for (let i = 0; i < 300; i++) {
    now += 1;
    balancers.get(ref(`made-up-${i}`));
    t.ok(source.open.size <= 3, 'never more than the cap open');
  }
  t.equal(evicted.length, 301);
});

t.test('a service with a request in flight is not evicted', async (t) => {
  let now = 0;
  const source = recordingSource();
  const balancers = new ServiceBalancers(source, { now: () => now, maxServices: 1 });
  const busy = balancers.get(ref('busy'));
  busy.busy = () => true;
  now += 1;
  balancers.get(ref('other'));
  t.equal(balancers.size, 2, 'over the cap for a while rather than dropping an exchange');
  t.ok(source.open.has('shop/busy:80'));
});

t.test('without maxServices nothing is evicted', async (t) => {
  const source = recordingSource();
  const balancers = new ServiceBalancers(source);
  for (let i = 0; i < 100; i++) balancers.get(ref(`s-${i}`));
  t.equal(balancers.size, 100);
});
