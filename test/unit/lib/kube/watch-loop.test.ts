import t, { type Test } from 'tap';
import { Counter, Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../../support/test-apiserver.js';
import { testApiConnection } from '../../../support/kube-connection.js';
import { KubeClient, resourcePath } from '../../../../lib/kube/client.js';
import { applyWatchChange, WatchLoop, type WatchChange } from '../../../../lib/kube/watch.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers, type ScheduledTimer } from '../../../support/fake-timers.js';

/** The loop's waits in these tests are all under 1 s; its bounds (headers, silence, healthy) are not. */
const isBackoff = (s: ScheduledTimer): boolean => s.delayMs < 1000;

const slice = (name: string, ips: string[]): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'orders' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

interface Rig {
  api: TestApiServer;
  loop: WatchLoop<KubeObject>;
  changes: WatchChange<KubeObject>[];
  state: () => Map<string, KubeObject>;
  restarts: Counter<'resource' | 'reason'>;
  registry: Registry;
  /** The loop's clock: backoff waits happen only when the test advances it. */
  clock: FakeTimers;
}

async function rig(t: Test, opts: { bookmarkIntervalMs?: number; watchTimeoutSeconds?: number; random?: () => number } = {}): Promise<Rig> {
  const api = await TestApiServer.start({ bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000 });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const client = new KubeClient(testApiConnection(api));
  const registry = new Registry();
  const restarts = new Counter({ name: 'weft_kube_watch_restarts_total', help: 'restarts', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const changes: WatchChange<KubeObject>[] = [];
  let state = new Map<string, KubeObject>();
  const clock = new FakeTimers();
  const loop = new WatchLoop<KubeObject>({
    client,
    path: resourcePath({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespace: 'shop' }),
    labelSelector: 'kubernetes.io/service-name=orders',
    onChange: (c) => {
      changes.push(c);
      state = applyWatchChange(state, c);
    },
    restarts,
    resourceLabel: 'endpointslices',
    logger: createLogger({ level: 'silent', name: 'test' }),
    backoff: { initialMs: 20, maxMs: 200 },
    timers: clock,
    random: opts.random ?? (() => 0.5),
    ...(opts.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: opts.watchTimeoutSeconds }),
  });
  t.teardown(async () => {
    await loop.stop();
    client.close();
    await api.stop();
  });
  return { api, loop, changes, state: () => state, restarts, registry, clock };
}

/** Waits for `check`, moving the loop's fake clock past each backoff wait it schedules meanwhile. */
async function driveUntil(r: Rig, what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    const next = r.clock.pendingDelays().find((d) => d < 1000);
    if (next !== undefined) await r.clock.advance(next);
    else await new Promise((res) => setTimeout(res, 10));
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ips = (s: Map<string, KubeObject>): string[] =>
  [...s.values()].flatMap((o) => (o['endpoints'] as { addresses: string[] }[]).flatMap((e) => e.addresses)).sort();

async function restartCount(r: Rig, reason: string): Promise<number> {
  const m = await r.restarts.get();
  return m.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}

t.test('lists first (a replace), then streams changes, keeping the resourceVersion', async (t) => {
  const r = await rig(t);
  r.api.create(slice('orders-a', ['10.0.0.1']));
  r.loop.start();
  await until('synced and watching', () => r.loop.synced && r.api.watchCount > 0);
  t.equal(r.changes[0]?.kind, 'replace');
  t.same(ips(r.state()), ['10.0.0.1']);
  r.api.create(slice('orders-b', ['10.0.0.2']));
  r.api.update(slice('orders-a', ['10.0.0.3']));
  await until('two changes', () => ips(r.state()).join() === '10.0.0.2,10.0.0.3');
  r.api.delete('discovery.k8s.io/v1', 'EndpointSlice', 'shop', 'orders-b');
  await until('delete', () => ips(r.state()).join() === '10.0.0.3');
  t.equal(r.loop.resourceVersion, r.api.resourceVersion);
  t.ok(r.api.requests.some((q) => q.includes('?watch')), 'watched');
});

t.test('asks for bookmarks and moves its resourceVersion with them', async (t) => {
  const r = await rig(t, { bookmarkIntervalMs: 50 });
  r.loop.start();
  await until('synced and watching', () => r.loop.synced && r.api.watchCount > 0);
  const before = r.loop.resourceVersion;
  // A change to another kind moves the global resourceVersion; only a bookmark tells this watch.
  r.api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'shop' } });
  await until('bookmark', () => r.loop.resourceVersion === r.api.resourceVersion);
  t.not(r.loop.resourceVersion, before);
  t.equal(r.changes.length, 1, 'bookmarks emit no change');
});

t.test('410 during a watch re-lists and replaces the set with no lost update', async (t) => {
  const r = await rig(t);
  r.api.create(slice('orders-a', ['10.0.0.1']));
  r.loop.start();
  await until('synced and watching', () => r.loop.synced && r.api.watchCount > 0);
  const listsBefore = r.api.requests.filter((q) => q.endsWith('/endpointslices')).length;
  // Changes that happen while the watch is being expired must all show up after the re-list.
  r.api.expireWatches();
  r.api.update(slice('orders-a', ['10.0.0.9']));
  r.api.create(slice('orders-c', ['10.0.0.4']));
  await driveUntil(r, 're-listed', () => ips(r.state()).join() === '10.0.0.4,10.0.0.9');
  const listsAfter = r.api.requests.filter((q) => q.endsWith('/endpointslices')).length;
  t.ok(listsAfter > listsBefore, 'a fresh list was made');
  t.ok(r.changes.filter((c) => c.kind === 'replace').length >= 2, 'the re-list emitted a full replace');
  t.ok((await restartCount(r, 'expired')) >= 1, 'counted as an expired restart');
  t.ok(r.loop.synced);
  r.api.update(slice('orders-c', ['10.0.0.5']));
  await until('watching again', () => ips(r.state()).join() === '10.0.0.5,10.0.0.9');
});

t.test('a cut connection resumes from the last resourceVersion; a compacted one re-lists', async (t) => {
  const r = await rig(t);
  r.loop.start();
  await until('synced and watching', () => r.loop.synced && r.api.watchCount > 0);
  const backoff = r.clock.nextScheduled(isBackoff);
  r.api.cutWatches();
  r.api.create(slice('orders-a', ['10.0.0.1']));
  await r.clock.advance((await backoff).delayMs);
  await until('resumed', () => ips(r.state()).join() === '10.0.0.1');
  t.ok((await restartCount(r, 'error')) >= 1, 'the cut counted as an error restart');
  t.equal(r.changes.filter((c) => c.kind === 'replace').length, 1, 'resumed without a re-list');
  await until('watching again', () => r.api.watchCount > 0);
  r.api.cutWatches();
  r.api.create(slice('orders-b', ['10.0.0.2']));
  r.api.compact();
  // The resumed watch gets 410 (its version is compacted away); the re-list waits the backoff too.
  await driveUntil(r, 're-listed after 410', () => ips(r.state()).join() === '10.0.0.1,10.0.0.2');
  t.equal(r.changes.filter((c) => c.kind === 'replace').length, 2);
});

t.test('keeps the last state while the API server is down, retries with backoff, and catches up', async (t) => {
  const r = await rig(t);
  r.api.create(slice('orders-a', ['10.0.0.1']));
  r.loop.start();
  await until('synced and watching', () => r.loop.synced && r.api.watchCount > 0);
  const firstBackoff = r.clock.nextScheduled(isBackoff);
  await r.api.stop();
  r.api.update(slice('orders-a', ['10.0.0.7']));
  // Backoff ceilings 20, 40, 80 ms with jitter 0.5: waits of 10, 20, 40 ms.
  t.equal((await firstBackoff).delayMs, 10, 'the first retry waits the backoff');
  const failedBefore = (await restartCount(r, 'error')) + (await restartCount(r, 'closed'));
  t.ok(failedBefore >= 1, 'the lost watch counted as a restart');
  await r.clock.advance(9);
  t.equal((await restartCount(r, 'error')) + (await restartCount(r, 'closed')), failedBefore, 'no new attempt before the backoff');
  const secondBackoff = r.clock.nextScheduled(isBackoff);
  await r.clock.advance(1);
  t.equal((await secondBackoff).delayMs, 20, 'the attempt failed and the backoff doubled');
  const failures = await restartCount(r, 'error');
  t.ok(failures >= 1, `retried ${failures} times, counted as errors`);
  t.same(ips(r.state()), ['10.0.0.1'], 'last known state kept');
  await r.api.restart();
  await r.clock.advance(20);
  await until('caught up', () => ips(r.state()).join() === '10.0.0.7');
});

t.test('a server-side watch timeout resumes at once without a re-list', async (t) => {
  // Jitter 0: the watch asks for exactly 1 s.
  const r = await rig(t, { watchTimeoutSeconds: 1, random: () => 0 });
  // The healthy bound (the watch's full second) is armed when the client has the headers: that
  // event is awaited, as the server counting the watch comes before it.
  const opened = r.clock.nextScheduled((s) => s.delayMs === 1000);
  r.loop.start();
  await opened;
  // The loop's clock sees the watch last its full second, so its end is a timeout, not a failure.
  await r.clock.advance(1000);
  await until('a closed watch', () => r.api.requests.filter((q) => q.includes('?watch')).length >= 2, 8000);
  t.same(r.clock.scheduled.filter(isBackoff), [], 'resumed at once: no backoff wait (only the bounds of the watches were scheduled)');
  r.api.create(slice('orders-a', ['10.0.0.1']));
  await until('still watching', () => ips(r.state()).join() === '10.0.0.1');
  t.equal(r.changes.filter((c) => c.kind === 'replace').length, 1);
  t.ok((await restartCount(r, 'closed')) >= 1);
});
