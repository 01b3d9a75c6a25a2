// End to end through `weft destination` in kubernetes mode: the test API server, a real `weft ca`,
// a real `weft destination` (the only process with API credentials for discovery) and real
// `weft proxy` processes with no API credentials at all. Terminating-but-serving endpoints, a
// flood of made-up Hosts (the cap and the negative cache), and address lookups by pod IP and
// ClusterIP asked by the real client (RemoteEndpointSource) with a mesh leaf from the CA.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';
import { RemoteEndpointSource } from '../../mesh/discovery/remote-endpoint-source.js';
import { CaClientIdentityProvider } from '../../mesh/identity/ca-client.js';
import { createLogger } from '../../lib/logger.js';

const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const h0: KubePod = { name: 'hello-0', address: `${base}.21`, serviceAccount: 'hello' };
const h1: KubePod = { name: 'hello-1', address: `${base}.22`, serviceAccount: 'hello' };
const plain: KubePod = { name: 'plain-0', address: `${base}.31`, serviceAccount: 'plain' };

const mesh = await KubeMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});
await mesh.startCa(`${base}.1`);
for (const pod of [client, h0, h1]) mesh.addPod(pod);
mesh.addPod({ ...plain, meshed: false });
mesh.addService('hello');
mesh.addService('plain');
mesh.setEndpoints('hello', [h0, h1]);
mesh.setEndpoints('plain', [plain]);
for (const pod of [h0, h1]) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
const [clientProxy] = await Promise.all([mesh.startProxy(client), mesh.startProxy(h0), mesh.startProxy(h1)]);
const destination = mesh.destination;
if (!destination) throw new Error('the harness started no weft destination');
const outbound = `http://${client.address}:7001`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
t.teardown(() => agent.destroy());

async function call(host = 'hello'): Promise<string> {
  const res = await get(`${outbound}/who`, { host }, agent);
  if (res.status !== 200) return `status ${res.status} ${String(res.headers['weft-error'] ?? '')}`;
  return (JSON.parse(res.body) as { pod: string }).pod;
}

async function until(what: string, done: (pod: string) => boolean, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) if (done(await call())) return;
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

t.test('the proxies hold no API credentials; discovery reaches them only through weft destination', async (t) => {
  const log = await clientProxy.log();
  t.notMatch(log, /API server reachable/, 'the proxy never talked to the API server');
  t.match(log, /weft destination reachable; discovery ready/);
  const fromProxies = mesh.api.requests.filter((r) => /\/namespaces\/shop\/(pods|services|endpointslices)/.test(r));
  t.same(fromProxies, [], 'no namespaced discovery request reached the API server (the destination watches cluster-wide)');
  t.match(await call(), /^hello-[01]$/, 'requests are served');
});

t.test('with no ready endpoint, terminating-but-serving ones still get requests; not-serving ones never', async (t) => {
  // hello-0 drains but still serves; hello-1 is terminating and no longer serving.
  mesh.setEndpoints('hello', [{ ...h0, terminating: true }, { ...h1, terminating: true, ready: false }]);
  let inARow = 0;
  await until('only hello-0 answers', (pod) => (inARow = pod === 'hello-0' ? inARow + 1 : 0) >= 10);
  const answers: string[] = [];
  for (let i = 0; i < 40; i++) answers.push(await call());
  t.same([...new Set(answers)], ['hello-0'], 'every request succeeded on the terminating-but-serving pod (no 503)');
  // A ready endpoint wins again as soon as there is one.
  mesh.setEndpoints('hello', [{ ...h0, terminating: true }, h1]);
  inARow = 0;
  await until('only hello-1 answers', (pod) => (inARow = pod === 'hello-1' ? inARow + 1 : 0) >= 10);
  const after: string[] = [];
  for (let i = 0; i < 40; i++) after.push(await call());
  t.same([...new Set(after)], ['hello-1'], 'the ready pod takes every request once it exists');
  mesh.setEndpoints('hello', [h0, h1]);
});

t.test('300 made-up Hosts: at most 50 services held, repeats answered by the negative cache without a lookup', async (t) => {
  const lookups = (): Promise<number> => metric(destination.admin, 'weft_destination_requests_total', { path: 'watch/endpoints', status: '200' });
  const apiBefore = mesh.api.requests.length;
  const before = await lookups();
  let peakOpen = 0;
  let peakWatched = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakOpen = Math.max(peakOpen, await metric(destination.admin, 'weft_destination_subscriptions', { kind: 'endpoints' }));
      peakWatched = Math.max(peakWatched, await metric(clientProxy.admin, 'weft_discovery_watched_services'));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const names = Array.from({ length: 300 }, (_, i) => `no-such-${i}`);
  const first: string[] = [];
  for (const name of names) first.push(await call(name));
  const afterFirst = await lookups();
  const repeat: string[] = [];
  for (const name of names) repeat.push(await call(name));
  sampling = false;
  await sampler;
  t.same([...new Set(first)], ['status 502 WEFT_ERR_UNKNOWN_SERVICE'], 'each made-up Host is an unknown service');
  t.same([...new Set(repeat)], ['status 502 WEFT_ERR_UNKNOWN_SERVICE'], 'and stays one');
  t.equal(afterFirst - before, 300, 'one subscription per new name reached weft destination');
  t.equal((await lookups()) - afterFirst, 0, 'the 300 repeats asked weft destination nothing');
  const hits = await metric(clientProxy.admin, 'weft_discovery_negative_cache_hits_total');
  t.ok(hits >= 250, `${hits} of the 300 repeats answered by the negative cache`);
  t.ok((await metric(clientProxy.admin, 'weft_discovery_evictions_total')) >= 250, 'least recently used services were evicted to stay at 50');
  const debug = JSON.parse((await get(`${clientProxy.admin}/debug/endpoints`)).body) as { services: unknown[] };
  t.ok(debug.services.length <= 50, `${debug.services.length} services held by the proxy (cap 50)`);
  t.ok(peakWatched <= 50, `at most ${peakWatched} subscriptions open at the proxy at any sample`);
  t.ok(peakOpen <= 50, `at most ${peakOpen} watch streams open at weft destination at any sample`);
  // The destination's own re-check of GRPCRoute (a kind this API server lacks) runs on its backoff, whatever the proxies ask.
  t.same(mesh.api.requests.slice(apiBefore).filter((r) => !r.startsWith('POST /apis/authentication') && r !== 'GET /apis/gateway.networking.k8s.io/v1/grpcroutes'), [], 'and no request reached the API server');
  t.match(await call(), /^hello-[01]$/, 'the real service still answers');
});

t.test('address lookups: a pod IP names its owner, identity and meshed flag; a ClusterIP its service', async (t) => {
  const tokenFile = join(mesh.dir, 'asker.token');
  mesh.addPod({ name: 'asker-0', address: `${base}.40`, serviceAccount: 'asker' });
  await writeFile(tokenFile, mesh.api.issueToken({ namespace: mesh.namespace, serviceAccount: 'asker', audiences: ['weft-ca'], pod: { name: 'asker-0' } }));
  const log = createLogger({ level: 'silent', name: 'asker' });
  const identity = new CaClientIdentityProvider({ caAddr: mesh.caUrl, trustAnchorsFile: mesh.rootsFile, tokenFile, expectedIdentity: mesh.identity('asker'), log });
  await identity.start();
  const source = new RemoteEndpointSource({
    address: mesh.destinationAddr,
    serverIdentity: 'spiffe://cluster.local/ns/weft-system/sa/weft-destination',
    identity,
    log,
    registry: new Registry(),
    negativeTtlMs: 30_000,
  });
  t.teardown(async () => {
    identity.close();
    await source.close();
  });
  await source.start();
  t.match(await source.resolveAddress(h0.address, 8080), {
    kind: 'pod',
    owner: { identity: mesh.identity('hello'), podName: 'hello-0', meshed: true, service: { namespace: 'shop', name: 'hello', port: 80 } },
  });
  t.match(await source.resolveAddress(plain.address, 8080), { kind: 'pod', owner: { podName: 'plain-0', meshed: false, identity: mesh.identity('plain') } });
  t.equal(source.endpointAt(plain.address, 8080), undefined, 'a pod without a sidecar is no mesh endpoint');
  t.match(source.endpointAt(h0.address, 8080), { identity: mesh.identity('hello') }, 'the cached answer serves the synchronous lookup');
  const clusterIp = (mesh.api.get('v1', 'Service', 'shop', 'hello')?.['spec'] as { clusterIP: string }).clusterIP;
  t.same(await source.resolveAddress(clusterIp, 80), { kind: 'service', service: { namespace: 'shop', name: 'hello', port: 80 } });
  t.same(await source.resolveAddress(clusterIp, 81), { kind: 'unknown' }, 'a port the Service does not serve');
  t.same(await source.resolveAddress('192.0.2.1', 443), { kind: 'unknown' }, 'an address outside the cluster');
});

t.test('weft destination refuses a client without a mesh certificate', async (t) => {
  const [host, port] = mesh.destinationAddr.split(':') as [string, string];
  const refused = await new Promise<string>((resolve) => {
    const session = http2.connect(`https://${host}:${port}`, { rejectUnauthorized: false });
    session.on('error', (err) => resolve(err.message));
    const req = session.request({ ':path': '/v1/ready' });
    req.on('response', (h) => resolve(`answered ${String(h[':status'])}`));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
  t.notMatch(refused, /^answered/, `no answer without a client certificate (${refused})`);
});

t.test('with weft destination down requests keep flowing; after it returns the proxy catches up', async (t) => {
  mesh.setEndpoints('hello', [h0, h1]);
  const seen = new Set<string>();
  await until('both serve', (pod) => seen.add(pod).has('hello-0') && seen.has('hello-1'));
  destination.child.kill('SIGTERM');
  await destination.exited;
  const stoppedAt = Date.now();
  let failures = 0;
  let n = 0;
  while (Date.now() - stoppedAt < 1500) {
    n++;
    if (!/^hello-[01]$/.test(await call())) failures++;
  }
  t.equal(failures, 0, `${n} requests while weft destination was down all reached the last known endpoints`);
  t.equal((await get(`${clientProxy.admin}/ready`)).status, 200, 'the proxy stays ready');
  mesh.setEndpoints('hello', [h1]);
  await mesh.startDestination();
  const back = Date.now();
  let inARow = 0;
  await until('only hello-1 after the restart', (pod) => (inARow = pod === 'hello-1' ? inARow + 1 : 0) >= 10, 20_000);
  t.pass(`caught up ${Date.now() - back} ms after weft destination was ready again`);
  t.ok((await metric(clientProxy.admin, 'weft_discovery_destination_failures_total')) >= 1, 'the broken stream is counted');
});
