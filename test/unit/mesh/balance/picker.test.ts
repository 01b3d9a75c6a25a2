import t from 'tap';
import { EndpointLoad, Picker, succeeded, type PickEntry } from '../../../../mesh/balance/picker.js';
import { PickQueue } from '../../../../mesh/balance/pick-queue.js';
import { ServiceBalancers } from '../../../../mesh/balance/service-balancers.js';
import type { Endpoint, EndpointSource, ServiceRef, ServiceSnapshot } from '../../../../mesh/discovery/endpoint-source.js';

const ep = (n: number, ready = true): Endpoint => ({ address: `10.0.0.${n}`, port: 8080, identity: `spiffe://cluster.local/ns/a/sa/s${n}`, ready });
const entries = (...eps: Endpoint[]): PickEntry[] => eps.map((endpoint) => ({ endpoint, load: new EndpointLoad() }));
// A seeded generator (mulberry32) so the tests are repeatable.
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fails with WEFT_ERR_NO_ENDPOINTS when nothing is ready', async (t) => {
  let seq = 0;
  const none = new Picker(entries(ep(1, false), ep(2, false)), Math.random, () => ++seq, 'a/orders:80').pick();
  t.equal(none.type, 'fail');
  t.equal(none.type === 'fail' && none.error.code, 'WEFT_ERR_NO_ENDPOINTS');
  t.equal(none.type === 'fail' && none.error.message, 'a/orders:80 has no ready endpoint');
  t.equal(new Picker([], Math.random, () => ++seq).pick().type, 'fail');
});

t.test('never picks a not-ready endpoint', async (t) => {
  let seq = 0;
  const picker = new Picker(entries(ep(1), ep(2, false), ep(3)), seeded(1), () => ++seq);
  for (let i = 0; i < 200; i++) {
    const r = picker.pick();
    if (r.type !== 'complete') throw new Error('expected a pick');
    t.not(r.endpoint.address, '10.0.0.2');
    r.release(succeeded());
  }
  t.equal(picker.size, 2);
});

t.test('prefers the endpoint with fewer outstanding requests', async (t) => {
  let seq = 0;
  const es = entries(ep(1), ep(2));
  (es[0] as PickEntry).load.outstanding = 5;
  const picker = new Picker(es, seeded(2), () => ++seq);
  for (let i = 0; i < 4; i++) {
    const r = picker.pick();
    t.equal(r.type === 'complete' && r.endpoint.address, '10.0.0.2', 'the idle endpoint wins while it has fewer in flight');
  }
});

t.test('sequential requests spread evenly (ties go to the one picked longest ago)', async (t) => {
  let seq = 0;
  const es = entries(ep(1), ep(2), ep(3));
  const picker = new Picker(es, seeded(3), () => ++seq);
  for (let i = 0; i < 300; i++) {
    const r = picker.pick();
    if (r.type === 'complete') r.release(succeeded());
  }
  for (const e of es) t.ok(e.load.total >= 75 && e.load.total <= 126, `${e.endpoint.address}: ${e.load.total}`);
});

t.test('under concurrency the least loaded of two random endpoints wins', async (t) => {
  let seq = 0;
  const es = entries(ep(1), ep(2), ep(3), ep(4));
  const picker = new Picker(es, seeded(4), () => ++seq);
  // Hold 40 requests open: P2C keeps outstanding counts within a small band.
  for (let i = 0; i < 40; i++) picker.pick();
  const counts = es.map((e) => e.load.outstanding);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 3, `outstanding ${counts.join(',')}`);
});

t.test('release never goes below zero: a second release of one pick is ignored', async (t) => {
  let seq = 0;
  const es = entries(ep(1));
  const r = new Picker(es, Math.random, () => ++seq).pick();
  if (r.type !== 'complete') throw new Error('expected a pick');
  t.equal((es[0] as PickEntry).load.outstanding, 1);
  r.release(succeeded());
  r.release(succeeded());
  t.equal((es[0] as PickEntry).load.outstanding, 0);
});

class FakeSource implements EndpointSource {
  synced = true;
  listeners = new Map<string, (s: ServiceSnapshot) => void>();
  unsubscribed: string[] = [];
  watch(ref: ServiceRef, onUpdate: (s: ServiceSnapshot) => void): () => void {
    const key = `${ref.namespace}/${ref.name}:${ref.port}`;
    this.listeners.set(key, onUpdate);
    return () => this.unsubscribed.push(key);
  }
  async close(): Promise<void> {}
}

t.test('balancers subscribe on first use, carry loads across updates, and unsubscribe idle services', async (t) => {
  const source = new FakeSource();
  let now = 0;
  const balancers = new ServiceBalancers(source, { random: seeded(5), now: () => now });
  const ref = { namespace: 'a', name: 'orders', port: 80 };
  const b = balancers.get(ref);
  t.equal(b.state, 'pending');
  const settled = new Promise<void>((resolve) => new PickQueue(1000).pick(b, 'a/orders:80', (answer) => {
    if ('release' in answer) answer.release(succeeded());
    resolve();
  }));
  source.listeners.get('a/orders:80')?.({ ref, endpoints: [ep(1), ep(2)] });
  await settled;
  t.equal(b.state, 'known');
  const r = b.picker.pick();
  t.equal(r.type, 'complete');
  source.listeners.get('a/orders:80')?.({ ref, endpoints: [ep(1), ep(2), ep(3)] });
  t.ok(b.busy(), 'the in-flight request still counts after the update');
  t.equal(balancers.sweep(1), 0, 'busy services stay');
  if (r.type === 'complete') r.release(succeeded());
  now = 10_000;
  t.equal(balancers.sweep(1000), 1);
  t.same(source.unsubscribed, ['a/orders:80']);
  source.listeners.get('a/orders:80')?.({ ref, endpoints: undefined });
  t.equal(b.state, 'unknown', 'a vanished service is unknown');
});

t.test('the discovery wait gives up after its timeout and leaves the state pending', async (t) => {
  const balancers = new ServiceBalancers(new FakeSource());
  const b = balancers.get({ namespace: 'a', name: 'slow', port: 80 });
  const answer = await new Promise((resolve) => new PickQueue(10).pick(b, 'a/slow:80', resolve));
  t.match(answer, { code: 'WEFT_ERR_NO_ENDPOINTS' });
  t.equal(b.state, 'pending');
});
