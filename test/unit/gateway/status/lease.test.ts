// The status Lease against the test API server with fake clocks: a holder that dies without
// releasing (its clock never ticks again) is replaced only once the other replica has seen no
// renewal for the whole lease duration, and within one renew period after it.
import t from 'tap';
import { TestApiServer } from '../../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../../lib/kube/config.js';
import { KubeClient } from '../../../../lib/kube/client.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers } from '../../../support/fake-timers.js';
import { LeaderLease } from '../../../../gateway/status/lease.js';

const DURATION_MS = 15_000;

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('a crashed holder is replaced after the lease duration, not before', async (t) => {
  const api = await TestApiServer.start();
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  t.teardown(async () => {
    client.close();
    await api.stop();
  });
  const log = createLogger({ level: 'silent', name: 't' });
  const clockA = new FakeTimers();
  const clockB = new FakeTimers();
  const changes: string[] = [];
  const lease = (identity: string, timers: FakeTimers): LeaderLease =>
    new LeaderLease({ client, namespace: 'default', name: 'status', identity, durationMs: DURATION_MS, timers, log, onChange: (l) => changes.push(`${identity} ${l}`) });
  const a = lease('a', clockA);
  a.start();
  await until('a leads', () => a.leader);
  const b = lease('b', clockB);
  const firstRound = clockB.nextScheduled();
  b.start();
  await firstRound;
  t.notOk(b.leader, 'b sees a holding the Lease');
  // a is gone: its clock never moves again, so it never renews.
  let waitedMs = 0;
  while (!b.leader && waitedMs < 2 * DURATION_MS) {
    const next = clockB.nextScheduled();
    await clockB.advance(b.periodMs);
    waitedMs += b.periodMs;
    await next;
    if (waitedMs < DURATION_MS) t.notOk(b.leader, `not taken after ${waitedMs} ms of silence`);
  }
  t.ok(b.leader, `b took the Lease after ${waitedMs} ms`);
  t.ok(waitedMs >= DURATION_MS && waitedMs <= DURATION_MS + b.periodMs, 'within one renew period after the lease duration');
  t.match(api.get('coordination.k8s.io/v1', 'Lease', 'default', 'status')?.spec, { holderIdentity: 'b', leaseTransitions: 1 });
  t.same(changes, ['a true', 'b true']);
});
