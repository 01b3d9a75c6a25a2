// JwtPolicy: its parser, its step, and the checks with jose: signature against a JWKS (remote,
// cached and refreshed on an unknown kid with a cooldown, or from a file), issuer, audience,
// exp/nbf with clock skew, allowed algorithms; then the required claims and scopes (jwt-claims.ts).
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { FieldReader, Json } from '../routes/field-reader.js';
import { consumerOfClaims } from '../consumers/directory.js';
import { CONTINUE, refusal, wait, type StepResult } from '../chain.js';
import { checkClaims, readClaimHeaders, readClaimRules, type ClaimRules } from './jwt-claims.js';
import { firstValue, type Named, type PolicyEnv, type PolicyExchange, type PolicyModule, type ReadText } from './policy.js';

/** A parsed JwtPolicy. */
export interface JwtConfig {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockSkewSeconds: number;
  readonly jwksUrl?: string;
  readonly jwks?: JSONWebKeySet;
  /** Claim -> request header, forwarded upstream; a client-sent copy of the header is always dropped. */
  readonly claimHeaders: readonly { readonly claim: string; readonly header: string }[];
  /** Claims and scopes a valid token must also carry (403 WEFT_ERR_JWT_CLAIM otherwise). */
  readonly rules?: ClaimRules;
  /** The claim naming the consumer for rate limits (default sub). */
  readonly consumerClaim: string;
  /** Minimum time between two JWKS fetches (ms). */
  readonly jwksCooldownMs: number;
}

/** The algorithms weft accepts; `none` and HMAC are never among them. */
export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

/** The outcome of a token check. */
export type JwtResult =
  | { readonly ok: true; readonly claims: JWTPayload; readonly consumer: string | undefined; readonly headers: Record<string, string> }
  | { readonly ok: false; readonly reason: string }
  /** A valid token without a required claim or scope. */
  | { readonly ok: false; readonly reason: string; readonly forbidden: true; readonly missingScopes: readonly string[] };

type KeySet = ReturnType<typeof createLocalJWKSet>;

/** Verifies bearer tokens for one policy; holds the (cached) key set. */
export class JwtVerifier {
  readonly #cfg: JwtConfig;
  readonly #keys: KeySet;

  // Copied once, not per request; jose reads them without changing them.
  readonly #audience: string[] | undefined;
  readonly #algorithms: string[];
  readonly #headerNames: readonly string[];

  constructor(cfg: JwtConfig) {
    this.#cfg = cfg;
    this.#audience = cfg.audiences.length > 0 ? [...cfg.audiences] : undefined;
    this.#algorithms = [...cfg.algorithms];
    this.#headerNames = cfg.claimHeaders.map((c) => c.header);
    this.#keys = cfg.jwksUrl
      ? (createRemoteJWKSet(new URL(cfg.jwksUrl), { cooldownDuration: cfg.jwksCooldownMs, cacheMaxAge: 10 * 60_000 }) as unknown as KeySet)
      : createLocalJWKSet(cfg.jwks ?? { keys: [] });
  }

  /** The (lowercase) headers claims are copied into. */
  get claimHeaderNames(): readonly string[] {
    return this.#headerNames;
  }

  /** Verifies `authorization` ("Bearer <jwt>") at time `now`. */
  async verify(authorization: string | undefined, now: Date): Promise<JwtResult> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m?.[1]) return { ok: false, reason: 'missing bearer token' };
    try {
      const { payload } = await jwtVerify(m[1], this.#keys, {
        issuer: this.#cfg.issuer,
        audience: this.#audience,
        algorithms: this.#algorithms,
        clockTolerance: this.#cfg.clockSkewSeconds,
        currentDate: now,
      });
      if (this.#cfg.rules) {
        const verdict = checkClaims(this.#cfg.rules, payload);
        if (!verdict.ok) return { ok: false, reason: verdict.reason, forbidden: true, missingScopes: verdict.missingScopes };
      }
      const headers: Record<string, string> = {};
      for (const { claim, header } of this.#cfg.claimHeaders) {
        const v = payload[claim];
        if (v !== undefined) headers[header] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      const c = payload[this.#cfg.consumerClaim];
      return { ok: true, claims: payload, consumer: typeof c === 'string' ? c : undefined, headers };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { ok: false, reason: `${err.code ?? 'ERR_JWT'}: ${err.message ?? 'invalid token'}` };
    }
  }
}

/** Reads a JwtPolicy spec into a verifier (which holds the key set). */
export function parseJwtPolicy(spec: Json, r: FieldReader, readText: ReadText): JwtVerifier | undefined {
  r.known(spec, 'spec', ['targetRef', 'issuer', 'audiences', 'jwksUrl', 'jwksFile', 'jwks', 'algorithms', 'clockSkewSeconds', 'claimsToHeaders', 'consumerClaim', 'jwksCooldownSeconds', 'requiredClaims', 'requiredScopes']);
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
  const claimHeaders = readClaimHeaders(spec, r);
  const rules = readClaimRules(spec, r);
  const cfg: JwtConfig = {
    issuer,
    audiences,
    algorithms: algorithms.length > 0 ? algorithms : [...JWT_ALGORITHMS],
    clockSkewSeconds: r.int(spec, 'clockSkewSeconds', 'spec', { min: 0, max: 600 }) ?? 30,
    ...(jwksUrl ? { jwksUrl } : {}),
    ...(jwks ? { jwks } : {}),
    claimHeaders,
    ...(rules.claims.length > 0 || rules.scopes.length > 0 ? { rules } : {}),
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

/**
 * Drops every client-sent copy of the claim headers, verifies the bearer token (the chain waits for
 * it), checks the required claims and scopes, then forwards the configured claims.
 */
export function jwtStep(x: PolicyExchange, policy: Named<JwtVerifier>, env: PolicyEnv): StepResult {
  // Node folds header names to lowercase and joins repeats into one entry, so deleting the
  // lowercase name removes every case and duplicate variant; it happens before the token is even
  // read, so a token without the claim (or a refused one) never lets a forged value through.
  for (const h of policy.value.claimHeaderNames) delete x.headers[h];
  const checked = policy.value.verify(firstValue(x.req.headers.authorization), new Date(env.clock())).then(
    (result): StepResult => {
      if (!result.ok && 'forbidden' in result) {
        const scope = result.missingScopes.length > 0 ? `, scope="${result.missingScopes.join(' ')}"` : '';
        return refusal('WEFT_ERR_JWT_CLAIM', `bearer token lacks what the policy requires: ${result.reason}`, { 'www-authenticate': `Bearer realm="weft", error="insufficient_scope"${scope}` }, policy.name);
      }
      if (!result.ok) {
        return refusal('WEFT_ERR_UNAUTHORIZED', `bearer token refused: ${result.reason}`, { 'www-authenticate': `Bearer realm="weft", error="invalid_token"` }, policy.name);
      }
      // A Consumer object that maps the token's subject or a claim names the consumer (and its plan).
      const account = x.account ?? (x.consumers.consumers.length > 0 ? consumerOfClaims(x.consumers, result.claims) : undefined);
      if (account) {
        x.account = account;
        x.consumer = account.name;
      }
      if (result.consumer !== undefined && x.consumer === undefined) x.consumer = result.consumer;
      Object.assign(x.headers, result.headers);
      return CONTINUE;
    },
    (e: unknown): StepResult => refusal('WEFT_ERR_UNAUTHORIZED', `bearer token refused: ${(e as Error).message}`, undefined, policy.name),
  );
  return wait(checked);
}

/** The JwtPolicy kind. */
export const jwtPolicy: PolicyModule<JwtVerifier> = { kind: 'JwtPolicy', parse: parseJwtPolicy, step: jwtStep };
