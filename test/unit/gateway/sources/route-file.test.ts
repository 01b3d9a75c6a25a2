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

t.test('the route file reloads after the debounce, refuses a bad version and keeps the running routes', async (t) => {
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
  const refused = new Promise<Record<string, unknown>>((resolve) => (onLine = (l) => String(l['msg']).startsWith('route file refused') && resolve(l)));
  await replace(routes('v3').replace('hostnames:', 'hostname:'));
  await clock.advance(100);
  const line = await refused;
  t.equal(line['code'], 'WEFT_ERR_GATEWAY_FILE');
  t.match(String(line['problems']), /hostname/, 'the problem is named');
  t.equal(loader.generation, 2, 'the running routes stay');
  t.equal(applied.length, 2);
});

t.test('a missing or invalid route file fails the start with every problem', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-routes-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = createLogger({ level: 'silent', name: 't' });
  const loader = new StateLoader({ log, metrics: createGatewayMetrics(new Registry()), apply: () => undefined });
  await t.rejects(new RouteFile(join(dir, 'none.yaml'), { log, loader, debounceMs: 100, timers: new FakeTimers() }).start(), { code: 'WEFT_ERR_GATEWAY_FILE', message: /cannot read/ });
  await writeFile(join(dir, 'bad.yaml'), routes('v1').replace('hostnames:', 'hostname:'));
  await t.rejects(new RouteFile(join(dir, 'bad.yaml'), { log, loader, debounceMs: 100, timers: new FakeTimers() }).start(), { code: 'WEFT_ERR_GATEWAY_FILE', message: /is invalid:[\s\S]*hostname/ });
});
