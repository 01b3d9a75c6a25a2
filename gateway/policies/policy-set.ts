// Parses weft.dev/v1alpha1 policy documents (ApiKeyPolicy, JwtPolicy, RateLimitPolicy,
// CorsPolicy, IpAccessPolicy, BodyLimitPolicy), attaches them by targetRef and answers which
// policies apply to a request's gateway and route: a route's own policy of a kind overrides the
// gateway's.
import type { JSONWebKeySet } from 'jose';
import { parseDuration } from '../routes/paths.js';
import type { PolicyDoc } from '../routes/resources.js';
import type { Json } from '../routes/field-reader.js';
import type { RouteRef } from '../routes/route-table.js';
import type { ApiKeyConfig } from './api-key.js';
import { parseCidr, type Cidr } from './cidr.js';
import type { CorsConfig } from './cors.js';
import { JWT_ALGORITHMS, JwtVerifier, type JwtConfig } from './jwt.js';

export const POLICY_KINDS = ['ApiKeyPolicy', 'JwtPolicy', 'RateLimitPolicy', 'CorsPolicy', 'IpAccessPolicy', 'BodyLimitPolicy'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** A parsed RateLimitPolicy. */
export interface RateLimitConfig {
  /** Requests per window for the whole gateway cluster. */
  readonly limit: number;
  readonly windowMs: number;
  /** What is counted: per consumer (API key / JWT), client IP, the whole route, or a header's value. */
  readonly key: { readonly type: 'Consumer' | 'ClientIP' | 'Route' } | { readonly type: 'Header'; readonly header: string };
}

/** A parsed IpAccessPolicy: deny wins over allow; an empty allow list allows everyone not denied. */
export interface IpAccessConfig {
  readonly allow: readonly Cidr[];
  readonly deny: readonly Cidr[];
}

/** The policies in force for one request, with their names for metrics and logs. */
export interface EffectivePolicies {
  readonly ipAccess?: Named<IpAccessConfig>;
  readonly cors?: Named<CorsConfig>;
  readonly apiKey?: Named<ApiKeyConfig>;
  readonly jwt?: Named<JwtVerifier>;
  readonly rateLimit?: Named<RateLimitConfig>;
  readonly bodyLimit?: Named<{ readonly maxBytes: number }>;
}

/** A policy value with the "Kind ns/name" it came from. */
export interface Named<T> {
  readonly name: string;
  readonly value: T;
}

interface Attached {
  readonly kind: PolicyKind;
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
    const pick = (kind: PolicyKind): Named<never> | undefined => {
      const onRoute = route && this.#attached.find((a) => a.kind === kind && a.targetKind === route.kind && a.namespace === route.namespace && a.target === route.name);
      const onGateway = gateway && this.#attached.find((a) => a.kind === kind && a.targetKind === 'Gateway' && a.namespace === gateway.namespace && a.target === gateway.name);
      const a = onRoute ?? onGateway;
      return a ? ({ name: a.name, value: a.value } as Named<never>) : undefined;
    };
    const out: EffectivePolicies = {
      ...opt('ipAccess', pick('IpAccessPolicy')),
      ...opt('cors', pick('CorsPolicy')),
      ...opt('apiKey', pick('ApiKeyPolicy')),
      ...opt('jwt', pick('JwtPolicy')),
      ...opt('rateLimit', pick('RateLimitPolicy')),
      ...opt('bodyLimit', pick('BodyLimitPolicy')),
    };
    this.#cache.set(key, out);
    return out;
  }

  /** Number of attached policies. */
  get size(): number {
    return this.#attached.length;
  }
}

function opt<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

/** Reads a file (JWKS files); injected so parsing stays testable. */
export type ReadText = (path: string) => string;

/**
 * Parses and attaches policy documents. Problems are recorded through each document's reader
 * (file, document, field path); the caller refuses the file when there is any.
 */
export function compilePolicies(docs: readonly PolicyDoc[], readText: ReadText): PolicySet {
  const attached: Attached[] = [];
  for (const d of docs) {
    const r = d.reader;
    if (!(POLICY_KINDS as readonly string[]).includes(d.kind)) {
      r.problem('kind', `weft.dev/v1alpha1 ${d.kind} is not a policy kind (${POLICY_KINDS.join(', ')})`);
      continue;
    }
    const kind = d.kind as PolicyKind;
    const spec = d.spec;
    const t = r.obj(spec, 'targetRef', 'spec', true);
    if (!t) continue;
    const targetKind = r.str(t, 'kind', 'spec.targetRef', { required: true, oneOf: ['Gateway', 'HTTPRoute', 'Ingress'] }) as Attached['targetKind'] | undefined;
    const target = r.str(t, 'name', 'spec.targetRef', { required: true });
    const group = r.str(t, 'group', 'spec.targetRef');
    const wantGroup = targetKind === 'Ingress' ? 'networking.k8s.io' : 'gateway.networking.k8s.io';
    if (group !== undefined && targetKind && group !== wantGroup) r.problem('spec.targetRef.group', `must be ${wantGroup} for ${targetKind}`);
    if (t.namespace !== undefined && t.namespace !== d.meta.namespace) r.problem('spec.targetRef.namespace', 'a policy can only target objects in its own namespace');
    const value = parseSpec(kind, spec, r, readText);
    if (!targetKind || !target || value === undefined) continue;
    attached.push({ kind, targetKind, namespace: d.meta.namespace, target, name: `${kind} ${d.meta.namespace}/${d.meta.name}`, createdMs: d.meta.createdMs, value });
  }
  return new PolicySet(attached);
}

type Reader = PolicyDoc['reader'];

function parseSpec(kind: PolicyKind, spec: Json, r: Reader, readText: ReadText): unknown {
  switch (kind) {
    case 'ApiKeyPolicy': {
      r.known(spec, 'spec', ['targetRef', 'header', 'queryParam', 'consumers', 'consumerHeader']);
      const header = r.str(spec, 'header', 'spec');
      const query = r.str(spec, 'queryParam', 'spec');
      if (header !== undefined && query !== undefined) r.problem('spec', 'set header or queryParam, not both');
      const consumers = new Map<string, string>();
      r.objs(spec, 'consumers', 'spec', { required: true }).forEach((c, i) => {
        const name = r.str(c, 'name', `spec.consumers[${i}]`, { required: true });
        const hash = r.str(c, 'keySha256', `spec.consumers[${i}]`, { required: true });
        if (hash !== undefined && !/^[0-9a-f]{64}$/.test(hash)) r.problem(`spec.consumers[${i}].keySha256`, 'must be 64 lowercase hex characters (sha256 of the key)');
        else if (name && hash) {
          if (consumers.has(hash)) r.problem(`spec.consumers[${i}].keySha256`, `the same key is given to ${consumers.get(hash)} already`);
          consumers.set(hash, name);
        }
      });
      const cfg: ApiKeyConfig = {
        source: query !== undefined ? { query } : { header: (header ?? 'x-api-key').toLowerCase() },
        consumers,
        consumerHeader: (r.str(spec, 'consumerHeader', 'spec') ?? 'x-weft-consumer').toLowerCase(),
      };
      return cfg;
    }
    case 'JwtPolicy': {
      r.known(spec, 'spec', ['targetRef', 'issuer', 'audiences', 'jwksUrl', 'jwksFile', 'jwks', 'algorithms', 'clockSkewSeconds', 'claimsToHeaders', 'consumerClaim', 'jwksCooldownSeconds']);
      const issuer = r.str(spec, 'issuer', 'spec', { required: true }) ?? '';
      const audiences = r.strs(spec, 'audiences', 'spec');
      const jwksUrl = r.str(spec, 'jwksUrl', 'spec');
      const jwksFile = r.str(spec, 'jwksFile', 'spec');
      const inline = r.obj(spec, 'jwks', 'spec');
      if ([jwksUrl, jwksFile, inline].filter((x) => x !== undefined).length !== 1) r.problem('spec', 'set exactly one of jwksUrl, jwksFile and jwks');
      let jwks: JSONWebKeySet | undefined;
      if (jwksUrl !== undefined && !/^https?:\/\//.test(jwksUrl)) r.problem('spec.jwksUrl', 'must be an http(s) URL');
      if (jwksFile !== undefined) {
        try {
          jwks = JSON.parse(readText(jwksFile)) as JSONWebKeySet;
        } catch (e) {
          r.problem('spec.jwksFile', `cannot read a JWKS from ${jwksFile}: ${(e as Error).message}`);
        }
      }
      if (inline) jwks = inline as unknown as JSONWebKeySet;
      if (jwks && !Array.isArray(jwks.keys)) r.problem(jwksFile ? 'spec.jwksFile' : 'spec.jwks', 'a JWKS needs a "keys" list');
      const algorithms = r.strs(spec, 'algorithms', 'spec');
      algorithms.forEach((a, i) => {
        if (!(JWT_ALGORITHMS as readonly string[]).includes(a)) r.problem(`spec.algorithms[${i}]`, `${JSON.stringify(a)} is not one of ${JWT_ALGORITHMS.join(', ')}`);
      });
      const claimHeaders = r.objs(spec, 'claimsToHeaders', 'spec').flatMap((c, i) => {
        const claim = r.str(c, 'claim', `spec.claimsToHeaders[${i}]`, { required: true });
        const header = r.str(c, 'header', `spec.claimsToHeaders[${i}]`, { required: true });
        return claim && header ? [{ claim, header: header.toLowerCase() }] : [];
      });
      const cfg: JwtConfig = {
        issuer,
        audiences,
        algorithms: algorithms.length > 0 ? algorithms : [...JWT_ALGORITHMS],
        clockSkewSeconds: r.int(spec, 'clockSkewSeconds', 'spec', { min: 0, max: 600 }) ?? 30,
        ...(jwksUrl ? { jwksUrl } : {}),
        ...(jwks ? { jwks } : {}),
        claimHeaders,
        consumerClaim: r.str(spec, 'consumerClaim', 'spec') ?? 'sub',
        jwksCooldownMs: (r.int(spec, 'jwksCooldownSeconds', 'spec', { min: 0, max: 3600 }) ?? 30) * 1000,
      };
      try {
        return new JwtVerifier(cfg);
      } catch (e) {
        r.problem('spec', `cannot load the keys: ${(e as Error).message}`);
        return undefined;
      }
    }
    case 'RateLimitPolicy': {
      r.known(spec, 'spec', ['targetRef', 'requests', 'window', 'key']);
      const limit = r.int(spec, 'requests', 'spec', { required: true, min: 1 }) ?? 1;
      const windowText = r.str(spec, 'window', 'spec', { required: true }) ?? '1m';
      const windowMs = parseDuration(windowText);
      if (typeof windowMs === 'string') r.problem('spec.window', windowMs);
      else if (windowMs < 1) r.problem('spec.window', 'must be positive');
      const k = r.obj(spec, 'key', 'spec') ?? {};
      const type = (r.str(k, 'type', 'spec.key', { oneOf: ['Consumer', 'ClientIP', 'Route', 'Header'] }) ?? 'ClientIP') as RateLimitConfig['key']['type'];
      let key: RateLimitConfig['key'] = { type: type === 'Header' ? 'Route' : type };
      if (type === 'Header') {
        const header = r.str(k, 'header', 'spec.key', { required: true });
        if (header) key = { type: 'Header', header: header.toLowerCase() };
      }
      const cfg: RateLimitConfig = { limit, windowMs: typeof windowMs === 'number' ? windowMs : 60_000, key };
      return cfg;
    }
    case 'CorsPolicy': {
      r.known(spec, 'spec', ['targetRef', 'allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAgeSeconds']);
      const allowOrigins = r.strs(spec, 'allowOrigins', 'spec');
      if (allowOrigins.length === 0) r.problem('spec.allowOrigins', 'needs at least one origin ("*" for any)');
      allowOrigins.forEach((o, i) => {
        if (o !== '*' && !/^https?:\/\/(\*\.)?[^/*]+$/.test(o)) r.problem(`spec.allowOrigins[${i}]`, `${JSON.stringify(o)} is not "*", an origin like https://app.example.com, or https://*.example.com`);
      });
      const allowCredentials = r.bool(spec, 'allowCredentials', 'spec') ?? false;
      const cfg: CorsConfig = {
        allowOrigins,
        allowMethods: (r.strs(spec, 'allowMethods', 'spec').length > 0 ? r.strs(spec, 'allowMethods', 'spec') : ['GET', 'HEAD', 'POST']).map((m) => m.toUpperCase()),
        allowHeaders: r.strs(spec, 'allowHeaders', 'spec').map((h) => h.toLowerCase()),
        exposeHeaders: r.strs(spec, 'exposeHeaders', 'spec'),
        allowCredentials,
        maxAgeSeconds: r.int(spec, 'maxAgeSeconds', 'spec', { min: 0, max: 86_400 }) ?? 600,
      };
      return cfg;
    }
    case 'IpAccessPolicy': {
      r.known(spec, 'spec', ['targetRef', 'allow', 'deny']);
      const cidrs = (key: 'allow' | 'deny'): Cidr[] =>
        r.strs(spec, key, 'spec').flatMap((c, i) => {
          const p = parseCidr(c);
          if (typeof p === 'string') {
            r.problem(`spec.${key}[${i}]`, p);
            return [];
          }
          return [p];
        });
      const cfg: IpAccessConfig = { allow: cidrs('allow'), deny: cidrs('deny') };
      if (cfg.allow.length === 0 && cfg.deny.length === 0) r.problem('spec', 'needs allow or deny entries');
      return cfg;
    }
    case 'BodyLimitPolicy': {
      r.known(spec, 'spec', ['targetRef', 'maxBytes']);
      return { maxBytes: r.int(spec, 'maxBytes', 'spec', { required: true, min: 0 }) ?? 0 };
    }
  }
}
