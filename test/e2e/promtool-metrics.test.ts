// `promtool check metrics` on what each weft process serves on its admin port: the proxy and the
// gateway (under weft up, after traffic), weft ca (against the test API server) and the injector
// (its plain admin port). Runs Debian's /usr/bin/promtool on the real scrape.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN, get, randomBase } from '../support/local-mesh.js';
import { KubeMesh } from '../support/kube-mesh.js';
import { makeTestPki } from '../support/pki.js';
import { run } from '../support/netns.js';
import { waitForOutput } from '../support/child-output.js';
import { DROPPED_DEFAULT_METRICS } from '../../lib/process-metrics.js';

const PROMTOOL = '/usr/bin/promtool';
const dir = await mkdtemp(join(tmpdir(), 'weft-promtool-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

/** Scrapes `url` and runs promtool on it; returns promtool's verdict and the scrape. */
async function check(t: Test, what: string, url: string): Promise<void> {
  const scrape = await get(url);
  t.equal(scrape.status, 200, `${what}: /metrics answers`);
  t.match(scrape.body, /^process_cpu_user_seconds_total /m, `${what}: the process metrics are there`);
  for (const name of DROPPED_DEFAULT_METRICS) t.notMatch(scrape.body, new RegExp(`^${name} `, 'm'), `${what}: no ${name}`);
  const verdict = await run(PROMTOOL, ['check', 'metrics'], { input: scrape.body });
  t.equal(verdict.code, 0, `${what}: promtool check metrics passes: ${verdict.stdout}${verdict.stderr}`);
  t.equal(`${verdict.stdout}${verdict.stderr}`.trim(), '', `${what}: promtool has nothing to say`);
}

t.test('promtool check metrics is clean on proxy, gateway, CA and injector', async (t) => {
  if (!existsSync(PROMTOOL)) {
    t.fail(`${PROMTOOL} is not installed (npm test's ensure-tools installs it), so the metrics cannot be checked`);
    return;
  }
  // The proxy and the gateway, under weft up, after requests through both.
  const base = randomBase();
  await copyFile(new URL('../../examples/gateway-routes.yaml', import.meta.url), join(dir, 'routes.yaml'));
  const meshFile = join(dir, 'mesh.yaml');
  await writeFile(meshFile, `addressBase: "${base}"\ncaDir: ca\nstateDir: state\nclient:\n  outbound: "${base}.249:7001"\nservices:\n  - { name: hello, replicas: 1 }\ngateway:\n  http: "${base}.248:8080"\n  routes: routes.yaml\n`);
  const up = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', meshFile]);
  let out = '';
  up.stdout.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(() => {
    if (up.exitCode === null) up.kill('SIGKILL');
  });
  await waitForOutput(up, () => out, /Ctrl-C stops everything/, 90_000);
  t.equal((await get(`http://${base}.249:7001/`, { host: 'hello' })).status, 200, 'a request through the client sidecar');
  t.equal((await get(`http://${base}.248:8080/hello/`, { 'x-api-key': 'demo-key' })).status, 200, 'a request through the gateway');
  t.equal((await get(`http://${base}.248:8080/hello/`)).status, 401, 'a refused one');
  await check(t, 'client proxy', `http://${base}.1:7020/metrics`);
  await check(t, 'server proxy', `http://${base}.2:7020/metrics`);
  await check(t, 'gateway', `http://${base}.250:7020/metrics`);

  // weft ca against the test API server.
  const kube = await KubeMesh.create();
  t.teardown(() => kube.close());
  const ca = await kube.startCa(`${randomBase()}.1`);
  await check(t, 'ca', `${ca.admin}/metrics`);

  // The injector: its metrics on the plain admin port, no TLS needed to scrape them.
  const pki = await makeTestPki();
  const leaf = await pki.leaf('spiffe://cluster.local/ns/weft-system/sa/weft-injector');
  await writeFile(join(dir, 'tls.crt'), leaf.certChainPem);
  await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  const host = `${randomBase()}.1`;
  const injector = spawn(process.execPath, [WEFT_MAIN, 'injector'], {
    env: { PATH: process.env.PATH, WEFT_INJECTOR_ADDR: `${host}:0`, WEFT_ADMIN_ADDR: `${host}:0`, WEFT_INJECTOR_TLS_DIR: dir, WEFT_INJECTOR_TRUST_ANCHORS_FILE: join(dir, 'tls.crt') },
  });
  let iout = '';
  injector.stdout.on('data', (d: Buffer) => (iout += d.toString()));
  t.teardown(() => {
    if (injector.exitCode === null) injector.kill('SIGKILL');
  });
  const adminPort = (await waitForOutput(injector, () => iout, /admin on http:\/\/\S+:(\d+)\n/, 30_000))[1];
  const injectorMetrics = await get(`http://${host}:${adminPort}/metrics`);
  t.match(injectorMetrics.body, /^weft_injector_reviews_total\{result="injected"\} 0$/m, "the injector's own metrics are on the admin port");
  await check(t, 'injector', `http://${host}:${adminPort}/metrics`);
  t.equal((await get(`http://${host}:${adminPort}/ready`)).status, 200, 'the admin port answers /ready');
});
