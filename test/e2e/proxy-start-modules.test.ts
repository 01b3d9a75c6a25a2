// What a sidecar loads at start (docs/metrics.md, "Memory"): a local-mode `weft proxy` that is
// ready has loaded none of the packages it needs only on first use or never: the YAML parser
// (routes and endpoints files are JSON here), prom-client's index with its default metrics and
// @opentelemetry/api, the certificate builder, the Kubernetes client, Redis or JWT code.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalMesh, TEST_BUILD, randomBase, type PodSpec } from '../support/local-mesh.js';
import { proxyNodeOptions } from '../../lib/node-options.js';

const base = randomBase();
const pod: PodSpec = { name: 'mem-0', address: `${base}.1`, serviceAccount: 'mem' };
const mesh = await LocalMesh.create();
t.teardown(() => mesh.close());
await mesh.setServices([{ name: 'mem', port: 80, targetPort: 8080, pods: [pod] }]);

const NOT_AT_START = ['yaml', '@opentelemetry/api', '@peculiar/x509', 'reflect-metadata', '@kubernetes/client-node', 'ioredis', 'jose'];

t.test('a ready local-mode proxy has loaded none of the packages it needs only later', async (t) => {
  const file = join(mesh.dir, 'loaded.json');
  const proxy = await mesh.startProxy(pod, {
    NODE_OPTIONS: `${proxyNodeOptions(undefined)} --import ${TEST_BUILD}test/support/loaded-packages.js`,
    WEFT_TEST_LOADED_MODULES_FILE: file,
  });
  proxy.child.kill('SIGUSR2');
  let text = '';
  for (let i = 0; i < 100 && text === ''; i++) {
    text = await readFile(file, 'utf8').catch(() => '');
    if (text === '') await new Promise((r) => setTimeout(r, 50));
  }
  const loaded = JSON.parse(text) as string[];
  const packages = new Set(loaded.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((p) => p !== undefined));
  t.ok(packages.has('pino') && loaded.some((f) => f.endsWith('prom-client/lib/registry.js')), `the list is real: ${[...packages].join(', ')}`);
  for (const name of NOT_AT_START) t.notOk(packages.has(name), `${name} is not loaded`);
  t.notOk(loaded.some((f) => f.endsWith('prom-client/index.js') || f.endsWith('prom-client/lib/defaultMetrics.js')), "prom-client's index and collectDefaultMetrics are not loaded");
});
