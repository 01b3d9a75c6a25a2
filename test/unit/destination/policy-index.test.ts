// weft destination's `policies` kind against the test API server: a proxy is served its own
// namespace's policies and default (from the certificate's namespace, never another), invalid
// objects and annotation values are left out, changes are pushed, and the proxy side reads the
// same wire back (readPolicyLine).
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { TestApiServer, type KubeObject } from '../../support/test-apiserver.js';
import { fromKubeconfigText } from '../../../lib/kube/config.js';
import { KubeClient } from '../../../lib/kube/client.js';
import { createLogger } from '../../../lib/logger.js';
import { PolicyIndex, policiesKind, type PolicyWire } from '../../../destination/policy-index.js';
import { readPolicyLine } from '../../../mesh/authz/remote-policy-source.js';
import { isWeftError } from '../../../lib/errors.js';

const policy = (namespace: string, name: string, action = 'ALLOW'): KubeObject => ({
  apiVersion: 'policy.weft.dev/v1alpha1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec: { selector: { matchLabels: { app: 'hello' } }, action, rules: [{ from: { serviceAccounts: ['client'] } }] },
});

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rig(t: Test, crd = true): Promise<{ api: TestApiServer; index: PolicyIndex }> {
  const api = await TestApiServer.start();
  if (crd) api.addResource({ group: 'policy.weft.dev', version: 'v1alpha1', resource: 'authorizationpolicies', singular: 'authorizationpolicy', kind: 'AuthorizationPolicy', namespaced: true });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'config.weft.dev/default-inbound-policy': 'deny' } } });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other', annotations: { 'config.weft.dev/default-inbound-policy': 'open-sesame' } } });
  if (crd) {
    api.apply(policy('shop', 'hello-admin'));
    api.apply(policy('other', 'not-yours'));
    api.apply(policy('shop', 'broken', 'MAYBE'));
  }
  const client = new KubeClient(await fromKubeconfigText(api.kubeconfig(), 'test'));
  const index = new PolicyIndex({ client, log: createLogger({ level: 'silent', name: 't' }), registry: new Registry(), backoff: { initialMs: 20, maxMs: 200 } });
  t.teardown(async () => {
    await index.stop();
    client.close();
    await api.stop();
  });
  index.start();
  await until(() => index.synced);
  return { api, index };
}

t.test("a proxy gets its own namespace's valid policies and default, and changes are pushed", async (t) => {
  const { api, index } = await rig(t);
  const got: PolicyWire[] = [];
  const stop = index.subscribe('shop', (v) => got.push(v as PolicyWire));
  t.equal(got.length, 1, 'the current value at once');
  t.equal(got[0]?.namespace, 'shop');
  t.equal(got[0]?.defaultInboundPolicy, 'deny');
  t.same(got[0]?.policies.map((p) => p.metadata.name), ['hello-admin'], "the invalid one (action MAYBE) and other's are left out");
  t.same(index.wire('other').defaultInboundPolicy, null, 'an annotation that is not a default inbound policy is ignored');
  api.apply(policy('other', 'still-not-yours'));
  api.apply(policy('shop', 'second', 'DENY'));
  await until(() => got.length === 2);
  t.same(got[1]?.policies.map((p) => p.metadata.name), ['hello-admin', 'second']);
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  await until(() => got.length === 3);
  t.equal(got[2]?.defaultInboundPolicy, null, 'the annotation removed');
  const set = readPolicyLine(JSON.stringify(got[1]), 'shop');
  t.same(set.policies.map((p) => `${p.namespace}/${p.name}/${p.action}`), ['shop/hello-admin/ALLOW', 'shop/second/DENY'], 'the proxy reads the wire back with the local-mode parser');
  t.same(readPolicyLine(JSON.stringify(got[0]), 'shop').namespaceDefaults, { shop: 'deny' });
  // A bad edit of the DENY must not open what it closed: its last good version stays, also after a re-list.
  api.apply(policy('shop', 'second', 'MAYBE'));
  api.apply(policy('shop', 'third'));
  await until(() => got.length === 4);
  t.same(got[3]?.policies.map((p) => `${p.metadata.name}:${String((p.spec as { action: string }).action)}`), ['hello-admin:ALLOW', 'second:DENY', 'third:ALLOW']);
  api.expireWatches();
  api.apply(policy('shop', 'fourth'));
  await until(() => got.length === 5);
  t.same(got[4]?.policies.map((p) => `${p.metadata.name}:${String((p.spec as { action: string }).action)}`), ['fourth:ALLOW', 'hello-admin:ALLOW', 'second:DENY', 'third:ALLOW']);
  stop();
});

t.test('the namespace comes from the caller certificate; asking for another is 403', async (t) => {
  const kind = policiesKind(await rig(t).then((r) => r.index));
  const caller = { identity: 'spiffe://cluster.local/ns/shop/sa/hello', namespace: 'shop' };
  t.equal(kind.parse(new URLSearchParams(''), caller), 'shop');
  t.equal(kind.parse(new URLSearchParams('namespace=shop'), caller), 'shop');
  const refused = kind.parse(new URLSearchParams('namespace=other'), caller);
  t.ok(isWeftError(refused) && refused.status === 403 && refused.code === 'WEFT_ERR_FORBIDDEN', 'another namespace is refused');
});

t.test('a cluster without the CRD serves no policies but still the namespace default', async (t) => {
  const { index } = await rig(t, false);
  t.same(index.wire('shop'), { namespace: 'shop', defaultInboundPolicy: 'deny', policies: [] });
});

t.test('readPolicyLine refuses lines that are not JSON, another namespace, or invalid policies', async (t) => {
  t.throws(() => readPolicyLine('{', 'shop'), { code: 'WEFT_ERR_AUTHZ_POLICY' });
  t.throws(() => readPolicyLine(JSON.stringify({ namespace: 'other', defaultInboundPolicy: null, policies: [] }), 'shop'), { code: 'WEFT_ERR_AUTHZ_POLICY' });
  t.throws(() => readPolicyLine(JSON.stringify({ namespace: 'shop', defaultInboundPolicy: 'nope', policies: [] }), 'shop'), { code: 'WEFT_ERR_AUTHZ_POLICY' });
});
