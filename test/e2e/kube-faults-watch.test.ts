// A real `weft proxy` in kubernetes mode against a test API server that misbehaves: a watch
// whose response headers never come, and a 429 with Retry-After. Requests are counted where they
// arrive, at the test API server; what the proxy saw is judged by where its requests go.
import t from 'tap';
import { startFaultMesh } from '../support/kube-fault-mesh.js';

const m = await startFaultMesh();
t.teardown(() => m.close());
const [h0, h1] = m.hello;

// The first call makes the proxy watch hello.
await m.untilOnly('hello-0', 10_000, 3);

t.test('a watch hung before its headers: a change made afterwards is seen within 30 s', async (t) => {
  const from = m.mesh.api.requestLog.length;
  // The next watch of the slices hangs; cutting the current one makes the proxy open it.
  m.mesh.api.injectFault({ kind: 'hang' }, { verb: 'watch', resource: 'endpointslices' }, 1);
  m.mesh.api.cutWatches();
  while (m.mesh.api.heldRequests === 0) {
    if (m.sliceRequests('watch', from).length > 1) throw new Error('the held watch was not the next one');
    await new Promise((r) => setTimeout(r, 20));
  }
  const changedAt = Date.now();
  m.mesh.setEndpoints('hello', [h1]);
  const took = await m.untilOnly(h1.name, 30_000);
  const seenAfter = Date.now() - changedAt;
  t.ok(seenAfter < 30_000, `the change made during the hung watch was seen ${seenAfter} ms later (untilOnly ${took} ms)`);
  t.equal(m.mesh.api.heldRequests, 0, 'the proxy gave up the hung watch');
  t.ok(m.sliceRequests('watch', from).length >= 2, 'and opened another');
  t.equal(m.sliceRequests('list', from).length, 0, 'resumed from its version: no re-list');
});

t.test('429 with Retry-After 2 s on the watch: no retry before 2 s', async (t) => {
  const from = m.mesh.api.requestLog.length;
  m.mesh.api.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 2 }, { verb: 'watch', resource: 'endpointslices' }, 1);
  m.mesh.api.cutWatches();
  const deadline = Date.now() + 15_000;
  while (m.sliceRequests('watch', from).length < 2) {
    if (Date.now() > deadline) throw new Error('no retry within 15 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const [refused, retry] = m.sliceRequests('watch', from);
  const gap = (retry?.at ?? 0) - (refused?.at ?? 0);
  t.ok(gap >= 2000, `the retry came ${gap} ms after the 429 (Retry-After: 2)`);
  t.ok(gap < 5000, 'and not much later');
  m.mesh.setEndpoints('hello', [h0]);
  await m.untilOnly(h0.name, 10_000);
  t.pass('watching again');
});
