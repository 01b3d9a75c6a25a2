import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import { API_AUDIENCE, TestApiServer, type KubeObject } from '../../support/test-apiserver.js';
import { kubeRequest, kubeWatch, type RawTarget } from '../../support/kube-request.js';

const fixture = (name: string): KubeObject =>
  JSON.parse(readFileSync(new URL(`../../fixtures/kube/${name}`, import.meta.url), 'utf8')) as KubeObject;

const slice = (name: string, service: string, ip: string, ready = true): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [{ addresses: [ip], conditions: { ready } }],
});

async function start(t: Test, opts = {}): Promise<{ api: TestApiServer; target: RawTarget }> {
  const api = await TestApiServer.start(opts);
  t.teardown(() => api.stop());
  return { api, target: { url: api.url, caPem: api.caPem, token: api.adminToken } };
}

t.test('lists a collection with its resourceVersion and items without kind', async (t) => {
  const { api, target } = await start(t);
  api.create({ ...fixture('endpointslice-docs.json'), metadata: { ...fixture('endpointslice-docs.json').metadata, namespace: 'default' } });
  const res = await kubeRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
  t.equal(res.status, 200);
  const list = res.body as { kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: KubeObject[] };
  t.equal(list.kind, 'EndpointSliceList');
  t.equal(list.apiVersion, 'discovery.k8s.io/v1');
  t.equal(list.metadata.resourceVersion, api.resourceVersion);
  t.equal(list.items.length, 1);
  t.equal(list.items[0]?.kind, undefined, 'list items carry no kind');
  t.equal(list.items[0]?.metadata.name, 'example-abc');
  t.match(list.items[0]?.metadata, { uid: String, resourceVersion: String, creationTimestamp: String });
});

t.test('answers errors with the Status objects of the real server', async (t) => {
  const { api, target } = await start(t);
  const missing = await kubeRequest(target, 'GET', '/api/v1/namespaces/default/pods/nope');
  t.equal(missing.status, 404);
  t.same(missing.body, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'pods "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'pods' }, code: 404,
  });
  const svc = fixture('service-docs.json');
  t.equal((await kubeRequest(target, 'POST', '/api/v1/namespaces/default/services', svc)).status, 201);
  const again = await kubeRequest(target, 'POST', '/api/v1/namespaces/default/services', svc);
  t.equal(again.status, 409);
  t.match(again.body, { reason: 'AlreadyExists', code: 409, message: 'services "my-service" already exists' });
  const stale = { ...svc, metadata: { ...svc.metadata, resourceVersion: '1' } };
  const conflict = await kubeRequest(target, 'PUT', '/api/v1/namespaces/default/services/my-service', stale);
  t.equal(conflict.status, 409);
  t.match(conflict.body, { reason: 'Conflict' });
  const noAuth = await kubeRequest({ ...target, token: undefined }, 'GET', '/api/v1/pods');
  t.equal(noAuth.status, 401);
  t.match(noAuth.body, { kind: 'Status', reason: 'Unauthorized', code: 401 });
  const sliceNotFound = await kubeRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/x');
  t.match(sliceNotFound.body, { message: 'endpointslices.discovery.k8s.io "x" not found', details: { group: 'discovery.k8s.io', kind: 'endpointslices' } });
  const noNs = await kubeRequest(target, 'POST', '/api/v1/namespaces/ghost/configmaps', { metadata: { name: 'c' } });
  t.equal(noNs.status, 404);
  t.match(noNs.body, { message: 'namespaces "ghost" not found' });
  const invalid = await kubeRequest(target, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: {} });
  t.equal(invalid.status, 422);
  t.match(invalid.body, { reason: 'Invalid' });
  const unknown = await kubeRequest(target, 'GET', '/apis/example.com/v1/widgets');
  t.equal(unknown.status, 404);
  t.equal(api.get('v1', 'Service', 'default', 'my-service')?.metadata.name, 'my-service');
});

t.test('forbids what the authorizer denies with a 403 naming the user and verb', async (t) => {
  const { api, target } = await start(t);
  const token = api.issueToken({ namespace: 'shop', serviceAccount: 'orders' });
  api.setAuthorizer((a) => a.verb !== 'list');
  const res = await kubeRequest({ ...target, token }, 'GET', '/api/v1/namespaces/shop/pods');
  t.equal(res.status, 403);
  t.match(res.body, {
    reason: 'Forbidden',
    message: 'pods is forbidden: User "system:serviceaccount:shop:orders" cannot list resource "pods" in API group "" in the namespace "shop"',
  });
  const review = await kubeRequest({ ...target, token }, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1',
    spec: { resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'shop' } },
  });
  t.equal(review.status, 201);
  t.match(review.body, { status: { allowed: false } });
});

t.test('watches stream ADDED, MODIFIED and DELETED by label selector, and label changes move objects in and out', async (t) => {
  const { api, target } = await start(t);
  api.create(slice('a-1', 'a', '10.0.0.1'));
  const rv = api.resourceVersion;
  const w = kubeWatch(target, `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&labelSelector=${encodeURIComponent('kubernetes.io/service-name=a')}&resourceVersion=${rv}`);
  t.teardown(() => w.close());
  t.equal(await w.status, 200);
  api.create(slice('b-1', 'b', '10.0.0.9'));
  api.create(slice('a-2', 'a', '10.0.0.2'));
  let e = await w.next();
  t.equal(e.type, 'ADDED');
  t.equal(e.object.metadata?.name, 'a-2', 'the other service is filtered out');
  t.equal(e.object['kind'], 'EndpointSlice', 'watch objects carry kind');
  api.update(slice('a-2', 'a', '10.0.0.3', false));
  e = await w.next();
  t.equal(e.type, 'MODIFIED');
  t.same((e.object['endpoints'] as unknown[])[0], { addresses: ['10.0.0.3'], conditions: { ready: false } });
  api.update(slice('a-2', 'b', '10.0.0.3'));
  e = await w.next();
  t.equal(e.type, 'DELETED', 'relabelled out of the selection');
  api.update(slice('b-1', 'a', '10.0.0.9'));
  e = await w.next();
  t.equal(e.type, 'ADDED', 'relabelled into the selection');
  api.delete('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'a-1');
  e = await w.next();
  t.equal(e.type, 'DELETED');
  t.equal(e.object.metadata?.name, 'a-1');
  t.equal(e.object.metadata?.resourceVersion, api.resourceVersion, 'DELETED carries the deletion resourceVersion');
});

t.test('a watch without resourceVersion starts with the current state; an old one replays history', async (t) => {
  const { api, target } = await start(t);
  api.create(slice('x-1', 'x', '10.0.0.1'));
  const rvBefore = api.resourceVersion;
  api.create(slice('x-2', 'x', '10.0.0.2'));
  const fresh = kubeWatch(target, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=1');
  t.teardown(() => fresh.close());
  t.same([(await fresh.next()).object.metadata?.name, (await fresh.next()).object.metadata?.name].sort(), ['x-1', 'x-2']);
  const replay = kubeWatch(target, `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=1&resourceVersion=${rvBefore}`);
  t.teardown(() => replay.close());
  const e = await replay.next();
  t.equal(e.type, 'ADDED');
  t.equal(e.object.metadata?.name, 'x-2', 'only what happened after the version');
});

t.test('a watch from a compacted resourceVersion gets ERROR 410 Expired', async (t) => {
  const { api, target } = await start(t);
  api.create(slice('c-1', 'c', '10.0.0.1'));
  const old = api.resourceVersion;
  api.create(slice('c-2', 'c', '10.0.0.2'));
  api.compact();
  const w = kubeWatch(target, `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&resourceVersion=${old}`);
  const e = await w.next();
  t.equal(e.type, 'ERROR');
  t.match(e.object, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: /^too old resource version/ });
  t.equal(await w.ended, 'end');
  const exact = await kubeRequest(target, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?resourceVersion=${old}&resourceVersionMatch=Exact`);
  t.equal(exact.status, 410);
  t.match(exact.body, { reason: 'Expired' });
});

t.test('expireWatches ends open watches with 410 mid-stream', async (t) => {
  const { api, target } = await start(t);
  const w = kubeWatch(target, `/api/v1/namespaces/default/pods?watch=true&resourceVersion=${api.resourceVersion}`);
  t.equal(await w.status, 200);
  await new Promise((r) => setTimeout(r, 50));
  api.expireWatches();
  const e = await w.next();
  t.equal(e.type, 'ERROR');
  t.match(e.object, { code: 410, reason: 'Expired' });
  t.equal(await w.ended, 'end');
});

t.test('list at an exact older resourceVersion shows the state of that moment', async (t) => {
  const { api, target } = await start(t);
  api.create(slice('e-1', 'e', '10.0.0.1'));
  const rv = api.resourceVersion;
  api.update(slice('e-1', 'e', '10.0.0.7'));
  api.create(slice('e-2', 'e', '10.0.0.2'));
  const res = await kubeRequest(target, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  const list = res.body as { metadata: { resourceVersion: string }; items: { endpoints: { addresses: string[] }[] }[] };
  t.equal(list.metadata.resourceVersion, rv);
  t.equal(list.items.length, 1);
  t.same(list.items[0]?.endpoints[0]?.addresses, ['10.0.0.1']);
  const paged = await kubeRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?limit=1');
  const page = paged.body as { metadata: { continue?: string; remainingItemCount?: number }; items: unknown[] };
  t.equal(page.items.length, 1);
  t.equal(page.metadata.remainingItemCount, 1);
  const rest = await kubeRequest(target, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?limit=1&continue=${page.metadata.continue ?? ''}`);
  t.equal((rest.body as { items: { metadata: { name: string } }[] }).items[0]?.metadata.name, 'e-2');
});

t.test('a list at a resourceVersion not reached yet answers as soon as a write reaches it', async (t) => {
  const { api, target } = await start(t);
  const wanted = Number(api.resourceVersion) + 1;
  const seen = api.requests.length;
  const pending = kubeRequest(target, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?resourceVersion=${wanted}`);
  // Bounded wait for the request to arrive, so the write below lands while the list waits.
  for (let i = 0; i < 10_000 && api.requests.length === seen; i++) await new Promise((r) => setImmediate(r));
  t.equal(api.requests.length, seen + 1, 'the list has arrived');
  const wroteAt = Date.now();
  api.create(slice('late', 'e', '10.0.0.9'));
  const res = await pending;
  t.equal(res.status, 200);
  t.same((res.body as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name), ['late']);
  t.ok(Date.now() - wroteAt < 2500, 'answered on the write, not after the 3 s bound');
});

t.test('bookmarks arrive when asked for, and timeoutSeconds ends the watch cleanly', async (t) => {
  const { api, target } = await start(t, { bookmarkIntervalMs: 100 });
  const w = kubeWatch(target, `/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${api.resourceVersion}`);
  api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' }, data: { a: 'b' } });
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) seen.push((await w.next()).type);
  t.ok(seen.includes('ADDED'));
  const bookmark = w.events.find((e) => e.type === 'BOOKMARK');
  t.ok(bookmark, 'a bookmark came');
  t.same(Object.keys(bookmark?.object ?? {}).sort(), ['apiVersion', 'kind', 'metadata']);
  t.equal(bookmark?.object.metadata?.resourceVersion, api.resourceVersion);
  const started = Date.now();
  t.equal(await w.ended, 'end');
  t.ok(Date.now() - started < 1500, 'ended by timeoutSeconds');
  const initial = kubeWatch(target, '/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan');
  t.teardown(() => initial.close());
  t.equal((await initial.next()).type, 'ADDED');
  const end = await initial.next();
  t.equal(end.type, 'BOOKMARK');
  t.equal(end.object.metadata?.annotations?.['k8s.io/initial-events-end'], 'true');
});

t.test('field selectors pick by metadata.name and unsupported fields are a 400', async (t) => {
  const { api, target } = await start(t);
  api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'default' }, spec: { serviceAccountName: 'one' } });
  api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: 'default' }, spec: { serviceAccountName: 'two' } });
  const res = await kubeRequest(target, 'GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dp2');
  t.same((res.body as { items: KubeObject[] }).items.map((p) => p.metadata.name), ['p2']);
  const all = await kubeRequest(target, 'GET', '/api/v1/pods?labelSelector=' + encodeURIComponent('app notin (x)'));
  t.equal((all.body as { items: unknown[] }).items.length, 2, 'all-namespace list with set-based selector');
  const bad = await kubeRequest(target, 'GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3D1');
  t.equal(bad.status, 400);
  t.match(bad.body, { message: 'field label not supported: spec.bogus' });
});

t.test('TokenReview authenticates projected tokens by audience, expiry and signature', async (t) => {
  const { api, target } = await start(t);
  const review = async (token: string, audiences = ['weft-ca']) =>
    (await kubeRequest(target, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences },
    })) as { status: number; body: { kind: string; status: { authenticated?: boolean; user?: { username?: string; groups?: string[] }; audiences?: string[]; error?: string } } };
  const good = await review(api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  t.equal(good.status, 201);
  t.equal(good.body.kind, 'TokenReview');
  t.equal(good.body.status.authenticated, true);
  t.equal(good.body.status.user?.username, 'system:serviceaccount:shop:orders');
  t.same(good.body.status.audiences, ['weft-ca']);
  t.ok(good.body.status.user?.groups?.includes('system:serviceaccounts:shop'));
  const wrongAud = await review(api.issueToken({ namespace: 'shop', serviceAccount: 'orders' }));
  t.notOk(wrongAud.body.status.authenticated);
  t.match(wrongAud.body.status.error, /audiences/);
  const expired = await review(api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], expiresAt: new Date(Date.now() - 1000) }));
  t.notOk(expired.body.status.authenticated);
  t.match(expired.body.status.error, /expired/);
  const forged = await review(api.forgeToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'] }));
  t.notOk(forged.body.status.authenticated);
  t.notOk((await review('not-a-jwt')).body.status.authenticated);
  const podBound = api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], pod: { name: 'gone' } });
  t.notOk((await review(podBound)).body.status.authenticated, 'token bound to a missing pod');
  const empty = await kubeRequest(target, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: {} });
  t.equal(empty.status, 422);
  // A service-account token with the API audience authenticates API calls.
  const apiToken = api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: [API_AUDIENCE] });
  t.equal((await kubeRequest({ ...target, token: apiToken }, 'GET', '/api/v1/namespaces/shop/pods')).status, 200);
});

t.test('stops and restarts on the same port with its state, and cutWatches breaks streams', async (t) => {
  const { api, target } = await start(t);
  const w = kubeWatch(target, `/api/v1/namespaces/default/secrets?watch=true&resourceVersion=${api.resourceVersion}`);
  t.equal(await w.status, 200);
  await new Promise((r) => setTimeout(r, 50));
  api.cutWatches();
  t.equal(await w.ended, 'error', 'the stream broke');
  api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, stringData: { k: 'v' } });
  const port = api.port;
  await api.stop();
  await t.rejects(kubeRequest(target, 'GET', '/api/v1/namespaces/default/secrets/s'), 'refused while stopped');
  await api.restart();
  t.equal(api.port, port);
  const res = await kubeRequest(target, 'GET', '/api/v1/namespaces/default/secrets/s');
  t.equal(res.status, 200);
  t.same((res.body as { data: Record<string, string> }).data, { k: Buffer.from('v').toString('base64') }, 'stringData became data');
  t.equal((res.body as { type: string }).type, 'Opaque');
});

t.test('updates that change nothing keep the resourceVersion; patches merge', async (t) => {
  const { api, target } = await start(t);
  const cm = api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { a: '1' } });
  const same = await kubeRequest(target, 'PUT', '/api/v1/namespaces/default/configmaps/c', cm);
  t.equal((same.body as KubeObject).metadata.resourceVersion, cm.metadata.resourceVersion);
  const patched = await kubeRequest(target, 'PATCH', '/api/v1/namespaces/default/configmaps/c', { data: { b: '2' } }, 'application/merge-patch+json');
  t.same((patched.body as { data: unknown }).data, { a: '1', b: '2' });
  const jp = await kubeRequest(target, 'PATCH', '/api/v1/namespaces/default/configmaps/c', [{ op: 'remove', path: '/data/a' }], 'application/json-patch+json');
  t.same((jp.body as { data: unknown }).data, { b: '2' });
  const pod = api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: {}, status: { phase: 'Running' } });
  const put = await kubeRequest(target, 'PUT', '/api/v1/namespaces/default/pods/p', { ...pod, status: { phase: 'Failed' } });
  t.match(put.body, { status: { phase: 'Running' } }, 'status only changes through /status');
  const st = await kubeRequest(target, 'PUT', '/api/v1/namespaces/default/pods/p/status', { ...pod, status: { phase: 'Succeeded' } });
  t.match(st.body, { status: { phase: 'Succeeded' } });
});

t.test('@kubernetes/client-node works against it unchanged', async (t) => {
  const { api } = await start(t);
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  api.create({ ...fixture('pod-named-port.json'), metadata: { ...fixture('pod-named-port.json').metadata, namespace: 'default' } });
  api.create({ ...fixture('endpointslice-controller.json') });
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace: 'default' });
  t.equal(pods.items[0]?.spec?.serviceAccountName, 'default');
  t.equal(pods.metadata?.resourceVersion, api.resourceVersion);
  const disco = kc.makeApiClient(DiscoveryV1Api);
  const slices = await disco.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=nginx-service' });
  t.equal(slices.items[0]?.endpoints[0]?.targetRef?.name, 'nginx');
  await t.rejects(core.readNamespacedService({ name: 'none', namespace: 'default' }), /404|not found/i);
  const version = await (await fetch(`${api.url}/version`).catch(() => undefined))?.json().catch(() => undefined);
  t.equal(version, undefined, 'plain fetch without the CA is refused (the serving certificate is not publicly trusted)');
});
