// End to end in kubernetes mode: the test API server, a real `weft ca` and real `weft proxy`
// processes. Certificates come from the CA through TokenReview (24 s leaves, so renewal runs
// during the whole file), endpoints from EndpointSlices; scaling, readiness, 410s and an API
// server outage are driven through the API.
import t from 'tap';
import http from 'node:http';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, get, metric } from '../support/local-mesh.js';
import { startEchoApp, type EchoApp } from '../support/echo-app.js';

const base = randomBase();
const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
const hello: KubePod[] = [1, 2, 3].map((n, i) => ({ name: `hello-${i}`, address: `${base}.${20 + n}`, serviceAccount: 'hello' }));
const [h0, h1, h2] = hello as [KubePod, KubePod, KubePod];

const mesh = await KubeMesh.create();
const apps: EchoApp[] = [];
t.teardown(async () => {
  await mesh.close();
  await Promise.all(apps.map((a) => a.close()));
});
await mesh.startCa(`${base}.1`, { WEFT_CA_LEAF_LIFETIME_SECONDS: '24' });
for (const pod of [client, ...hello]) mesh.addPod(pod);
mesh.addService('hello');
mesh.setEndpoints('hello', [h0]);
for (const pod of hello) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
// Started together: each waits for its own /ready, and the waits overlap.
const [clientProxy, helloProxies] = await Promise.all([mesh.startProxy(client), Promise.all(hello.map((pod) => mesh.startProxy(pod)))]);
const outbound = `http://${client.address}:7001`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
t.teardown(() => agent.destroy());

/** One request to hello through the client sidecar: the pod that answered (or the failure). */
async function call(): Promise<string> {
  const res = await get(`${outbound}/who`, { host: 'hello' }, agent);
  if (res.status !== 200) return `status ${res.status} ${String(res.headers['weft-error'] ?? '')}`;
  return (JSON.parse(res.body) as { pod: string }).pod;
}

/** Calls until `done(seen)` is true; returns the ms it took. */
async function until(what: string, done: (pod: string) => boolean, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (done(await call())) return Date.now() - started;
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

t.test('sidecars get their certificates from weft ca through TokenReview and serve mutual TLS', async (t) => {
  const res = await get(`${outbound}/hi`, { host: 'hello' });
  t.equal(res.status, 200);
  const body = JSON.parse(res.body) as { pod: string; caller: string };
  t.equal(body.pod, 'hello-0');
  t.equal(body.caller, mesh.identity('client'), 'the server sidecar saw the client certificate from weft ca');
  t.ok((await metric(clientProxy.admin, 'weft_responses_total', { direction: 'outbound', status_code: '200', dst_workload: 'hello', dst_namespace: mesh.namespace })) >= 1, 'the client checked the peer identity from the pod service account');
  t.ok((await metric(clientProxy.admin, 'weft_identity_certificate_requests_total', { result: 'issued' })) >= 1);
  t.ok(mesh.api.requests.filter((r) => r === 'POST /apis/authentication.k8s.io/v1/tokenreviews').length >= 4, 'one TokenReview per sidecar at least');
  const debug = JSON.parse((await get(`${clientProxy.admin}/debug/endpoints`)).body) as { services: { endpoints: { identity: string; pod?: string; port: number }[] }[] };
  t.match(debug.services[0]?.endpoints[0], { identity: mesh.identity('hello'), pod: 'hello-0', port: 8080 });
});

t.test('scaling 1 -> 3 ready endpoints and back changes where requests go within 1 s', async (t) => {
  mesh.setEndpoints('hello', hello);
  const seen = new Set<string>();
  const up = await until('all three serve', (pod) => {
    seen.add(pod);
    return seen.has('hello-1') && seen.has('hello-2');
  });
  t.ok(up < 1000, `new endpoints got requests ${up} ms after the EndpointSlice change`);
  mesh.setEndpoints('hello', [h0]);
  const changed = Date.now();
  let lastOther = 0;
  const failed: string[] = [];
  while (Date.now() - changed < 1500) {
    const pod = await call();
    if (!pod.startsWith('hello-')) failed.push(pod);
    if (pod !== 'hello-0') lastOther = Date.now() - changed;
  }
  t.same(failed, [], 'no request failed while scaling down');
  t.ok(lastOther < 1000, `removed endpoints stopped getting requests within 1 s (last at ${lastOther} ms)`);
});

t.test('an endpoint turning not-ready stops receiving new requests within 1 s', async (t) => {
  mesh.setEndpoints('hello', hello);
  // hello-1 must be getting requests before, or "no request after the change" proves nothing.
  const seen = new Set<string>();
  await until('three again', (pod) => {
    seen.add(pod);
    return seen.has('hello-1') && seen.has('hello-2');
  });
  mesh.setEndpoints('hello', [h0, { ...h1, ready: false }, h2]);
  const changed = Date.now();
  let lastHit = 0;
  let total = 0;
  while (Date.now() - changed < 1500) {
    const pod = await call();
    total++;
    if (pod === 'hello-1') lastHit = Date.now() - changed;
  }
  t.ok(total > 20, `${total} requests sent`);
  t.ok(lastHit < 1000, `the not-ready pod got its last request ${lastHit} ms after the change`);
});

t.test('a 410 during the watch leads to a re-list with no lost update', async (t) => {
  // From a state without hello-2, so that seeing hello-2 can only come from the update below.
  mesh.setEndpoints('hello', [h0]);
  let inARow = 0;
  await until('ten hello-0 in a row', (pod) => (inARow = pod === 'hello-0' ? inARow + 1 : 0) >= 10);
  const listsBefore = mesh.api.requests.filter((r) => r === 'GET /apis/discovery.k8s.io/v1/endpointslices').length;
  // Expire every watch and change the endpoints in the same tick: only a fresh list can see it.
  mesh.api.expireWatches();
  mesh.setEndpoints('hello', [h2]);
  // The re-list waits the watch loop's backoff (100-200 ms after one 410): wait for it to arrive.
  const relistBy = Date.now() + 5000;
  while (mesh.api.requests.filter((r) => r === 'GET /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices').length === listsBefore) {
    if (Date.now() > relistBy) throw new Error('no re-list within 5 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  let run = 0;
  await until('only hello-2', (pod) => (run = pod === 'hello-2' ? run + 1 : 0) >= 5);
  let others = 0;
  for (let i = 0; i < 20; i++) if ((await call()) !== 'hello-2') others++;
  t.equal(others, 0, 'the update made during the 410 was not lost');
  const listsAfter = mesh.api.requests.filter((r) => r === 'GET /apis/discovery.k8s.io/v1/endpointslices').length;
  t.ok(listsAfter > listsBefore, 're-listed');
  t.ok((await metric(mesh.destination?.admin ?? '', 'weft_destination_watch_restarts_total', { reason: 'expired' })) >= 1, 'the restart is counted at weft destination');
});

t.test('with the API server stopped requests keep flowing; after it returns the sidecar catches up', async (t) => {
  mesh.setEndpoints('hello', [h0, h1]);
  const seen = new Set<string>();
  await until('two serve', (pod) => {
    seen.add(pod);
    return seen.has('hello-0') && seen.has('hello-1');
  });
  await mesh.api.stop();
  const stoppedAt = Date.now();
  let failures = 0;
  let n = 0;
  while (Date.now() - stoppedAt < 2000) {
    const pod = await call();
    n++;
    if (pod !== 'hello-0' && pod !== 'hello-1') failures++;
  }
  t.equal(failures, 0, `${n} requests during the outage all reached the last known endpoints`);
  t.equal((await get(`${clientProxy.admin}/ready`)).status, 200, 'still ready');
  mesh.setEndpoints('hello', [h2]);
  await mesh.api.restart();
  const caughtUp = await until('caught up with hello-2', (pod) => pod === 'hello-2', 15_000);
  t.pass(`caught up ${caughtUp} ms after the API server returned`);
});

t.test('certificate renewal under steady load loses no request', async (t) => {
  mesh.setEndpoints('hello', hello);
  await until('three', (pod) => pod === 'hello-1');
  const issuedBefore = await metric(clientProxy.admin, 'weft_identity_certificate_requests_total', { result: 'issued' });
  const serverIssuedBefore = await Promise.all(helloProxies.map((p) => metric(p.admin, 'weft_identity_certificate_requests_total', { result: 'issued' })));
  // 24 s leaves renew every 13-14 s (10 s before their whole-second notAfter: the margin wins
  // over 70 % for leaves this short), so 16 s of load spans at least one renewal on every side.
  const started = Date.now();
  let ok = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (Date.now() - started < 16_000) {
      const pod = await call().catch((err: Error) => `error ${err.message}`);
      if (pod.startsWith('hello-')) ok++;
      else failures.push(pod);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  t.same(failures, [], `${ok} requests, none lost`);
  t.ok((await metric(clientProxy.admin, 'weft_identity_certificate_requests_total', { result: 'issued' })) > issuedBefore, 'the client sidecar renewed');
  const serverIssuedAfter = await Promise.all(helloProxies.map((p) => metric(p.admin, 'weft_identity_certificate_requests_total', { result: 'issued' })));
  t.ok(serverIssuedAfter.every((n, i) => n > (serverIssuedBefore[i] ?? 0)), 'every server sidecar renewed');
});
