import t from 'tap';
import { mkdtemp, writeFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseEndpointsFile, snapshotFor, LocalEndpointSource } from '../../../../mesh/discovery/local-endpoint-source.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers } from '../../../support/fake-timers.js';
import type { ServiceSnapshot } from '../../../../mesh/discovery/endpoint-source.js';

const good = {
  services: [
    {
      name: 'orders',
      namespace: 'shop',
      ports: [{ port: 80, targetPort: 8080 }, { port: 9090 }],
      endpoints: [
        { address: '10.0.0.1', identity: 'spiffe://cluster.local/ns/shop/sa/orders', podName: 'orders-0' },
        { address: '10.0.0.2', identity: 'spiffe://cluster.local/ns/shop/sa/orders', ready: false },
      ],
    },
  ],
};

t.test('parses services, resolves target ports and readiness', async (t) => {
  const file = parseEndpointsFile(JSON.stringify(good), 'f');
  const s = snapshotFor(file, { namespace: 'shop', name: 'orders', port: 80 });
  t.same(s.endpoints?.map((e) => [e.address, e.port, e.ready]), [['10.0.0.1', 8080, true], ['10.0.0.2', 8080, false]]);
  t.equal(snapshotFor(file, { namespace: 'shop', name: 'orders', port: 9090 }).endpoints?.[0]?.port, 9090, 'targetPort defaults to port');
  t.equal(snapshotFor(file, { namespace: 'shop', name: 'orders', port: 81 }).endpoints, undefined, 'unknown port');
  t.equal(snapshotFor(file, { namespace: 'other', name: 'orders', port: 80 }).endpoints, undefined, 'unknown service');
});

t.test('lists every problem of a bad file at once', async (t) => {
  const bad = `services:
  - name: Bad_Name
    ports: [{ port: 0 }]
    endpoints:
      - { address: nowhere, identity: spiffe://cluster.local/ns/a/sa/b }
      - { address: 10.0.0.1, identity: "not-an-identity" }
      - { address: 10.0.0.1, identity: "spiffe://cluster.local/ns/a/sa/b", ready: "yes" }
`;
  t.throws(() => parseEndpointsFile(bad, 'eps.yaml'), {
    code: 'WEFT_ERR_ENDPOINTS_FILE',
    message: /services\[0\]\.name[\s\S]*ports\[0\]\.port[\s\S]*endpoints\[0\]\.address[\s\S]*endpoints\[1\]\.identity[\s\S]*endpoints\[2\]\.ready/,
  });
  t.throws(() => parseEndpointsFile('{', 'x'), { code: 'WEFT_ERR_ENDPOINTS_FILE', message: /not YAML/ });
  t.throws(() => parseEndpointsFile('[]', 'x'), { code: 'WEFT_ERR_ENDPOINTS_FILE', message: /services/ });
});

t.test('reloads a replaced file, and keeps the last good one when the new one is bad', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-eps-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'eps.json');
  await writeFile(path, JSON.stringify(good));
  const lines: string[] = [];
  let onLine: (line: string) => void = () => undefined;
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => { lines.push(chunk.toString()); onLine(chunk.toString()); cb(); } });
  const clock = new FakeTimers();
  const source = new LocalEndpointSource(path, createLogger({ level: 'info', name: 't', destination: sink }), clock);
  await source.start();
  t.ok(source.synced);
  const seen: ServiceSnapshot[] = [];
  let onSnapshot: () => void = () => undefined;
  const stop = source.watch({ namespace: 'shop', name: 'orders', port: 80 }, (s) => {
    seen.push(s);
    onSnapshot();
  });
  t.equal(seen.length, 1, 'the first snapshot arrives at once');
  // Replaces the file by rename, waits for the watch to schedule its debounced reload, runs it.
  const replace = async (text: string): Promise<void> => {
    const debounced = clock.nextScheduled((s) => s.delayMs === 20);
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
    await debounced;
    await clock.advance(20);
  };
  const snapshot = new Promise<void>((resolve) => (onSnapshot = resolve));
  await replace(JSON.stringify({ services: [{ ...good.services[0], endpoints: [] }] }));
  await snapshot;
  t.same(seen[1]?.endpoints, [], 'the replaced file emptied the service');
  const refused = new Promise<void>((resolve) => (onLine = (l) => l.includes('refused') && resolve()));
  await replace('{ not json');
  await refused;
  t.ok(lines.some((l) => l.includes('WEFT_ERR_ENDPOINTS_FILE')), 'the bad file was refused with its code');
  t.equal(seen.length, 2, 'subscribers saw nothing from the bad file');
  t.equal(source.file?.services[0]?.endpoints.length, 0, 'the last good file still serves');
  stop();
  await source.close();
});

t.test("a port's appProtocol reaches its endpoints; a non-string one is refused", async (t) => {
  const file = parseEndpointsFile(JSON.stringify({ services: [{ name: 'rpc', namespace: 'shop', ports: [{ port: 80, targetPort: 8080, appProtocol: 'grpc' }, { port: 81 }], endpoints: [{ address: '10.0.0.1', identity: 'spiffe://cluster.local/ns/shop/sa/rpc' }] }] }), 'f');
  t.equal(snapshotFor(file, { namespace: 'shop', name: 'rpc', port: 80 }).endpoints?.[0]?.appProtocol, 'grpc');
  t.equal(snapshotFor(file, { namespace: 'shop', name: 'rpc', port: 81 }).endpoints?.[0]?.appProtocol, undefined);
  t.throws(() => parseEndpointsFile(JSON.stringify({ services: [{ name: 'rpc', ports: [{ port: 80, appProtocol: 2 }], endpoints: [] }] }), 'f'), { message: /ports\[0\]\.appProtocol: must be a string/ });
});
