// Hot reload of the route file on the real gateway: a steady stream of requests (some slow, in
// flight across swaps) while the file is replaced ten times with valid and invalid versions sees
// no failed request; a bad object is rejected alone with a precise message (its running version
// stays, the other objects' changes apply) and a file that is not YAML is refused whole.
import t from 'tap';
import http from 'node:http';
import { writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';

const version = (backend: string, marker: string): string => `apiVersion: gateway.networking.k8s.io/v1
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
    - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-version, value: "${marker}" }] } }]
      backendRefs: [{ name: ${backend}, port: 80 }]
`;

/** A bad version, and the marker it serves when one of its objects is good (undefined: what served stays). */
const INVALID: { text: string; marker?: string }[] = [
  // A typo in a field, a bad path and a missing port: three problems in the route, rejected alone.
  { text: version('v1', 'bad-1').replace('hostnames:', 'hostname:').replace('rules:', 'rules:\n    - matches: [{ path: { type: Exact, value: "no-slash" } }]\n      backendRefs: [{ name: v1 }]') },
  // Not YAML: the whole file is refused.
  { text: 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: [broken\n' },
  // A broken Gateway is rejected alone (its running version stays); the route's change applies.
  { text: version('v2', 'gw-bad').replace('protocol: HTTP }', 'protocol: HTTP, weight: 3 }'), marker: 'gw-bad' },
];

t.test('reloading under load never fails a request', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  await mesh.addService('v2');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, version('v1', 'gen-0'));
  const gw = await mesh.startGateway(file);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());
  let stop = false;
  const failures: string[] = [];
  const versions = new Set<string>();
  let total = 0;
  const worker = async (slow: boolean): Promise<void> => {
    while (!stop) {
      try {
        const r = await request(`${gw.http}/${slow ? '?sleepMs=150' : ''}`, { headers: { host: 'app.test' }, agent });
        total += 1;
        if (r.status !== 200 || !echoed(r.body)) failures.push(`${r.status} ${r.body.slice(0, 120)}`);
        else versions.add(String(r.headers['x-version']));
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const workers = [worker(false), worker(false), worker(false), worker(true), worker(true)];

  const sequence: { text: string; valid: boolean; marker?: string }[] = [];
  for (let i = 1; i <= 10; i++) {
    const bad = INVALID[(i / 3 - 1) % INVALID.length];
    if (i % 3 === 0 && bad) sequence.push({ text: bad.text, valid: bad.marker !== undefined, ...(bad.marker ? { marker: bad.marker } : {}) });
    else sequence.push({ text: version(i % 2 === 0 ? 'v1' : 'v2', `gen-${i}`), valid: true, marker: `gen-${i}` });
  }
  let lastValid = 'gen-0';
  for (const [i, step] of sequence.entries()) {
    // Half the swaps are atomic renames, half rewrite the file in place.
    if (i % 2 === 0) {
      await writeFile(`${file}.tmp`, step.text);
      await rename(`${file}.tmp`, file);
    } else await writeFile(file, step.text);
    if (step.marker) lastValid = step.marker;
    // A valid version must take over (polled: the machine may be busy); an invalid one must not
    // change what serves, which a pause longer than the debounce shows.
    let seen: unknown;
    const deadline = Date.now() + (step.valid ? 10_000 : 600);
    do {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await request(`${gw.http}/`, { headers: { host: 'app.test' } })).headers['x-version'];
    } while (Date.now() < deadline && (step.valid ? seen !== lastValid : true));
    t.equal(seen, lastValid, `after swap ${i + 1} (${step.valid ? 'valid' : 'invalid'}) the routes of ${lastValid} serve`);
  }
  stop = true;
  await Promise.all(workers);
  t.same(failures, [], `no failed request out of ${total}`);
  t.ok(total > 100, `${total} requests during the swaps`);
  t.ok(versions.size >= 5, `responses came from ${versions.size} route generations`);

  const log = await gw.log();
  t.match(log, /route file refused; the running routes stay/, 'a file that is not YAML is refused whole');
  t.match(log, /document 1 \(document\): \(yaml\)/, 'the refusal names the document');
  t.match(log, /HTTPRoute test\/app rejected; its previous version keeps serving:\\n {2}- spec\.hostname: unknown field/, 'a bad route is rejected alone, naming the field');
  t.match(log, /spec\.rules\[0\]\.matches\[0\]\.path\.value: path \\"no-slash\\" must start with \\"\/\\"/, 'every problem of the object is listed');
  t.match(log, /spec\.rules\[0\]\.backendRefs\[0\]\.port: is required when referring to a Service/);
  t.match(log, /Gateway test\/edge rejected; its previous version keeps serving:\\n {2}- spec\.listeners\[0\]\.weight: unknown field/, 'a bad Gateway is rejected alone');
  const metrics = (await request(`${gw.admin}/metrics`)).body;
  t.match(metrics, /weft_gateway_config_reloads_total\{result="rejected"\} [1-9]/);
  t.match(metrics, /weft_gateway_config_reloads_total\{result="applied"\} (7|8|9|1\d)/);
});

t.test('a file that is not YAML at start-up exits 2 with every problem listed', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, `${version('v1', 'ok')}---\nkind: HTTPRoute\nmetadata: { name: [broken\n---\n- a list\n`);
  const { code, output } = await mesh.runGatewayToExit(file);
  t.equal(code, 2);
  t.match(output, /WEFT_ERR_GATEWAY_FILE/);
  t.match(output, /document 3 .*\(yaml\)/);
  t.match(output, /document 4 .*a document must be a Kubernetes object/);
});

t.test('a bad route at start-up is rejected alone: the gateway serves the rest and says why', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  const bad = version('v1', 'x').split('---\n')[1]?.replace('name: app', 'name: broken').replace('app.test', 'broken.test').replace('hostnames:', 'hostname:') ?? '';
  await writeFile(file, `${version('v1', 'ok')}---\n${bad}`);
  const gw = await mesh.startGateway(file);
  const ok = await request(`${gw.http}/`, { headers: { host: 'app.test' } });
  t.equal(ok.status, 200, 'the good route serves');
  t.equal(ok.headers['x-version'], 'ok');
  t.equal((await request(`${gw.http}/`, { headers: { host: 'broken.test' } })).status, 404, 'the rejected route does not');
  const routes = JSON.parse((await request(`${gw.admin}/debug/routes`)).body) as { conditions: { kind: string; name: string; type: string; reasons: string[] }[] };
  t.match(routes.conditions, [{ kind: 'HTTPRoute', name: 'broken', type: 'Rejected', reasons: [/spec\.hostname: unknown field/] }], 'the reason is kept for status');
  t.equal(routes.conditions.length, 1, 'only that route is rejected');
  t.match(await gw.log(), /HTTPRoute test\/broken rejected; it is not served/);
});
