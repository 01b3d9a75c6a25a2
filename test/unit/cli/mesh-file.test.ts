import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseMeshFile, layoutPods, endpointsFileFor } from '../../../cli/up/mesh-file.js';
import { parseEndpointsFile, snapshotFor } from '../../../mesh/discovery/local-endpoint-source.js';
import type { WeftError } from '../../../lib/errors.js';

t.test('the shipped example parses and lays out pods on their own loopback addresses', async (t) => {
  const text = readFileSync(new URL('../../../examples/local-mesh.yaml', import.meta.url), 'utf8');
  const mesh = parseMeshFile(text, 'examples/local-mesh.yaml');
  const pods = layoutPods(mesh);
  t.equal(pods[0]?.name, 'client');
  t.equal(new Set(pods.map((p) => p.address)).size, pods.length, 'every pod has its own address');
  const hello = pods.filter((p) => p.service?.name === 'hello');
  t.equal(hello.length, 3);
  // The endpoints file it writes is one the proxies accept.
  const eps = parseEndpointsFile(JSON.stringify(endpointsFileFor(mesh, pods)), 'generated');
  const snap = snapshotFor(eps, { namespace: mesh.namespace, name: 'hello', port: 80 });
  t.same(snap.endpoints?.map((e) => e.address), hello.map((p) => p.address));
  t.equal(snap.endpoints?.[0]?.identity, 'spiffe://cluster.local/ns/demo/sa/hello');
});

t.test('a bad mesh file lists every problem', async (t) => {
  t.throws(() => parseMeshFile('services:\n  - name: Bad\n    replicas: -1\n    port: 70000\naddressBase: 10.0.0\n', 'm.yaml'), {
    code: 'WEFT_ERR_MESH_FILE',
    message: /addressBase[\s\S]*services\[0\]\.name[\s\S]*replicas[\s\S]*port/,
  });
  t.throws(() => parseMeshFile('- a\n', 'm.yaml'), { message: /mapping/ });
  t.throws(() => parseMeshFile('{', 'm.yaml'), { message: /not YAML/ });
});

t.test('an optional gateway section names its listener and route file', async (t) => {
  const m = parseMeshFile('services: [{ name: a }]\ngateway: { http: 127.0.0.1:9080, routes: r.yaml }\n', 'm.yaml');
  t.same(m.gateway, { http: { host: '127.0.0.1', port: 9080 }, routes: 'r.yaml', serviceAccount: 'weft-gateway' });
  t.throws(() => parseMeshFile('services: [{ name: a }]\ngateway: { http: "x:y" }\n', 'm.yaml'), /gateway\.http: .*gateway\.routes: expected/s);
  t.equal(parseMeshFile('services: [{ name: a }]\n', 'm.yaml').gateway, undefined);
});

t.test('a misspelled field anywhere is refused with the nearest known name', async (t) => {
  const text = 'namespce: demo\nclient: { serviceAcount: c }\nservices:\n  - { name: web, replica: 2 }\ngateway: { http: 8080, routes: r.yaml, rotues: x }\n';
  const err = (() => {
    try {
      parseMeshFile(text, 'mesh.yaml');
      return undefined;
    } catch (e) {
      return e as WeftError;
    }
  })();
  t.equal(err?.code, 'WEFT_ERR_MESH_FILE');
  t.match(err?.message, 'namespce: unknown field; did you mean "namespace"?');
  t.match(err?.message, 'client.serviceAcount: unknown field; did you mean "serviceAccount"?');
  t.match(err?.message, 'services[0].replica: unknown field; did you mean "replicas"?');
  t.match(err?.message, 'gateway.rotues: unknown field; did you mean "routes"?');
});

t.test('an unknown field with no near name lists the known ones', async (t) => {
  t.throws(() => parseMeshFile('services: [{ name: web }]\ncolour: blue\n', 'm.yaml'), { message: /colour: unknown field; known fields: trustDomain, namespace/ });
});

t.test('your own app: command keeps targetPort, address sets it; one replica; not both', async (t) => {
  const mesh = parseMeshFile('services:\n  - { name: mine, command: "node app.js", targetPort: 9000 }\n  - { name: theirs, address: "127.0.0.1:3000" }\n', 'm.yaml');
  t.match(mesh.services[0], { command: 'node app.js', targetPort: 9000 });
  t.match(mesh.services[1], { address: { host: '127.0.0.1', port: 3000 }, targetPort: 3000 });
  t.match(JSON.stringify(endpointsFileFor(mesh, layoutPods(mesh))), '"targetPort":3000', 'the endpoints file sends the sidecar to your port');
  t.throws(() => parseMeshFile('services:\n  - { name: x, command: "a", address: "127.0.0.1:1" }\n', 'm.yaml'), { message: /command and address exclude each other/ });
  t.throws(() => parseMeshFile('services:\n  - { name: x, command: "a", replicas: 2 }\n', 'm.yaml'), { message: /services\[0\]\.replicas: a service with its own command or address has one replica/ });
  t.throws(() => parseMeshFile('services:\n  - { name: x, address: "127.0.0.1:1", targetPort: 2 }\n', 'm.yaml'), { message: /targetPort: 2 differs from the port of address 1/ });
});
