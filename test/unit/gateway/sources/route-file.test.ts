import t from 'tap';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { RouteFile, StateLoader } from '../../../../gateway/sources/route-file.js';
import { createGatewayMetrics } from '../../../../gateway/metrics.js';
import type { GatewayState } from '../../../../gateway/state.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const routes = (backend: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [app.test]
  rules:
    - backendRefs: [{ name: ${backend}, port: 80 }]
`;

function backendOf(s: GatewayState | undefined, host: string): string | undefined {
  const d = s?.table.lookup('HTTP', { host, path: '/', method: 'GET', headers: {}, query: new URLSearchParams() });
  return d?.kind === 'matched' && d.rule.backends[0]?.kind === 'service' ? d.rule.backends[0].ref.name : undefined;
}

t.test('the route file reloads after the debounce, rejects a bad object alone, refuses a file that is not YAML', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-routes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'routes.yaml');
  await writeFile(path, routes('v1'));
  const lines: Record<string, unknown>[] = [];
  let onLine: (line: Record<string, unknown>) => void = () => undefined;
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      const line = JSON.parse(chunk.toString()) as Record<string, unknown>;
      lines.push(line);
      onLine(line);
      cb();
    },
  });
  const log = createLogger({ level: 'info', name: 't', destination: sink });
  const applied: GatewayState[] = [];
  const loader = new StateLoader({ log, metrics: createGatewayMetrics(new Registry()), apply: (s) => applied.push(s) });
  const clock = new FakeTimers();
  const file = new RouteFile(path, { log, loader, debounceMs: 100, timers: clock });
  t.teardown(() => file.close());
  await file.start();
  t.equal(loader.generation, 1);
  const replace = async (text: string): Promise<void> => {
    const debounced = clock.nextScheduled((s) => s.delayMs === 100);
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
    await debounced;
  };
  await replace(routes('v2'));
  await clock.advance(99);
  t.equal(loader.generation, 1, 'not reloaded within the debounce');
  const loaded = new Promise<void>((resolve) => (onLine = (l) => l['msg'] === 'routes loaded' && resolve()));
  await clock.advance(1);
  await loaded;
  t.equal(loader.generation, 2, 'reloaded after it');
  // One bad object is rejected alone: its last accepted version (v2) keeps serving.
  const rejected = new Promise<Record<string, unknown>>((resolve) => (onLine = (l) => String(l['msg']).includes('rejected') && resolve(l)));
  await replace(routes('v3').replace('hostnames:', 'hostname:'));
  await clock.advance(100);
  const warned = await rejected;
  t.equal(warned['code'], 'WEFT_ERR_GATEWAY_FILE');
  t.equal(warned['object'], 'HTTPRoute test/app');
  t.match(String(warned['reasons']), /spec\.hostname: unknown field/, 'the problem is named');
  t.equal(loader.generation, 3);
  t.equal(backendOf(applied[2], 'app.test'), 'v2', 'the previous version of the route keeps serving');
  t.match(applied[2]?.conditions, [{ kind: 'HTTPRoute', name: 'app', type: 'Rejected', servingPrevious: true }]);
  // A file that is not YAML is refused whole.
  const refused = new Promise<Record<string, unknown>>((resolve) => (onLine = (l) => String(l['msg']).startsWith('route file refused') && resolve(l)));
  await replace(`${routes('v4')}---\nkind: [broken\n`);
  await clock.advance(100);
  const line = await refused;
  t.equal(line['code'], 'WEFT_ERR_GATEWAY_FILE');
  t.match(String(line['problems']), /document 3 .*\(yaml\)/, 'the problem is named');
  t.equal(loader.generation, 3, 'the running routes stay');
  t.equal(applied.length, 3);
});

t.test('a bad object in a route file at start is rejected alone; the rest serves', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-routes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = createLogger({ level: 'silent', name: 't' });
  const applied: GatewayState[] = [];
  const loader = new StateLoader({ log, metrics: createGatewayMetrics(new Registry()), apply: (s) => applied.push(s) });
  const other = routes('v9').split('---\n')[1]?.replace('name: app', 'name: other').replace('app.test', 'other.test').replace('port: 80', 'port: 0') ?? '';
  await writeFile(join(dir, 'r.yaml'), `${routes('v1')}---\n${other}`);
  const file = new RouteFile(join(dir, 'r.yaml'), { log, loader, debounceMs: 100, timers: new FakeTimers() });
  t.teardown(() => file.close());
  await file.start();
  t.equal(backendOf(applied[0], 'app.test'), 'v1', 'the good route serves');
  t.equal(backendOf(applied[0], 'other.test'), undefined, 'the bad one does not');
  t.match(applied[0]?.conditions, [{ kind: 'HTTPRoute', namespace: 'test', name: 'other', type: 'Rejected', reasons: [/spec\.rules\[0\]\.backendRefs\[0\]\.port/] }]);
  t.equal(applied[0]?.conditions.length, 1);
});

t.test('a missing or invalid route file fails the start with every problem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-routes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = createLogger({ level: 'silent', name: 't' });
  const loader = new StateLoader({ log, metrics: createGatewayMetrics(new Registry()), apply: () => undefined });
  await t.rejects(new RouteFile(join(dir, 'none.yaml'), { log, loader, debounceMs: 100, timers: new FakeTimers() }).start(), { code: 'WEFT_ERR_GATEWAY_FILE', message: /cannot read/ });
  await writeFile(join(dir, 'bad.yaml'), `${routes('v1')}---\n- not an object\n`);
  await t.rejects(new RouteFile(join(dir, 'bad.yaml'), { log, loader, debounceMs: 100, timers: new FakeTimers() }).start(), { code: 'WEFT_ERR_GATEWAY_FILE', message: /is invalid:[\s\S]*document 3 .*must be a Kubernetes object/ });
});
