// Picks that queue, driven through a fake helper with no sockets (as grpc-js's test-pick-first.ts
// does): a source whose picker the test replaces, and timers the test fires by hand.
import t from 'tap';
import { EndpointLoad, FailPicker, Picker, QueuePicker, succeeded, type PickEntry, type PickOutcome, type ServicePicker } from '../../../../mesh/balance/picker.js';
import { PickQueue, type PickAnswer, type PickSource } from '../../../../mesh/balance/pick-queue.js';
import type { TimerHandle, Timers } from '../../../../lib/timers.js';
import { ServiceBalancers } from '../../../../mesh/balance/service-balancers.js';
import { WeftError } from '../../../../lib/errors.js';
import type { Endpoint, EndpointSource, ServiceRef, ServiceSnapshot } from '../../../../mesh/discovery/endpoint-source.js';

const ep = (n: number, ready = true): Endpoint => ({ address: `10.0.0.${n}`, port: 8080, identity: `spiffe://cluster.local/ns/a/sa/s${n}`, ready });

/** The fake helper: holds a picker, replaces it on demand, and counts its listeners. */
class FakeSource implements PickSource {
  picker: ServicePicker = new QueuePicker();
  readonly #listeners = new Set<() => void>();
  get listeners(): number {
    return this.#listeners.size;
  }
  onPickerChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  replace(picker: ServicePicker): void {
    this.picker = picker;
    for (const l of [...this.#listeners]) l();
  }
}

/** Timers that fire only when the test says so. */
class FakeTimers implements Timers {
  readonly pending = new Map<TimerHandle, { callback: () => void; ms: number }>();
  now(): number {
    return 0;
  }
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = { unref: () => undefined };
    this.pending.set(handle, { callback, ms });
    return handle;
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.pending.delete(handle);
  }
  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const d of due) d.callback();
  }
}

const p2c = (...eps: Endpoint[]): Picker => {
  let seq = 0;
  return new Picker(eps.map((endpoint) => ({ endpoint, load: new EndpointLoad() })), () => 0.5, () => ++seq, 'a/orders:80');
};

function record(): { answers: PickAnswer[]; done: (a: PickAnswer) => void } {
  const answers: PickAnswer[] = [];
  return { answers, done: (a) => answers.push(a) };
}

t.test('a pick that completes at once answers synchronously and parks nothing', async (t) => {
  const source = new FakeSource();
  source.picker = p2c(ep(1));
  const timers = new FakeTimers();
  const queue = new PickQueue(1000, timers);
  const { answers, done } = record();
  queue.pick(source, 'a/orders:80', done);
  t.equal(answers.length, 1, 'answered before pick() returned');
  t.match(answers[0], { type: 'complete', endpoint: { address: '10.0.0.1' } });
  t.equal(queue.parked, 0);
  t.equal(timers.pending.size, 0, 'no timer was started');
  t.equal(source.listeners, 0, 'no listener was left behind');
});

t.test('a pick that fails at once answers with the picker\'s error', async (t) => {
  const source = new FakeSource();
  source.picker = new FailPicker(new WeftError('WEFT_ERR_UNKNOWN_SERVICE', 'no mesh service a/nope:80'));
  const { answers, done } = record();
  new PickQueue(1000, new FakeTimers()).pick(source, 'a/nope:80', done);
  t.match(answers, [{ code: 'WEFT_ERR_UNKNOWN_SERVICE', message: 'no mesh service a/nope:80' }]);
});

t.test('a queued pick waits, then completes when a picker with endpoints replaces the queue picker', async (t) => {
  const source = new FakeSource();
  const timers = new FakeTimers();
  const queue = new PickQueue(1000, timers);
  const { answers, done } = record();
  queue.pick(source, 'a/orders:80', done);
  t.equal(answers.length, 0, 'nothing answered while discovery is silent');
  t.equal(queue.parked, 1);
  t.equal([...timers.pending.values()][0]?.ms, 1000, 'the discovery wait is the configured one');
  source.replace(new QueuePicker());
  t.equal(answers.length, 0, 'another queue picker keeps it waiting');
  source.replace(p2c(ep(2)));
  t.match(answers, [{ type: 'complete', endpoint: { address: '10.0.0.2' } }]);
  t.equal(queue.parked, 0);
  t.equal(timers.pending.size, 0, 'the wait timer was cleared');
  t.equal(source.listeners, 0);
});

t.test('a queued pick fails when the replacing picker fails (service unknown, nothing ready)', async (t) => {
  const source = new FakeSource();
  const { answers, done } = record();
  new PickQueue(1000, new FakeTimers()).pick(source, 'a/orders:80', done);
  source.replace(p2c(ep(3, false)));
  t.match(answers, [{ code: 'WEFT_ERR_NO_ENDPOINTS', message: 'a/orders:80 has no ready endpoint' }]);
});

t.test('a queued pick gives up after the discovery wait with WEFT_ERR_NO_ENDPOINTS', async (t) => {
  const source = new FakeSource();
  const timers = new FakeTimers();
  const queue = new PickQueue(250, timers);
  const { answers, done } = record();
  queue.pick(source, 'a/slow:80', done);
  timers.fireAll();
  t.match(answers, [{ code: 'WEFT_ERR_NO_ENDPOINTS', message: 'discovery has not answered for a/slow:80 yet' }]);
  t.equal(source.listeners, 0);
  source.replace(p2c(ep(1)));
  t.equal(answers.length, 1, 'a later picker does not answer twice');
});

t.test('a cancelled pick never answers and leaves no listener or timer', async (t) => {
  const source = new FakeSource();
  const timers = new FakeTimers();
  const queue = new PickQueue(1000, timers);
  const { answers, done } = record();
  const cancel = queue.pick(source, 'a/orders:80', done);
  cancel();
  source.replace(p2c(ep(1)));
  timers.fireAll();
  t.same(answers, []);
  t.equal(queue.parked, 0);
  t.equal(source.listeners, 0);
});

t.test('release(outcome) ends the request on its endpoint and reports the outcome once', async (t) => {
  const outcomes: [string, PickOutcome][] = [];
  const load = new EndpointLoad();
  const entries: PickEntry[] = [{ endpoint: ep(1), load }];
  let seq = 0;
  const picker = new Picker(entries, () => 0.5, () => ++seq, 'a/orders:80', (endpoint, outcome) => outcomes.push([endpoint.address, outcome]));
  const a = picker.pick();
  const b = picker.pick();
  if (a.type !== 'complete' || b.type !== 'complete') throw new Error('expected picks');
  t.equal(load.outstanding, 2);
  a.release(succeeded(12));
  b.release({ result: 'failure', code: 'WEFT_ERR_UPSTREAM_RESET', latencyMs: 3, status: 0 });
  b.release(succeeded(99));
  t.equal(load.outstanding, 0);
  t.equal(load.total, 2);
  t.same(outcomes, [
    ['10.0.0.1', { result: 'success', code: '', latencyMs: 12, status: 0 }],
    ['10.0.0.1', { result: 'failure', code: 'WEFT_ERR_UPSTREAM_RESET', latencyMs: 3, status: 0 }],
  ]);
});

t.test('a balancer answers queue until discovery speaks, then its observer sees every release', async (t) => {
  const listeners = new Map<string, (s: ServiceSnapshot) => void>();
  const source: EndpointSource = {
    synced: true,
    watch: (ref: ServiceRef, onUpdate: (s: ServiceSnapshot) => void) => {
      listeners.set(ref.name, onUpdate);
      return () => listeners.delete(ref.name);
    },
    close: async () => {},
  };
  const seen: string[] = [];
  const balancers = new ServiceBalancers(source, { random: () => 0.5, observe: (e, o) => seen.push(`${e.address} ${o.result}`) });
  const ref = { namespace: 'a', name: 'orders', port: 80 };
  const b = balancers.get(ref);
  t.equal(b.picker.pick().type, 'queue');
  const { answers, done } = record();
  new PickQueue(1000, new FakeTimers()).pick(b, 'a/orders:80', done);
  listeners.get('orders')?.({ ref, endpoints: [ep(1)] });
  const first = answers[0];
  if (!first || first instanceof WeftError) throw new Error('expected a completed pick');
  first.release({ result: 'cancelled', code: '', latencyMs: -1, status: 0 });
  t.same(seen, ['10.0.0.1 cancelled']);
  t.notOk(b.busy());
  listeners.get('orders')?.({ ref, endpoints: undefined });
  t.match(b.picker.pick(), { type: 'fail', error: { code: 'WEFT_ERR_UNKNOWN_SERVICE' } });
});
