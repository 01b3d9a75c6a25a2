// `weft check` as a real process against the test API server holding a rendered weft chart (its
// real RBAC evaluated by an RBAC authorizer), real certificates, and real local-mode proxies whose
// /metrics the check reads through pods/proxy. A healthy cluster passes; each broken part fails
// the check that names it, with its advice.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer, type KubeObject } from '../support/test-apiserver.js';
import { CHART_RESOURCES, rbacAuthorizer } from '../support/rbac-authorizer.js';
import { ChartRenderer } from '../support/helm-template.js';
import { LocalMesh, randomBase, WEFT_MAIN, type ProxyProcess } from '../support/local-mesh.js';
import { createIssuer, createRoot, type SigningPair } from '../../lib/pki/authority.js';
import { issueServingMaterial, type ServingMaterial } from '../../ca/serving.js';

// Each case spawns `weft check` against its own API server: more than the default file timeout.
t.setTimeout(300_000);

const NS = 'weft-system';
const now = new Date();
const dir = await mkdtemp(join(tmpdir(), 'weft-check-'));
const chart = new ChartRenderer(new URL('../../charts/weft', import.meta.url).pathname);

// Trust made the way `weft ca` makes it: a long-lived root and issuer.
const root = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
const issuer = await createIssuer({ root, trustDomain: 'cluster.local', now, lifetimeHours: 8_760 });
// The webhook's own CA and serving certificate, as the chart's genCA/genSignedCert would make.
const webhookRoot = await createRoot({ trustDomain: 'weft-injector-ca', now, lifetimeHours: 87_600 });
const webhookIssuer = await createIssuer({ root: webhookRoot, trustDomain: 'weft-injector-ca', now, lifetimeHours: 87_000 });
const serving = await issueServingMaterial({ authority: { root: webhookRoot.cert, issuer: webhookIssuer }, names: [`weft-injector.${NS}.svc`, '127.0.0.1'], now, lifetimeHours: 8_000 });
const pem = (p: SigningPair): string => p.cert.toString('pem');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

// Two meshed pods whose proxies really run (local mode) on their own loopback addresses.
const mesh = await LocalMesh.create();
const base = randomBase();
const pods = [
  { name: 'web-7d9f8b6c5-abcde', address: `${base}.1`, serviceAccount: 'web' },
  { name: 'web-7d9f8b6c5-fghij', address: `${base}.2`, serviceAccount: 'web' },
];
await mesh.setServices([{ name: 'web', port: 80, targetPort: 8080, pods }]);
const proxies: ProxyProcess[] = [];
for (const p of pods) proxies.push(await mesh.startProxy(p));
t.teardown(async () => {
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh test API server holding a healthy weft installation. */
async function healthyCluster(t: Test, opts: { gitVersion?: string } = {}): Promise<{ api: TestApiServer; kubeconfig: string }> {
  const api = await TestApiServer.start(opts.gitVersion ? { gitVersion: opts.gitVersion } : {});
  t.teardown(() => api.stop());
  for (const def of CHART_RESOURCES) api.addResource(def);
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS }, status: { phase: 'Active' } });
  const webhookSecret = { data: { 'tls.crt': b64(serving.certChainPem), 'tls.key': b64(serving.keyPem), 'ca.crt': b64(pem(webhookRoot)) } };
  const rendered = chart.render({
    values: chart.values(),
    namespace: NS,
    // An upgrade: the chart reuses the webhook Secret it finds.
    lookup: (_v, kind, ns, name) => (kind === 'Secret' && ns === NS && name === 'weft-injector-tls' ? webhookSecret : undefined),
  });
  for (const doc of rendered.flatMap((f) => f.documents) as KubeObject[]) {
    if (doc.kind === 'Deployment') {
      const replicas = (doc.spec as { replicas?: number }).replicas ?? 1;
      doc.status = { replicas, readyReplicas: replicas, availableReplicas: replicas };
    }
    api.apply(doc);
  }
  // What `weft ca` writes on first start with generated trust.
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-trust-anchors', namespace: NS }, data: { 'roots.pem': pem(root) } });
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-ca-issuer', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(pem(issuer)), 'tls.key': b64('(key)'), 'ca.crt': b64(pem(root)) } });
  api.apply({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: 'weft-injector-x1', namespace: NS, labels: { 'kubernetes.io/service-name': 'weft-injector' } },
    endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready: true } }, { addresses: ['10.0.0.8'], conditions: { ready: true } }],
    ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
  });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/inject': 'enabled' } }, status: { phase: 'Active' } });
  for (const p of pods) api.apply(meshedPod(p.name, p.address));
  api.setAuthorizer(rbacAuthorizer(api));
  const kubeconfig = join(dir, `kubeconfig-${api.port}`);
  await writeFile(kubeconfig, api.kubeconfig());
  return { api, kubeconfig };
}

/** A pod as the injector made it: the trust anchors PEM is in its proxy's env WEFT_TRUST_ANCHORS (null: none). */
function meshedPod(name: string, ip: string, trustAnchors: string | null = pem(root)): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'shop', labels: { app: 'web' }, annotations: { 'weft.dev/injected': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8b6c5', uid: 'u1', controller: true }],
    },
    spec: {
      serviceAccountName: 'web',
      initContainers: [
        { name: 'weft-init', image: 'weft' },
        { name: 'weft-proxy', image: 'weft', restartPolicy: 'Always', ...(trustAnchors === null ? {} : { env: [{ name: 'WEFT_TRUST_ANCHORS', value: trustAnchors }] }) },
      ],
      containers: [{ name: 'web', image: 'nginx' }],
    },
    status: {
      phase: 'Running', podIP: ip,
      initContainerStatuses: [{ name: 'weft-init', ready: false, restartCount: 0 }, { name: 'weft-proxy', ready: true, restartCount: 0 }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0 }],
    },
  };
}

interface Result { id: string; status: string; message: string; advice?: string }

/** Runs `weft check -o json` as a real process. */
function check(kubeconfig: string, args: string[] = []): Promise<{ code: number | null; results: Result[]; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEFT_MAIN, 'check', '-o', 'json', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let results: Result[] = [];
      try {
        results = (JSON.parse(stdout) as { results: Result[] }).results;
      } catch {
        // left empty: the assertions show stdout and stderr
      }
      resolve({ code, results, stdout, stderr });
    });
  });
}

const byId = (results: Result[], id: string): Result | undefined => results.find((r) => r.id === id);

t.test('a healthy cluster passes every check and exits 0', async (t) => {
  const { kubeconfig } = await healthyCluster(t);
  const r = await check(kubeconfig);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const notPassed = r.results.filter((x) => x.status !== 'pass');
  t.same(notPassed, [], 'nothing warns or fails');
  for (const id of ['api-reachable', 'kubernetes-version', 'native-sidecars', 'rbac-weft-ca', 'rbac-weft-gateway', 'rbac-proxies-in-shop', 'ca-ready', 'root-expiry', 'issuer-expiry', 'issuer-chain', 'injector-ready', 'webhook-config', 'webhook-cabundle', 'webhook-reachable', 'gateway-ready', 'trust-bundle-shop', 'injected-shop', 'proxies-ready-shop', 'certificates-shop']) {
    t.equal(byId(r.results, id)?.status, 'pass', `${id} passes`);
  }
  t.match(byId(r.results, 'certificates-shop')?.message, 'all 2 proxy certificates are valid', "the real proxies' certificates were read through pods/proxy");
  t.match(byId(r.results, 'rbac-weft-ca')?.message, /weft-ca may do the \d+ things it needs/);
});

t.test('the text report marks each result and says how it adds up', async (t) => {
  const { kubeconfig } = await healthyCluster(t);
  const child = spawn(process.execPath, [WEFT_MAIN, 'check'], { env: { ...process.env, KUBECONFIG: kubeconfig } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0);
  t.match(out, /^kubernetes-api\n-+\n√ can reach the API server/m);
  t.match(out, /Status check results are √ \(\d+ passed, 0 warnings, 0 failed, 0 skipped\)/);
});

t.test('an expired issuer fails issuer-expiry with the rotation advice', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const longAgo = new Date(now.getTime() - 400 * 86_400_000);
  const expired = await createIssuer({ root, trustDomain: 'cluster.local', now: longAgo, lifetimeHours: 24 });
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-ca-issuer', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(pem(expired)), 'tls.key': b64('(key)') } });
  const r = await check(kubeconfig);
  t.equal(r.code, 1, 'exit 1');
  const issuerExpiry = byId(r.results, 'issuer-expiry');
  t.equal(issuerExpiry?.status, 'fail');
  t.match(issuerExpiry?.message, /expired on/);
  t.match(issuerExpiry?.advice, 'docs/rotate-trust.md');
});

t.test('a root expiring within 60 days warns and exits 2', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const shortRoot = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 30 * 24 });
  const shortIssuer = await createIssuer({ root: shortRoot, trustDomain: 'cluster.local', now, lifetimeHours: 29 * 24 });
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-trust-anchors', namespace: NS }, data: { 'roots.pem': pem(shortRoot) } });
  for (const p of pods) api.apply(meshedPod(p.name, p.address, pem(shortRoot)));
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-ca-issuer', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(pem(shortIssuer)) } });
  const r = await check(kubeconfig);
  t.equal(r.code, 2, 'warnings only: exit 2');
  t.equal(byId(r.results, 'root-expiry')?.status, 'warn');
  t.match(byId(r.results, 'root-expiry')?.message, /expires in (29|30) days/);
  t.equal(byId(r.results, 'issuer-chain')?.status, 'pass');
});

t.test('an issuer not signed by any trust anchor fails issuer-chain', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const otherRoot = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-trust-anchors', namespace: NS }, data: { 'roots.pem': pem(otherRoot) } });
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  t.equal(byId(r.results, 'issuer-chain')?.status, 'fail');
  t.match(byId(r.results, 'issuer-chain')?.advice, 'identity.trustAnchorsPEM');
});

t.test('a wrong caBundle fails webhook-cabundle with the advice to realign it', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const mwc = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'weft-injector') as KubeObject & { webhooks: { clientConfig: { caBundle: string } }[] };
  for (const w of mwc.webhooks) w.clientConfig.caBundle = b64(pem(root)); // the mesh root, not the webhook's CA
  api.apply(mwc);
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  const c = byId(r.results, 'webhook-cabundle');
  t.equal(c?.status, 'fail');
  t.match(c?.message, "does not match the injector's serving certificate");
  t.match(c?.advice, 'helm upgrade weft charts/weft');
});

t.test("with --injector-url the injector's live certificate and reachability are checked", async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const injector = await listenTls(serving);
  t.teardown(() => injector.close());
  const url = `https://127.0.0.1:${(injector.address() as { port: number }).port}`;
  const good = await check(kubeconfig, ['--injector-url', url]);
  t.equal(good.code, 0, good.stdout);
  t.match(byId(good.results, 'webhook-cabundle')?.message, `${url} (live)`);
  t.equal(byId(good.results, 'webhook-reachable')?.status, 'pass');
  const mwc = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'weft-injector') as KubeObject & { webhooks: { clientConfig: { caBundle: string } }[] };
  for (const w of mwc.webhooks) w.clientConfig.caBundle = b64(pem(root));
  api.apply(mwc);
  const bad = await check(kubeconfig, ['--injector-url', url]);
  t.equal(bad.code, 1);
  t.equal(byId(bad.results, 'webhook-cabundle')?.status, 'fail');
  t.equal(byId(bad.results, 'webhook-reachable')?.status, 'fail', 'TLS verification with the wrong caBundle fails, as it would for the API server');
});

t.test('an unmeshed pod in a labelled namespace fails injected-<ns> and names the rollout to restart', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  api.apply({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'orders-5f6d7c8b9-x2x2x', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-5f6d7c8b9', uid: 'u2', controller: true }] },
    spec: { containers: [{ name: 'orders', image: 'orders' }] },
    status: { phase: 'Running', podIP: '10.1.1.1', containerStatuses: [{ name: 'orders', ready: true, restartCount: 0 }] },
  });
  // Opted-out and host-network pods are not expected to be meshed.
  api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'legacy', namespace: 'shop', annotations: { 'weft.dev/inject': 'disabled' } }, spec: { containers: [{ name: 'x', image: 'x' }] }, status: { phase: 'Running' } });
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  const c = byId(r.results, 'injected-shop');
  t.equal(c?.status, 'fail');
  t.match(c?.message, '1 of 3 pods have no weft proxy: orders-5f6d7c8b9-x2x2x');
  t.match(c?.advice, 'kubectl -n shop rollout restart deployment/orders');
});

t.test('injected pods whose proxy env holds other trust anchors than weft\'s ConfigMap fail with the restart advice', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  // Rotation step 1: the new root joins the bundle; pods created before still carry the old bundle.
  const next = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
  const bundle = pem(root) + pem(next);
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-trust-anchors', namespace: NS }, data: { 'roots.pem': bundle } });
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  const c = byId(r.results, 'trust-bundle-shop');
  t.equal(c?.status, 'fail');
  t.match(c?.message, '2 pod(s) in shop carry other trust anchors in WEFT_TRUST_ANCHORS than weft-system/weft-trust-anchors (web-7d9f8b6c5-abcde, web-7d9f8b6c5-fghij)');
  t.match(c?.advice, 'restart the pods to pick up the new trust anchors');
  t.match(c?.advice, 'kubectl -n shop rollout restart deployment/web');
  t.notOk(r.results.some((x) => x.id.startsWith('trust-anchors-')), 'no per-namespace ConfigMap check any more');

  // After the restart the pods carry the bundle (in another order): the check passes.
  for (const p of pods) api.apply(meshedPod(p.name, p.address, pem(next) + pem(root)));
  const after = await check(kubeconfig);
  t.equal(byId(after.results, 'trust-bundle-shop')?.status, 'pass', JSON.stringify(byId(after.results, 'trust-bundle-shop')));

  // A pod injected by an older weft has no WEFT_TRUST_ANCHORS: a warning to restart it.
  api.apply(meshedPod(pods[0]?.name ?? '', pods[0]?.address ?? '', null));
  const old = await check(kubeconfig);
  t.equal(byId(old.results, 'trust-bundle-shop')?.status, 'warn');
  t.match(byId(old.results, 'trust-bundle-shop')?.message, '1 pod(s) in shop have no WEFT_TRUST_ANCHORS in their proxy env (web-7d9f8b6c5-abcde)');
});

t.test('missing RBAC fails the component that lost it, with the permission and the fix', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  api.delete('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, 'weft-ca');
  const role = api.get('rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, 'weft-proxy') as KubeObject & { rules: { resources: string[] }[] };
  role.rules = role.rules.filter((r) => !r.resources.includes('endpointslices'));
  api.apply(role);
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  const ca = byId(r.results, 'rbac-weft-ca');
  t.equal(ca?.status, 'fail');
  t.match(ca?.message, 'weft-ca may not: create tokenreviews.authentication.k8s.io');
  t.match(ca?.advice, 'helm upgrade weft charts/weft');
  t.match(ca?.advice, `kubectl auth can-i create tokenreviews.authentication.k8s.io --as=system:serviceaccount:${NS}:weft-ca`);
  const proxies = byId(r.results, 'rbac-proxies-in-shop');
  t.equal(proxies?.status, 'fail');
  t.match(proxies?.message, 'list endpointslices.discovery.k8s.io');
  t.equal(byId(r.results, 'rbac-weft-gateway')?.status, 'pass', 'the others are untouched');
});

t.test('a proxy that is not ready, and a CA with no ready pod, fail with what to look at', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  const pod = meshedPod('web-7d9f8b6c5-zzzzz', '10.9.9.9');
  (pod.status as { initContainerStatuses: { ready: boolean }[] }).initContainerStatuses[1]!.ready = false;
  api.apply(pod);
  const ca = api.get('apps/v1', 'Deployment', NS, 'weft-ca') as KubeObject;
  ca.status = { replicas: 2, readyReplicas: 0 };
  api.update(ca);
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  t.equal(byId(r.results, 'proxies-ready-shop')?.status, 'fail');
  t.match(byId(r.results, 'proxies-ready-shop')?.advice, 'kubectl -n shop logs web-7d9f8b6c5-zzzzz -c weft-proxy');
  t.equal(byId(r.results, 'ca-ready')?.status, 'fail');
  t.match(byId(r.results, 'ca-ready')?.message, 'no ready pod (0/2)');
});

t.test('Kubernetes 1.28 warns that native sidecars are missing', async (t) => {
  const { kubeconfig } = await healthyCluster(t, { gitVersion: 'v1.28.7' });
  const r = await check(kubeconfig);
  t.equal(r.code, 2);
  t.equal(byId(r.results, 'native-sidecars')?.status, 'warn');
  t.match(byId(r.results, 'native-sidecars')?.advice, 'Jobs');
});

t.test('an unreachable API server fails the first check, skips the rest, and says what to check', async (t) => {
  const { api, kubeconfig } = await healthyCluster(t);
  await api.stop();
  const r = await check(kubeconfig);
  t.equal(r.code, 1);
  t.equal(byId(r.results, 'api-reachable')?.status, 'fail');
  t.match(byId(r.results, 'api-reachable')?.advice, 'KUBECONFIG');
  t.ok(r.results.filter((x) => x.status === 'skip').length >= 3, 'later checks are skipped, not failed');
});

t.test('bad flags and a missing cluster configuration exit 3', async (t) => {
  const bad = await check(join(dir, 'none'), ['--output', 'yaml']);
  t.equal(bad.code, 3);
  t.match(bad.stderr, '--output "yaml" must be text or json');
  const nocluster = await check(join(dir, 'does-not-exist'));
  t.equal(nocluster.code, 3);
  t.match(nocluster.stderr, 'WEFT_ERR_KUBE_CONFIG');
});

function listenTls(material: ServingMaterial): Promise<Server> {
  const server = createServer({ key: material.keyPem, cert: material.certChainPem }, (req, res) => {
    res.writeHead(req.url === '/ready' ? 200 : 404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
