// When to renew a certificate (pure): at about 70 % of its lifetime, with jitter so that pods
// started together do not all renew together.

/** Fraction of the lifetime after which renewal starts. */
export const RENEW_AT_FRACTION = 0.7;
/** Jitter, as a fraction of the lifetime, applied either way. */
export const RENEW_JITTER_FRACTION = 0.05;

/** Milliseconds from `nowMs` until renewal should start (0 when already due). */
export function renewalDelayMs(notBefore: Date, notAfter: Date, nowMs: number, random: () => number): number {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const jitter = (random() * 2 - 1) * RENEW_JITTER_FRACTION * lifetime;
  const at = notBefore.getTime() + RENEW_AT_FRACTION * lifetime + jitter;
  return Math.max(0, Math.round(at - nowMs));
}

/** Capped exponential backoff with full jitter for failed attempts (attempt counts from 1). */
export function retryDelayMs(attempt: number, random: () => number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
