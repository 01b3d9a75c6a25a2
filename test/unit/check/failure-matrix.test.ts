// The `weft check` failure matrix over the pure checks: a healthy install passes, and each broken
// part fails (or warns about) the check that names it, with its advice and the exit status it adds
// up to. The same cases ran end to end before; test/e2e/check.test.ts keeps the wiring.
import t from 'tap';
import { createIssuer, createRoot } from '../../../lib/pki/authority.js';
import { runChecks } from '../../../check/checks.js';
import type { ClusterFacts, NamespaceFact, PodFact } from '../../../check/facts.js';
import { exitStatus, formatResults, type CheckResult } from '../../../check/results.js';
import { KUBE_ACCESS } from '../../../lib/kube/access.js';
import { failed, healthyFacts, makeTrust, meshedPod, NS, ok, pem, POD_NAMES, readyDeployment } from '../../support/cluster-facts.js';

const now = new Date();
const trust = await makeTrust(now);
const healthy = healthyFacts(trust, now);

const byId = (rs: readonly CheckResult[], id: string): CheckResult | undefined => rs.find((r) => r.id === id);
/** The shop namespace with other pods. */
const shop = (pods: readonly PodFact[]): ClusterFacts['namespaces'] => ok([{ name: 'shop', pods } satisfies NamespaceFact]);
const shopPods = (anchors: string | null): PodFact[] => POD_NAMES.map((n) => meshedPod(n, anchors, now));

t.test('a healthy cluster passes every check and exits 0', async (t) => {
  const rs = runChecks(healthy, now);
  t.equal(exitStatus(rs), 0);
  t.same(rs.filter((x) => x.status !== 'pass'), [], 'nothing warns or fails');
  for (const id of ['api-reachable', 'kubernetes-version', 'native-sidecars', 'rbac-weft-ca', 'rbac-weft-gateway', 'rbac-weft-destination', 'ca-ready', 'root-expiry', 'issuer-expiry', 'issuer-chain', 'injector-ready', 'webhook-config', 'webhook-cabundle', 'webhook-reachable', 'gateway-ready', 'trust-bundle-shop', 'injected-shop', 'proxies-ready-shop', 'certificates-shop']) {
    t.equal(byId(rs, id)?.status, 'pass', `${id} passes`);
  }
  t.match(byId(rs, 'certificates-shop')?.message, 'all 2 proxy certificates are valid');
  t.match(byId(rs, 'rbac-weft-ca')?.message, /weft-ca may do the \d+ things it needs/);
});

t.test('the text report marks each result and says how it adds up', async (t) => {
  const out = formatResults(runChecks(healthy, now));
  t.match(out, /^kubernetes-api\n-+\n√ can reach the API server/m);
  t.match(out, /Status check results are √ \(\d+ passed, 0 warnings, 0 failed, 0 skipped\)/);
  const failing = formatResults(runChecks({ ...healthy, ca: failed('Deployment weft-system/weft-ca not found', true) }, now));
  t.match(failing, /^× Deployment weft-system\/weft-ca does not exist\n {4}.*helm upgrade --install weft/m, 'a failure is marked × and its advice indented under it');
  t.match(failing, /Status check results are × \(\d+ passed, 0 warnings, 1 failed, 0 skipped\)/);
});

t.test('an expired issuer fails issuer-expiry with the rotation advice', async (t) => {
  const longAgo = new Date(now.getTime() - 400 * 86_400_000);
  const expired = await createIssuer({ root: trust.root, trustDomain: 'cluster.local', now: longAgo, lifetimeHours: 24 });
  const rs = runChecks({ ...healthy, issuer: ok({ secret: 'weft-ca-issuer', certPem: pem(expired) }) }, now);
  t.equal(exitStatus(rs), 1, 'exit 1');
  const c = byId(rs, 'issuer-expiry');
  t.equal(c?.status, 'fail');
  t.match(c?.message, /expired on/);
  t.match(c?.advice, 'docs/rotate-trust.md');
});

t.test('a root expiring within 60 days warns and exits 2', async (t) => {
  const shortRoot = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 30 * 24 });
  const shortIssuer = await createIssuer({ root: shortRoot, trustDomain: 'cluster.local', now, lifetimeHours: 29 * 24 });
  const rs = runChecks({
    ...healthy,
    trustAnchors: ok(pem(shortRoot)),
    issuer: ok({ secret: 'weft-ca-issuer', certPem: pem(shortIssuer) }),
    namespaces: shop(shopPods(pem(shortRoot))),
  }, now);
  t.equal(exitStatus(rs), 2, 'warnings only: exit 2');
  t.equal(byId(rs, 'root-expiry')?.status, 'warn');
  t.match(byId(rs, 'root-expiry')?.message, /expires in (29|30) days/);
  t.equal(byId(rs, 'issuer-chain')?.status, 'pass');
});

t.test('an issuer not signed by any trust anchor fails issuer-chain', async (t) => {
  const otherRoot = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
  const rs = runChecks({ ...healthy, trustAnchors: ok(pem(otherRoot)) }, now);
  t.equal(exitStatus(rs), 1);
  t.equal(byId(rs, 'issuer-chain')?.status, 'fail');
  t.match(byId(rs, 'issuer-chain')?.advice, 'identity.trustAnchorsPEM');
});

t.test('a wrong caBundle fails webhook-cabundle with the advice to realign it', async (t) => {
  const [entry] = healthy.webhook.config.ok ? healthy.webhook.config.value : [];
  t.ok(entry);
  if (!entry) return;
  // The mesh root, not the webhook's CA.
  const rs = runChecks({ ...healthy, webhook: { ...healthy.webhook, config: ok([{ ...entry, caBundlePem: pem(trust.root) }]) } }, now);
  t.equal(exitStatus(rs), 1);
  const c = byId(rs, 'webhook-cabundle');
  t.equal(c?.status, 'fail');
  t.match(c?.message, "does not match the injector's serving certificate");
  t.match(c?.advice, 'helm upgrade weft charts/weft');
});

t.test("with --injector-url the injector's live certificate and reachability are judged", async (t) => {
  const url = 'https://127.0.0.1:8443';
  const live = { ...healthy.webhook, serving: ok({ chainPem: trust.serving.certChainPem, source: `${url} (live)` }), probe: { url, ok: true } };
  const good = runChecks({ ...healthy, webhook: live }, now);
  t.equal(exitStatus(good), 0);
  t.match(byId(good, 'webhook-cabundle')?.message, `${url} (live)`);
  t.equal(byId(good, 'webhook-reachable')?.status, 'pass');
  const [entry] = healthy.webhook.config.ok ? healthy.webhook.config.value : [];
  if (!entry) return t.fail('no webhook entry');
  // What gather finds with the wrong caBundle: the live chain no longer chains to it, and the TLS probe fails.
  const bad = runChecks({
    ...healthy,
    webhook: { ...live, config: ok([{ ...entry, caBundlePem: pem(trust.root) }]), probe: { url, ok: false, error: 'unable to verify the first certificate' } },
  }, now);
  t.equal(exitStatus(bad), 1);
  t.equal(byId(bad, 'webhook-cabundle')?.status, 'fail');
  t.equal(byId(bad, 'webhook-reachable')?.status, 'fail');
  t.match(byId(bad, 'webhook-reachable')?.message, `the injector does not answer at ${url}: unable to verify`);
});

t.test('an unmeshed pod in a labelled namespace fails injected-<ns> and names the rollout to restart', async (t) => {
  const orders: PodFact = { name: 'orders-5f6d7c8b9-x2x2x', phase: 'Running', owner: 'deployment/orders', annotations: {}, labels: {}, hostNetwork: false };
  // Opted-out and host-network pods are not expected to be meshed.
  const legacy: PodFact = { name: 'legacy', phase: 'Running', annotations: { 'weft.dev/inject': 'disabled' }, labels: {}, hostNetwork: false };
  const node: PodFact = { name: 'node-agent', phase: 'Running', annotations: {}, labels: {}, hostNetwork: true };
  const rs = runChecks({ ...healthy, namespaces: shop([...shopPods(pem(trust.root)), orders, legacy, node]) }, now);
  t.equal(exitStatus(rs), 1);
  const c = byId(rs, 'injected-shop');
  t.equal(c?.status, 'fail');
  t.match(c?.message, '1 of 3 pods have no weft proxy: orders-5f6d7c8b9-x2x2x');
  t.match(c?.advice, 'kubectl -n shop rollout restart deployment/orders');
});

t.test("injected pods whose proxy env holds other trust anchors than weft's ConfigMap fail with the restart advice", async (t) => {
  // Rotation step 1: the new root joins the bundle; pods created before still carry the old bundle.
  const next = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
  const rotating = { ...healthy, trustAnchors: ok(pem(trust.root) + pem(next)) };
  const rs = runChecks(rotating, now);
  t.equal(exitStatus(rs), 1);
  const c = byId(rs, 'trust-bundle-shop');
  t.equal(c?.status, 'fail');
  t.match(c?.message, '2 pod(s) in shop carry other trust anchors in WEFT_TRUST_ANCHORS than weft-system/weft-trust-anchors (web-7d9f8b6c5-abcde, web-7d9f8b6c5-fghij)');
  t.match(c?.advice, 'restart the pods to pick up the new trust anchors');
  t.match(c?.advice, 'kubectl -n shop rollout restart deployment/web');
  t.notOk(rs.some((x) => x.id.startsWith('trust-anchors-')), 'no per-namespace ConfigMap check any more');

  // After the restart the pods carry the bundle (in another order): the check passes.
  const after = runChecks({ ...rotating, namespaces: shop(shopPods(pem(next) + pem(trust.root))) }, now);
  t.equal(byId(after, 'trust-bundle-shop')?.status, 'pass', JSON.stringify(byId(after, 'trust-bundle-shop')));

  // A pod injected by an older weft has no WEFT_TRUST_ANCHORS: a warning to restart it.
  const [first, second] = POD_NAMES;
  const old = runChecks({ ...rotating, namespaces: shop([meshedPod(first, null, now), meshedPod(second, pem(next) + pem(trust.root), now)]) }, now);
  t.equal(byId(old, 'trust-bundle-shop')?.status, 'warn');
  t.match(byId(old, 'trust-bundle-shop')?.message, '1 pod(s) in shop have no WEFT_TRUST_ANCHORS in their proxy env (web-7d9f8b6c5-abcde)');
});

t.test('missing RBAC fails the component that lost it, with the permission and the fix', async (t) => {
  if (!healthy.access.ok) return t.fail('healthy access');
  const tokenReviews = KUBE_ACCESS.find((r) => r.component === 'ca' && r.resource === 'tokenreviews');
  // The weft-ca binding is gone (nothing allowed); the destination's role lost endpointslices.
  const access = healthy.access.value.map((a) => ({
    ...a,
    allowed: a.subject === 'weft-ca' ? false : a.subject === 'weft-destination' && a.row.resource === 'endpointslices' && a.verb === 'list' ? false : a.allowed,
  }));
  const rs = runChecks({ ...healthy, access: ok(access) }, now);
  t.equal(exitStatus(rs), 1);
  const ca = byId(rs, 'rbac-weft-ca');
  t.equal(ca?.status, 'fail');
  t.ok(tokenReviews, 'the table has the CA token review row');
  t.match(ca?.message, 'weft-ca may not: create tokenreviews.authentication.k8s.io');
  t.match(ca?.advice, 'helm upgrade weft charts/weft');
  t.match(ca?.advice, `kubectl auth can-i create tokenreviews.authentication.k8s.io --as=system:serviceaccount:${NS}:weft-ca`);
  const destination = byId(rs, 'rbac-weft-destination');
  t.equal(destination?.status, 'fail');
  t.match(destination?.message, 'list endpointslices.discovery.k8s.io');
  t.match(destination?.advice, `--as=system:serviceaccount:${NS}:weft-destination`);
  t.equal(byId(rs, 'rbac-weft-gateway')?.status, 'pass', 'the others are untouched');
});

t.test('a proxy that is not ready, and a CA with no ready pod, fail with what to look at', async (t) => {
  const notReady: PodFact = { ...meshedPod('web-7d9f8b6c5-zzzzz', pem(trust.root), now), proxy: { ready: false, restarts: 0 } };
  const rs = runChecks({ ...healthy, ca: ok({ ...readyDeployment(), ready: 0 }), namespaces: shop([...shopPods(pem(trust.root)), notReady]) }, now);
  t.equal(exitStatus(rs), 1);
  t.equal(byId(rs, 'proxies-ready-shop')?.status, 'fail');
  t.match(byId(rs, 'proxies-ready-shop')?.advice, 'kubectl -n shop logs web-7d9f8b6c5-zzzzz -c weft-proxy');
  t.equal(byId(rs, 'ca-ready')?.status, 'fail');
  t.match(byId(rs, 'ca-ready')?.message, 'no ready pod (0/2)');
});

t.test('Kubernetes 1.28 warns that native sidecars are missing', async (t) => {
  const rs = runChecks({ ...healthy, version: ok({ gitVersion: 'v1.28.7', major: 1, minor: 28 }) }, now);
  t.equal(exitStatus(rs), 2);
  t.equal(byId(rs, 'native-sidecars')?.status, 'warn');
  t.match(byId(rs, 'native-sidecars')?.advice, 'Jobs');
  t.equal(byId(rs, 'kubernetes-version')?.status, 'pass', '1.28 is still supported');
});

t.test('an unreachable API server fails the first check, skips the rest, and says what to check', async (t) => {
  const down = failed('connect ECONNREFUSED 127.0.0.1:6443');
  const rs = runChecks({ ...healthy, version: down, access: down, ca: down, injector: down, gateway: down, trustAnchors: down, issuer: down, webhook: { config: down, serving: down, readyEndpoints: down }, namespaces: down }, now);
  t.equal(exitStatus(rs), 1);
  t.equal(byId(rs, 'api-reachable')?.status, 'fail');
  t.match(byId(rs, 'api-reachable')?.message, 'ECONNREFUSED');
  t.match(byId(rs, 'api-reachable')?.advice, 'KUBECONFIG');
  t.ok(rs.filter((x) => x.status === 'skip').length >= 3, 'later checks are skipped, not failed');
  t.same(rs.filter((x) => x.status === 'fail').map((x) => x.id), ['api-reachable'], 'only the first check fails');
});
