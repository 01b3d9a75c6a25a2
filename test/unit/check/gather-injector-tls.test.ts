// `weft check` on an install whose injector makes its own webhook certificate
// (injector.tls.provider=injector): it asks whether weft-injector may still get and update its
// Secret and get and patch its webhook configuration, and reads the served pair from that Secret.
import t, { type Test } from 'tap';
import { runChecks } from '../../../check/checks.js';
import type { ClusterFacts } from '../../../check/facts.js';
import { gatherFacts } from '../../../check/gather.js';
import type { CheckResult } from '../../../check/results.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { makeTrust, NS, POD_NAMES } from '../../support/cluster-facts.js';
import { installHealthyWeft } from '../../support/check-cluster.js';
import { TestApiServer, type KubeObject } from '../../support/test-apiserver.js';
import { helmTemplate } from '../charts/helm.js';

const now = new Date();
const trust = await makeTrust(now);
const byId = (rs: readonly CheckResult[], id: string): CheckResult | undefined => rs.find((r) => r.id === id);

interface Container { env?: { name: string; value?: string }[]; volumeMounts?: { name: string }[] }
type Deployment = KubeObject & { spec: { template: { spec: { containers: Container[]; volumes?: { name: string }[] } } } };

/** A healthy install switched to provider injector, as the chart renders that mode. */
async function selfTlsCluster(t: Test): Promise<{ api: TestApiServer; gather: () => Promise<ClusterFacts> }> {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  installHealthyWeft(api, trust, POD_NAMES.map((name) => ({ name, address: '127.0.0.1' })));
  const dep = api.get('apps/v1', 'Deployment', NS, 'weft-injector') as Deployment;
  const pod = dep.spec.template.spec;
  const c = pod.containers[0] as Container;
  c.env = [...(c.env ?? []).filter((e) => e.name !== 'WEFT_INJECTOR_TLS_DIR'), { name: 'WEFT_INJECTOR_TLS_PROVIDER', value: 'self' }, { name: 'WEFT_INJECTOR_TLS_SECRET', value: 'weft-injector-self-tls' }];
  c.volumeMounts = (c.volumeMounts ?? []).filter((m) => m.name !== 'tls');
  pod.volumes = (pod.volumes ?? []).filter((v) => v.name !== 'tls');
  api.apply(dep);
  // The injector's grants in this mode, from the real Helm render.
  const rbacNames = new Set(['weft-injector-tls', 'weft-injector-webhook']);
  for (const d of helmTemplate({ injector: { tls: { provider: 'injector' } } }, { namespace: NS }).docs as KubeObject[]) {
    if (d.apiVersion === 'rbac.authorization.k8s.io/v1' && rbacNames.has(d.metadata.name ?? "")) api.apply(d);
  }
  // What the injector wrote into its Secret: the pair the webhook's caBundle trusts.
  const generated = api.get('v1', 'Secret', NS, 'weft-injector-tls') as KubeObject & { data: Record<string, string> };
  api.apply({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'weft-injector-self-tls', namespace: NS }, data: generated.data });
  api.delete('v1', 'Secret', NS, 'weft-injector-tls');
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  t.teardown(() => client.close());
  return { api, gather: () => gatherFacts(client, { namespace: NS, proxyAdminPort: 1, maxCertReadsPerNamespace: 50 }) };
}

t.test("with provider injector weft check reviews the injector's access and reads its Secret", async (t) => {
  const { gather } = await selfTlsCluster(t);
  const facts = await gather();
  const injectorAsks = facts.access.ok ? facts.access.value.filter((a) => a.subject === 'weft-injector') : [];
  t.same(injectorAsks.map((a) => `${a.verb} ${a.row.resource} ${a.name ?? ''} ${String(a.allowed)}`).sort(), [
    'get mutatingwebhookconfigurations weft-injector true',
    'get secrets weft-injector-self-tls true',
    'patch mutatingwebhookconfigurations weft-injector true',
    'update secrets weft-injector-self-tls true',
  ]);
  const rs = runChecks(facts, now);
  t.equal(byId(rs, 'rbac-weft-injector')?.status, 'pass');
  t.match(facts.webhook.serving, { ok: true, value: { source: `the Secret ${NS}/weft-injector-self-tls` } }, 'the served pair is read from the Secret the injector keeps');
});

t.test('without its webhook ClusterRoleBinding the injector fails its RBAC check, naming the patch', async (t) => {
  const { api, gather } = await selfTlsCluster(t);
  api.delete('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, 'weft-injector-webhook');
  const rs = runChecks(await gather(), now);
  t.equal(byId(rs, 'rbac-weft-injector')?.status, 'fail');
  t.match(byId(rs, 'rbac-weft-injector')?.message, /patch mutatingwebhookconfigurations/);
});
