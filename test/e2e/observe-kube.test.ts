// weft stat and weft dashboard in Kubernetes mode: real `weft proxy` sidecars in kubernetes mode,
// the test API server (its pods/proxy forwards to each pod's IP as the real one does), and a CLI
// user holding only the permissions docs/observability.md lists. The numbers match the traffic the
// test sends (a deliberate 500 included); a meshed pod whose admin port is dead is reported
// unreachable; a pod without the injector's annotation is not read.
import t from 'tap';
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { join } from 'node:path';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, REPO_ROOT } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';
import { runWeft } from '../support/up-mesh.js';
import { kubeRequest } from '../support/kube-request.js';
import { KubeClient } from '../../lib/kube/client.js';
import { fromKubeconfigText } from '../../lib/kube/config.js';
import { CHART_RESOURCES, rbacAuthorizer } from '../support/rbac-authorizer.js';
import type { MeshStat } from '../../cli/observe/golden.js';
import type { DashboardView } from '../../cli/observe/dashboard-data.js';

const CHROMIUM = '/usr/bin/chromium';
const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const hello: KubePod[] = [0, 1].map((n) => ({ name: `hello-${n}`, address: `${base}.${20 + n}`, serviceAccount: 'hello' }));
// Meshed and Running, but nothing listens on its admin port: its proxy is gone.
const deadPod: KubePod = { name: 'hello-2', address: `${base}.22`, serviceAccount: 'hello' };

const mesh = await KubeMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});
await mesh.startCa(`${base}.1`);
for (const pod of [client, ...hello, deadPod]) mesh.addPod(pod);
// Not meshed (no weft.dev/injected): never read.
mesh.addPod({ name: 'legacy-0', address: `${base}.30`, serviceAccount: 'legacy', meshed: false });
mesh.addService('hello');
mesh.setEndpoints('hello', hello);
for (const pod of hello) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
await Promise.all([client, ...hello].map((pod) => mesh.startProxy(pod)));

// The CLI user: a static token whose RBAC is exactly what the docs list (list pods and services,
// get pods/proxy in the namespace); everyone else (the mesh's own components) may do anything.
mesh.api.serveResource(CHART_RESOURCES);
const rbac = rbacAuthorizer(mesh.api);
const limited = new Set(['viewer', 'no-proxy']);
mesh.api.setAuthorizer((a) => !limited.has(a.user.username) || rbac(a));
mesh.api.apply({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: 'weft-viewer', namespace: mesh.namespace },
  rules: [
    { apiGroups: [''], resources: ['pods', 'services'], verbs: ['list'] },
    { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
  ],
});
mesh.api.apply({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name: 'list-only', namespace: mesh.namespace },
  rules: [{ apiGroups: [''], resources: ['pods', 'services'], verbs: ['list'] }],
});
const kubeconfigs: Record<string, string> = {};
for (const [user, role] of [['viewer', 'weft-viewer'], ['no-proxy', 'list-only']] as const) {
  mesh.api.addUserToken(`token-${user}`, { username: user, uid: user, groups: ['system:authenticated'] });
  mesh.api.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `${role}-${user}`, namespace: mesh.namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
    subjects: [{ kind: 'User', name: user }],
  });
  kubeconfigs[user] = join(mesh.dir, `${user}.kubeconfig`);
  await writeFile(kubeconfigs[user], mesh.api.kubeconfig(`token-${user}`, mesh.namespace));
}
const viewer = ['--kubeconfig', kubeconfigs['viewer'] ?? '', '-n', mesh.namespace];

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
t.teardown(() => agent.destroy());
/** One request to hello through the client's sidecar; its status. */
async function send(path: string): Promise<number> {
  return (await get(`http://${client.address}:7001${path}`, { host: 'hello' }, agent)).status;
}

type StatJson = MeshStat & { unreachable: string[] };

t.test('weft stat -n counts every request sent, per service and edge, the 500s as failures, and names the dead pod', async (t) => {
  for (let i = 0; i < 6; i++) t.equal(await send(`/ok/${i}`), 200);
  for (let i = 0; i < 2; i++) t.equal(await send('/status?code=500'), 500);
  const run = await runWeft(['stat', ...viewer, '--window', '0', '-o', 'json']).done;
  t.equal(run.code, 0, run.stderr);
  const stat = JSON.parse(run.stdout) as StatJson;
  const svc = stat.services.find((s) => s.service === 'hello');
  t.match(svc, { pods: 2, requests: 8, failures: 2, mtlsShare: 1 });
  t.equal(svc?.successRate, 6 / 8);
  t.ok((svc?.p50Ms ?? 0) > 0 && (svc?.p99Ms ?? 0) >= (svc?.p50Ms ?? 0), `latency percentiles ${svc?.p50Ms} <= ${svc?.p99Ms}`);
  t.same(stat.services.map((s) => s.service), ['hello'], 'the client pod served nothing; legacy-0 is not meshed');
  t.same(stat.edges.map((e) => [e.from, e.to, e.requests, e.failures]), [['client', 'hello', 8, 2]]);
  t.equal(stat.unreachable.length, 1, stat.unreachable.join('\n'));
  t.match(stat.unreachable[0], /pod shop\/hello-2 unreachable through the API server: .*503 ServiceUnavailable.*dial tcp/);
  t.match(run.stderr, /warning: pod shop\/hello-2 unreachable/);
  t.notMatch(run.stdout + run.stderr, /legacy-0/);
  const table = await runWeft(['stat', ...viewer, '--window', '0']).done;
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /hello\s+2\s+8\s+75\.00%/, 'the table shows the same numbers');
  t.match(table.stdout, /Unreachable \(not counted above\):\n {2}pod shop\/hello-2 unreachable/);
  t.ok(mesh.api.requests.includes(`GET /api/v1/namespaces/shop/pods/hello-0:7020/proxy/metrics`), 'read through pods/proxy');
});

t.test('a /metrics read through the test API server\'s pods/proxy is timed against a direct read (same run)', async (t) => {
  const conn = await fromKubeconfigText(mesh.api.kubeconfig('token-viewer', mesh.namespace), 'viewer');
  const kube = new KubeClient(conn);
  t.teardown(() => kube.close());
  const direct = `http://${hello[0]?.address ?? ''}:7020/metrics`;
  const viaProxy = '/api/v1/namespaces/shop/pods/hello-0:7020/proxy/metrics';
  // Warm both paths (TLS to the API server, keep-alive) before timing.
  t.match(await kube.getText(viaProxy), /weft_responses_total/);
  t.match((await get(direct)).body, /weft_responses_total/);
  const time = async (read: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < 50; i++) await read();
    return (performance.now() - started) / 50;
  };
  const proxied = await time(() => kube.getText(viaProxy));
  const plain = await time(() => get(direct));
  t.comment(`one /metrics read: ${proxied.toFixed(2)} ms through the test API server's pods/proxy, ${plain.toFixed(2)} ms direct (mean of 50)`);
  t.ok(proxied < 250, `a proxied read takes ${proxied.toFixed(2)} ms`);
});

t.test('weft stat over a window in Kubernetes mode shows the requests sent in it and their rate', async (t) => {
  const stat = runWeft(['stat', ...viewer, '--window', '4s', '-o', 'json']);
  await stat.waitFor(/measuring for 4s/);
  for (let i = 0; i < 8; i++) t.equal(await send('/w'), 200);
  t.equal(await send('/status?code=503'), 503);
  const run = await stat.done;
  t.equal(run.code, 0, run.stderr);
  const parsed = JSON.parse(run.stdout) as StatJson;
  t.match(parsed.services.find((s) => s.service === 'hello'), { requests: 9, failures: 1, rps: 9 / 4 });
  t.same(parsed.edges.map((e) => [e.from, e.to, e.requests, e.failures]), [['client', 'hello', 9, 1]]);
});

t.test('without get pods/proxy every pod is reported forbidden, and stat fails with the code', async (t) => {
  const run = await runWeft(['stat', '--kubeconfig', kubeconfigs['no-proxy'] ?? '', '-n', mesh.namespace, '--window', '0']).done;
  t.equal(run.code, 1);
  t.match(run.stderr, /WEFT_ERR_ADMIN_UNREACHABLE: no sidecar answered: pod shop\/client-0 unreachable through the API server: .*403 Forbidden.*pods\/proxy/);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a namespace without meshed pods is an error that names it; -A names services by namespace', async (t) => {
  const admin = join(mesh.dir, 'admin.kubeconfig');
  await writeFile(admin, mesh.api.kubeconfig());
  // weft-system holds weft-destination-0, which is not meshed.
  const none = await runWeft(['stat', '--kubeconfig', admin, '-n', 'weft-system', '--window', '0']).done;
  t.equal(none.code, 1);
  t.match(none.stderr, /^weft stat: WEFT_ERR_ADMIN_UNREACHABLE: no meshed pod \(annotation weft\.dev\/injected\) in namespace weft-system/);
  const forbidden = await runWeft(['stat', ...viewer.slice(0, 2), '-n', 'weft-system', '--window', '0']).done;
  t.equal(forbidden.code, 1);
  t.match(forbidden.stderr, /^weft stat: WEFT_ERR_KUBE_API: GET \/api\/v1\/namespaces\/weft-system\/pods: 403 Forbidden/);
  const all = await runWeft(['stat', '--kubeconfig', admin, '-A', '--window', '0', '-o', 'json']).done;
  t.equal(all.code, 0, all.stderr);
  const stat = JSON.parse(all.stdout) as StatJson;
  t.same(stat.services.map((s) => [s.service, s.pods]), [['shop/hello', 2]]);
  t.same(stat.edges.map((e) => [e.from, e.to]), [['shop/client', 'shop/hello']]);
});

t.test("the dashboard's data in Kubernetes mode matches the traffic sent after it started", async (t) => {
  const dashboard = runWeft(['dashboard', ...viewer, '--listen', `${base}.250:0`, '--window', '60s']);
  t.teardown(async () => {
    dashboard.child.kill('SIGINT');
    await dashboard.done;
  });
  const url = (await dashboard.waitFor(/serving (http:\/\/\S+)/))[1] ?? '';
  await dashboard.waitFor(/reading 4 sidecars of namespace shop/);
  for (let i = 0; i < 4; i++) t.equal(await send('/d'), 200);
  t.equal(await send('/status?code=500'), 500);
  // The view covers the first scrape (before the traffic) to the newest: poll until a scrape after it.
  let view: DashboardView | undefined;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    view = (await (await fetch(`${url}api/view`)).json()) as DashboardView;
    // Before a second scrape the view holds totals since the proxies started, not a window.
    if (view.stat.windowSeconds > 0 && (view.stat.services.find((s) => s.service === 'hello')?.requests ?? 0) >= 5) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.match(view?.stat.services.find((s) => s.service === 'hello'), { pods: 2, requests: 5, failures: 1, successRate: 0.8 });
  t.ok((view?.stat.services.find((s) => s.service === 'hello')?.rps ?? 0) > 0, 'a rate over the window');
  t.same(view?.stat.edges.map((e) => [e.from, e.to, e.requests]), [['client', 'hello', 5]]);
  t.equal(view?.namespace, 'shop');
  t.match(view?.errors, [/pod shop\/hello-2 unreachable through the API server/]);
  const drill = (await (await fetch(`${url}api/service/hello`)).json()) as { endpoints: { caller: string; pod: string; ready: boolean }[]; failures: { pod: string; path: string; status: number }[] };
  t.same(drill.endpoints.map((e) => [e.caller, e.pod, e.ready]), [['client-0', 'hello-0', true], ['client-0', 'hello-1', true]], "the client's balancer view, read through pods/proxy");
  // Every 5xx sent to hello in this file (2 + 1 + 1), read over port-forwards from the rings of
  // hello's pods (inbound) and of the caller client-0 (outbound).
  t.same(drill.failures.filter((f) => f.pod.startsWith('hello-')).map((f) => f.status).sort(), [500, 500, 500, 503], "hello's pods' recent failures");
  t.same(drill.failures.filter((f) => f.pod === 'client-0').map((f) => f.status).sort(), [500, 500, 500, 503], "the caller's recent failures towards hello");
  t.equal(drill.failures.length, 8);
  t.ok(drill.failures.every((f) => f.path.startsWith('/status')));

  // The same page as in local mode, in Debian's chromium: the graph and a drill-down from the table.
  t.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  type Graph = { getElementById(id: string): { data(k: string): unknown } };
  await page.waitForFunction(() => (window as unknown as { weftGraph?: Graph }).weftGraph?.getElementById('hello').data('requests') === 5, undefined, { timeout: 30_000 });
  const [node, edge] = await page.evaluate(() => {
    const cy = (window as unknown as { weftGraph: Graph }).weftGraph;
    return ['hello', 'client->hello'].map((id) => ({ rps: cy.getElementById(id).data('rps'), successRate: cy.getElementById(id).data('successRate') }));
  });
  t.equal(node?.successRate, 0.8, 'the hello node: 4 of 5 succeeded');
  t.equal(edge?.successRate, 0.8, 'the client -> hello edge');
  t.ok(Number(node?.rps) > 0 && Number(edge?.rps) > 0, `drawn with non-zero rates (${String(node?.rps)}, ${String(edge?.rps)})`);
  await page.locator('#services tbody tr[data-key="hello"]').click();
  await page.waitForSelector('#detail[data-loaded="hello"]', { timeout: 15_000 });
  t.equal(await page.locator('#endpoints tbody tr').count(), 2, "the client's two hello endpoints");
  t.equal(await page.locator('#failures tbody tr').count(), 8, 'the 8 recent failures');
  const dir = join(REPO_ROOT, 'test-artifacts');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'dashboard-kube.png'), fullPage: true });
  t.pass(`screenshot saved to ${join(dir, 'dashboard-kube.png')}`);
});

t.test('through pods/proxy the tap is refused (the request is relayed); a port-forward is what reaches it', async (t) => {
  const res = await kubeRequest({ url: mesh.api.url, caPem: mesh.api.caPem, token: 'token-viewer' }, 'GET', '/api/v1/namespaces/shop/pods/hello-0:7020/proxy/debug/tap');
  t.equal(res.status, 403);
  t.match(res.body, { code: 'WEFT_ERR_ADMIN_FORBIDDEN', message: /relayed/ });
  const run = await runWeft(['top', '--kubeconfig', kubeconfigs['no-proxy'] ?? '', '-n', mesh.namespace, '--window', '1s']).done;
  t.equal(run.code, 1, 'without create pods/portforward no tap opens');
  t.match(run.stderr, /weft top: WEFT_ERR_ADMIN_UNREACHABLE: port-forward to pod shop\/client-0 port 7020: the API server refused or failed the upgrade \(the user needs create on pods\/portforward\)/);
});

t.test('weft top -n ranks the paths by the requests sent during its window; the dead pod is a warning', async (t) => {
  const top = runWeft(['top', ...viewer, '--window', '4s', '-o', 'json']);
  await top.waitFor(/watching 3 sidecar\(s\) for 4s/);
  for (let i = 0; i < 5; i++) t.equal(await send(`/a?i=${i}`), 200);
  for (let i = 0; i < 2; i++) t.equal(await send('/status?code=500'), 500);
  const run = await top.done;
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /weft top: warning: port-forward to pod shop\/hello-2 port 7020: .*ECONNREFUSED/);
  const rows = (JSON.parse(run.stdout) as { paths: { service: string; method: string; path: string; requests: number; failures: number }[] }).paths;
  t.same(rows.map((r) => [r.service, r.method, r.path, r.requests, r.failures]), [
    ['hello', 'GET', '/a', 5, 0],
    ['hello', 'GET', '/status', 2, 2],
  ]);
  t.ok(mesh.api.requests.includes('UPGRADE /api/v1/namespaces/shop/pods/hello-0/portforward'), 'tapped over pods/portforward');
});

t.test('weft tap -n shows only the filtered requests, with no credential value', async (t) => {
  const tap = runWeft(['tap', ...viewer, '--service', 'hello', '--path', '/tapme', '-o', 'json', '--max', '3']);
  await tap.waitFor(/tapping 2 sidecar\(s\): hello-0, hello-1/);
  const secrets = { host: 'hello', authorization: 'Bearer secret-token-1', 'x-api-key': 'secret-key-2' };
  for (const path of ['/other', '/tapme/1?api_key=secret-query-3', '/nottapme', '/tapme/2', '/tapme/3']) {
    t.equal((await get(`http://${client.address}:7001${path}`, secrets, agent)).status, 200);
  }
  const run = await tap.done;
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /weft tap: warning: port-forward to pod shop\/hello-2/);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { pod: string; path: string; status: number; headers: Record<string, string> });
  t.same(lines.map((l) => l.path).sort(), ['/tapme/1?api_key=[redacted]', '/tapme/2', '/tapme/3']);
  t.ok(lines.every((l) => l.pod.startsWith('hello-') && l.status === 200));
  t.match(lines.find((l) => l.path.startsWith('/tapme/1'))?.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]' });
  t.notMatch(run.stdout, /secret-/, 'no credential value is printed');
});
