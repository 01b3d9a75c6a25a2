// The authorization decision (docs/policy.md): compiled once per policy change for one pod, then a
// pure, synchronous function of (peer identity, port, method, path) that returns a shared value.
import type { AuthorizationPolicy, DefaultInboundPolicy, PolicyAction, PolicyRule, PolicySet } from './policy.js';

/** The pod a decision function is compiled for. */
export interface PodTarget {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly trustDomain: string;
  /** The pod's own default (annotation); undefined inherits the namespace's, then all-unauthenticated. */
  readonly defaultPolicy: DefaultInboundPolicy | undefined;
}

/** One answer. Compiled decisions are shared objects: never mutate them. */
export interface Decision {
  readonly allowed: boolean;
  /** "namespace/name" of the deciding policy, "default:<policy>" or "no-allow-match". */
  readonly policy: string;
  /** Index of the deciding rule in its policy, -1 for a default. */
  readonly rule: number;
  /** One line for logs and /debug/authz. */
  readonly reason: string;
  /** "namespace/name" of an AUDIT policy that matched (would have denied), else undefined. */
  readonly audit: string | undefined;
}

/** A compiled decision function and what it was compiled from. */
export interface Authorizer {
  decide(peer: string, port: number, method: string | undefined, path: string | undefined): Decision;
  /** The policies that target the pod (for /debug/authz). */
  readonly policies: readonly string[];
  /** The default in force when no ALLOW policy targets the pod. */
  readonly defaultPolicy: DefaultInboundPolicy;
}

interface CompiledRule {
  readonly policy: string;
  readonly index: number;
  readonly action: PolicyAction;
  readonly matchesPeer: (peer: string) => boolean;
  // Short lists scanned with === beat a Set's hashing here (measured: Set.has was the hot line).
  readonly ports: readonly number[] | undefined;
  readonly methods: readonly string[] | undefined;
  readonly exactPaths: readonly string[] | undefined;
  readonly prefixes: readonly string[];
  readonly anyPath: boolean;
  /** notPaths: exact, prefixes, or "*" (no path at all). */
  readonly notPaths: PathSet | undefined;
  readonly hasHttpFields: boolean;
  readonly decision: Decision;
  /** An AUDIT rule's decisions, one per decision it annotates. */
  readonly audited: Map<Decision, Decision>;
}

interface PathSet {
  readonly exact: readonly string[];
  readonly prefixes: readonly string[];
  readonly any: boolean;
}

function pathSet(paths: readonly string[]): PathSet | undefined {
  if (paths.length === 0) return undefined;
  return { exact: paths.filter((p) => !p.endsWith('*')), prefixes: paths.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1)), any: paths.includes('*') };
}

function inPathSet(set: PathSet, path: string): boolean {
  if (set.any || set.exact.includes(path)) return true;
  for (const p of set.prefixes) if (path.startsWith(p)) return true;
  return false;
}

interface PeerRules {
  readonly deny: readonly CompiledRule[];
  readonly audit: readonly CompiledRule[];
  readonly allow: readonly CompiledRule[];
}

// Peers per pod are few (the callers' service accounts); the cap only bounds a scan by many identities.
const PEER_CACHE_MAX = 4096;

/** True when `policy` targets a pod with these namespace and labels. */
export function policyTargets(policy: AuthorizationPolicy, namespace: string, labels: Readonly<Record<string, string>>): boolean {
  if (policy.namespace !== namespace) return false;
  if (!policy.matchLabels) return true;
  for (const key in policy.matchLabels) if (labels[key] !== policy.matchLabels[key]) return false;
  return true;
}

/** The default in force for a pod: its own, else its namespace's, else all-unauthenticated. */
export function effectiveDefault(set: PolicySet, pod: PodTarget): DefaultInboundPolicy {
  return pod.defaultPolicy ?? set.namespaceDefaults[pod.namespace] ?? 'all-unauthenticated';
}

/** Compiles the policies that target `pod` into its decision function (pure). */
export function compileAuthorizer(set: PolicySet, pod: PodTarget): Authorizer {
  const targeting = set.policies.filter((p) => policyTargets(p, pod.namespace, pod.labels));
  const rules: CompiledRule[] = [];
  for (const policy of targeting) policy.rules.forEach((rule, index) => rules.push(compileRule(policy, rule, index)));
  const hasAllow = targeting.some((p) => p.action === 'ALLOW');
  const defaultPolicy = effectiveDefault(set, pod);
  const defaultName = `default:${defaultPolicy}`;
  const allowDefault = frozen(true, defaultName, -1, `no ALLOW policy targets the pod; the default ${defaultPolicy} allows`);
  const denyDefault = frozen(false, defaultName, -1, `no ALLOW policy targets the pod; the default ${defaultPolicy} denies`);
  const noMatch = frozen(false, 'no-allow-match', -1, 'ALLOW policies target the pod and none of their rules matches');
  const inTrustDomain = `spiffe://${pod.trustDomain}/`;
  const byDefault = (peer: string): Decision => {
    switch (defaultPolicy) {
      case 'deny':
        return denyDefault;
      case 'cluster-authenticated':
        return peer.startsWith(inTrustDomain) ? allowDefault : denyDefault;
      case 'all-authenticated':
        return peer !== '' ? allowDefault : denyDefault;
      default:
        return allowDefault;
    }
  };
  const cache = new Map<string, PeerRules>();
  const rulesFor = (peer: string): PeerRules => {
    let found = cache.get(peer);
    if (found) return found;
    const matching = rules.filter((r) => r.matchesPeer(peer));
    found = { deny: matching.filter((r) => r.action === 'DENY'), audit: matching.filter((r) => r.action === 'AUDIT'), allow: matching.filter((r) => r.action === 'ALLOW') };
    if (cache.size >= PEER_CACHE_MAX) cache.clear();
    cache.set(peer, found);
    return found;
  };
  const policies = targeting.map((p) => `${p.namespace}/${p.name}`);
  if (rules.length === 0 && !hasAllow) return { decide: (peer) => byDefault(peer), policies, defaultPolicy };
  return {
    policies,
    defaultPolicy,
    decide(peer, port, rawMethod, rawPath) {
      const mine = rulesFor(peer);
      const path = rawPath === undefined ? undefined : normalizePath(rawPath);
      const method = rawMethod === undefined ? undefined : upperMethod(rawMethod);
      for (const r of mine.deny) if (matchesOperation(r, port, method, path)) return r.decision;
      let audit: CompiledRule | undefined;
      for (const r of mine.audit) {
        if (matchesOperation(r, port, method, path)) {
          audit = r;
          break;
        }
      }
      let decision: Decision | undefined;
      for (const r of mine.allow) {
        if (matchesOperation(r, port, method, path)) {
          decision = r.decision;
          break;
        }
      }
      decision ??= hasAllow ? noMatch : byDefault(peer);
      if (!audit) return decision;
      // Shared like every other decision, so callers may count by object.
      let audited = audit.audited.get(decision);
      if (!audited) {
        audited = Object.freeze({ allowed: decision.allowed, policy: decision.policy, rule: decision.rule, reason: `${decision.reason}; AUDIT ${audit.policy} rule ${audit.index} would deny`, audit: audit.policy });
        audit.audited.set(decision, audited);
      }
      return audited;
    },
  };
}

function frozen(allowed: boolean, policy: string, rule: number, reason: string): Decision {
  return Object.freeze({ allowed, policy, rule, reason, audit: undefined });
}

function compileRule(policy: AuthorizationPolicy, rule: PolicyRule, index: number): CompiledRule {
  const name = `${policy.namespace}/${policy.name}`;
  const to = rule.to;
  const paths = to?.paths ?? [];
  const exact = paths.filter((p) => !p.endsWith('*'));
  const verb = policy.action === 'ALLOW' ? 'allows' : policy.action === 'DENY' ? 'denies' : 'audits';
  return {
    policy: name,
    index,
    action: policy.action,
    matchesPeer: peerMatcher(rule, policy.namespace),
    ports: to && to.ports.length > 0 ? to.ports : undefined,
    methods: to && to.methods.length > 0 ? to.methods : undefined,
    exactPaths: paths.length > 0 ? exact : undefined,
    prefixes: paths.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1)),
    anyPath: paths.includes('*'),
    notPaths: pathSet(to?.notPaths ?? []),
    hasHttpFields: (to?.methods.length ?? 0) + paths.length + (to?.notPaths.length ?? 0) > 0,
    // An AUDIT rule's own decision is never returned; a DENY's is.
    decision: frozen(policy.action === 'ALLOW', name, index, `${policy.action} ${name} rule ${index} ${verb}`),
    audited: new Map(),
  };
}

// A peer matches a rule's `from` when it matches any of its principals, service accounts or namespaces.
function peerMatcher(rule: PolicyRule, policyNamespace: string): (peer: string) => boolean {
  const from = rule.from;
  if (!from) return (peer) => peer !== '';
  if (from.principals.includes('*') || from.namespaces.includes('*')) return (peer) => peer !== '';
  const exact = new Set(from.principals.filter((p) => !p.endsWith('*')));
  const prefixes = from.principals.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  const accounts = new Set(from.serviceAccounts.map((sa) => (sa.includes('/') ? sa : `${policyNamespace}/${sa}`)));
  const namespaces = new Set(from.namespaces);
  return (peer) => {
    if (exact.has(peer)) return true;
    for (const p of prefixes) if (peer.startsWith(p)) return true;
    if (accounts.size === 0 && namespaces.size === 0) return false;
    const m = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(peer);
    if (!m) return false;
    return namespaces.has(m[1] ?? '') || accounts.has(`${m[1] ?? ''}/${m[2] ?? ''}`);
  };
}

// Opaque TCP has no method or path: an ALLOW rule that names them cannot match it, while DENY and
// AUDIT rules ignore them there, so adding an HTTP field never makes a DENY less strict.
function matchesOperation(r: CompiledRule, port: number, method: string | undefined, path: string | undefined): boolean {
  if (r.ports && !r.ports.includes(port)) return false;
  if (method === undefined || path === undefined) return !(r.hasHttpFields && r.action === 'ALLOW');
  if (r.methods && !r.methods.includes(method)) return false;
  if (r.notPaths && inPathSet(r.notPaths, path)) return false;
  if (r.exactPaths) {
    if (r.anyPath || r.exactPaths.includes(path)) return true;
    for (const p of r.prefixes) if (path.startsWith(p)) return true;
    return false;
  }
  return true;
}

// Methods arrive upper-case from every client that follows RFC 9110; only others pay for the copy.
function upperMethod(method: string): string {
  switch (method) {
    case 'GET':
    case 'POST':
    case 'PUT':
    case 'DELETE':
    case 'HEAD':
    case 'PATCH':
    case 'OPTIONS':
      return method;
    default:
      return method.toUpperCase();
  }
}

// Unreserved characters (RFC 3986) a client may percent-encode to slip past a path rule.
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The path a rule sees (pure): query and fragment dropped, the path of an absolute-form target,
 * percent-encoded unreserved characters decoded, `//` merged and `.`/`..` segments resolved, so
 * "/public/../admin" and "/%61dmin" meet the rule for "/admin" as the app would see them.
 */
export function normalizePath(raw: string): string {
  // The common path needs none of the work below: one scan for the characters that start any.
  if (raw.charCodeAt(0) === 0x2f && !/[?#%]|\/\.|\/\//.test(raw)) return raw;
  let path = raw;
  const q = path.search(/[?#]/);
  if (q !== -1) path = path.slice(0, q);
  if (!path.startsWith('/')) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(path);
    path = m ? (m[1] ?? '/') : path;
  }
  if (path.includes('%')) {
    path = path.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(c) ? c : all.toUpperCase();
    });
  }
  if (!path.includes('//') && !path.includes('/.')) return path;
  const out: string[] = [];
  const segments = path.split('/');
  segments.forEach((seg, i) => {
    if (seg === '..') out.pop();
    else if (seg !== '.' && (seg !== '' || i === segments.length - 1)) out.push(seg);
  });
  const last = segments[segments.length - 1];
  const result = '/' + out.join('/');
  return (last === '.' || last === '..') && !result.endsWith('/') ? `${result}/` : result;
}
