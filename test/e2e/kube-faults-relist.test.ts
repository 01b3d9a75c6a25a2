// A real `weft proxy` in kubernetes mode against a test API server that answers 30 watches in a
// row with 410 Expired: the proxy re-lists on a backoff (at most 10 lists in any 10 s), then
// recovers. WEFT_KUBE_RETRY_MAX_MS=3000 (a documented setting) keeps the 30 re-lists near a
// minute; the floor of each wait (half its ceiling) is what bounds the rate.
import t from 'tap';
import { startFaultMesh } from '../support/kube-fault-mesh.js';
import { metric } from '../support/local-mesh.js';

const m = await startFaultMesh({ WEFT_KUBE_RETRY_MAX_MS: '3000' }, false);
t.teardown(() => m.close());
const [h0, h1] = m.hello;

// The first call makes the proxy watch hello (it fails: the hello pods have no sidecar here).
await m.call();
await m.untilEndpoints([h0.name], 10_000);

t.test('30 consecutive 410s: no more than 10 lists in 10 s, then recovery', async (t) => {
  const from = m.mesh.api.requestLog.length;
  const expiredBefore = await metric(m.client.admin, 'weft_discovery_watch_restarts_total', { resource: 'endpointslices', reason: 'expired' });
  m.mesh.api.injectFault({ kind: 'status', code: 410 }, { verb: 'watch', resource: 'endpointslices' }, 30);
  // The watch resumed after this cut is the first of the 30.
  m.mesh.api.cutWatches();
  const started = Date.now();
  while (m.mesh.api.pendingFaults > 0) {
    if (Date.now() - started > 100_000) throw new Error(`${m.mesh.api.pendingFaults} of the 410s still unused after 100 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The re-list after the last 410 comes after its backoff wait.
  while (m.sliceRequests('list', from).length < 30) {
    if (Date.now() - started > 110_000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const consumedMs = Date.now() - started;
  const lists = m.sliceRequests('list', from).map((r) => r.at);
  t.equal(lists.length, 30, 'one re-list per 410');
  let most = 0;
  for (const at of lists) most = Math.max(most, lists.filter((x) => x >= at && x < at + 10_000).length);
  t.ok(most <= 10, `at most ${most} lists in any 10 s (${lists.length} lists over ${consumedMs} ms)`);
  const first10s = lists.filter((x) => x < started + 10_000).length;
  t.ok(first10s <= 10, `${first10s} lists in the first 10 s`);
  t.equal(
    (await metric(m.client.admin, 'weft_discovery_watch_restarts_total', { resource: 'endpointslices', reason: 'expired' })) - expiredBefore,
    30,
    'each 410 counted as an expired restart',
  );
  const changedAt = Date.now();
  m.mesh.setEndpoints('hello', [h1]);
  const seen = await m.untilEndpoints([h1.name], 10_000);
  t.ok(seen < 10_000, `recovered: a change after the 410s was seen ${Date.now() - changedAt} ms later`);
  t.equal(m.sliceRequests('list', from).length, 30, 'and no more re-lists once the watch is healthy');
});
