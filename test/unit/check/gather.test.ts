// gatherFacts in-process against the test API server holding the rendered chart (its real RBAC
// evaluated by an RBAC authorizer): what it reads is what the pure checks need to name the broken
// part. Proxies' /metrics is a stand-in HTTP server reached through pods/proxy.
import t, { type Test } from 'tap';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { runChecks } from '../../../check/checks.js';
import type { ClusterFacts } from '../../../check/facts.js';
import { gatherFacts, type GatherOptions } from '../../../check/gather.js';
import type { CheckResult } from '../../../check/results.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { makeTrust, NS, pem, POD_NAMES } from '../../support/cluster-facts.js';
import { installHealthyWeft, meshedPodObject, replaceCaBundle } from '../../support/check-cluster.js';
import { TestApiServer, type KubeObject } from '../../support/test-apiserver.js';

const now = new Date();
const trust = await makeTrust(now);
const certExpiry = Math.floor(now.getTime() / 1000) + 20 * 3600;

// Stands in for the proxies' admin port: what `weft check` reads through pods/proxy.
const metrics: HttpServer = createHttpServer((req, res) => {
  if (req.url !== '/metrics') return void res.writeHead(404).end();
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`# TYPE weft_certificate_expiry_timestamp_seconds gauge\nweft_certificate_expiry_timestamp_seconds ${certExpiry}\n`);
});
await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => metrics.close(() => resolve())));
const adminPort = (metrics.address() as AddressInfo).port;
const pods = POD_NAMES.map((name) => ({ name, address: '127.0.0.1' }));

async function cluster(t: Test, opts: { gitVersion?: string } = {}): Promise<{ api: TestApiServer; gather: (extra?: Partial<GatherOptions>) => Promise<ClusterFacts> }> {
  const api = await TestApiServer.start(opts.gitVersion ? { gitVersion: opts.gitVersion } : {});
  t.teardown(() => api.stop());
  installHealthyWeft(api, trust, pods);
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const gather = (extra: Partial<GatherOptions> = {}): Promise<ClusterFacts> =>
    gatherFacts(client, { namespace: NS, proxyAdminPort: adminPort, maxCertReadsPerNamespace: 50, ...extra });
  return { api, gather };
}

const byId = (rs: readonly CheckResult[], id: string): CheckResult | undefined => rs.find((r) => r.id === id);

t.test('a healthy install reads into facts that pass every check, certificates read through pods/proxy', async (t) => {
  const { gather } = await cluster(t);
  const facts = await gather();
  const rs = runChecks(facts, now);
  t.same(rs.filter((x) => x.status !== 'pass'), [], 'nothing warns or fails');
  t.match(byId(rs, 'certificates-shop')?.message, 'all 2 proxy certificates are valid');
  const [pod] = facts.namespaces.ok ? (facts.namespaces.value[0]?.pods ?? []) : [];
  t.same(pod?.certNotAfter, { ok: true, value: new Date(certExpiry * 1000) }, "the proxy's expiry gauge is read");
  t.equal(pod?.owner, 'deployment/web', 'a ReplicaSet owner is named by its Deployment');
  t.equal(pod?.proxyTrustAnchors, pem(trust.root), "the proxy env's trust anchors are read");
  t.same(facts.access.ok ? [...new Set(facts.access.value.map((a) => a.subject))] : [], ['weft-ca', 'weft-destination', 'weft-gateway']);
});

t.test('a removed binding and a narrowed role fail the component that lost them', async (t) => {
  const { api, gather } = await cluster(t);
  api.delete('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, 'weft-ca');
  const role = api.get('rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, 'weft-destination') as KubeObject & { rules: { resources: string[] }[] };
  role.rules = role.rules.filter((r) => !r.resources.includes('endpointslices'));
  api.apply(role);
  const rs = runChecks(await gather(), now);
  t.equal(byId(rs, 'rbac-weft-ca')?.status, 'fail');
  t.match(byId(rs, 'rbac-weft-ca')?.message, 'weft-ca may not: create tokenreviews.authentication.k8s.io');
  t.match(byId(rs, 'rbac-weft-ca')?.advice, `kubectl auth can-i create tokenreviews.authentication.k8s.io --as=system:serviceaccount:${NS}:weft-ca`);
  t.equal(byId(rs, 'rbac-weft-destination')?.status, 'fail');
  t.match(byId(rs, 'rbac-weft-destination')?.message, 'list endpointslices.discovery.k8s.io');
  t.equal(byId(rs, 'rbac-weft-gateway')?.status, 'pass', 'the others are untouched');
});

t.test('an unmeshed pod is named by its Deployment; opted-out pods are not counted', async (t) => {
  const { api, gather } = await cluster(t);
  api.apply({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'orders-5f6d7c8b9-x2x2x', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-5f6d7c8b9', uid: 'u2', controller: true }] },
    spec: { containers: [{ name: 'orders', image: 'orders' }] },
    status: { phase: 'Running', podIP: '10.1.1.1', containerStatuses: [{ name: 'orders', ready: true, restartCount: 0 }] },
  });
  api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'legacy', namespace: 'shop', annotations: { 'weft.dev/inject': 'disabled' } }, spec: { containers: [{ name: 'x', image: 'x' }] }, status: { phase: 'Running' } });
  const rs = runChecks(await gather(), now);
  t.equal(byId(rs, 'injected-shop')?.status, 'fail');
  t.match(byId(rs, 'injected-shop')?.message, '1 of 3 pods have no weft proxy: orders-5f6d7c8b9-x2x2x');
  t.match(byId(rs, 'injected-shop')?.advice, 'kubectl -n shop rollout restart deployment/orders');
});

t.test("a proxy's readiness and a Deployment's ready replicas are read from their status", async (t) => {
  const { api, gather } = await cluster(t, { gitVersion: 'v1.28.7' });
  const pod = meshedPodObject('web-7d9f8b6c5-zzzzz', '10.9.9.9', pem(trust.root));
  (pod.status as { initContainerStatuses: { ready: boolean }[] }).initContainerStatuses[1]!.ready = false;
  api.apply(pod);
  const ca = api.get('apps/v1', 'Deployment', NS, 'weft-ca') as KubeObject;
  ca.status = { replicas: 2, readyReplicas: 0 };
  api.update(ca);
  const facts = await gather();
  t.same(facts.version, { ok: true, value: { gitVersion: 'v1.28.7', major: 1, minor: 28 } });
  const rs = runChecks(facts, now);
  t.equal(byId(rs, 'proxies-ready-shop')?.status, 'fail');
  t.match(byId(rs, 'proxies-ready-shop')?.advice, 'kubectl -n shop logs web-7d9f8b6c5-zzzzz -c weft-proxy');
  t.match(byId(rs, 'ca-ready')?.message, 'no ready pod (0/2)');
  t.equal(byId(rs, 'native-sidecars')?.status, 'warn');
});

t.test("with injectorUrl the injector's live chain is read and the probe verifies it with the caBundle", async (t) => {
  const { api, gather } = await cluster(t);
  const injector: HttpsServer = createHttpsServer({ key: trust.serving.keyPem, cert: trust.serving.certChainPem }, (req, res) => {
    res.writeHead(req.url === '/ready' ? 200 : 404).end();
  });
  await new Promise<void>((resolve) => injector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => injector.close(() => resolve())));
  const url = `https://127.0.0.1:${(injector.address() as AddressInfo).port}`;
  const good = runChecks(await gather({ injectorUrl: url }), now);
  t.match(byId(good, 'webhook-cabundle')?.message, `${url} (live)`);
  t.equal(byId(good, 'webhook-cabundle')?.status, 'pass');
  t.equal(byId(good, 'webhook-reachable')?.status, 'pass');
  replaceCaBundle(api, pem(trust.root));
  const bad = runChecks(await gather({ injectorUrl: url }), now);
  t.equal(byId(bad, 'webhook-cabundle')?.status, 'fail');
  t.equal(byId(bad, 'webhook-reachable')?.status, 'fail', 'TLS verification with the wrong caBundle fails, as it would for the API server');
});

t.test('an unreachable API server is read as such: the first check fails and the rest are skipped', async (t) => {
  const { api, gather } = await cluster(t);
  await api.stop();
  const facts = await gather();
  t.equal(facts.version.ok, false);
  const rs = runChecks(facts, now);
  t.equal(byId(rs, 'api-reachable')?.status, 'fail');
  t.match(byId(rs, 'api-reachable')?.message, api.url);
  t.ok(rs.filter((x) => x.status === 'skip').length >= 3, 'later checks are skipped, not failed');
});
