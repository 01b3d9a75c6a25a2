// Kubernetes RBAC evaluated over the objects a TestApiServer holds, so tests can install the
// chart's real Roles and bindings and see what each service account may do (as the RBAC
// authorizer does: union of the rules of every binding naming the user or one of its groups).
import type { KubeObject, RequestAttributes, ResourceDef, TestApiServer } from './test-apiserver.js';

/** The RBAC kinds (and the other chart kinds) the test API server does not serve by default. */
export const CHART_RESOURCES: readonly ResourceDef[] = [
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', namespaced: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', singular: 'role', kind: 'Role', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', singular: 'rolebinding', kind: 'RoleBinding', namespaced: true },
  { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', singular: 'poddisruptionbudget', kind: 'PodDisruptionBudget', namespaced: true },
  { group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', singular: 'horizontalpodautoscaler', kind: 'HorizontalPodAutoscaler', namespaced: true },
];

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}
interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

const has = (list: readonly string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);

function ruleAllows(rule: Rule, a: RequestAttributes): boolean {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.group) || !has(rule.resources, resource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function subjectMatches(s: Subject, a: RequestAttributes): boolean {
  if (s.kind === 'User') return s.name === a.user.username;
  if (s.kind === 'Group') return a.user.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return a.user.username === `system:serviceaccount:${s.namespace ?? ''}:${s.name}`;
  return false;
}

/** An authorizer for TestApiServer.setAuthorizer that reads the server's RBAC objects on each call. */
export function rbacAuthorizer(api: TestApiServer): (a: RequestAttributes) => boolean {
  return (a) => {
    const rules = (kind: string, namespace: string | undefined, name: string): Rule[] => {
      const found = api.get('rbac.authorization.k8s.io/v1', kind, namespace, name)?.['rules'];
      return Array.isArray(found) ? (found as Rule[]) : [];
    };
    type Binding = KubeObject & { roleRef?: { kind: string; name: string }; subjects?: Subject[] };
    for (const b of api.list('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding') as Binding[]) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, a))) continue;
      if (rules('ClusterRole', undefined, b.roleRef?.name ?? '').some((r) => ruleAllows(r, a))) return true;
    }
    if (a.namespace === undefined) return false;
    for (const b of api.list('rbac.authorization.k8s.io/v1', 'RoleBinding', a.namespace) as Binding[]) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, a))) continue;
      const ref = b.roleRef;
      const rs = ref?.kind === 'ClusterRole' ? rules('ClusterRole', undefined, ref.name) : rules('Role', a.namespace, ref?.name ?? '');
      if (rs.some((r) => ruleAllows(r, a))) return true;
    }
    return false;
  };
}
