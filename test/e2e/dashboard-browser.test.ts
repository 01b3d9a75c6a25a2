// weft dashboard in a real browser (Debian chromium driven by playwright-core) over a live
// `weft up` mesh: the graph shows every service and edge with non-zero rates, the success rate
// matches the traffic sent (a deliberate authorization denial included), a click on a graph node
// opens the service's endpoints and recent failures, and a screenshot is kept as an artifact.
import t from 'tap';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startUpMesh, runWeft } from '../support/up-mesh.js';
import { REPO_ROOT } from '../support/local-mesh.js';

const CHROMIUM = '/usr/bin/chromium';
// scripts/ensure-tools.sh (npm test's pretest) installs it; without it the test fails, it does not skip.
t.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed`);

interface GraphElement {
  readonly id: string;
  readonly source?: string;
  readonly target?: string;
  readonly rps: number | null;
  readonly successRate: number | null;
  readonly requests: number;
}

const mesh = await startUpMesh(
  'dash-ui',
  `services:
  - { name: hello, replicas: 2, port: 80, targetPort: 8080 }
  - { name: greeter, replicas: 1, port: 80, targetPort: 8080 }
authorization:
  policies:
    - apiVersion: policy.weft.dev/v1alpha1
      kind: AuthorizationPolicy
      metadata: { name: hello-no-forbidden }
      spec:
        selector: { matchLabels: { app: hello } }
        action: ALLOW
        rules:
          - to: { notPaths: [/forbidden] }
`,
);
t.teardown(() => mesh.stop());
const dashboard = runWeft(['dashboard', '-f', mesh.meshFile, '--listen', `${mesh.base}.252:7099`]);
t.teardown(async () => {
  dashboard.child.kill('SIGINT');
  await dashboard.done;
});
const url = (await dashboard.waitFor(/serving (http:\/\/\S+)/))[1] ?? '';
let browser: Browser | undefined;
t.teardown(() => browser?.close());

t.test('the graph, the tables and a drill-down show the traffic sent', async (t) => {
  // The dashboard took its first scrape before serving: everything below falls in its window.
  for (let i = 0; i < 9; i++) t.equal((await mesh.send('hello', `/ok/${i}`)).status, 200);
  t.same(await mesh.send('hello', '/forbidden'), { status: 403, error: 'WEFT_ERR_FORBIDDEN' });
  for (let i = 0; i < 4; i++) t.equal((await mesh.send('greeter', '/g')).status, 200);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  // The page polls every 2 s; wait for the figures that include all 14 requests.
  await page.waitForFunction(
    () => {
      const cy = (window as unknown as { weftGraph?: { getElementById(id: string): { data(k: string): unknown } } }).weftGraph;
      return cy?.getElementById('hello').data('requests') === 10 && cy.getElementById('greeter').data('requests') === 4;
    },
    undefined,
    { timeout: 30_000 },
  );
  const elements = await page.evaluate(() => {
    const cy = (window as unknown as { weftGraph: { elements(): { map<T>(f: (e: { data(): unknown }) => T): T[] } } }).weftGraph;
    return cy.elements().map((e) => e.data()) as GraphElement[];
  });
  const byId = new Map(elements.map((e) => [e.id, e]));
  for (const id of ['hello', 'greeter', 'client->hello', 'client->greeter']) {
    t.ok((byId.get(id)?.rps ?? 0) > 0, `${id} is drawn with a non-zero rate (${byId.get(id)?.rps})`);
  }
  t.ok(byId.has('client'), 'the caller is a node');
  t.equal(byId.get('hello')?.successRate, 0.9, 'hello: 9 of 10 succeeded');
  t.equal(byId.get('greeter')?.successRate, 1);
  t.equal(byId.get('client->hello')?.successRate, 0.9);
  t.match(byId.get('client->hello'), { source: 'client', target: 'hello', requests: 10 });
  const helloRow = await page.locator('#services tbody tr[data-key="hello"] td').allTextContents();
  t.same([helloRow[0], helloRow[1], helloRow[3], helloRow[7], helloRow[8]], ['hello', '2', '90.00%', '100.00%', '10'], 'the services table row');
  t.ok(Number(helloRow[2]) > 0, `the table shows hello's rate (${helloRow[2]} rps)`);
  t.match(helloRow[6], /^\d+\.\d ms$/, 'p99 latency is shown');

  // Drill down by clicking the hello node where the graph drew it.
  const box = await page.locator('#graph').boundingBox();
  const at = await page.evaluate(() => (window as unknown as { weftGraph: { getElementById(id: string): { renderedPosition(): { x: number; y: number } } } }).weftGraph.getElementById('hello').renderedPosition());
  await page.mouse.click((box?.x ?? 0) + at.x, (box?.y ?? 0) + at.y);
  await page.waitForSelector('#detail[data-loaded="hello"]', { timeout: 15_000 });
  t.equal(await page.locator('#detail-title').textContent(), 'hello');
  const endpoints = await page.locator('#endpoints tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent ?? '')));
  t.same(endpoints.map((r) => [r[0], r[2], r[6]]), [['client', 'hello-0', 'no'], ['client', 'hello-1', 'no']], "the client's balancer's view of both hello endpoints, none ejected");
  t.ok(endpoints.every((r) => /^\d+\.\d\d ms$/.test(r[5] ?? '')), `EWMA latency per endpoint: ${endpoints.map((r) => r[5]).join(', ')}`);
  const failures = await page.locator('#failures tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent ?? '')));
  t.equal(failures.length, 1, 'one recent failure');
  t.match(failures[0], [/./, /^hello-/, 'inbound', 'GET', '/forbidden', '403', 'WEFT_ERR_FORBIDDEN']);
  t.ok(await page.locator('#chart .uplot').isVisible(), 'the time series is drawn');

  const dir = join(REPO_ROOT, 'test-artifacts');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'dashboard.png'), fullPage: true });
  t.pass(`screenshot saved to ${join(dir, 'dashboard.png')}`);
});
