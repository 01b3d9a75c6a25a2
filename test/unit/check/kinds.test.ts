// `weft check` on the kinds weft reads: the pure checks over facts (a missing required kind fails,
// the gateway's absent optional kinds warn with advice, nothing is said without a gateway), and
// gatherFacts reading the API server's discovery when kinds are taken away.
import t from 'tap';
import { runChecks } from '../../../check/checks.js';
import { gatewayKindsCheck, requiredKindsCheck } from '../../../check/kinds.js';
import type { ClusterFacts, KindFact } from '../../../check/facts.js';
import { gatherFacts } from '../../../check/gather.js';
import { exitStatus } from '../../../check/results.js';
import { DISCOVERY_KINDS, GATEWAY_ROUTE_KINDS } from '../../../lib/kube/kinds.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { healthyFacts, makeTrust, NS, POD_NAMES } from '../../support/cluster-facts.js';
import { installHealthyWeft } from '../../support/check-cluster.js';
import { TestApiServer } from '../../support/test-apiserver.js';

const now = new Date();
const trust = await makeTrust(now);

const kinds = (absent: (k: KindFact) => boolean = () => false): KindFact[] =>
  [...DISCOVERY_KINDS, ...GATEWAY_ROUTE_KINDS].map((k) => {
    const fact = { ...k, served: true };
    return { ...fact, served: !absent(fact) };
  });
const facts = (apiKinds: ClusterFacts['apiKinds'], gatewayMissing = false): ClusterFacts => ({
  ...healthyFacts(trust, now),
  ...(gatewayMissing ? { gateway: { ok: false, missing: true, error: 'Deployment weft-system/weft-gateway not found' } } : {}),
  ...(apiKinds === undefined ? {} : { apiKinds }),
});

t.test('every kind served: both checks pass', async (t) => {
  const rs = runChecks(facts({ ok: true, value: kinds() }), now);
  t.match(rs.find((r) => r.id === 'api-kinds'), { category: 'kubernetes-api', status: 'pass' });
  t.match(rs.find((r) => r.id === 'gateway-kinds'), { category: 'weft-gateway', status: 'pass' });
  t.equal(exitStatus(rs), 0);
});

t.test("ReferenceGrant and weft's policy kinds absent: a warning that lists them, not a failure", async (t) => {
  const rs = runChecks(facts({ ok: true, value: kinds((k) => k.group === 'weft.dev' || k.resource === 'referencegrants') }), now);
  const r = rs.find((x) => x.id === 'gateway-kinds');
  t.equal(r?.status, 'warn');
  t.match(r?.message, /referencegrants\.gateway\.networking\.k8s\.io\/v1beta1/);
  t.match(r?.message, /jwtpolicies\.weft\.dev\/v1alpha1/);
  t.notMatch(r?.message, /httproutes/, 'served kinds are not listed');
  t.match(r?.advice, /Gateway API standard-channel CRDs/);
  t.match(r?.advice, /crds\.install=true/);
  t.equal(rs.find((x) => x.id === 'api-kinds')?.status, 'pass', 'nothing required is missing');
  t.equal(exitStatus(rs), 2, 'warnings only: exit 2');
});

t.test('an Ingress-only cluster warns about the Gateway API; a cluster without Ingress too', async (t) => {
  const r = gatewayKindsCheck(facts({ ok: true, value: kinds((k) => k.group === 'gateway.networking.k8s.io') }))[0];
  t.equal(r?.status, 'warn');
  t.match(r?.message, /gateways\.gateway\.networking\.k8s\.io\/v1, httproutes\.gateway\.networking\.k8s\.io\/v1, grpcroutes\.gateway\.networking\.k8s\.io\/v1, referencegrants/);
  t.match(r?.advice, /Gateway API standard-channel CRDs \(v1\.0 or newer\), a prerequisite of the gateway the chart does not install \(docs\/install\.md\)/);
  t.notMatch(r?.advice, /crds\.install/, 'no advice for what is installed');
  const noIngress = gatewayKindsCheck(facts({ ok: true, value: kinds((k) => k.resource === 'ingresses') }))[0];
  t.match(noIngress, { status: 'warn', message: /ingresses\.networking\.k8s\.io\/v1/ });
});

t.test('a missing kind weft needs fails', async (t) => {
  const rs = requiredKindsCheck(facts({ ok: true, value: kinds((k) => k.resource === 'endpointslices') }));
  t.match(rs, [{ id: 'api-kinds', status: 'fail', message: /endpointslices\.discovery\.k8s\.io\/v1 \(read by the proxy and the gateway\)/ }]);
  t.equal(exitStatus(runChecks(facts({ ok: true, value: kinds((k) => k.resource === 'endpointslices') }), now)), 1);
});

t.test('without a gateway its kinds are not judged; without discovery facts nothing is said', async (t) => {
  t.same(gatewayKindsCheck(facts({ ok: true, value: kinds((k) => k.group === 'weft.dev') }, true)), []);
  t.same(requiredKindsCheck(facts(undefined)), []);
  t.same(gatewayKindsCheck(facts(undefined)), []);
  t.match(requiredKindsCheck(facts({ ok: false, missing: false, error: 'boom' })), [{ status: 'warn', message: /cannot read the API server's discovery: boom/ }]);
});

t.test("gatherFacts reads which kinds the API server's discovery serves", async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  installHealthyWeft(api, trust, POD_NAMES.map((name) => ({ name, address: '127.0.0.1' })));
  api.removeResource('gateway.networking.k8s.io/v1');
  api.removeResource('weft.dev/v1alpha1', 'corspolicies');
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  t.teardown(() => client.close());
  const gathered = await gatherFacts(client, { namespace: NS, proxyAdminPort: 1, maxCertReadsPerNamespace: 0 });
  const absent = gathered.apiKinds?.ok ? gathered.apiKinds.value.filter((k) => !k.served).map((k) => k.resource) : ['(not gathered)'];
  t.same(absent, ['gateways', 'httproutes', 'grpcroutes', 'corspolicies'], 'exactly the removed kinds are absent; ReferenceGrant v1beta1 stays');
  t.match(gatewayKindsCheck(gathered), [{ status: 'warn', message: /gateways.*httproutes.*grpcroutes.*corspolicies/ }]);
  t.match(requiredKindsCheck(gathered), [{ status: 'pass' }]);
});
