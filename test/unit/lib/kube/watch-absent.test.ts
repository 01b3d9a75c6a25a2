// A kind the API server does not serve (404 on its list): the watch loop delivers it empty and
// synced, logs it once, and re-checks on a slow capped backoff until it is served.
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { Counter, Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../../support/test-apiserver.js';
import { testApiConnection } from '../../../support/kube-connection.js';
import { KubeClient, resourcePath } from '../../../../lib/kube/client.js';
import { applyWatchChange, WatchLoop, type WatchChange } from '../../../../lib/kube/watch.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers, type ScheduledTimer } from '../../../support/fake-timers.js';

/** The loop's waits in these tests are all under 1 s; its bounds (headers, silence, healthy) are not. */
const isBackoff = (s: ScheduledTimer): boolean => s.delayMs < 1000;

const grant = (name: string): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1beta1',
  kind: 'ReferenceGrant',
  metadata: { name, namespace: 'shop' },
  spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'web' }], to: [{ group: '', kind: 'Service' }] },
});

const GRANTS = { group: 'gateway.networking.k8s.io', version: 'v1beta1', resource: 'referencegrants', singular: 'referencegrant', kind: 'ReferenceGrant', namespaced: true };

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rig(t: Test, absentRecheckMs = 1000) {
  const api = await TestApiServer.start();
  api.addResource(GRANTS);
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const client = new KubeClient(testApiConnection(api));
  const lines: { msg: string; level: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as { msg: string; level: number });
      cb();
    },
  });
  const registry = new Registry();
  const restarts = new Counter({ name: 'weft_kube_watch_restarts_total', help: 'restarts', labelNames: ['resource', 'reason'] as const, registers: [registry] });
  const changes: WatchChange<KubeObject>[] = [];
  let state = new Map<string, KubeObject>();
  const absentFlips: boolean[] = [];
  const clock = new FakeTimers();
  const loop = new WatchLoop<KubeObject>({
    client,
    path: resourcePath({ group: 'gateway.networking.k8s.io', version: 'v1beta1', resource: 'referencegrants' }),
    onChange: (c) => {
      changes.push(c);
      state = applyWatchChange(state, c);
    },
    onAbsentChange: (a) => absentFlips.push(a),
    restarts,
    resourceLabel: 'referencegrants',
    logger: createLogger({ level: 'info', name: 'test', destination: sink }),
    backoff: { initialMs: 100, maxMs: 30_000 },
    absentRecheckMs,
    timers: clock,
    random: () => 0.5,
  });
  t.teardown(async () => {
    await loop.stop();
    client.close();
    await api.stop();
  });
  return { api, loop, changes, state: () => state, clock, lines, absentFlips };
}

const listsOf = (api: TestApiServer): number => api.requests.filter((q) => q === 'GET /apis/gateway.networking.k8s.io/v1beta1/referencegrants').length;

t.test('a kind answered 404 is delivered empty and synced, logged once, and re-checked on a capped backoff', async (t) => {
  const r = await rig(t, 1000);
  const removed = r.api.removeResource('gateway.networking.k8s.io/v1beta1', 'referencegrants');
  t.equal(removed.length, 1, 'the test server stopped serving ReferenceGrant v1beta1');
  let wait = r.clock.nextScheduled(isBackoff);
  r.loop.start();
  // Re-checks: ceilings 100, 200, 400, 800, then capped at 1000; equal jitter at 0.5: 75 % of each.
  const delays: number[] = [];
  for (let i = 0; i < 6; i += 1) {
    const next = await wait;
    delays.push(next.delayMs);
    wait = r.clock.nextScheduled(isBackoff);
    await r.clock.advance(next.delayMs);
  }
  await wait;
  t.same(delays, [75, 150, 300, 600, 750, 750], 'backs off to the slow cap and stays there');
  t.ok(r.loop.synced, 'synced: consumers become ready');
  t.ok(r.loop.absent, 'absent is exposed');
  t.same(r.absentFlips, [true], 'told once');
  t.same(r.changes, [{ kind: 'replace', objects: [] }], 'one empty collection, not one per re-check');
  t.equal(listsOf(r.api), 7, 'each re-check is one list');
  t.equal(r.api.requests.filter((q) => q.includes('referencegrants?watch')).length, 0, 'no watch of a kind that is not served');
  const said = r.lines.filter((l) => l.msg.includes('does not serve this kind'));
  t.equal(said.length, 1, 'logged once, not per re-check');
});

t.test('a kind installed later is picked up at the next re-check, and a kind removed while watched goes empty', async (t) => {
  const r = await rig(t, 1000);
  const removed = r.api.removeResource('gateway.networking.k8s.io/v1beta1');
  t.ok(removed.some((d) => d.kind === 'ReferenceGrant'), 'the whole group-version is gone');
  const firstWait = r.clock.nextScheduled(isBackoff);
  r.loop.start();
  const wait = await firstWait;
  t.ok(r.loop.absent && r.loop.synced);
  r.api.serveResource(removed);
  r.api.create(grant('from-web'));
  await r.clock.advance(wait.delayMs);
  await until('listed and watching', () => r.api.watchCount > 0 && !r.loop.absent);
  t.same([...r.state().keys()], ['shop/from-web'], 'the installed kind is listed');
  t.same(r.absentFlips, [true, false]);
  t.ok(r.lines.some((l) => l.msg === 'the API server serves this kind now'));
  r.api.create(grant('from-api'));
  await until('watched', () => r.state().size === 2);
  // Removing it ends the watch; the loop's next list answers 404: empty again.
  r.api.removeResource('gateway.networking.k8s.io/v1beta1', 'referencegrants');
  // The server ends the watch after less than a healthy stream's time: the loop waits the backoff.
  const ended = await r.clock.nextScheduled(isBackoff);
  await r.clock.advance(ended.delayMs);
  await until('empty again', () => r.loop.absent && r.state().size === 0);
  t.ok(r.loop.synced, 'still synced');
  t.same(r.absentFlips, [true, false, true]);
});

t.test('the test API server answers 404 for lists, watches and gets of a removed kind, and leaves it out of discovery', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  api.addResource(GRANTS);
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  api.create(grant('g'));
  const client = new KubeClient(testApiConnection(api));
  t.teardown(() => client.close());
  const base = '/apis/gateway.networking.k8s.io/v1beta1';
  api.removeResource('gateway.networking.k8s.io/v1beta1');
  for (const path of [`${base}/referencegrants`, `${base}/namespaces/shop/referencegrants`, `${base}/namespaces/shop/referencegrants/g`, `${base}/referencegrants?watch=true`]) {
    const err = await client.request('GET', path).then(() => undefined, (e: unknown) => e);
    t.match(err, { apiStatus: 404, reason: 'NotFound' }, `404 for ${path}`);
  }
  const groups = await client.request<{ groups: { versions: { groupVersion: string }[] }[] }>('GET', '/apis');
  t.notOk(groups.groups.some((g) => g.versions.some((v) => v.groupVersion === 'gateway.networking.k8s.io/v1beta1')), 'discovery leaves it out');
  const err = await client.request('GET', base).then(() => undefined, (e: unknown) => e);
  t.match(err, { apiStatus: 404 }, 'its group-version answers 404');
});
