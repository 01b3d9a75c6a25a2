// When `weft ca` renews the issuer it generated (pure): at two thirds of the issuer's life, and
// only when it holds the root's key and a new issuer would outlive the current one (the root is
// not about to end: that needs the manual root rotation, docs/rotate-trust.md).
import { BACKDATE_MS } from '../lib/pki/authority.js';
import type { Validity } from '../lib/pki/validity.js';

/** The issuer is renewed at this fraction of its life, so a third of it is left for every leaf. */
export const ISSUER_RENEW_AT_FRACTION = 2 / 3;

/**
 * When the issuer is due for renewal: two thirds of the way from when it was made to its
 * notAfter. A generated issuer's notBefore is backdated by BACKDATE_MS to absorb clock skew; that
 * minute is not part of its life, so it is added back (an issuer made elsewhere only renews a
 * minute early for it).
 */
export function issuerRenewAtMs(issuer: Validity): number {
  const notAfter = issuer.notAfter.getTime();
  const madeAt = Math.min(issuer.notBefore.getTime() + BACKDATE_MS, notAfter);
  return Math.round(madeAt + ISSUER_RENEW_AT_FRACTION * (notAfter - madeAt));
}

/** What to do with the generated issuer now. */
export type IssuerDecision =
  | { readonly kind: 'keep'; readonly renewAtMs: number }
  | { readonly kind: 'renew' }
  | { readonly kind: 'blocked'; readonly reason: string };

/**
 * Decides at `nowMs` (pure). `newNotAfterMs` is the notAfter a new issuer made now would get
 * (its lifetime clamped to the root's); when that is no later than the current one, renewing
 * gains nothing and would repeat at every check, so it is blocked with the reason.
 */
export function decideIssuer(opts: {
  readonly issuer: Validity;
  readonly nowMs: number;
  readonly hasRootKey: boolean;
  readonly newNotAfterMs: number;
}): IssuerDecision {
  const renewAtMs = issuerRenewAtMs(opts.issuer);
  if (opts.nowMs < renewAtMs) return { kind: 'keep', renewAtMs };
  if (!opts.hasRootKey) {
    return { kind: 'blocked', reason: 'the issuer is due for renewal but the root key is not in the Secret (a supplied root): replace the issuer by hand' };
  }
  if (opts.newNotAfterMs <= opts.issuer.notAfter.getTime()) {
    return { kind: 'blocked', reason: 'the issuer is due for renewal but the root expires first: rotate the root (docs/rotate-trust.md)' };
  }
  return { kind: 'renew' };
}
