// The watch loop against the faults of a misbehaving API server, every bound on a fake clock:
// no response headers, a silent stream, 410 over and over, 429/503 with Retry-After, the backoff
// reset by a healthy stream (not by an event), and paginated lists with an expired continue.
import t, { type Test } from 'tap';
import { Counter, Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../../support/test-apiserver.js';
import { testApiConnection } from '../../../support/kube-connection.js';
import { KubeClient, resourcePath } from '../../../../lib/kube/client.js';
import { applyWatchChange, DEFAULT_BACKOFF, WatchLoop, type WatchChange, type WatchLoopOptions } from '../../../../lib/kube/watch.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers, type ScheduledTimer } from '../../../support/fake-timers.js';

const slice = (name: string, ips: string[]): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'orders' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

type Extra = Partial<Omit<WatchLoopOptions<KubeObject>, 'client' | 'path' | 'onChange' | 'restarts' | 'resourceLabel' | 'logger'>>;

interface Rig {
  api: TestApiServer;
  loop: WatchLoop<KubeObject>;
  changes: { at: number; change: WatchChange<KubeObject> }[];
  state: () => Map<string, KubeObject>;
  count: (c: Counter<'resource' | 'reason'>, reason: string) => Promise<number>;
  restarts: Counter<'resource' | 'reason'>;
  relists: Counter<'resource' | 'reason'>;
  clock: FakeTimers;
}

async function rig(t: Test, extra: Extra = {}): Promise<Rig> {
  const api = await TestApiServer.start();
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const client = new KubeClient(testApiConnection(api));
  const registry = new Registry();
  const restarts = new Counter({ name: 'restarts_total', help: 'restarts', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const relists = new Counter({ name: 'relists_total', help: 'relists', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const changes: { at: number; change: WatchChange<KubeObject> }[] = [];
  let state = new Map<string, KubeObject>();
  const clock = new FakeTimers();
  const loop = new WatchLoop<KubeObject>({
    client,
    path: resourcePath({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespace: 'shop' }),
    labelSelector: 'kubernetes.io/service-name=orders',
    onChange: (c) => {
      changes.push({ at: clock.now(), change: c });
      state = applyWatchChange(state, c);
    },
    restarts,
    relists,
    resourceLabel: 'endpointslices',
    logger: createLogger({ level: 'silent', name: 'test' }),
    backoff: { initialMs: 20, maxMs: 200 },
    timers: clock,
    random: () => 0.5,
    ...extra,
  });
  t.teardown(async () => {
    await loop.stop();
    client.close();
    await api.stop();
  });
  const count = async (c: Counter<'resource' | 'reason'>, reason: string): Promise<number> => (await c.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
  return { api, loop, changes, state: () => state, count, restarts, relists, clock };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits for `check`, moving the fake clock past each wait shorter than `maxWaitMs` the loop schedules meanwhile. */
async function driveUntil(r: Rig, what: string, check: () => boolean, maxWaitMs = 1000, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    const next = r.clock.pendingDelays().find((d) => d < maxWaitMs);
    if (next !== undefined) await r.clock.advance(next);
    else await new Promise((res) => setTimeout(res, 5));
  }
}

const ips = (s: Map<string, KubeObject>): string =>
  [...s.values()].flatMap((o) => (o['endpoints'] as { addresses: string[] }[]).flatMap((e) => e.addresses)).sort().join();
const watches = (api: TestApiServer): number => api.requestLog.filter((q) => q.verb === 'watch').length;
const lists = (api: TestApiServer) => api.requestLog.filter((q) => q.verb === 'list' && q.resource === 'endpointslices');
const isBackoff = (s: ScheduledTimer): boolean => s.delayMs < 1000;

t.test('a watch whose headers never come is abandoned at the headers bound and resumed; a change made meanwhile is seen', async (t) => {
  const r = await rig(t, { headersTimeoutMs: 15_000 });
  r.api.injectFault({ kind: 'hang' }, { verb: 'watch', resource: 'endpointslices' }, 1);
  r.loop.start();
  await until('the watch is held', () => r.api.heldRequests === 1);
  t.ok(r.loop.synced, 'the list was answered');
  r.api.create(slice('orders-a', ['10.0.0.1']));
  await r.clock.advance(14_999);
  t.equal(r.api.heldRequests, 1, 'not abandoned before the bound');
  t.equal(watches(r.api), 1);
  await r.clock.advance(1);
  await until('abandoned', () => r.api.heldRequests === 0);
  await driveUntil(r, 'the change', () => ips(r.state()) === '10.0.0.1');
  t.equal(await r.count(r.restarts, 'error'), 1, 'counted as an error restart');
  t.equal(lists(r.api).length, 1, 'resumed from its version: no re-list');
});

t.test('a list whose headers never come is abandoned at the same bound', async (t) => {
  const r = await rig(t, { headersTimeoutMs: 15_000 });
  r.api.injectFault({ kind: 'hang' }, { verb: 'list', resource: 'endpointslices' }, 1);
  r.loop.start();
  await until('the list is held', () => r.api.heldRequests === 1);
  await r.clock.advance(14_999);
  t.equal(r.api.heldRequests, 1);
  t.notOk(r.loop.synced);
  await r.clock.advance(1);
  await driveUntil(r, 'synced', () => r.loop.synced);
  t.equal(lists(r.api).length, 2, 'listed again');
  t.equal(await r.count(r.relists, 'retry'), 1, 'the second list is counted as a retry');
});

t.test('an open watch silent for twice the bookmark interval is taken for dead and resumed; a bookmark keeps it alive', async (t) => {
  const r = await rig(t, { bookmarkIntervalMs: 1000, healthyWatchMs: 100_000 });
  // The silence bound (2 s) is armed when the client has the response headers and again on every
  // chunk. The server counting a watch is not the client having its answer: each arming is
  // awaited as the event it is, or the clock could move before the client starts counting.
  const isSilenceBound = (s: ScheduledTimer): boolean => s.delayMs === 2000;
  const opened = r.clock.nextScheduled(isSilenceBound);
  r.loop.start();
  await opened;
  t.equal(r.api.watchCount, 1);
  await r.clock.advance(1500);
  const rearmed = r.clock.nextScheduled(isSilenceBound);
  r.api.sendBookmarks();
  await rearmed;
  await until('the bookmark applied', () => r.loop.resourceVersion === r.api.resourceVersion);
  await r.clock.advance(1999);
  t.equal(watches(r.api), 1, 'a bookmark 1.5 s in: still the first watch 3.5 s in');
  await r.clock.advance(1);
  // A second watch is opened: the silent one was given up. (When the test API server notices the
  // abandoned one's socket close is up to its event loop, so only the new watch is awaited.)
  await driveUntil(r, 'a new watch', () => watches(r.api) === 2);
  t.equal(lists(r.api).length, 1, 'resumed without a re-list');
  r.api.create(slice('orders-a', ['10.0.0.2']));
  await until('watching again', () => ips(r.state()) === '10.0.0.2');
});

t.test('30 consecutive 410s: re-lists back off (at most 10 lists in 10 s), each from the last version, then recovery', async (t) => {
  // random 0: every wait is the backoff's floor, the fastest the loop can ever go.
  const r = await rig(t, { backoff: DEFAULT_BACKOFF, random: () => 0, headersTimeoutMs: 120_000, healthyWatchMs: 120_000, bookmarkIntervalMs: 600_000 });
  r.api.create(slice('orders-a', ['10.0.0.1']));
  r.api.injectFault({ kind: 'status', code: 410 }, { verb: 'watch', resource: 'endpointslices' }, 30);
  const started = r.clock.now();
  r.loop.start();
  await driveUntil(r, '30 410s used', () => r.api.pendingFaults === 0 && r.api.watchCount === 1, 60_000, 30_000);
  const listTimes = r.changes.filter((c) => c.change.kind === 'replace').map((c) => c.at - started);
  t.equal(listTimes.length, 31, 'one list, then one re-list per 410');
  const inFirst10s = listTimes.filter((ms) => ms < 10_000).length;
  t.ok(inFirst10s <= 10, `${inFirst10s} lists in the first 10 s`);
  for (let i = 0; i < listTimes.length; i += 1) {
    const window = listTimes.filter((ms) => ms >= (listTimes[i] ?? 0) && ms < (listTimes[i] ?? 0) + 10_000).length;
    if (window > 10) t.fail(`${window} lists in the 10 s from ${listTimes[i]} ms`);
  }
  const waits = r.clock.scheduled.filter((s) => s.delayMs < 60_000).map((s) => s.delayMs);
  t.same(waits.slice(0, 9), [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 15_000], 'the floor doubles, then stays at half the 30 s cap');
  const relistQueries = lists(r.api).slice(1).map((q) => new URLSearchParams(q.query).get('resourceVersion'));
  t.ok(relistQueries.every((v) => v !== null && v !== '0'), 're-lists ask for "not older than" the last version, never back to the cache\'s any');
  t.equal(new URLSearchParams(lists(r.api)[0]?.query).get('resourceVersion'), '0', 'the first list is served from the watch cache');
  t.equal(await r.count(r.restarts, 'expired'), 30);
  t.equal(await r.count(r.relists, 'expired'), 30);
  r.api.update(slice('orders-a', ['10.0.0.3']));
  await until('recovered', () => ips(r.state()) === '10.0.0.3');
});

t.test('429 with Retry-After 2 s on a watch: no retry before 2 s', async (t) => {
  const r = await rig(t);
  r.api.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 2 }, { verb: 'watch', resource: 'endpointslices' }, 1);
  const wait = r.clock.nextScheduled((s) => s.delayMs < 10_000 && s.delayMs !== 5000);
  r.loop.start();
  t.equal((await wait).delayMs, 2000, 'waits what the server asked, not the 10 ms backoff');
  await r.clock.advance(1999);
  t.equal(watches(r.api), 1, 'no retry at 1.999 s');
  await r.clock.advance(1);
  await until('retried', () => r.api.watchCount === 1);
  t.equal(await r.count(r.restarts, 'throttled'), 1);
});

t.test('503 with Retry-After 3 s on a list: the re-try of the list waits 3 s', async (t) => {
  const r = await rig(t);
  r.api.injectFault({ kind: 'status', code: 503, retryAfterSeconds: 3 }, { verb: 'list', resource: 'endpointslices' }, 1);
  const wait = r.clock.nextScheduled((s) => s.delayMs < 10_000 && s.delayMs !== 5000);
  r.loop.start();
  t.equal((await wait).delayMs, 3000);
  await r.clock.advance(2999);
  t.equal(lists(r.api).length, 1);
  await r.clock.advance(1);
  await until('synced', () => r.loop.synced);
});

t.test('the backoff is reset by a stream healthy for healthyWatchMs, with no event; an event alone does not reset it', async (t) => {
  const r = await rig(t, { healthyWatchMs: 1000 });
  r.loop.start();
  await until('watching', () => r.loop.synced && r.api.watchCount === 1);
  for (let i = 0; i < 3; i += 1) {
    const wait = r.clock.nextScheduled(isBackoff);
    r.api.cutWatches();
    await r.clock.advance((await wait).delayMs);
    await until('watching again', () => r.api.watchCount === 1);
  }
  t.equal(r.loop.failures, 3, 'three cuts in a row');
  r.api.create(slice('orders-a', ['10.0.0.1']));
  await until('the event', () => ips(r.state()) === '10.0.0.1');
  t.equal(r.loop.failures, 3, 'an event does not reset the backoff');
  let wait = r.clock.nextScheduled(isBackoff);
  r.api.cutWatches();
  t.equal((await wait).delayMs, 80, 'the fourth failure waits the fourth step (ceiling 160, jitter 0.5)');
  // The healthy bound starts when the client has the response headers, not when the server counts
  // the watch: that scheduling is awaited, so the clock never moves before it.
  const healthyArmed = r.clock.nextScheduled((s) => s.delayMs === 1000);
  await r.clock.advance(80);
  await healthyArmed;
  t.equal(r.api.watchCount, 1, 'watching again');
  await r.clock.advance(999);
  t.equal(r.loop.failures, 4);
  await r.clock.advance(1);
  t.equal(r.loop.failures, 0, 'open and error-free for 1 s: reset with no event');
  wait = r.clock.nextScheduled(isBackoff);
  r.api.cutWatches();
  t.equal((await wait).delayMs, 10, 'the next failure waits the first step again');
});

t.test('lists are paginated (limit + continue) into one replace; an expired continue restarts the list from its first page', async (t) => {
  const r = await rig(t, { pageSize: 2 });
  for (const n of ['a', 'b', 'c', 'd', 'e']) r.api.create(slice(`orders-${n}`, [`10.0.1.${n.charCodeAt(0) - 96}`]));
  r.api.injectFault({ kind: 'status', code: 410 }, { verb: 'list', resource: 'endpointslices', continued: true }, 1);
  r.loop.start();
  await until('synced', () => r.loop.synced);
  const queries = lists(r.api).map((q) => new URLSearchParams(q.query));
  t.same(
    queries.map((q) => [q.get('limit'), q.get('resourceVersion'), q.has('continue')]),
    [['2', '0', false], ['2', null, true], ['2', null, false], ['2', null, true], ['2', null, true]],
    'first page from the cache, its continue expired, then the whole list again at the latest state',
  );
  const replaces = r.changes.filter((c) => c.change.kind === 'replace');
  t.equal(replaces.length, 1, 'one replace');
  t.equal(ips(r.state()), '10.0.1.1,10.0.1.2,10.0.1.3,10.0.1.4,10.0.1.5', 'with every page');
  t.equal(await r.count(r.relists, 'continue-expired'), 1);
  t.equal(await r.count(r.relists, 'initial'), 1);
});
