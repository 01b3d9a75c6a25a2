// Peak-EWMA choice, failure accrual, ejection times, the probe and the panic threshold, driven by
// a fake clock: no sockets, no sleeps.
import t from 'tap';
import { EndpointLoad, Picker, failed, succeeded, cancelled, type PickEntry, type PickResult, type CompletedPick } from '../../../../mesh/balance/picker.js';
import { ServiceHealth, defaultBalanceOptions, type BalanceOptions } from '../../../../mesh/balance/endpoint-health.js';
import type { Endpoint } from '../../../../mesh/discovery/endpoint-source.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const ep = (n: number): Endpoint => ({ address: `10.0.0.${n}`, port: 8080, identity: `spiffe://cluster.local/ns/a/sa/s${n}`, ready: true, podName: `pod-${n}` });
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
function complete(r: PickResult): CompletedPick {
  if (r.type !== 'complete') throw new Error(`expected a pick, got ${r.type}`);
  return r;
}

interface Rig {
  clock: FakeTimers;
  entries: PickEntry[];
  picker: Picker;
  ejections: [string, number][];
}
function rig(n: number, overrides: Partial<BalanceOptions> = {}, seed = 7): Rig {
  const clock = new FakeTimers(0);
  const ejections: [string, number][] = [];
  const opts: BalanceOptions = Object.assign(defaultBalanceOptions(() => clock.now()), { onEject: (e: Endpoint, ms: number) => ejections.push([e.address, ms]) }, overrides);
  const entries = Array.from({ length: n }, (_, i) => ({ endpoint: ep(i + 1), load: new EndpointLoad() }));
  let seq = 0;
  const picker = new Picker(entries, seeded(seed), () => ++seq, 'a/orders:80', undefined, opts, new ServiceHealth());
  return { clock, entries, picker, ejections };
}

t.test('Peak-EWMA: an endpoint 200 ms slower gets almost no sequential requests', async (t) => {
  const { clock, picker, entries } = rig(3);
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const p = complete(picker.pick());
    const slow = p.endpoint.address === '10.0.0.3';
    const latency = slow ? 202 : 2;
    await clock.advance(latency);
    p.release(succeeded(latency, 200));
    counts.set(p.endpoint.address, (counts.get(p.endpoint.address) ?? 0) + 1);
  }
  const slowShare = (counts.get('10.0.0.3') ?? 0) / 1000;
  t.ok(slowShare < 0.1, `slow endpoint got ${(slowShare * 100).toFixed(1)} % (${JSON.stringify([...counts])})`);
  t.ok((entries[2]?.load.rttMs ?? 0) > 100, 'its peak latency is remembered');
});

t.test('Peak-EWMA: a once-slow endpoint is tried again after its peak decays', async (t) => {
  const { clock, picker, entries } = rig(2);
  const slow = entries[1] as PickEntry;
  slow.load.rttMs = 500;
  slow.load.rttAtMs = clock.now();
  (entries[0] as PickEntry).load.rttMs = 5;
  (entries[0] as PickEntry).load.rttAtMs = clock.now();
  t.equal(complete(picker.pick()).endpoint.address, '10.0.0.1', 'the fast one wins while the peak is fresh');
  await clock.advance(60_000);
  (entries[0] as PickEntry).load.rttAtMs = clock.now();
  let slowPicked = 0;
  for (let i = 0; i < 10; i++) {
    const p = complete(picker.pick());
    if (p.endpoint === slow.endpoint) slowPicked += 1;
    p.release(cancelled());
  }
  t.ok(slowPicked > 0, 'after a minute its decayed estimate competes again');
});

t.test('costs within a quarter of each other tie: sequential requests still spread evenly', async (t) => {
  const { clock, picker, entries } = rig(3);
  for (let i = 0; i < 300; i++) {
    const p = complete(picker.pick());
    const latency = 2 + (i % 3) * 0.3;
    await clock.advance(latency);
    p.release(succeeded(latency, 200));
  }
  for (const e of entries) t.ok(e.load.total >= 75 && e.load.total <= 126, `${e.endpoint.address}: ${e.load.total}`);
});

t.test('five consecutive failures eject an endpoint; it gets nothing until its ejection runs out', async (t) => {
  const { clock, picker, ejections } = rig(3);
  let deadHits = 0;
  for (let i = 0; i < 200; i++) {
    const p = complete(picker.pick());
    await clock.advance(1);
    if (p.endpoint.address === '10.0.0.2') {
      deadHits += 1;
      p.release(succeeded(1, 502));
    } else {
      p.release(succeeded(1, 200));
    }
  }
  t.equal(deadHits, 5, 'exactly the five failures that ejected it');
  t.same(ejections, [['10.0.0.2', 1000]]);
});

t.test('after its ejection one probe goes to it; a failed probe ejects it twice as long, a good one restores it', async (t) => {
  const { clock, picker, ejections, entries } = rig(3);
  const dead = (entries[1] as PickEntry).endpoint;
  const drive = async (n: number, deadFails: boolean): Promise<number> => {
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const p = complete(picker.pick());
      await clock.advance(1);
      if (p.endpoint === dead) {
        hits += 1;
        p.release(deadFails ? failed('WEFT_ERR_CONNECT', 1) : succeeded(1, 200));
      } else {
        p.release(succeeded(1, 200));
      }
    }
    return hits;
  };
  await drive(100, true);
  t.same(ejections.map((e) => e[1]), [1000]);
  await clock.advance(1000);
  t.equal(await drive(50, true), 1, 'one probe after the first ejection');
  t.same(ejections.map((e) => e[1]), [1000, 2000], 'the failed probe doubles the time');
  await clock.advance(1000);
  t.equal(await drive(20, true), 0, 'still ejected half way through');
  await clock.advance(1000);
  t.equal(await drive(1, true), 1, 'the next pick is the probe');
  t.same(ejections.map((e) => e[1]), [1000, 2000, 4000]);
  await clock.advance(4000);
  const back = await drive(300, false);
  t.ok(back > 60, `a good probe brings it back into rotation (${back} of 300)`);
});

t.test('ejection time is capped at the maximum', async (t) => {
  const { clock, picker, ejections } = rig(2, { ejectionBaseMs: 100, ejectionMaxMs: 350, panicPercent: 0 });
  // Two endpoints, one always failing: never both ejected, so it can be ejected again and again.
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 40; i++) {
      const p = complete(picker.pick());
      p.release(p.endpoint.address === '10.0.0.1' ? failed('WEFT_ERR_CONNECT', 1) : succeeded(1, 200));
    }
    await clock.advance(400);
  }
  t.same(ejections.map((e) => e[1]), [100, 200, 350, 350, 350, 350]);
});

t.test('never all at once: the last available endpoint is not ejected, and below the panic threshold ejections are ignored', async (t) => {
  const { clock, picker, ejections } = rig(3);
  const seen = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const p = complete(picker.pick());
    seen.add(p.endpoint.address);
    await clock.advance(1);
    p.release(succeeded(1, 503));
  }
  t.equal(ejections.length, 2, 'two of three ejected, never the third');
  t.equal(seen.size, 3, 'with one of three available (below 50 %), the picker uses every endpoint');
});

t.test('a retry avoids the endpoint that just failed when another is ready', async (t) => {
  const { picker, entries } = rig(3);
  for (const e of entries) {
    for (let i = 0; i < 50; i++) {
      const p = complete(picker.pick(e.endpoint));
      t.not(p.endpoint, e.endpoint);
      p.release(cancelled());
    }
  }
  const solo = rig(1);
  const only = (solo.entries[0] as PickEntry).endpoint;
  t.equal(complete(solo.picker.pick(only)).endpoint, only, 'with one endpoint, it is picked anyway');
});

t.test('with failure accrual off, nothing is ejected', async (t) => {
  const { picker, ejections } = rig(3, { failureThreshold: 0 });
  for (let i = 0; i < 100; i++) complete(picker.pick()).release(failed('WEFT_ERR_CONNECT', 1));
  t.same(ejections, []);
});
