// The registry of weft.dev/v1alpha1 policy kinds (each module owns its kind, its parser and its
// step) and the attached policies of one configuration generation: which apply to a request's
// gateway and route (a route's own policy of a kind overrides the gateway's), and the policy
// steps in request order.
import type { PolicyDoc } from '../routes/resources.js';
import type { ObjectCondition } from '../routes/conditions.js';
import type { RouteRef } from '../routes/route-table.js';
import { CONTINUE, type Step, type StepResult } from '../chain.js';
import { apiKeyPolicy, type ApiKeyConfig } from './api-key.js';
import { bodyLimitPolicy, type BodyLimitConfig } from './body-limit.js';
import { corsPolicy, type CorsConfig } from './cors.js';
import { ipAccessPolicy, type IpAccessConfig } from './ip-access.js';
import { jwtPolicy, type JwtVerifier } from './jwt.js';
import type { Named, PolicyEnv, PolicyExchange, PolicyModule, ReadText } from './policy.js';
import { rateLimitPolicy, type RateLimitConfig } from './rate-limit.js';
import { transformPolicy, type TransformConfig } from './transform.js';
import { cachePolicy, type CacheConfig } from '../cache/cache-policy.js';

export type { Named, ReadText } from './policy.js';
export type { IpAccessConfig } from './ip-access.js';
export type { RateLimitConfig } from './rate-limit.js';

/** Every policy kind, in the order messages list them. */
export const POLICY_KINDS = ['ApiKeyPolicy', 'JwtPolicy', 'RateLimitPolicy', 'CorsPolicy', 'IpAccessPolicy', 'BodyLimitPolicy', 'TransformPolicy', 'CachePolicy'] as const;
/** One of POLICY_KINDS. */
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** A registered kind with its value type erased: a module's step only ever sees its own parser's values. */
export interface RegisteredPolicy {
  readonly kind: string;
  readonly parse: PolicyModule<unknown>['parse'];
  readonly step: (x: PolicyExchange, policy: Named<never>, env: PolicyEnv) => StepResult;
}

/** Kind -> module; parsing dispatches here, so a new kind is one module and one line. */
export const POLICY_REGISTRY: ReadonlyMap<string, RegisteredPolicy> = new Map<string, RegisteredPolicy>(
  [apiKeyPolicy, jwtPolicy, rateLimitPolicy, corsPolicy, ipAccessPolicy, bodyLimitPolicy, transformPolicy, cachePolicy].map((m): [string, RegisteredPolicy] => [m.kind, m]),
);

/** The policies in force for one request, with their names for metrics and logs. */
export interface EffectivePolicies {
  readonly ipAccess: Named<IpAccessConfig> | undefined;
  readonly cors: Named<CorsConfig> | undefined;
  readonly apiKey: Named<ApiKeyConfig> | undefined;
  readonly jwt: Named<JwtVerifier> | undefined;
  readonly rateLimit: Named<RateLimitConfig> | undefined;
  readonly bodyLimit: Named<BodyLimitConfig> | undefined;
  readonly transform: Named<TransformConfig> | undefined;
  /** Response caching; run by the cache step after the filters, not among the policy steps. */
  readonly cache: Named<CacheConfig> | undefined;
}

/** No policy at all (a request that matched no route yet). */
export const NO_POLICIES: EffectivePolicies = Object.freeze({ ipAccess: undefined, cors: undefined, apiKey: undefined, jwt: undefined, rateLimit: undefined, bodyLimit: undefined, transform: undefined, cache: undefined });

/** An exchange that carries the policies in force for it. */
export interface PolicedExchange extends PolicyExchange {
  readonly policies: EffectivePolicies;
}

/** The policy steps in request order: IP list, CORS, API key, JWT, rate limit, body limit, transform. */
export function policySteps(env: PolicyEnv): readonly { readonly name: string; readonly run: Step<PolicedExchange> }[] {
  // One call site per kind (no shared dispatcher), so each stays monomorphic on the request path.
  return [
    { name: ipAccessPolicy.kind, run: (x) => (x.policies.ipAccess ? ipAccessPolicy.step(x, x.policies.ipAccess, env) : CONTINUE) },
    { name: corsPolicy.kind, run: (x) => (x.policies.cors ? corsPolicy.step(x, x.policies.cors, env) : CONTINUE) },
    { name: apiKeyPolicy.kind, run: (x) => (x.policies.apiKey ? apiKeyPolicy.step(x, x.policies.apiKey, env) : CONTINUE) },
    { name: jwtPolicy.kind, run: (x) => (x.policies.jwt ? jwtPolicy.step(x, x.policies.jwt, env) : CONTINUE) },
    { name: rateLimitPolicy.kind, run: (x) => (x.policies.rateLimit ? rateLimitPolicy.step(x, x.policies.rateLimit, env) : CONTINUE) },
    { name: bodyLimitPolicy.kind, run: (x) => (x.policies.bodyLimit ? bodyLimitPolicy.step(x, x.policies.bodyLimit, env) : CONTINUE) },
    { name: transformPolicy.kind, run: (x) => (x.policies.transform ? transformPolicy.step(x, x.policies.transform, env) : CONTINUE) },
  ];
}

interface Attached {
  readonly kind: string;
  readonly targetKind: 'Gateway' | 'HTTPRoute' | 'Ingress';
  readonly namespace: string;
  readonly target: string;
  readonly name: string;
  readonly createdMs: number;
  readonly value: unknown;
}

/** All attached policies of one config generation. */
export class PolicySet {
  readonly #attached: readonly Attached[];
  readonly #cache = new Map<string, EffectivePolicies>();

  constructor(attached: readonly Attached[]) {
    // Oldest first, so when two policies of one kind target the same object the oldest wins.
    this.#attached = [...attached].sort((a, b) => a.createdMs - b.createdMs || (a.name < b.name ? -1 : 1));
  }

  /** The policies for a request that matched `route` through `gateway` (undefined for Ingress). */
  effective(gateway: { namespace: string; name: string } | undefined, route: RouteRef | undefined): EffectivePolicies {
    const key = `${gateway?.namespace}/${gateway?.name}|${route?.kind}/${route?.namespace}/${route?.name}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    // The value was made by the same kind's parser, which is what makes the cast hold.
    const pick = <T>(m: PolicyModule<T>): Named<T> | undefined => {
      const onRoute = route && this.#attached.find((a) => a.kind === m.kind && a.targetKind === route.kind && a.namespace === route.namespace && a.target === route.name);
      const onGateway = gateway && this.#attached.find((a) => a.kind === m.kind && a.targetKind === 'Gateway' && a.namespace === gateway.namespace && a.target === gateway.name);
      const a = onRoute ?? onGateway;
      return a ? { name: a.name, value: a.value as T } : undefined;
    };
    const out: EffectivePolicies = {
      ipAccess: pick(ipAccessPolicy),
      cors: pick(corsPolicy),
      apiKey: pick(apiKeyPolicy),
      jwt: pick(jwtPolicy),
      rateLimit: pick(rateLimitPolicy),
      bodyLimit: pick(bodyLimitPolicy),
      transform: pick(transformPolicy),
      cache: pick(cachePolicy),
    };
    this.#cache.set(key, out);
    return out;
  }

  /** Number of attached policies. */
  get size(): number {
    return this.#attached.length;
  }
}

/**
 * Parses and attaches policy documents. Problems are recorded through each document's reader
 * (file, document, field path); the caller refuses the file when there is any. A policy with a
 * problem is never attached: it is rejected alone, with a condition in `conditions` when given.
 */
export function compilePolicies(docs: readonly PolicyDoc[], readText: ReadText, conditions?: ObjectCondition[]): PolicySet {
  const attached: Attached[] = [];
  for (const d of docs) {
    const r = d.reader;
    const value = readPolicy(d, readText);
    if (r.problems.length > 0) {
      const { namespace, name, generation } = d.meta;
      conditions?.push({ kind: d.kind, namespace, name, ...(generation === undefined ? {} : { generation }), type: 'Rejected', reasons: r.problems });
      continue;
    }
    if (value) attached.push(value);
  }
  return new PolicySet(attached);
}

// One policy document, attached; undefined (with its problems recorded) when it cannot be.
function readPolicy(d: PolicyDoc, readText: ReadText): Attached | undefined {
  const r = d.reader;
  const module = POLICY_REGISTRY.get(d.kind);
  if (!module) {
    r.problem('kind', `weft.dev/v1alpha1 ${d.kind} is not a policy kind (${POLICY_KINDS.join(', ')})`);
    return undefined;
  }
  const kind = module.kind;
  const spec = d.spec;
  const t = r.obj(spec, 'targetRef', 'spec', true);
  if (!t) return undefined;
  const targetKind = r.str(t, 'kind', 'spec.targetRef', { required: true, oneOf: ['Gateway', 'HTTPRoute', 'Ingress'] }) as Attached['targetKind'] | undefined;
  const target = r.str(t, 'name', 'spec.targetRef', { required: true });
  const group = r.str(t, 'group', 'spec.targetRef');
  const wantGroup = targetKind === 'Ingress' ? 'networking.k8s.io' : 'gateway.networking.k8s.io';
  if (group !== undefined && targetKind && group !== wantGroup) r.problem('spec.targetRef.group', `must be ${wantGroup} for ${targetKind}`);
  if (t.namespace !== undefined && t.namespace !== d.meta.namespace) r.problem('spec.targetRef.namespace', 'a policy can only target objects in its own namespace');
  const value = module.parse(spec, r, readText);
  if (!targetKind || !target || value === undefined) return undefined;
  return { kind, targetKind, namespace: d.meta.namespace, target, name: `${kind} ${d.meta.namespace}/${d.meta.name}`, createdMs: d.meta.createdMs, value };
}
