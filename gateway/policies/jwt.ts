// JWT checks with jose: signature against a JWKS (remote, cached and refreshed on an unknown kid
// with a cooldown, or from a file), issuer, audience, exp/nbf with clock skew, allowed algorithms.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

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

  constructor(cfg: JwtConfig) {
    this.#cfg = cfg;
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
        ...(this.#cfg.audiences.length > 0 ? { audience: [...this.#cfg.audiences] } : {}),
        algorithms: [...this.#cfg.algorithms],
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
