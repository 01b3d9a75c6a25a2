// The access log through real `weft proxy` processes: off by default (a successful request writes
// no line, a failed one always does), on for a pod whose `config.weft.dev/access-log` annotation
// the injector turned into the proxy's environment.
import t from 'tap';
import { LocalMesh, randomBase, get, type PodSpec, type ProxyProcess } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';
import { planInjection } from '../../injector/patch.js';
import { applyOperations } from '../../injector/json-patch.js';
import { DEFAULT_SETTINGS } from '../../injector/settings.js';
import { makeTestPki } from '../support/pki.js';

type Obj = Record<string, unknown>;
const base = randomBase();
const quiet: PodSpec = { name: 'quiet-0', address: `${base}.1`, serviceAccount: 'quiet' };
const loud: PodSpec = { name: 'loud-0', address: `${base}.2`, serviceAccount: 'loud' };
const hello: PodSpec = { name: 'hello-0', address: `${base}.3`, serviceAccount: 'hello' };

const mesh = await LocalMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});

/** The WEFT_ACCESS_LOG the injector writes into the proxy of a pod with these annotations (absent: unset). */
async function injectedAccessLog(annotations: Record<string, string>): Promise<Record<string, string>> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'test', annotations }, spec: { containers: [{ name: 'app', image: 'app' }] } };
  const trustAnchors = (await makeTestPki()).authority.root.toString('pem') + '\n';
  const r = planInjection({ pod, namespace: 'test', namespaceInjection: 'enabled', settings: { ...DEFAULT_SETTINGS, trustAnchors } });
  if (r.kind !== 'injected') throw new Error(JSON.stringify(r));
  const spec = applyOperations(pod as Obj, r.patch)['spec'] as Obj;
  const all = [...((spec['initContainers'] as Obj[] | undefined) ?? []), ...(spec['containers'] as Obj[])];
  const env = ((all.find((c) => c['name'] === 'weft-proxy')?.['env'] as Obj[] | undefined) ?? []).filter((e) => e['name'] === 'WEFT_ACCESS_LOG');
  return Object.fromEntries(env.map((e) => [String(e['name']), String(e['value'])]));
}

/** The proxy's JSON log lines with this message. */
async function lines(proxy: ProxyProcess, msg: string): Promise<Obj[]> {
  return (await proxy.log())
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Obj)
    .filter((l) => l['msg'] === msg);
}

/** Waits for a line the proxy writes after the request (pino writes in order), up to 10 s. */
async function waitForLine(proxy: ProxyProcess, msg: string, match: (l: Obj) => boolean): Promise<Obj | undefined> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const found = (await lines(proxy, msg)).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

apps.push(await startEchoApp({ pod: hello.name, address: hello.address, port: 8080 }));
await mesh.setServices([{ name: 'hello', port: 80, targetPort: 8080, pods: [hello] }]);
const defaultsEnv = await injectedAccessLog({});
const loudEnv = await injectedAccessLog({ 'config.weft.dev/access-log': 'true' });
const [quietProxy, loudProxy] = await Promise.all([mesh.startProxy(quiet, defaultsEnv), mesh.startProxy(loud, loudEnv), mesh.startProxy(hello)]);

t.test('the injector writes no WEFT_ACCESS_LOG by default and "true" for the annotation', async (t) => {
  t.same(defaultsEnv, {}, 'defaults: the proxy keeps its own default (off)');
  t.same(loudEnv, { WEFT_ACCESS_LOG: 'true' });
});

t.test('a proxy with defaults writes no line for a successful request and one for a failed request', async (t) => {
  const ok = await get(`http://${quiet.address}:7001/ok-quiet`, { host: 'hello' });
  t.equal(ok.status, 200);
  const failed = await get(`http://${quiet.address}:7001/nowhere`, { host: 'nosuch' });
  t.equal(failed.status, 502);
  t.equal(failed.headers['weft-error'], 'WEFT_ERR_UNKNOWN_SERVICE');
  const failure = await waitForLine(quietProxy, 'request failed', (l) => l['path'] === '/nowhere');
  t.match(failure, { direction: 'outbound', authority: 'nosuch', status: 502, error: 'WEFT_ERR_UNKNOWN_SERVICE' }, 'the failure is logged');
  // The failure came after the success and pino writes in order: had the success been logged, it is in the file by now.
  t.same((await lines(quietProxy, 'request')).filter((l) => l['path'] === '/ok-quiet'), [], 'the success wrote no client-side line');
  t.same((await lines(quietProxy, 'request failed')).filter((l) => l['path'] === '/nowhere').length, 1, 'exactly one line for the failure');
});

t.test('a proxy whose annotation turns the access log on writes one line for a successful request', async (t) => {
  const ok = await get(`http://${loud.address}:7001/ok-loud`, { host: 'hello' });
  t.equal(ok.status, 200);
  const line = await waitForLine(loudProxy, 'request', (l) => l['path'] === '/ok-loud');
  t.match(line, { direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', service: 'test/hello:80', peer: mesh.identity('hello'), status: 200, durationMs: Number });
  t.equal((await lines(loudProxy, 'request')).filter((l) => l['path'] === '/ok-loud').length, 1, 'exactly one line');
});
