import t from 'tap';
import { mkdtemp, writeFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseEndpointsFile, snapshotFor, LocalEndpointSource } from '../../../../mesh/discovery/local-endpoint-source.js';
import { createLogger } from '../../../../lib/logger.js';
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
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => { lines.push(chunk.toString()); cb(); } });
  const source = new LocalEndpointSource(path, createLogger({ level: 'info', name: 't', destination: sink }));
  await source.start();
  t.ok(source.synced);
  const seen: ServiceSnapshot[] = [];
  const stop = source.watch({ namespace: 'shop', name: 'orders', port: 80 }, (s) => seen.push(s));
  t.equal(seen.length, 1, 'the first snapshot arrives at once');
  const replace = async (text: string): Promise<void> => {
    await writeFile(`${path}.tmp`, text);
    await rename(`${path}.tmp`, path);
  };
  const waitFor = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  await replace(JSON.stringify({ services: [{ ...good.services[0], endpoints: [] }] }));
  await waitFor(() => seen.length >= 2);
  t.same(seen[1]?.endpoints, [], 'the replaced file emptied the service');
  await replace('{ not json');
  await waitFor(() => lines.some((l) => l.includes('refused')));
  t.ok(lines.some((l) => l.includes('WEFT_ERR_ENDPOINTS_FILE')), 'the bad file was refused with its code');
  t.equal(seen.length, 2, 'subscribers saw nothing from the bad file');
  stop();
  await source.close();
});
