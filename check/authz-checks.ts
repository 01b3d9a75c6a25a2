// `weft check`'s authorization-policy checks (pure): every AuthorizationPolicy parses, and each
// one targets at least one meshed pod (docs/policy.md).
import { parsePolicyObject } from '../mesh/authz/policy.js';
import { policyTargets } from '../mesh/authz/decide.js';
import type { AuthorizationFacts, Fetched } from './facts.js';

export type { AuthorizationFacts } from './facts.js';
import type { CheckStatus } from './results.js';

type Add = (category: string, id: string, status: CheckStatus, message: string, advice?: string) => void;

/** Adds one result per policy that is invalid or targets nothing, or one pass for all of them. */
export function authorizationChecks(add: Add, facts: Fetched<AuthorizationFacts> | undefined): void {
  const category = 'authorization';
  if (facts === undefined) return;
  if (!facts.ok) {
    if (facts.missing) add(category, 'authz-policies', 'pass', 'the AuthorizationPolicy CRD (policy.weft.dev) is not installed: no policy to check');
    else add(category, 'authz-policies', 'warn', `cannot list AuthorizationPolicies: ${facts.error}`, 'weft check needs list on authorizationpolicies.policy.weft.dev in every namespace');
    return;
  }
  let good = 0;
  facts.value.policies.forEach((raw, i) => {
    const meta = ((raw as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata ?? {});
    const where = `${typeof meta.namespace === 'string' ? meta.namespace : '?'}/${typeof meta.name === 'string' ? meta.name : `#${i}`}`;
    const problems: string[] = [];
    const policy = parsePolicyObject(raw, where, problems);
    const id = `authz-policy-${where.replace(/[^a-z0-9]+/g, '-')}`;
    if (!policy) {
      add(category, id, 'fail', `AuthorizationPolicy ${where} is invalid: ${problems.join('; ')}`, 'fix the listed fields; sidecars refuse an invalid set and keep the last good one (WEFT_ERR_AUTHZ_POLICY)');
      return;
    }
    const pods = facts.value.meshedPods[policy.namespace] ?? [];
    if (!pods.some((p) => policyTargets(policy, policy.namespace, p.labels))) {
      const selector = policy.matchLabels ? `selector ${Object.entries(policy.matchLabels).map(([k, v]) => `${k}=${v}`).join(',')}` : 'every pod';
      add(category, id, 'warn', `AuthorizationPolicy ${where} targets nothing: no meshed pod in ${policy.namespace} matches its ${selector}`,
        `compare spec.selector.matchLabels with kubectl -n ${policy.namespace} get pods --show-labels; is the namespace meshed (weft.dev/inject=enabled)?`);
      return;
    }
    good++;
  });
  if (good === facts.value.policies.length) add(category, 'authz-policies', 'pass', `${good} AuthorizationPolicies, each valid and targeting at least one meshed pod`);
}
