// weft check's authorization-policy checks: an invalid policy fails, one that targets no meshed
// pod warns, and a set where each policy targets a pod passes.
import t from 'tap';
import { authorizationChecks, type AuthorizationFacts } from '../../../check/authz-checks.js';
import type { Fetched } from '../../../check/facts.js';
import type { CheckResult, CheckStatus } from '../../../check/results.js';

function run(facts: Fetched<AuthorizationFacts> | undefined): CheckResult[] {
  const out: CheckResult[] = [];
  authorizationChecks((category: string, id: string, status: CheckStatus, message: string, advice?: string) => {
    out.push({ category, id, status, message, ...(advice === undefined ? {} : { advice }) });
  }, facts);
  return out;
}
const policy = (namespace: string, name: string, spec: unknown): unknown => ({ apiVersion: 'policy.weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { namespace, name }, spec });
const meshedPods: AuthorizationFacts['meshedPods'] = { shop: [{ name: 'web-0', labels: { app: 'web' } }, { name: 'db-0', labels: { app: 'db', tier: 'data' } }] };

t.test('policies that each target a meshed pod pass', async (t) => {
  const rs = run({ ok: true, value: { policies: [policy('shop', 'web', { selector: { matchLabels: { app: 'web' } }, rules: [] }), policy('shop', 'all', { action: 'DENY', rules: [{}] })], meshedPods } });
  t.same(rs.map((r) => [r.id, r.status]), [['authz-policies', 'pass']]);
  t.match(rs[0]?.message, /2 AuthorizationPolicies/);
});

t.test('a policy whose selector matches no meshed pod, or in a namespace without one, targets nothing', async (t) => {
  const rs = run({
    ok: true,
    value: { policies: [policy('shop', 'typo', { selector: { matchLabels: { app: 'wbe' } }, rules: [] }), policy('empty', 'any', { rules: [] }), policy('shop', 'db', { selector: { matchLabels: { tier: 'data' } }, rules: [] })], meshedPods: { ...meshedPods, empty: [] } },
  });
  t.same(rs.map((r) => [r.id, r.status]), [['authz-policy-shop-typo', 'warn'], ['authz-policy-empty-any', 'warn']]);
  t.match(rs[0]?.message, /targets nothing: no meshed pod in shop matches its selector app=wbe/);
  t.match(rs[0]?.advice, /kubectl -n shop get pods --show-labels/);
  t.match(rs[1]?.message, /matches its every pod/);
});

t.test('an invalid policy fails, naming its problems', async (t) => {
  const rs = run({ ok: true, value: { policies: [policy('shop', 'bad', { action: 'PERMIT', rules: [{ to: { paths: ['admin'] } }] })], meshedPods } });
  t.equal(rs[0]?.status, 'fail');
  t.match(rs[0]?.message, /shop\/bad is invalid: .*spec.action.*"admin"/);
});

t.test('no CRD passes (nothing to check); another read error is a warning; not gathered says nothing', async (t) => {
  t.equal(run({ ok: false, missing: true, error: 'not found' })[0]?.status, 'pass');
  t.equal(run({ ok: false, missing: false, error: 'forbidden' })[0]?.status, 'warn');
  t.same(run(undefined), []);
});
