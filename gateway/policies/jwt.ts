// JwtPolicy: its parser, its step, and the checks with jose: signature against a JWKS (remote,
// cached and refreshed on an unknown kid with a cooldown, or from a file), issuer, audience,
// exp/nbf with clock skew, allowed algorithms.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { FieldReader, Json } from '../routes/field-reader.js';
import { CONTINUE, refusal, wait, type StepResult } from '../chain.js';
import { firstValue, type Named, type PolicyEnv, type PolicyExchange, type PolicyModule, type ReadText } from './policy.js';

/** A parsed JwtPolicy. */
export interface JwtConfig {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  readonly clockSkewSeconds: number;
  readonly jwksUrl?: string;
  readonly jwks?: JSONWebKeySet;
  /** Claim -> request header, forwarded upstream. */
  readonly claimHeaders: readonly { readonly claim: string; readonly header: string }[];
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
  | { readonly ok: false; readonly reason: string };

type KeySet = ReturnType<typeof createLocalJWKSet>;

/** Verifies bearer tokens for one policy; holds the (cached) key set. */
export class JwtVerifier {
  readonly #cfg: JwtConfig;
  readonly #keys: KeySet;

  // Copied once, not per request; jose reads them without changing them.
  readonly #audience: string[] | undefined;
  readonly #algorithms: string[];

  constructor(cfg: JwtConfig) {
    this.#cfg = cfg;
    this.#audience = cfg.audiences.length > 0 ? [...cfg.audiences] : undefined;
    this.#algorithms = [...cfg.algorithms];
    this.#keys = cfg.jwksUrl
      ? (createRemoteJWKSet(new URL(cfg.jwksUrl), { cooldownDuration: cfg.jwksCooldownMs, cacheMaxAge: 10 * 60_000 }) as unknown as KeySet)
      : createLocalJWKSet(cfg.jwks ?? { keys: [] });
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

/** Verifies the bearer token (the chain waits for it), then forwards the configured claims. */
export function jwtStep(x: PolicyExchange, policy: Named<JwtVerifier>, env: PolicyEnv): StepResult {
  const checked = policy.value.verify(firstValue(x.req.headers.authorization), new Date(env.clock())).then(
    (result): StepResult => {
      if (!result.ok) {
        return refusal('WEFT_ERR_UNAUTHORIZED', `bearer token refused: ${result.reason}`, { 'www-authenticate': `Bearer realm="weft", error="invalid_token"` }, policy.name);
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
