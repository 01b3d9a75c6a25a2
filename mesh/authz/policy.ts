// The authorization policy model (docs/policy.md) and its parser: AuthorizationPolicy objects
// (policy.weft.dev/v1alpha1) and namespace defaults, from YAML/JSON data to checked plain values.
import { WeftError } from '../../lib/errors.js';

/** The API group and version of weft's authorization kinds. */
export const POLICY_API_VERSION = 'policy.weft.dev/v1alpha1';

/** What a pod answers when no ALLOW policy targets it (Linkerd's default inbound policies). */
export const DEFAULT_INBOUND_POLICIES = ['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny'] as const;

/** One default inbound policy. */
export type DefaultInboundPolicy = (typeof DEFAULT_INBOUND_POLICIES)[number];

/** ALLOW admits what a rule matches; DENY refuses it (and wins); AUDIT logs and counts it, a dry-run DENY. */
export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** Who a rule is about: a peer matches when it matches any listed entry (a union, like Linkerd's MeshTLSAuthentication). */
export interface PolicyPeers {
  /** SPIFFE IDs: exact, `*`, or a prefix ending in `*` ("spiffe://cluster.local/ns/shop/*"). */
  readonly principals: readonly string[];
  /** "name" (the policy's namespace) or "namespace/name". */
  readonly serviceAccounts: readonly string[];
  readonly namespaces: readonly string[];
}

/** What a rule is about: each listed field must match (any of its values). */
export interface PolicyOperation {
  readonly ports: readonly number[];
  /** Upper-case HTTP methods. */
  readonly methods: readonly string[];
  /** Exact ("/admin"), prefix ("/api/*") or "*". */
  readonly paths: readonly string[];
  /** Paths (same forms) the rule does not cover: "everything but /admin". */
  readonly notPaths: readonly string[];
}

/** One rule: absent `from` is any authenticated peer, absent `to` is any port, method and path. */
export interface PolicyRule {
  readonly from: PolicyPeers | undefined;
  readonly to: PolicyOperation | undefined;
}

/** An AuthorizationPolicy. */
export interface AuthorizationPolicy {
  readonly name: string;
  readonly namespace: string;
  /** Pod labels that must all match; undefined targets every pod of the namespace. */
  readonly matchLabels: Readonly<Record<string, string>> | undefined;
  readonly action: PolicyAction;
  /** Any matching rule applies the action; an empty list matches nothing (an ALLOW with none allows nothing). */
  readonly rules: readonly PolicyRule[];
}

/** Everything a policy source serves: the policies and each namespace's default. */
export interface PolicySet {
  readonly policies: readonly AuthorizationPolicy[];
  /** namespace -> default inbound policy (from the namespace's `config.weft.dev/default-inbound-policy`). */
  readonly namespaceDefaults: Readonly<Record<string, DefaultInboundPolicy>>;
}

/** The empty set: no policy, no namespace default. */
export const EMPTY_POLICY_SET: PolicySet = { policies: [], namespaceDefaults: {} };

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const METHOD = /^[A-Z]{1,20}$/;

/** True when `value` is one of the default inbound policies. */
export function isDefaultInboundPolicy(value: unknown): value is DefaultInboundPolicy {
  return typeof value === 'string' && (DEFAULT_INBOUND_POLICIES as readonly string[]).includes(value);
}

/**
 * Parses the `authorization` section of the local mesh file (pure):
 *   { namespaces: { demo: { defaultInboundPolicy: deny } }, policies: [AuthorizationPolicy objects] }
 * Every problem is listed at once in one WEFT_ERR_AUTHZ_POLICY.
 */
export function parsePolicySection(raw: unknown, source: string): PolicySet {
  if (raw === undefined || raw === null) return EMPTY_POLICY_SET;
  const problems: string[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new WeftError('WEFT_ERR_AUTHZ_POLICY', `${source}: authorization: expected a mapping`);
  const section = raw as Record<string, unknown>;
  const namespaceDefaults: Record<string, DefaultInboundPolicy> = {};
  const namespaces = section.namespaces ?? {};
  if (typeof namespaces !== 'object' || namespaces === null || Array.isArray(namespaces)) problems.push('authorization.namespaces: expected a mapping of namespace to settings');
  else
    for (const [ns, settings] of Object.entries(namespaces)) {
      const value = (settings as { defaultInboundPolicy?: unknown } | null)?.defaultInboundPolicy;
      if (!LABEL.test(ns)) problems.push(`authorization.namespaces.${ns}: not a DNS-1123 label`);
      else if (!isDefaultInboundPolicy(value)) problems.push(`authorization.namespaces.${ns}.defaultInboundPolicy: expected one of ${DEFAULT_INBOUND_POLICIES.join(', ')}`);
      else namespaceDefaults[ns] = value;
    }
  const policies: AuthorizationPolicy[] = [];
  const list = section.policies ?? [];
  if (!Array.isArray(list)) problems.push('authorization.policies: expected a list');
  else
    list.forEach((item: unknown, i: number) => {
      const parsed = parsePolicyObject(item, `authorization.policies[${i}]`, problems);
      if (parsed && policies.some((p) => p.namespace === parsed.namespace && p.name === parsed.name)) problems.push(`authorization.policies[${i}]: ${parsed.namespace}/${parsed.name} is listed twice`);
      else if (parsed) policies.push(parsed);
    });
  if (problems.length > 0) throw new WeftError('WEFT_ERR_AUTHZ_POLICY', `${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  return { policies, namespaceDefaults };
}

/**
 * Parses one AuthorizationPolicy object (the CRD's shape: apiVersion, kind, metadata, spec),
 * adding each problem to `problems` under `at`; undefined when it has any.
 */
export function parsePolicyObject(raw: unknown, at: string, problems: string[]): AuthorizationPolicy | undefined {
  const before = problems.length;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${at}: expected an AuthorizationPolicy object`);
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  if (o.apiVersion !== undefined && o.apiVersion !== POLICY_API_VERSION) problems.push(`${at}.apiVersion: expected ${POLICY_API_VERSION}`);
  if (o.kind !== undefined && o.kind !== 'AuthorizationPolicy') problems.push(`${at}.kind: expected AuthorizationPolicy`);
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  if (!SUBDOMAIN.test(name)) problems.push(`${at}.metadata.name: ${JSON.stringify(meta.name)} is not a DNS-1123 subdomain`);
  if (!LABEL.test(namespace)) problems.push(`${at}.metadata.namespace: ${JSON.stringify(meta.namespace)} is not a DNS-1123 label`);
  const spec = o.spec;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    problems.push(`${at}.spec: expected a mapping`);
    return undefined;
  }
  const s = spec as Record<string, unknown>;
  const action = s.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'AUDIT') problems.push(`${at}.spec.action: expected ALLOW, DENY or AUDIT`);
  const matchLabels = parseSelector(s.selector, `${at}.spec.selector`, problems);
  const rules: PolicyRule[] = [];
  if (!Array.isArray(s.rules)) problems.push(`${at}.spec.rules: expected a list (an empty list matches nothing)`);
  else s.rules.forEach((r: unknown, i: number) => rules.push(parseRule(r, `${at}.spec.rules[${i}]`, problems)));
  if (problems.length > before) return undefined;
  return { name, namespace, matchLabels, action: action as PolicyAction, rules };
}

function parseSelector(raw: unknown, at: string, problems: string[]): Readonly<Record<string, string>> | undefined {
  if (raw === undefined || raw === null) return undefined;
  const labels = (raw as { matchLabels?: unknown }).matchLabels;
  if (typeof raw !== 'object' || labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    problems.push(`${at}: expected { matchLabels: { key: value } }`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') problems.push(`${at}.matchLabels.${k}: expected a string`);
    else out[k] = v;
  }
  return out;
}

function parseRule(raw: unknown, at: string, problems: string[]): PolicyRule {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${at}: expected { from?, to? }`);
    return { from: undefined, to: undefined };
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) if (key !== 'from' && key !== 'to') problems.push(`${at}.${key}: unknown field (expected from, to)`);
  let from: PolicyPeers | undefined;
  if (r.from !== undefined) {
    const f = (r.from ?? {}) as Record<string, unknown>;
    from = {
      principals: strings(f.principals, `${at}.from.principals`, problems, principalProblem),
      serviceAccounts: strings(f.serviceAccounts, `${at}.from.serviceAccounts`, problems, (v) => (/^([a-z0-9-]+\/)?[a-z0-9.-]+$/.test(v) ? undefined : 'is not "name" or "namespace/name"')),
      namespaces: strings(f.namespaces, `${at}.from.namespaces`, problems, (v) => (LABEL.test(v) || v === '*' ? undefined : 'is not a DNS-1123 label')),
    };
    for (const key of Object.keys(f)) if (!['principals', 'serviceAccounts', 'namespaces'].includes(key)) problems.push(`${at}.from.${key}: unknown field`);
    if (from.principals.length + from.serviceAccounts.length + from.namespaces.length === 0) problems.push(`${at}.from: lists nobody (leave "from" out to mean any peer)`);
  }
  let to: PolicyOperation | undefined;
  if (r.to !== undefined) {
    const o = (r.to ?? {}) as Record<string, unknown>;
    const ports: number[] = [];
    if (o.ports !== undefined) {
      if (!Array.isArray(o.ports)) problems.push(`${at}.to.ports: expected a list of port numbers`);
      else for (const p of o.ports) if (typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536) ports.push(p);
      else problems.push(`${at}.to.ports: ${JSON.stringify(p)} is not a port number`);
    }
    to = {
      ports,
      methods: strings(o.methods, `${at}.to.methods`, problems, (v) => (METHOD.test(v.toUpperCase()) ? undefined : 'is not an HTTP method')).map((m) => m.toUpperCase()),
      paths: strings(o.paths, `${at}.to.paths`, problems, pathProblem),
      notPaths: strings(o.notPaths, `${at}.to.notPaths`, problems, pathProblem),
    };
    for (const key of Object.keys(o)) if (!['ports', 'methods', 'paths', 'notPaths'].includes(key)) problems.push(`${at}.to.${key}: unknown field`);
  }
  return { from, to };
}

function pathProblem(v: string): string | undefined {
  return v === '*' || (v.startsWith('/') && v.indexOf('*') === (v.endsWith('*') ? v.length - 1 : -1)) ? undefined : 'is not "/exact", "/prefix/*" or "*"';
}

function principalProblem(v: string): string | undefined {
  if (v === '*') return undefined;
  if (!v.startsWith('spiffe://')) return 'is not a spiffe:// ID, a prefix ending in * or *';
  const star = v.indexOf('*');
  return star === -1 || star === v.length - 1 ? undefined : 'may hold * only at its end';
}

function strings(raw: unknown, at: string, problems: string[], check: (v: string) => string | undefined): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push(`${at}: expected a list of strings`);
    return [];
  }
  const out: string[] = [];
  for (const v of raw) {
    const problem = typeof v === 'string' ? check(v) : 'is not a string';
    if (problem) problems.push(`${at}: ${JSON.stringify(v)} ${problem}`);
    else out.push(v as string);
  }
  return out;
}
